//! End-to-end tests of `proximity gateway`: the real binary on port 0 in front of a fake
//! OpenAI upstream, spoken to with the request shapes the OpenAI SDKs send.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::gateway_support::*;

fn program(base: &str, budget_per_seat: f64, rpm: u32) -> String {
    format!(
        r#"version: 1
name: gw-e2e
tools:
  - id: gpt
    provider: openai
    model: primary-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    fallback: gpt-backup
    price: {{ input_per_mtok: 30, output_per_mtok: 60 }}
    params: {{ max_tokens: 20, max_attempts: 2 }}
  - id: gpt-backup
    provider: openai
    model: backup-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    price: {{ input_per_mtok: 30, output_per_mtok: 60 }}
    params: {{ max_tokens: 20 }}
  - id: secret-tool
    provider: openai
    model: secret-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    params: {{ max_tokens: 20 }}
tiers:
  - id: a
    tools: [gpt, gpt-backup]
    budget_per_seat_month: {budget_per_seat}
    rate_limit: {{ requests_per_minute: {rpm} }}
  - id: b
    tools: [secret-tool, gpt]
personas:
  - id: pa
    headcount: 1
    tier: a
    workflows: [{{ id: triage, share: 1.0, floor: 0.5 }}]
  - id: pb
    headcount: 1
    tier: b
    workflows: [{{ id: triage, share: 1.0, floor: 0.5 }}]
"#
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_shaped_requests_are_served_streaming_and_not() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 100.0, 10_000));
    let key = setup.key("pa", &["--name", "sdk"]);
    let gw = setup.start_gateway();
    let c = client();

    // Non-streaming, as `client.chat.completions.create(...)` sends it.
    let body = serde_json::json!({
        "messages": [{"role": "system", "content": "Answer briefly."},
                     {"role": "user", "content": "What is the capital of France?"}],
        "model": "gpt", "max_tokens": 16, "temperature": 0, "n": 1, "stream": false, "user": "u1"
    });
    let r = post_chat(&c, &gw.url, &key, &body, Some("triage"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "Paris");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // "Answer briefly." + the question = 45 characters: 12 tokens, as the upstream said.
    assert_eq!(v["usage"]["prompt_tokens"], 12);
    let overhead: f64 = r.headers["x-proximity-overhead-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead >= 0.0);
    let plain_id = r.request_id();

    // Streaming with usage, parsed as the SDK parses SSE.
    let r = post_chat(
        &c,
        &gw.url,
        &key,
        &user_stream("gpt", "capital of France?"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = r.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let mut text = String::new();
    let mut usage = Value::Null;
    for e in &events[..events.len() - 1] {
        let v: Value = serde_json::from_str(e).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if !v["usage"].is_null() {
            usage = v["usage"].clone();
        }
    }
    assert_eq!(text, "Paris");
    assert_eq!(usage["completion_tokens"], 2);
    let stream_id = r.request_id();

    // A stream whose upstream sends no usage: tokens are counted.
    let r = post_chat(
        &c,
        &gw.url,
        &key,
        &user_stream("gpt", "[no-usage] hello"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.events().last().map(String::as_str), Some("[DONE]"));
    let counted_id = r.request_id();

    // A stream cut off upstream: an error event, never `[DONE]`.
    let r = post_chat(
        &c,
        &gw.url,
        &key,
        &user_stream("gpt", "[truncate] hello"),
        None,
    )
    .await
    .unwrap();
    let events = r.events();
    assert!(!events.iter().any(|e| e == "[DONE]"), "{events:?}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_truncated");
    let truncated_id = r.request_id();

    // A stream whose upstream stops sending: the request's deadline ends it (an error
    // event, never `[DONE]`), instead of the upstream's silence holding it open.
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        post_chat_with(
            &c,
            &gw.url,
            &key,
            &user_stream("gpt", "[stall] hello"),
            &[("x-proximity-deadline-ms", "500")],
        ),
    )
    .await
    .expect("the stream outlived its deadline")
    .unwrap();
    let events = r.events();
    assert!(!events.iter().any(|e| e == "[DONE]"), "{events:?}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_truncated", "{events:?}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{last}"
    );
    let stalled_id = r.request_id();

    gw.settled().await;
    let rows = usage_rows(&setup).await;
    let row = |id: &str| rows.iter().find(|r| r.id == id).unwrap().clone();
    let plain = row(&plain_id);
    assert_eq!((plain.status, plain.workflow.as_str()), (200, "triage"));
    assert_eq!(plain.persona.as_deref(), Some("pa"));
    assert_eq!((plain.input_tokens, plain.output_tokens), (12, 2));
    assert!((plain.cost_usd - (12.0 * 30.0 + 2.0 * 60.0) / 1e6).abs() < 1e-12);
    assert!(plain.tool_fingerprint.is_some() && plain.ttft_ms.is_some());
    let streamed = row(&stream_id);
    assert!(streamed.stream && streamed.status == 200 && streamed.workflow == "unknown");
    assert_eq!(streamed.output_tokens, 2);
    assert!(row(&counted_id).output_tokens > 0);
    let cut = row(&truncated_id);
    assert_eq!(cut.status, 502);
    assert_eq!(cut.error_class.as_deref(), Some("malformed"));
    let stalled = row(&stalled_id);
    assert_eq!(stalled.status, 504);
    assert_eq!(stalled.error_class.as_deref(), Some("timeout"));
    // What streamed before the stall is counted.
    assert!(stalled.output_tokens > 0, "{stalled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_tiers_rate_limits_and_budgets_answer_401_403_429_402() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 100.0, 3));
    let key = setup.key("pa", &[]);
    // A key cannot be created expired: one that expires in four seconds stands in.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    setup.key("pa", &["--expires", &today]);
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(4)).to_rfc3339();
    let expired = setup.key("pa", &["--expires", &soon]);
    let revoked = setup.key("pa", &[]);
    let tiny = setup.key("pb", &["--budget", "0.000001"]);
    let gw = setup.start_gateway();
    let c = client();

    let list = setup
        .proximity()
        .args(["keys", "list", "--format", "json"])
        .output()
        .unwrap();
    let keys: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 5);
    assert_eq!(
        keys[1]["status"], "active",
        "a key created to expire today works today"
    );
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&key));
    let revoked_id = keys[3]["id"].as_str().unwrap().to_owned();
    let out = setup
        .proximity()
        .args(["keys", "revoke", &revoked_id])
        .output()
        .unwrap();
    assert!(out.status.success());

    while chrono::Utc::now() < chrono::DateTime::parse_from_rfc3339(&soon).unwrap() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for k in ["", "prx-0000", expired.as_str(), revoked.as_str()] {
        let r = post_chat(&c, &gw.url, k, &user("gpt", "hi"), None)
            .await
            .unwrap();
        assert_eq!(r.status, 401, "{k}: {}", r.body);
        assert_eq!(r.json()["error"]["type"], "authentication_error");
    }

    let r = post_chat(&c, &gw.url, &key, &user("secret-tool", "hi"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`b`"));

    let calls_before = up.state.calls.load(std::sync::atomic::Ordering::SeqCst);
    let r = post_chat(&c, &gw.url, &tiny, &user("gpt", "hi"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "budget_exhausted");
    assert_eq!(
        up.state.calls.load(std::sync::atomic::Ordering::SeqCst),
        calls_before,
        "a 402 must come before any upstream call"
    );

    // Tier `a` allows 3 requests a minute (refused requests above did not count).
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let r = post_chat(&c, &gw.url, &key, &user("gpt", "hi"), None)
            .await
            .unwrap();
        statuses.push(r.status);
        if r.status == 429 {
            retry_after = r
                .headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(r.json()["error"]["type"], "rate_limit_error");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let after: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=20).contains(&after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_isolation_holds_for_models_requests_and_fallbacks() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 100.0, 10_000));
    let ka = setup.key("pa", &[]);
    let kb = setup.key("pb", &[]);
    let gw = setup.start_gateway();
    let c = client();

    let ids = |r: &Reply| -> Vec<String> {
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let models_a = get(&c, &format!("{}/v1/models", gw.url), Some(&ka)).await;
    assert_eq!(ids(&models_a), ["gpt", "gpt-backup"]);
    let models_b = get(&c, &format!("{}/v1/models", gw.url), Some(&kb)).await;
    assert_eq!(ids(&models_b), ["secret-tool", "gpt"]);

    let r = post_chat(&c, &gw.url, &ka, &user("secret-tool", "hi"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    let r = post_chat(&c, &gw.url, &kb, &user("gpt-backup", "hi"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 403);

    // `gpt` fails upstream (500, retried); its fallback `gpt-backup` is in tier a only.
    let r = post_chat(&c, &gw.url, &ka, &user("gpt", "[fail-primary] hi"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let served_a = r.request_id();
    let r = post_chat(&c, &gw.url, &kb, &user("gpt", "[fail-primary] hi"), None)
        .await
        .unwrap();
    assert_eq!(
        r.status, 502,
        "persona b must not reach gpt-backup: {}",
        r.body
    );
    let failed_b = r.request_id();

    gw.settled().await;
    let rows = usage_rows(&setup).await;
    let a = rows.iter().find(|r| r.id == served_a).unwrap();
    assert_eq!(a.served_by.as_deref(), Some("gpt-backup"));
    assert_eq!(a.attempts, 3, "two attempts at gpt, one at the fallback");
    let b = rows.iter().find(|r| r.id == failed_b).unwrap();
    assert_eq!(b.error_class.as_deref(), Some("server"));
    assert_eq!(b.served_by, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_requests_never_overspend_the_budget() {
    let up = start_upstream().await;
    // Each answer costs about 0.0003 USD; 0.02 USD pays for a few dozen of 500.
    let budget = 0.02;
    let setup = Setup::new(&program(&up.base_url(), budget, 100_000));
    let key = Arc::new(setup.key("pa", &[]));
    let gw = setup.start_gateway();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = Arc::new(gw.url.clone());
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let (c, url, key) = (c.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                let text = format!("request {i} wants a fairly long answer, please");
                post_chat(&c, &url, &key, &user("gpt", &text), None).await
            })
        })
        .collect();
    let mut ok = Vec::new();
    let mut payment_required = 0;
    // Near the edge requests are admitted one at a time; one whose turn does not come
    // within its wait (at most 10 s) is told to retry
    // with a 429 `budget_edge` (docs/gateway.md), never served past the budget.
    let mut edge_waits = 0;
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        match r.status {
            200 => ok.push(r.request_id()),
            402 => payment_required += 1,
            429 if r.json()["error"]["code"] == "budget_edge" => edge_waits += 1,
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert!(
        !ok.is_empty() && payment_required + edge_waits > 0,
        "{} ok, {payment_required} 402, {edge_waits} 429",
        ok.len()
    );
    gw.settled().await;
    let rows = usage_rows(&setup).await;
    let spent: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let max_one = rows.iter().map(|r| r.cost_usd).fold(0.0, f64::max);
    assert!(spent <= budget + max_one, "spent {spent} of {budget}");
    let recorded: HashSet<&str> = rows
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(recorded.len(), ok.len());
    assert!(ok.iter().all(|id| recorded.contains(id.as_str())));
    assert_eq!(
        rows.iter().filter(|r| r.status == 402).count(),
        payment_required
    );
    // The ledger's spend is exactly the sum of the usage rows.
    let ledger = ledger_spent(&setup, "persona:pa").await;
    assert!(
        (ledger - spent).abs() < 1e-9,
        "ledger {ledger}, rows {spent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gateway_owns_its_sqlite_file_unless_every_one_shares_limits() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 1000.0, 1_000));
    let key = setup.key("pa", &[]);
    let refused = |extra: &[&str]| {
        let out = setup
            .proximity()
            .args(["gateway", "--listen", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut owner = setup.start_gateway();
    let err = refused(&[]);
    assert!(
        err.contains("another gateway serves") && err.contains("--shared-limits"),
        "{err}"
    );
    let err = refused(&["--shared-limits"]);
    assert!(err.contains("another gateway serves"), "{err}");
    let c = client();
    let r = post_chat(&c, &owner.url, &key, &user("gpt", "hi"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    owner.kill9();

    // Gateways sharing limits through the store may serve one file together, and one
    // holding budgets in memory may not join them.
    let a = setup.start_gateway_with(&["--shared-limits"]);
    let b = setup.start_gateway_with(&["--shared-limits"]);
    let err = refused(&[]);
    assert!(
        err.contains("start this one with --shared-limits too"),
        "{err}"
    );
    for gw in [&a, &b] {
        let r = post_chat(&c, &gw.url, &key, &user("gpt", "hi"), None)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let rows = usage_rows(&setup).await;
    let spent: f64 = rows.iter().map(|r| r.cost_usd).sum();
    assert_eq!(rows.len(), 3);
    let ledger = ledger_spent(&setup, "persona:pa").await;
    assert!(
        (ledger - spent).abs() < 1e-9,
        "ledger {ledger}, rows {spent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_keeps_the_usage_of_every_acknowledged_request() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 1000.0, 1_000_000));
    let key = Arc::new(setup.key("pa", &[]));
    let mut gw = setup.start_gateway();
    let url = Arc::new(gw.url.clone());
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let c = client();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (c, url, key, acked) = (c.clone(), url.clone(), key.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let stream = (w + i) % 2 == 0;
                    let text = format!("worker {w} request {i}");
                    let body = if stream {
                        user_stream("gpt", &text)
                    } else {
                        user("gpt", &text)
                    };
                    let Ok(r) = post_chat(&c, &url, &key, &body, Some("triage")).await else {
                        break;
                    };
                    let done = if stream {
                        r.events().last().map(String::as_str) == Some("[DONE]")
                    } else {
                        r.status == 200 && serde_json::from_str::<Value>(&r.body).is_ok()
                    };
                    if done && r.status == 200 {
                        acked.lock().unwrap().push(r.request_id());
                    }
                }
            })
        })
        .collect();
    // Let load build up, then kill the gateway without warning.
    for _ in 0..200 {
        if acked.lock().unwrap().len() >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    gw.kill9();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20, "only {} acknowledged", acked.len());

    // Before any restart, a command reading usage first moves what the dead gateway
    // acknowledged through its journal into the store.
    let v = usage_json(&setup, "persona");
    let requests = v["groups"][0]["requests"].as_u64().unwrap();
    assert!(
        requests >= acked.len() as u64,
        "{requests} rows, {} acknowledged",
        acked.len()
    );
    let stored: HashSet<String> = usage_rows(&setup).await.into_iter().map(|r| r.id).collect();
    let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged without usage before the restart: {missing:?}"
    );

    // Restart on the same database: it serves, and no acknowledged request is missing.
    let gw = setup.start_gateway();
    let r = post_chat(&c, &gw.url, &key, &user("gpt", "after restart"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    gw.settled().await;
    let rows = usage_rows(&setup).await;
    let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !ids.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged without usage: {missing:?}"
    );
    // Spend counted exactly once per usage row, even for requests cut off by the kill.
    let spent: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let ledger = ledger_spent(&setup, "persona:pa").await;
    assert!(
        (ledger - spent).abs() < 1e-9,
        "ledger {ledger}, rows {spent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_program_and_sigterm_finishes_requests_in_flight() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 100.0, 10_000));
    let key = setup.key("pa", &[]);
    let mut gw = setup.start_gateway();
    let c = client();
    let r = post_chat(&c, &gw.url, &key, &user("secret-tool", "hi"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 403);

    let yaml = program(&up.base_url(), 100.0, 10_000).replace(
        "tools: [gpt, gpt-backup]",
        "tools: [gpt, gpt-backup, secret-tool]",
    );
    fs_err::write(setup.path().join("proximity.yaml"), yaml).unwrap();
    gw.signal("HUP");
    let mut status = 0;
    for _ in 0..100 {
        status = post_chat(&c, &gw.url, &key, &user("secret-tool", "hi"), None)
            .await
            .unwrap()
            .status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "the reload never took effect");

    // A slow request in flight when SIGTERM arrives still gets its answer.
    let (c2, url, k2) = (c.clone(), gw.url.clone(), key.clone());
    let in_flight = tokio::spawn(async move {
        post_chat(&c2, &url, &k2, &user("gpt", "[slow] still there?"), None).await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    gw.signal("TERM");
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let exit = tokio::task::spawn_blocking(move || gw.child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    // It moved its usage journal into the store on the way out and left none behind.
    let journal = setup.path().join("gw.db.usage-journal");
    let left: Vec<_> = fs_err::read_dir(&journal).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let rows = usage_rows(&setup).await;
    assert_eq!(rows.iter().filter(|r| r.status == 200).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reports_spend_and_volume_by_persona_and_workflow() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 100.0, 10_000));
    let ka = setup.key("pa", &[]);
    let kb = setup.key("pb", &[]);
    let gw = setup.start_gateway();
    let c = client();
    for _ in 0..3 {
        post_chat(&c, &gw.url, &ka, &user("gpt", "hello"), Some("triage"))
            .await
            .unwrap();
    }
    post_chat(&c, &gw.url, &kb, &user("gpt-backup", "hello"), None)
        .await
        .unwrap();
    gw.settled().await;
    let v = usage_json(&setup, "persona");
    let groups = v["groups"].as_array().unwrap();
    let pa = groups.iter().find(|g| g["group"] == "pa").unwrap();
    assert_eq!(
        (pa["requests"].as_i64(), pa["errors"].as_i64()),
        (Some(3), Some(0))
    );
    assert!(pa["cost_usd"].as_f64().unwrap() > 0.0);
    let pb = groups.iter().find(|g| g["group"] == "pb").unwrap();
    assert_eq!(pb["errors"], 1);
    let out = setup
        .proximity()
        .args(["usage", "--by", "workflow", "--since", "1d"])
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("triage") && table.contains("unknown"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_client_hangs_up_is_still_settled_and_recorded() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url(), 100.0, 10_000));
    let key = setup.key("pa", &[]);
    let gw = setup.start_gateway();
    // The client hangs up once the gateway is waiting on the (slow) upstream.
    let (c, url) = (client(), gw.url.clone());
    let request =
        tokio::spawn(
            async move { post_chat(&c, &url, &key, &user("gpt", "[slow] hello"), None).await },
        );
    for _ in 0..1000 {
        if up.state.calls.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    request.abort();
    assert!(
        request.await.is_err(),
        "the request finished before the client hung up"
    );
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = usage_rows(&setup).await;
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 1, "the abandoned request left no usage row");
    assert_eq!(rows[0].status, 200);
    assert!(rows[0].cost_usd > 0.0);
}

/// The embedded model behind the gateway. Needs `proximity models pull`; skipped with a
/// note without it unless `PROXIMITY_REQUIRE_MODEL=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)]
async fn the_local_model_answers_through_the_gateway() {
    let found =
        proximity_local::models::resolve_model_path(None, std::path::Path::new(".")).is_ok();
    if !found {
        assert!(
            std::env::var("PROXIMITY_REQUIRE_MODEL").as_deref() != Ok("1"),
            "PROXIMITY_REQUIRE_MODEL=1 but the local model is missing"
        );
        eprintln!("skipping: the local model is not installed (run `proximity models pull`)");
        return;
    }
    let setup = Setup::new(
        r#"version: 1
name: gw-local
tools:
  - id: local
    provider: local
    params: { temperature: 0, max_tokens: 16 }
tiers:
  - id: t
    tools: [local]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#,
    );
    let key = setup.key("p", &[]);
    let gw = setup.start_gateway();
    let c = client();
    let q = "What is the capital of France?";
    let r = post_chat(&c, &gw.url, &key, &user("local", q), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!text.trim().is_empty());
    let r = post_chat(&c, &gw.url, &key, &user_stream("local", q), None)
        .await
        .unwrap();
    assert_eq!(r.events().last().map(String::as_str), Some("[DONE]"));
    gw.settled().await;
    let rows = usage_rows(&setup).await;
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.status == 200 && r.input_tokens > 0 && r.output_tokens > 0));
}
