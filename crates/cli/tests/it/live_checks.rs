//! End-to-end: a workflow's `live:` checks applied by the real gateway to real answers of
//! a fake upstream planted to answer badly to a known share of the requests (streamed
//! and not), the verdict counts in the store, `report`'s production failure rate beside
//! the suite's with the disagreement flagged, a full check queue skipped and counted,
//! and located `check` errors of malformed `live:` config. SQLite, and PostgreSQL when a
//! test server is given.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::Value;

use crate::gateway_support::*;

/// The upstream answers `You said: <first word>`: a prompt starting with `LEAK` makes it
/// echo the word the triage workflow's live check forbids.
fn program(base: &str) -> String {
    format!(
        r#"version: 1
name: live-e2e
tools:
  - id: gpt
    provider: openai
    model: primary-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    price: {{ input_per_mtok: 1, output_per_mtok: 2 }}
    params: {{ max_tokens: 20 }}
  - id: grader
    provider: scripted
    params:
      rules:
        - {{ when_regex: ".", reply: "PASS\nfine", delay_ms: 1500 }}
tiers:
  - id: a
    tools: [gpt]
personas:
  - id: pa
    headcount: 1
    tier: a
    workflows:
      - id: triage
        share: 0.5
        floor: 0.5
        live_sample: 1.0
        live:
          safety:
            - not_contains: LEAK
          contract:
            - max_length: 200
      - id: billing
        share: 0.5
        floor: 0.5
        live_sample: 1
        live:
          correct:
            - judge: {{ rubric: "Answers politely.", tool: grader }}
      - id: quiet
        share: 0.0
        floor: 0.5
        live_sample: 0
        live:
          contract: [{{ is_json: true }}]
"#
    )
}

/// Twenty triage cases the upstream answers well.
fn suite() -> String {
    let mut s = String::from("persona: pa\nworkflow: triage\ncases:\n");
    for i in 0..20 {
        s.push_str(&format!(
            "  - id: t{i}\n    prompt: hello {i}\n    assert:\n      correct: [{{ contains: \"You said\" }}]\n"
        ));
    }
    s
}

async fn setups(yaml: &str) -> Vec<Setup> {
    let mut out = vec![Setup::new(yaml)];
    if let Some(url) = proximity_store::testing::fresh_postgres_url().await {
        out.push(Setup::with_database(yaml, &url));
    }
    out
}

/// Wait until the gateway has checked and stored every answer it drew.
async fn checked(gw: &Gateway) -> Value {
    let c = reqwest::Client::new();
    for _ in 0..1000 {
        let v: Value = c
            .get(format!("{}/healthz", gw.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["live_pending"] == 0 {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("live checks still pending after 20 s");
}

async fn live_rows(setup: &Setup) -> Vec<proximity_store::LiveCheckRow> {
    let store = proximity_store::Store::connect(&setup.db_url())
        .await
        .unwrap();
    let rows = store
        .live_check_sums("2000-01-01", "2999-12-31", None)
        .await
        .unwrap();
    store.close().await;
    rows
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_bad_answers_are_counted_and_the_report_flags_production_against_the_suite() {
    let up = start_upstream().await;
    for setup in setups(&program(&up.base_url())).await {
        fs_err::write(setup.path().join("suites/pa.yaml"), suite()).unwrap();
        let out = setup
            .proximity()
            .args(["eval", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = setup.key("pa", &[]);
        let gw = setup.start_gateway();
        let c = client();
        // 20 triage answers, 8 of them planted bad; 3 of a workflow
        // sampled at 0; 2 unlabelled, which no workflow checks.
        for i in 0..20 {
            let text = if i % 5 < 2 {
                format!("LEAK {i}")
            } else {
                format!("fine {i}")
            };
            // Typed and forwarded (`user` is a field only a forwarder carries), each
            // streamed and not: the bad ones fall on all four paths.
            let mut body = if i % 2 == 0 {
                user("gpt", &text)
            } else {
                user_stream("gpt", &text)
            };
            if i % 4 >= 2 {
                body["user"] = Value::from("alice");
            }
            let r = post_chat(&c, &gw.url, &key, &body, Some("triage"))
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
        }
        for _ in 0..3 {
            let r = post_chat(&c, &gw.url, &key, &user("gpt", "x"), Some("quiet"))
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
        }
        for _ in 0..2 {
            let r = post_chat(&c, &gw.url, &key, &user("gpt", "LEAK"), None)
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
        }
        checked(&gw).await;

        let rows = live_rows(&setup).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let r = &rows[0];
        assert_eq!(
            (r.persona.as_str(), r.tool_id.as_str(), r.workflow.as_str()),
            ("pa", "gpt", "triage")
        );
        assert_eq!(
            (r.pass, r.silent, r.structural, r.loud, r.skipped),
            (12, 8, 0, 0, 0)
        );

        // `/metrics` counts them by verdict, labelled by the program's ids.
        let metrics = get(&c, &format!("{}/metrics", gw.url), None).await.body;
        assert!(
            metrics.contains(
                r#"proximity_gateway_live_checks_total{persona="pa",tool="gpt",verdict="silent",workflow="triage"} 8"#
            ),
            "{metrics}"
        );

        // The report: 40% in production (8 of 20) against 0 of 20 in the suite.
        let out = setup
            .proximity()
            .args(["report", "--format", "json"])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        let p = &report["production"]["rows"][0];
        assert_eq!(p["checked"], 20);
        assert_eq!(p["production_failure_rate"]["value"], 0.4);
        assert_eq!(p["suite_failure_rate"]["value"], 0.0);
        assert!(
            p["production_failure_rate"]["ci_low"].as_f64().unwrap()
                > p["suite_failure_rate"]["ci_high"].as_f64().unwrap()
        );
        assert_eq!(p["disagrees"], true);
        let out = setup.proximity().args(["report"]).output().unwrap();
        let table = String::from_utf8(out.stdout).unwrap();
        let line = table
            .lines()
            .find(|l| l.starts_with("pa ") && l.contains("triage"))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(
            line.contains("40.0%") && line.contains("production and suite disagree"),
            "{line}"
        );
        assert!(table.contains("1 flagged"), "{table}");

        // `drift` compared with a baseline of that run ends with the same comparison.
        let run_id = report["run_id"].as_str().unwrap().to_owned();
        let out = setup
            .proximity()
            .args(["baseline", "accept", &run_id, "--name", "base"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = setup
            .proximity()
            .args(["-q", "drift", "--run", &run_id, "--format", "json"])
            .output()
            .unwrap();
        let drift: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(drift["drift"], false);
        let p = &drift["production"]["rows"][0];
        assert_eq!(p["production_failure_rate"]["value"], 0.4);
        assert_eq!(p["suite_failure_rate"]["value"], 0.0);
        assert_eq!(p["disagrees"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_skips_checks_and_counts_them() {
    let up = start_upstream().await;
    for setup in setups(&program(&up.base_url())).await {
        let key = setup.key("pa", &[]);
        // One answer waits while another is judged (1.5 s each): the rest are skipped.
        let gw = setup.start_gateway_with(&["--live-queue", "1"]);
        let c = client();
        let started = std::time::Instant::now();
        for i in 0..6 {
            let r = post_chat(
                &c,
                &gw.url,
                &key,
                &user("gpt", &format!("bill {i}")),
                Some("billing"),
            )
            .await
            .unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
        }
        // The answers never waited for the judge.
        // (Waiting for room in the queue would take at least four gradings, 6 s.)
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        let metrics = get(&c, &format!("{}/metrics", gw.url), None).await.body;
        let skipped_metric: u64 = metrics
            .lines()
            .find(|l| l.starts_with("proximity_gateway_live_checks_skipped_total{"))
            .and_then(|l| l.rsplit(' ').next())
            .map(|n| n.parse().unwrap())
            .unwrap_or_else(|| panic!("{metrics}"));
        checked(&gw).await;
        let rows = live_rows(&setup).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let r = &rows[0];
        assert_eq!(r.workflow, "billing");
        assert_eq!(r.checked() + r.skipped, 6, "{r:?}");
        assert!(r.skipped >= 4, "{r:?}");
        assert_eq!(r.skipped as u64, skipped_metric);
        assert_eq!(r.pass, r.checked(), "the grader passes all it sees: {r:?}");
    }
}

#[test]
fn malformed_live_config_gets_located_check_errors() {
    let yaml = r#"version: 1
name: live-broken
tools:
  - id: bot
    provider: scripted
    params: { default_reply: hi }
tiers:
  - id: a
    tools: [bot]
personas:
  - id: pa
    headcount: 1
    tier: a
    workflows:
      - id: triage
        share: 0.5
        floor: 0.5
        live_sample: 1.5
        live:
          correct:
            - equals: "4"
            - not: { contains: Paris }
          contract:
            - max_length: 200
            - judge: { rubric: Polite., tool: nobody }
      - id: billing
        share: 0.5
        floor: 0.5
        live:
          correctness: []
  - id: pb
    headcount: 1
    tier: a
    workflows:
      - { id: triage, share: 1, floor: 0.5, live_sample: often }
"#;
    let setup = Setup::new(yaml);
    let out = setup.proximity().args(["check"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr)
        .unwrap()
        .replace(&setup.path().display().to_string(), "[PROGRAM]");
    insta::assert_snapshot!("live_check_errors", err);
}
