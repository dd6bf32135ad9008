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
