//! End-to-end: capture through the real gateway (SQLite, and PostgreSQL when a test
//! server is given) with a fake upstream. Requests planted with an e-mail address, a
//! phone number, an IBAN, a card number, a canary and keys are captured with typed
//! placeholders only: `capture list` shows no raw value, and none is anywhere in the
//! store's files; `capture promote` appends a case that `check` loads. A tier without
//! `capture` stores nothing of its prompts.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};

use crate::gateway_support::*;

const CANARY: &str = "ACME-INTERNAL-7731";

fn program(base: &str) -> String {
    format!(
        r#"version: 1
name: capture-e2e
canaries: [{CANARY}]
tools:
  - id: gpt
    provider: openai
    model: primary-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    params: {{ max_tokens: 20 }}
tiers:
  - id: kept
    tools: [gpt]
    capture: true
    capture_sample: 1.0
  - id: private
    tools: [gpt]
personas:
  - id: support
    headcount: 1
    tier: kept
    workflows: [{{ id: reply, share: 1.0, floor: 0.5 }}]
  - id: legal
    headcount: 1
    tier: private
    workflows: [{{ id: review, share: 1.0, floor: 0.5 }}]
"#
    )
}

const SUITE: &str = "persona: support\ncases:\n  - id: s1\n    workflow: reply\n    prompt: Hello\n    assert:\n      correct:\n        - contains: Hello\n";

/// The planted values: none may survive capture.
fn planted(key: &str) -> Vec<String> {
    vec![
        "jane.doe@example.com".into(),
        "+49 30 1234567".into(),
        "DE89370400440532013000".into(),
        "4111 1111 1111 1111".into(),
        CANARY.into(),
        CANARY.to_lowercase(),
        "sk-proj-AbCdEf0123456789xyz".into(),
        key.into(),
    ]
}

/// A request whose user message holds every planted value. The fake upstream answers
/// "You said: " and the first word, here the e-mail address.
fn pii_request(key: &str, stream: bool) -> Value {
    let text = format!(
        "jane.doe@example.com asks: call +49 30 1234567, refund to DE89370400440532013000 \
         from card 4111 1111 1111 1111; ref {CANARY} ({lower}); my keys are \
         sk-proj-AbCdEf0123456789xyz and {key}",
        lower = CANARY.to_lowercase()
    );
    json!({
        "model": "gpt",
        "stream": stream,
        "messages": [
            {"role": "system", "content": format!("Reply briefly. Internal ref {CANARY}.")},
            {"role": "user", "content": text},
        ],
    })
}

async fn setups(yaml: &str) -> Vec<Setup> {
    let mut out = vec![Setup::new(yaml)];
    if let Some(url) = proximity_store::testing::fresh_postgres_url().await {
        out.push(Setup::with_database(yaml, &url));
    }
    out
}

fn list_json(setup: &Setup, extra: &[&str]) -> Value {
    let out = setup
        .proximity()
        .args(["capture", "list", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `capture list` once `n` captures are written (the gateway writes them after the
/// answers, in the background).
async fn wait_for(setup: &Setup, n: usize) -> Value {
    for _ in 0..100 {
        let v = list_json(setup, &[]);
        if v["captures"].as_array().unwrap().len() >= n {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "fewer than {n} captures after 5 s: {}",
        list_json(setup, &[])
    );
}

/// Every file of the store under the program directory (the SQLite database, its WAL,
/// the usage journal), as text.
fn store_files(setup: &Setup) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![setup.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("suites") {
                    dirs.push(p);
                }
            } else if !p.ends_with("proximity.yaml") {
                let bytes = fs_err::read(&p).unwrap();
                out.push((
                    p.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_keep_only_placeholders_and_promote_to_a_case() {
    let up = start_upstream().await;
    for setup in setups(&program(&up.base_url())).await {
        fs_err::write(setup.path().join("suites/support.yaml"), SUITE).unwrap();
        let key = setup.key("support", &[]);
        let legal_key = setup.key("legal", &[]);
        let gw = setup.start_gateway();
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        for stream in [false, true] {
            let r = post_chat(&c, &gw.url, &key, &pii_request(&key, stream), Some("reply"))
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
        }
        // The private tier's requests are answered and never captured.
        let r = post_chat(
            &c,
            &gw.url,
            &legal_key,
            &pii_request(&legal_key, false),
            Some("review"),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        gw.settled().await;

        let list = wait_for(&setup, 2).await;
        let captures = list["captures"].as_array().unwrap();
        assert_eq!(captures.len(), 2, "{list}");
        let metrics = get(&c, &format!("{}/metrics", gw.url), None).await;
        assert!(
            metrics
                .body
                .contains(r#"proximity_gateway_captures_total{result="written"} 2"#),
            "{}",
            metrics.body
        );
        for cap in captures {
            assert_eq!(cap["persona"], "support");
            assert_eq!(cap["tier"], "kept");
            assert_eq!(cap["tool"], "gpt");
            assert_eq!(cap["workflow"], "reply");
            assert_eq!(cap["answer"], "You said: [EMAIL]");
            assert_eq!(
                cap["messages"][0]["content"],
                "Reply briefly. Internal ref [CANARY]."
            );
            assert_eq!(
                cap["messages"][1]["content"],
                "[EMAIL] asks: call [PHONE], refund to [IBAN] from card [CARD]; ref [CANARY] \
                 ([CANARY]); my keys are [SECRET] and [SECRET]"
            );
        }
        let text = list.to_string();
        let table = String::from_utf8(
            setup
                .proximity()
                .args(["capture", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        for raw in planted(&key).iter().chain(planted(&legal_key).iter()) {
            assert!(!text.contains(raw.as_str()), "{raw} in {text}");
            assert!(!table.contains(raw.as_str()), "{raw} in {table}");
        }
        if setup.db.is_none() {
            drop(gw);
            for (path, content) in store_files(&setup) {
                for raw in planted(&key).iter().chain(planted(&legal_key).iter()) {
                    assert!(!content.contains(raw.as_str()), "{raw} in {path}");
                }
            }
            insta::with_settings!({filters => vec![
                (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "YYYY-MM-DD HH:MM"),
            ]}, {
                insta::assert_snapshot!("capture_list", table);
            });
        }
        assert!(list_json(&setup, &["--persona", "legal"])["captures"]
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(
            list_json(&setup, &["--workflow", "reply"])["captures"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        // Promote the first capture: appended to the suite, loaded by `check`.
        let id = captures[0]["id"].as_i64().unwrap().to_string();
        let out = setup
            .proximity()
            .args(["capture", "promote", &id, "--assert-icontains", "refund"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let suite = fs_err::read_to_string(setup.path().join("suites/support.yaml")).unwrap();
        assert!(suite.starts_with(SUITE), "the suite's bytes are kept");
        let appended = &suite[SUITE.len()..];
        for raw in planted(&key) {
            assert!(!appended.contains(raw.as_str()), "{raw} in {appended}");
        }
        if setup.db.is_none() {
            insta::with_settings!({filters => vec![
                (r"\d{4}-\d{2}-\d{2}", "[DATE]"),
                (r"capture \d+", "capture [ID]"),
                (r"capture-\d+", "capture-[ID]"),
            ]}, {
                insta::assert_snapshot!("capture_promoted_case", appended);
            });
        }
        let check = setup.proximity().arg("check").output().unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(
            String::from_utf8_lossy(&check.stdout).contains("2 cases"),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
        let after = list_json(&setup, &[]);
        assert_eq!(
            after["captures"][0]["promoted_case"],
            format!("capture-{id}")
        );
        // A second promotion of the same capture is refused.
        let again = setup
            .proximity()
            .args(["capture", "promote", &id, "--assert-icontains", "refund"])
            .output()
            .unwrap();
        assert_eq!(again.status.code(), Some(2), "{again:?}");
        assert!(String::from_utf8_lossy(&again.stderr).contains("already promoted"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_capture_off_nothing_is_stored() {
    let up = start_upstream().await;
    let yaml = program(&up.base_url());
    let setup = Setup::new(&yaml);
    let key = setup.key("legal", &[]);
    let gw = setup.start_gateway();
    let c = reqwest::Client::new();
    for stream in [false, true] {
        let r = post_chat(
            &c,
            &gw.url,
            &key,
            &pii_request(&key, stream),
            Some("review"),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    gw.settled().await;
    // Give a writer time to write what it should not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(gw);
    assert!(list_json(&setup, &[])["captures"]
        .as_array()
        .unwrap()
        .is_empty());
    // Not the prompt's words, not the planted values: nothing of the request.
    for (path, content) in store_files(&setup) {
        for raw in planted(&key)
            .iter()
            .map(String::as_str)
            .chain(["asks: call", "[EMAIL]"])
        {
            assert!(!content.contains(raw), "{raw} in {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_logs_never_hold_keys_or_canaries() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url()));
    let key = setup.key("legal", &[]);
    let log = setup.path().join("gateway.log");
    let mut child = setup
        .proximity()
        .args(["gateway", "--listen", "127.0.0.1:0", "--log-content"])
        .env("PROXIMITY_LOG", "proximity_gateway=info")
        .stdout(Stdio::piped())
        .stderr(fs_err::File::create(&log).unwrap().into_parts().0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let c = reqwest::Client::new();
    for stream in [false, true] {
        let r = post_chat(&c, &url, &key, &pii_request(&key, stream), Some("review"))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.kill();
    let _ = child.wait();
    let text = fs_err::read_to_string(&log).unwrap();
    assert!(text.contains("request content"), "{text}");
    assert!(text.contains("response content"), "{text}");
    // With `--log-content` the content is there (personal data included), keys and
    // canaries are not.
    assert!(text.contains("jane.doe@example.com"), "{text}");
    for raw in [
        key.as_str(),
        "sk-proj-AbCdEf0123456789xyz",
        CANARY,
        &CANARY.to_lowercase(),
    ] {
        assert!(!text.contains(raw), "{raw} in the log:\n{text}");
    }
}
