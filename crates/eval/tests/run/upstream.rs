//! A real HTTP server on 127.0.0.1:0 speaking the OpenAI chat completions API, whose
//! behaviour each prompt picks with a marker: `[rate-limit-once]` answers 429 with
//! `Retry-After: 1` the first time, `[fail-always]` answers 500 every time. Otherwise it
//! answers "Paris" to a question about the capital of France, "{\"total\": 391}" to one
//! asking for JSON, and the prompt's first word to anything else; every answer reports
//! 100 prompt and 10 completion tokens. Offered `tools`, it calls the first of them for a
//! prompt about the weather (`{"city": "Paris"}`), `delete_account` for one marked
//! `[delete]`, and writes arguments that are not JSON for one marked `[broken-args]`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the server saw.
#[derive(Default)]
pub struct Seen {
    /// Requests received, by last user message.
    pub calls: Mutex<HashMap<String, u64>>,
    pub total: AtomicU64,
    /// The `tools` and `tool_choice` of each request that offered tools.
    pub offered: Mutex<Vec<(Vec<Value>, Option<Value>)>>,
}

impl Seen {
    /// Requests received with `prompt` as last user message.
    pub fn calls_of(&self, prompt: &str) -> u64 {
        self.calls.lock().unwrap().get(prompt).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
}

impl Upstream {
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn answer_for(prompt: &str) -> String {
    let lower = prompt.to_lowercase();
    if lower.contains("capital of france") {
        "Paris".to_owned()
    } else if lower.contains("as json") {
        "{\"total\": 391}".to_owned()
    } else {
        prompt.split_whitespace().next().unwrap_or("ok").to_owned()
    }
}

async fn completions(State(seen): State<Arc<Seen>>, Json(body): Json<Value>) -> Response {
    let prompt = last_user(&body);
    let n = {
        let mut calls = seen.calls.lock().unwrap();
        let c = calls.entry(prompt.clone()).or_insert(0);
        *c += 1;
        *c
    };
    seen.total.fetch_add(1, Ordering::SeqCst);
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        seen.offered
            .lock()
            .unwrap()
            .push((tools.clone(), body.get("tool_choice").cloned()));
        let call = |name: &str, args: &str| {
            Json(json!({
                "id": "chatcmpl-test", "object": "chat.completion", "model": "fake-model-2026-01",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_x", "type": "function",
                        "function": {"name": name, "arguments": args}}]},
                    "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
            }))
            .into_response()
        };
        let first = tools
            .first()
            .and_then(|t| t["function"]["name"].as_str())
            .unwrap_or("none");
        if prompt.contains("[delete]") {
            return call("delete_account", r#"{"user": "me"}"#);
        }
        if prompt.contains("[broken-args]") {
            return call(first, r#"{"city": "#);
        }
        if prompt.to_lowercase().contains("weather") {
            return call(first, r#"{"city": "Paris"}"#);
        }
    }
    if prompt.contains("[rate-limit-once]") && n == 1 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(json!({"error": {"message": "slow down", "type": "rate_limit"}})),
        )
            .into_response();
    }
    if prompt.contains("[fail-always]") {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "upstream exploded"}})),
        )
            .into_response();
    }
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "fake-model-2026-01",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer_for(&prompt)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    }))
    .into_response()
}

/// Start the server on the current runtime.
pub async fn start() -> Upstream {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Upstream { addr, seen }
}
