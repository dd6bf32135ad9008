//! Router tests without a socket: `app(state).oneshot(request)` against the real SQLite
//! store and `scripted` tools.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::Utc;
use http_body_util::BodyExt;
use proximity_gateway::{app, auth, AppState, Loaded, Options};
use proximity_store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

const PROGRAM: &str = r#"version: 1
name: gw
tools:
  - id: a-tool
    provider: scripted
    price: { input_per_mtok: 1000, output_per_mtok: 1000 }
    params: { default_reply: "hello from a", max_tokens: 10 }
  - id: b-tool
    provider: scripted
    params: { default_reply: "hello from b" }
  - id: shared
    provider: scripted
    fallback: b-tool
    params:
      max_attempts: 1
      rules:
        - { when_regex: ".*", error: server }
tiers:
  - id: ta
    tools: [a-tool, shared]
    budget_per_seat_month: 0.05
  - id: tb
    tools: [b-tool, shared]
  - id: tr
    tools: [b-tool]
    rate_limit: { requests_per_minute: 2 }
personas:
  - id: pa
    headcount: 1
    tier: ta
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
  - id: pb
    headcount: 1
    tier: tb
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
  - id: pr
    headcount: 1
    tier: tr
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    app: Router,
    state: Arc<AppState>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    let program = proximity_program::load(dir.path()).unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = Store::connect(&url).await.unwrap();
    let state = Arc::new(
        AppState::new(Loaded::new(program), store.clone(), Options::default())
            .await
            .unwrap(),
    );
    Fixture {
        _dir: dir,
        store,
        app: app(state.clone()),
        state,
    }
}

impl Fixture {
    /// The usage rows, once every acknowledged one has left the journal for the store.
    async fn usage(&self) -> Vec<proximity_store::UsageRecord> {
        self.state.ledger.flush().await.unwrap();
        self.store.usage(None).await.unwrap()
    }
}

async fn key(store: &Store, persona: &str) -> String {
    let k = auth::generate(persona, None, None, None, Utc::now());
    store.insert_key(&k.record).await.unwrap();
    k.key
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, body)
}

fn chat(key: Option<&str>, body: Value) -> Request<Body> {
    let mut b = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("x-proximity-workflow", "w");
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn hi(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn unknown_revoked_and_missing_keys_get_401_openai_errors() {
    let f = fixture().await;
    let (s, _, b) = send(&f.app, chat(None, hi("a-tool"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    let (s, _, _) = send(&f.app, chat(Some("prx-nope"), hi("a-tool"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let k = auth::generate("pa", None, None, None, Utc::now());
    f.store.insert_key(&k.record).await.unwrap();
    f.store.revoke_key(&k.record.id, Utc::now()).await.unwrap();
    let (s, _, b) = send(&f.app, chat(Some(&k.key), hi("a-tool"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&b).contains("revoked"));
    let expired = auth::generate(
        "pa",
        None,
        Some(Utc::now() - chrono::Duration::days(1)),
        None,
        Utc::now(),
    );
    f.store.insert_key(&expired.record).await.unwrap();
    let (s, _, _) = send(&f.app, chat(Some(&expired.key), hi("a-tool"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_completion_is_answered_and_recorded_before_it_is_acknowledged() {
    let f = fixture().await;
    let k = key(&f.store, "pa").await;
    let (s, h, b) = send(&f.app, chat(Some(&k), hi("a-tool"))).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "a-tool");
    assert_eq!(v["choices"][0]["message"]["content"], "hello from a");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let id = h["x-proximity-request-id"].to_str().unwrap().to_owned();
    let overhead: f64 = h["x-proximity-overhead-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead >= 0.0);
    let rows = f.usage().await;
    let row = rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!(row.persona.as_deref(), Some("pa"));
    assert_eq!(row.tier.as_deref(), Some("ta"));
    assert_eq!(row.workflow, "w");
    assert_eq!(row.status, 200);
    assert!(row.cost_usd > 0.0);
    assert!(row
        .tool_fingerprint
        .as_deref()
        .is_some_and(|f| !f.is_empty()));
}

#[tokio::test]
async fn tools_outside_the_tier_are_403_and_absent_from_models() {
    let f = fixture().await;
    let ka = key(&f.store, "pa").await;
    let kb = key(&f.store, "pb").await;
    let (s, _, b) = send(&f.app, chat(Some(&ka), hi("b-tool"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let v: Value = serde_json::from_slice(&b).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`tb`") && msg.contains("`tr`"), "{msg}");
    let (s, _, _) = send(&f.app, chat(Some(&ka), hi("no-such-tool"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let models = |k: &str| {
        Request::get("/v1/models")
            .header("authorization", format!("Bearer {k}"))
            .body(Body::empty())
            .unwrap()
    };
    let (s, _, b) = send(&f.app, models(&ka)).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-tool", "shared"]);
    let (_, _, b) = send(&f.app, models(&kb)).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert!(!v.to_string().contains("a-tool"));
}

#[tokio::test]
async fn a_fallback_outside_the_personas_tier_is_never_used() {
    let f = fixture().await;
    let ka = key(&f.store, "pa").await;
    let kb = key(&f.store, "pb").await;
    // `shared` always fails; its fallback `b-tool` is in tier tb only.
    let (s, _, b) = send(&f.app, chat(Some(&ka), hi("shared"))).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert!(!String::from_utf8_lossy(&b).contains("hello from b"));
    let (s, h, b) = send(&f.app, chat(Some(&kb), hi("shared"))).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "hello from b");
    let id = h["x-proximity-request-id"].to_str().unwrap();
    let rows = f.usage().await;
    let row = rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!(row.tool_id, "shared");
    assert_eq!(row.served_by.as_deref(), Some("b-tool"));
    let failed = rows
        .iter()
        .find(|r| r.persona.as_deref() == Some("pa"))
        .unwrap();
    assert_eq!(failed.status, 502);
    assert_eq!(failed.error_class.as_deref(), Some("server"));
}

#[tokio::test]
async fn an_exhausted_budget_is_402_and_never_overspent() {
    let f = fixture().await;
    let k = key(&f.store, "pa").await;
    let mut saw_402 = false;
    for _ in 0..50 {
        let (s, _, b) = send(&f.app, chat(Some(&k), hi("a-tool"))).await;
        if s == StatusCode::PAYMENT_REQUIRED {
            let v: Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(v["error"]["code"], "budget_exhausted");
            saw_402 = true;
            break;
        }
        assert_eq!(s, StatusCode::OK);
    }
    assert!(saw_402);
    let spent: f64 = f.usage().await.iter().map(|r| r.cost_usd).sum();
    assert!(spent <= 0.05, "spent {spent}");
}

#[tokio::test]
async fn the_tier_rate_limit_is_429_with_retry_after() {
    let f = fixture().await;
    let k = key(&f.store, "pr").await;
    for _ in 0..2 {
        let (s, _, _) = send(&f.app, chat(Some(&k), hi("b-tool"))).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, h, _) = send(&f.app, chat(Some(&k), hi("b-tool"))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&after));
}

#[tokio::test]
async fn streams_are_server_sent_events_ending_in_done() {
    let f = fixture().await;
    let k = key(&f.store, "pa").await;
    let body = json!({"model": "a-tool", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hi"}]});
    let (s, h, b) = send(&f.app, chat(Some(&k), body)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "text/event-stream");
    let text = String::from_utf8(b).unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let mut content = String::new();
    let mut usage = None;
    for e in &events[..events.len() - 1] {
        let v: Value = serde_json::from_str(e).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            content.push_str(c);
        }
        if !v["usage"].is_null() {
            usage = Some(v["usage"].clone());
        }
    }
    assert_eq!(content, "hello from a");
    assert!(usage.unwrap()["completion_tokens"].as_u64().unwrap() > 0);
    let id = h["x-proximity-request-id"].to_str().unwrap();
    let rows = f.usage().await;
    assert!(rows
        .iter()
        .any(|r| r.id == id && r.stream && r.status == 200));
}

/// A provider whose streamed answer is 500 deltas, all at once.
struct Chatty;

#[async_trait::async_trait]
impl proximity_providers::Provider for Chatty {
    async fn complete(
        &self,
        _: &proximity_providers::ChatRequest,
    ) -> Result<proximity_providers::ChatResponse, proximity_providers::ProviderError> {
        Ok(proximity_providers::ChatResponse {
            text: "word ".repeat(500),
            ..Default::default()
        })
    }

    async fn complete_stream(
        &self,
        _: &proximity_providers::ChatRequest,
    ) -> Result<proximity_providers::ChatStream, proximity_providers::ProviderError> {
        use proximity_providers::{StreamEnd, StreamEvent};
        let deltas = (0..500).map(|_| Ok(StreamEvent::Delta("word ".into())));
        let done = std::iter::once(Ok(StreamEvent::Done(StreamEnd::default())));
        Ok(Box::pin(futures::stream::iter(deltas.chain(done))))
    }
}

#[tokio::test]
async fn a_stream_the_client_stops_reading_ends_at_the_deadline_as_a_504() {
    let f = fixture().await;
    let program = f.state.loaded.load().program.clone();
    f.state
        .reload(Loaded::new(program).with_provider("a-tool", Arc::new(Chatty)));
    let k = key(&f.store, "pa").await;
    let body = json!({"model": "a-tool", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let mut req = chat(Some(&k), body);
    req.headers_mut()
        .insert("x-proximity-deadline-ms", "300".parse().unwrap());
    let res = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.headers()["x-proximity-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    // The client holds the stream and reads nothing: the relay fills its buffer, waits,
    // and gives up at the deadline.
    let mut rows = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        rows = f.usage().await;
        if rows.iter().any(|r| r.id == id) {
            break;
        }
    }
    let row = rows.iter().find(|r| r.id == id).expect("no usage row");
    assert_eq!(row.status, 504);
    assert_eq!(row.error_class.as_deref(), Some("timeout"));
    assert!(row.stream);
    // What was relayed before the client stopped reading is counted.
    assert!(row.output_tokens > 0, "{row:?}");
    drop(res);
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let f = fixture().await;
    let k = key(&f.store, "pa").await;
    send(&f.app, chat(Some(&k), hi("a-tool"))).await;
    let (s, _, b) = send(
        &f.app,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&b).contains("\"ok\""));
    let (s, _, b) = send(
        &f.app,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    assert!(text.contains(
        r#"proximity_gateway_requests_total{persona="pa",status="200",tool="a-tool"} 1"#
    ));
    assert!(text.contains("proximity_gateway_overhead_seconds_bucket"));
}

#[tokio::test]
async fn a_reload_changes_what_the_next_request_sees() {
    let f = fixture().await;
    let k = key(&f.store, "pa").await;
    let (s, _, _) = send(&f.app, chat(Some(&k), hi("b-tool"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let mut program = f.state.loaded.load().program.clone();
    program.tiers[0].tools.push("b-tool".into());
    f.state.reload(Loaded::new(program));
    let (s, _, _) = send(&f.app, chat(Some(&k), hi("b-tool"))).await;
    assert_eq!(s, StatusCode::OK);
}

fn error_of(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    let e = v["error"].clone();
    assert!(e["message"].is_string() && e["type"].is_string() && e["code"].is_string());
    e
}

#[tokio::test]
async fn wrong_types_and_ranges_are_400s_naming_the_param() {
    let f = fixture().await;
    let k = key(&f.store, "pb").await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (json!({"temperature": "hot"}), "temperature"),
        (json!({"temperature": 99}), "temperature"),
        (json!({"temperature": -0.1}), "temperature"),
        (json!({"top_p": 1.5}), "top_p"),
        (json!({"max_tokens": -5}), "max_tokens"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"max_tokens": 1.5}), "max_tokens"),
        (
            json!({"max_completion_tokens": "7"}),
            "max_completion_tokens",
        ),
        (json!({"stream": "yes"}), "stream"),
        (
            json!({"stream_options": {"include_usage": 1}}),
            "stream_options.include_usage",
        ),
        (json!({"n": 2}), "n"),
        (json!({"seed": "s"}), "seed"),
        (json!({"stop": 5}), "stop"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (json!({"presence_penalty": 3}), "presence_penalty"),
        (json!({"frequency_penalty": "x"}), "frequency_penalty"),
        (json!({"logprobs": "yes"}), "logprobs"),
        (json!({"top_logprobs": 21}), "top_logprobs"),
        (json!({"user": 5}), "user"),
        (json!({"tools": {}}), "tools"),
        (
            json!({"tools": [{"type": "function"}]}),
            "tools[0].function.name",
        ),
        (json!({"tool_choice": "always"}), "tool_choice"),
        (
            json!({"response_format": {"type": "yaml"}}),
            "response_format.type",
        ),
        (json!({"model": 5}), "model"),
        (json!({"messages": []}), "messages"),
        (
            json!({"messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
    ];
    for (patch, param) in cases {
        let mut body = json!({"model": "b-tool", "messages": user});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, _, b) = send(&f.app, chat(Some(&k), body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let e = error_of(&b);
        assert_eq!(e["param"], param, "{body}: {e}");
        assert_eq!(e["type"], "invalid_request_error");
    }
    // In range, and the boundaries themselves, pass.
    let body = json!({"model": "b-tool", "messages": user, "temperature": 2, "top_p": 0,
        "max_tokens": 1, "stream": false, "seed": -3, "n": 1, "presence_penalty": 0});
    let (s, _, b) = send(&f.app, chat(Some(&k), body)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

#[tokio::test]
async fn what_a_tool_cannot_honour_is_a_400_never_dropped() {
    let f = fixture().await;
    let k = key(&f.store, "pb").await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let tool = json!({"type": "function", "function": {"name": "f", "parameters": {}}});
    // A `scripted` tool's rules answer offered functions and the turns that carry calls.
    let honoured = [
        json!({"tools": [tool]}),
        json!({"tools": [tool], "tool_choice": "required"}),
        json!({"messages": [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "42"}]}),
    ];
    for patch in honoured {
        let mut body = json!({"model": "b-tool", "messages": user});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, _, b) = send(&f.app, chat(Some(&k), body.clone())).await;
        assert_eq!(s, StatusCode::OK, "{body}: {}", String::from_utf8_lossy(&b));
    }
    let cases = [
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}),
            "response_format",
        ),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"some_new_field": {"a": 1}}), "some_new_field"),
        (
            json!({"messages": [{"role": "user", "content": "hi", "name": "alice"}]}),
            "messages[0].name",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]}),
            "messages[0].content[0]",
        ),
    ];
    for (patch, param) in cases {
        let mut body = json!({"model": "b-tool", "messages": user});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, _, b) = send(&f.app, chat(Some(&k), body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let e = error_of(&b);
        assert_eq!(e["param"], param, "{body}: {e}");
        assert!(e["message"].as_str().unwrap().contains("b-tool"), "{e}");
    }
    // Defaults that change nothing are not refused.
    let body = json!({"model": "b-tool", "messages": user, "tool_choice": "auto",
        "response_format": {"type": "text"}, "logprobs": false, "user": "u1",
        "parallel_tool_calls": true, "tools": []});
    let (s, _, b) = send(&f.app, chat(Some(&k), body)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

#[tokio::test]
async fn wrong_methods_unknown_paths_and_big_bodies_get_openai_json() {
    let f = fixture().await;
    let k = key(&f.store, "pb").await;
    let (s, h, b) = send(
        &f.app,
        Request::get("/v1/chat/completions")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h["allow"], "POST");
    assert_eq!(error_of(&b)["code"], "method_not_allowed");
    let (s, h, b) = send(
        &f.app,
        Request::post("/v1/models").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h["allow"], "GET, HEAD");
    error_of(&b);
    let (s, _, b) = send(&f.app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    error_of(&b);

    // Over the limit, declared or not: a JSON 413 naming the limit and the flag.
    let limit = proximity_gateway::DEFAULT_MAX_BODY_BYTES;
    let big =
        json!({"model": "b-tool", "messages": [{"role": "user", "content": "x".repeat(limit)}]});
    let (s, _, b) = send(&f.app, chat(Some(&k), big.clone())).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let e = error_of(&b);
    assert_eq!(e["code"], "request_too_large");
    assert!(e["message"].as_str().unwrap().contains("--max-body-bytes"));
    let chunks = futures::stream::iter(
        big.to_string()
            .into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let req = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {k}"))
        .body(Body::from_stream(chunks))
        .unwrap();
    let (s, _, b) = send(&f.app, req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    error_of(&b);
}

#[tokio::test]
async fn a_body_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    let program = proximity_program::load(dir.path()).unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = Store::connect(&url).await.unwrap();
    let options = Options {
        max_body_bytes: 100,
        ..Options::default()
    };
    let state = Arc::new(
        AppState::new(Loaded::new(program), store.clone(), options)
            .await
            .unwrap(),
    );
    let k = key(&store, "pb").await;
    let app = app(state);
    let (s, _, b) = send(&app, chat(Some(&k), hi("b-tool"))).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let long =
        json!({"model": "b-tool", "messages": [{"role": "user", "content": "x".repeat(100)}]});
    let (s, _, b) = send(&app, chat(Some(&k), long)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(&b)["message"]
        .as_str()
        .unwrap()
        .contains("100 bytes"));
}

#[tokio::test]
async fn a_model_is_retrieved_by_id_within_the_tier() {
    let f = fixture().await;
    let k = key(&f.store, "pa").await;
    let get = |path: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {k}"))
            .body(Body::empty())
            .unwrap()
    };
    let (s, _, b) = send(&f.app, get("/v1/models/a-tool")).await;
    assert_eq!(s, StatusCode::OK);
    let m: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(m["id"], "a-tool");
    assert_eq!(m["object"], "model");
    for missing in ["/v1/models/b-tool", "/v1/models/nope"] {
        let (s, _, b) = send(&f.app, get(missing)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{missing}");
        let e = error_of(&b);
        assert_eq!(e["code"], "model_not_found");
        assert_eq!(e["param"], "model");
    }
    let (s, _, _) = send(
        &f.app,
        Request::get("/v1/models/a-tool")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metric_labels_come_only_from_the_programs_ids() {
    let f = fixture().await;
    let k = key(&f.store, "pa").await;
    for i in 0..50 {
        send(&f.app, chat(Some(&k), hi(&format!("random-model-{i}")))).await;
    }
    send(&f.app, chat(Some(&k), hi("a-tool"))).await;
    let (_, _, b) = send(
        &f.app,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    let text = String::from_utf8(b).unwrap();
    assert!(!text.contains("random-model"), "{text}");
    assert!(text.contains(
        r#"proximity_gateway_requests_total{persona="pa",status="404",tool="unknown"} 50"#
    ));
    assert!(text.contains(
        r#"proximity_gateway_requests_total{persona="pa",status="200",tool="a-tool"} 1"#
    ));
}
