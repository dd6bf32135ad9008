//! The findings of 2026-12-07 against `proximity gateway`, through the real binary:
//! strict validation with `param`, OpenAI-shaped 405/408/413 answers and a configurable
//! body limit, `GET /v1/models/{id}`, bounded metric labels, fields forwarded to an
//! `openai` tool, and `keys create --expires` today giving a key that works today (and a past date refused).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::gateway_support::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn program(base: &str) -> String {
    format!(
        r#"version: 1
name: gw-proxy
tools:
  - id: gpt
    provider: openai
    model: primary-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    params: {{ max_tokens: 20 }}
tiers:
  - id: a
    tools: [gpt]
personas:
  - id: pa
    headcount: 1
    tier: a
    workflows: [{{ id: triage, share: 1.0, floor: 0.5 }}]
"#
    )
}

fn error_of(r: &Reply) -> Value {
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{r:?}"
    );
    r.json()["error"].clone()
}

#[test]
fn a_key_expiring_in_the_past_is_refused() {
    let setup = Setup::new(&program("http://127.0.0.1:9/v1"));
    let out = setup
        .proximity()
        .args([
            "keys",
            "create",
            "--persona",
            "pa",
            "--expires",
            "2001-01-01",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not in the future") && err.contains("hint:"),
        "{err}"
    );
    let list = setup.proximity().args(["keys", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("key_"),
        "no key was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_validates_bounds_and_forwards_as_an_openai_proxy() {
    let up = start_upstream().await;
    let setup = Setup::new(&program(&up.base_url()));
    // A key expiring today works through today (it was expired from the start before).
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let key = setup.key("pa", &["--expires", &today]);
    let gw = setup.start_gateway_with(&["--max-body-bytes", "4000", "--header-timeout-secs", "1"]);
    let c = reqwest::Client::new();
    let hi = |extra: Value| {
        let mut b = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };

    // Strict validation, `param` set.
    for (extra, param) in [
        (json!({"temperature": "hot"}), "temperature"),
        (json!({"temperature": 99}), "temperature"),
        (json!({"max_tokens": -5}), "max_tokens"),
        (json!({"stream": "yes"}), "stream"),
    ] {
        let r = post_chat(&c, &gw.url, &key, &hi(extra), None)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(error_of(&r)["param"], param);
    }
    assert_eq!(up.state.calls.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Fields the gateway does not read reach the openai tool.
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let r = post_chat(
        &c,
        &gw.url,
        &key,
        &hi(json!({"tools": tools, "tool_choice": "auto"})),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // 405, 413 (the configured limit), /v1/models/{id}.
    let r = get(&c, &format!("{}/v1/chat/completions", gw.url), Some(&key)).await;
    assert_eq!(r.status, 405);
    assert_eq!(error_of(&r)["code"], "method_not_allowed");
    let big = hi(json!({"user": "x".repeat(5000)}));
    let r = post_chat(&c, &gw.url, &key, &big, None).await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(error_of(&r)["code"], "request_too_large");
    let r = get(&c, &format!("{}/v1/models/gpt", gw.url), Some(&key)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], "gpt");

    // Random model names do not become metric labels.
    for i in 0..20 {
        post_chat(
            &c,
            &gw.url,
            &key,
            &json!({"model": format!("rnd-{i}"), "messages": [{"role": "user", "content": "x"}]}),
            None,
        )
        .await
        .unwrap();
    }
    let metrics = get(&c, &format!("{}/metrics", gw.url), None).await.body;
    assert!(!metrics.contains("rnd-"));
    assert!(metrics.contains(r#"tool="unknown""#));

    // A half-sent head gets a JSON 408 after --header-timeout-secs.
    let addr = gw.url.strip_prefix("http://").unwrap();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("\"request_timeout\""), "{out}");
}
