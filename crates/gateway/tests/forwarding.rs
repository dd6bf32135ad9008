//! The whole chat completions request through an `openai` tool: fields the gateway does
//! not read (tools, `tool_choice`, `response_format`, fields newer than the gateway)
//! reach the upstream as the client sent them, and tool calls come back, streamed and
//! not, against a fake OpenAI-compatible upstream on a socket.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::Utc;
use http_body_util::BodyExt;
use proximity_gateway::{app, auth, AppState, Loaded, Options};
use proximity_store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

/// What the upstream received, last request first.
#[derive(Default)]
struct Seen {
    bodies: Mutex<Vec<Value>>,
}

fn tool_call_message() -> Value {
    json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
}

async fn upstream(State(seen): State<Arc<Seen>>, Json(body): Json<Value>) -> Response {
    seen.bodies.lock().unwrap().push(body.clone());
    let usage = json!({"prompt_tokens": 31, "completion_tokens": 9, "total_tokens": 40});
    if body["stream"] == true {
        let chunk = |delta: Value, finish: Value| {
            format!(
                "data: {}\n\n",
                json!({"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": null})
            )
        };
        let mut sse = String::new();
        sse += &chunk(json!({"role": "assistant", "content": null}), Value::Null);
        sse += &chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        );
        sse += &chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Paris\"}"}}]}),
            Value::Null,
        );
        sse += &chunk(json!({}), json!("tool_calls"));
        sse += &format!(
            "data: {}\n\n",
            json!({"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model",
                "choices": [], "usage": usage})
        );
        sse += "data: [DONE]\n\n";
        return ([("content-type", "text/event-stream")], sse).into_response();
    }
    Json(json!({
        "id": "up-1", "object": "chat.completion", "created": 1, "model": "up-model",
        "choices": [{"index": 0, "message": tool_call_message(), "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": usage,
        "service_tier": "default",
    }))
    .into_response()
}

struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
    state: Arc<AppState>,
    store: Store,
    seen: Arc<Seen>,
    key: String,
}

async fn fixture() -> Fixture {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = Router::new()
        .route("/v1/chat/completions", axum::routing::post(upstream))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, up).await });
    let program = format!(
        r#"version: 1
name: gw
tools:
  - id: gpt
    provider: openai
    model: up-model
    base_url: http://{addr}/v1
    price: {{ input_per_mtok: 1, output_per_mtok: 2 }}
    params: {{ system: "be brief", max_tokens: 100, seed: 5 }}
  - id: canned
    provider: scripted
    params: {{ default_reply: "hi" }}
  - id: claude
    provider: anthropic
    model: claude-x
    base_url: http://127.0.0.1:9
tiers:
  - id: t
    tools: [gpt, canned, claude]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{{ id: w, share: 1.0, floor: 0.5 }}]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), program).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    let program = proximity_program::load(dir.path()).unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = Store::connect(&url).await.unwrap();
    let state = Arc::new(
        AppState::new(Loaded::new(program), store.clone(), Options::default())
            .await
            .unwrap(),
    );
    let k = auth::generate("p", None, None, None, Utc::now());
    store.insert_key(&k.record).await.unwrap();
    Fixture {
        _dir: dir,
        app: app(state.clone()),
        state,
        store,
        seen,
        key: k.key,
    }
}

impl Fixture {
    async fn send(&self, body: &Value) -> (StatusCode, Vec<u8>) {
        let req = Request::post("/v1/chat/completions")
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        (
            status,
            res.into_body().collect().await.unwrap().to_bytes().to_vec(),
        )
    }

    fn last_upstream_body(&self) -> Value {
        self.seen.bodies.lock().unwrap().last().cloned().unwrap()
    }

    async fn usage(&self) -> Vec<proximity_store::UsageRecord> {
        self.state.ledger.flush().await.unwrap();
        self.store.usage(None).await.unwrap()
    }
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "strict": true,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"], "additionalProperties": false}}}])
}

fn request(stream: bool) -> Value {
    json!({
        "model": "gpt",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather?"}], "name": "alice"},
            tool_call_message(),
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"c\": 21}"},
            {"role": "user", "content": "and tomorrow?"}
        ],
        "tools": tools(),
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true,
            "schema": {"type": "object"}}},
        "logprobs": true,
        "top_logprobs": 2,
        "presence_penalty": 0.5,
        "user": "alice@example.com",
        "a_field_from_next_month": {"nested": [1, 2, 3]},
        "max_completion_tokens": 1000,
        "stream": stream,
    })
}

#[tokio::test]
async fn an_openai_tool_gets_the_whole_request_and_its_tool_calls_come_back() {
    let f = fixture().await;
    let sent = request(false);
    let (s, b) = f.send(&sent).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let up = f.last_upstream_body();
    // Everything the client set reaches the upstream as set...
    for k in [
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "user",
        "a_field_from_next_month",
    ] {
        assert_eq!(up[k], sent[k], "{k}");
    }
    // ...the messages too, after the tool's system prompt...
    assert_eq!(
        up["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(
        up["messages"].as_array().unwrap()[1..],
        sent["messages"].as_array().unwrap()[..]
    );
    // ...and what the gateway owns is the gateway's.
    assert_eq!(up["model"], "up-model");
    assert_eq!(up["max_completion_tokens"], 100, "capped by the tool");
    assert!(up.get("max_tokens").is_none());
    assert_eq!(
        up["seed"], 5,
        "the tool's parameter where the client set none"
    );
    assert!(up.get("stream").is_none());

    let answer: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(answer["model"], "gpt");
    assert_eq!(answer["object"], "chat.completion");
    assert!(answer["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_ne!(answer["id"], "up-1");
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(answer["choices"][0]["message"], tool_call_message());
    assert_eq!(answer["service_tier"], "default");
    let rows = f.usage().await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].input_tokens, rows[0].output_tokens), (31, 9));
    assert_eq!(rows[0].status, 200);
}

#[tokio::test]
async fn tool_call_deltas_stream_through_and_usage_only_when_asked() {
    let f = fixture().await;
    for include_usage in [false, true] {
        let mut sent = request(true);
        if include_usage {
            sent["stream_options"] = json!({"include_usage": true});
        }
        let (s, b) = f.send(&sent).await;
        assert_eq!(s, StatusCode::OK);
        let up = f.last_upstream_body();
        assert_eq!(up["stream"], true);
        assert_eq!(
            up["stream_options"]["include_usage"], true,
            "the gateway bills by it"
        );
        assert_eq!(up["tools"], sent["tools"]);

        let text = String::from_utf8(b).unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(chunks.iter().all(|c| c["model"] == "gpt"));
        let arguments: String = chunks
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(arguments, "{\"city\":\"Paris\"}");
        let usage_chunks: Vec<&Value> = chunks.iter().filter(|c| c["usage"].is_object()).collect();
        if include_usage {
            assert_eq!(usage_chunks.len(), 1);
            assert_eq!(usage_chunks[0]["usage"]["completion_tokens"], 9);
        } else {
            assert!(usage_chunks.is_empty(), "{text}");
            assert!(chunks.iter().all(|c| c.get("usage").is_none()));
        }
        assert!(chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    }
    let rows = f.usage().await;
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.stream && r.status == 200 && (r.input_tokens, r.output_tokens) == (31, 9)));
}

#[tokio::test]
async fn a_tool_that_cannot_forward_refuses_by_name_and_the_typed_path_is_unchanged() {
    let f = fixture().await;
    let mut sent = request(false);
    sent["model"] = json!("canned");
    let (s, b) = f.send(&sent).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(e["error"]["param"], "messages[0].name");
    // A request of typed fields only to the openai tool still takes the typed path.
    let (s, b) = f
        .send(&json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let up = f.last_upstream_body();
    assert_eq!(up["max_tokens"], 100);
    assert_eq!(up["model"], "up-model");
}

#[tokio::test]
async fn anthropic_refuses_what_it_cannot_honour_by_name() {
    let f = fixture().await;
    let user = json!([{"role": "user", "content": "hi"}]);
    for (extra, param) in [
        (json!({"seed": 3}), "seed"),
        (json!({"logprobs": true}), "logprobs"),
        (
            json!({"tools": tools(), "response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (json!({"reasoning_effort": "low"}), "reasoning_effort"),
    ] {
        let mut body = json!({"model": "claude", "messages": user});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, b) = f.send(&body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let e: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(e["error"]["param"], param, "{e}");
    }
    assert!(f.seen.bodies.lock().unwrap().is_empty());
}
