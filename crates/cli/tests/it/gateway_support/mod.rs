//! Harness of the gateway end-to-end tests: a fake OpenAI upstream that streams, the real
//! `proximity gateway` process on port 0, and an HTTP client speaking to it as the OpenAI
//! SDKs do (raw JSON bodies, SSE parsing).
//!
//! The upstream reports `prompt_tokens` as the characters of all messages / 4 and
//! `completion_tokens` as the answer's characters / 4 (rounded up), and picks behaviour
//! from markers in the last user message: `[truncate]` ends a stream after one delta
//! without `[DONE]`, `[no-usage]` streams without a usage chunk, `[fail-primary]` answers
//! 500 when the model is `primary-model`, `[slow]` waits 300 ms.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};

#[derive(Default)]
pub struct Upstream {
    pub calls: AtomicU64,
}

fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

fn answer_for(prompt: &str) -> String {
    if prompt.to_lowercase().contains("capital of france") {
        "Paris".to_owned()
    } else {
        format!(
            "You said: {}",
            prompt.split_whitespace().next().unwrap_or("nothing")
        )
    }
}

async fn completions(State(s): State<Arc<Upstream>>, Json(body): Json<Value>) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt_chars: usize = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap_or("").chars().count())
        .sum();
    let last = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if last.contains("[slow]") {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if last.contains("[fail-primary]") && model == "primary-model" {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "boom", "type": "server_error"}})),
        )
            .into_response();
    }
    let text = answer_for(&last);
    let usage = json!({
        "prompt_tokens": tokens(prompt_chars),
        "completion_tokens": tokens(text.chars().count()),
        "total_tokens": tokens(prompt_chars) + tokens(text.chars().count()),
    });
    if body["stream"] == true {
        let chunk = |delta: Value, finish: Value| {
            format!(
                "data: {}\n\n",
                json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "model": format!("{model}-2026"),
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            )
        };
        let mut out = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
        let (a, b) = text.split_at(text.len() / 2);
        out.push_str(&chunk(json!({"content": a}), Value::Null));
        if last.contains("[truncate]") {
            return ([("content-type", "text/event-stream")], Body::from(out)).into_response();
        }
        if last.contains("[stall]") {
            // The first half, then nothing for a minute with the connection open.
            let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(out)]).chain(
                futures::stream::once(async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(String::new())
                }),
            );
            return (
                [("content-type", "text/event-stream")],
                Body::from_stream(body),
            )
                .into_response();
        }
        out.push_str(&chunk(json!({"content": b}), Value::Null));
        out.push_str(&chunk(json!({}), json!("stop")));
        let include = body["stream_options"]["include_usage"] == true;
        if include && !last.contains("[no-usage]") {
            out.push_str(&format!(
                "data: {}\n\n",
                json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "choices": [], "usage": usage})
            ));
        }
        out.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], Body::from(out)).into_response();
    }
    Json(json!({
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "model": format!("{model}-2026"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage,
    }))
    .into_response()
}

pub struct UpstreamServer {
    pub addr: SocketAddr,
    pub state: Arc<Upstream>,
}

impl UpstreamServer {
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// The fake upstream on 127.0.0.1:0, served by the test's runtime.
pub async fn start_upstream() -> UpstreamServer {
    let state = Arc::new(Upstream::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    UpstreamServer { addr, state }
}

/// A program directory and its database.
pub struct Setup {
    pub dir: tempfile::TempDir,
    /// The database URL when it is not the SQLite file in `dir`.
    pub db: Option<String>,
}

impl Setup {
    pub fn new(program_yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("proximity.yaml"), program_yaml).unwrap();
        fs_err::create_dir_all(dir.path().join("suites")).unwrap();
        Self { dir, db: None }
    }

    /// A program directory whose store is at `db_url` (e.g. a PostgreSQL database).
    pub fn with_database(program_yaml: &str, db_url: &str) -> Self {
        Self {
            db: Some(db_url.to_owned()),
            ..Self::new(program_yaml)
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_url(&self) -> String {
        if let Some(url) = &self.db {
            return url.clone();
        }
        format!("sqlite://{}", self.dir.path().join("gw.db").display())
    }

    pub fn proximity(&self) -> Command {
        let mut c = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_proximity")));
        c.arg("--program").arg(self.path());
        c.arg("--database-url").arg(self.db_url());
        c.env_remove("PROXIMITY_DATABASE_URL");
        c.env_remove("PROXIMITY_PROGRAM");
        c.env("NO_COLOR", "1");
        c
    }

    /// `proximity keys create --persona P`: the key printed on standard output.
    pub fn key(&self, persona: &str, extra: &[&str]) -> String {
        let out = self
            .proximity()
            .args(["keys", "create", "--persona", persona])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(key.starts_with("prx-"), "{key}");
        key
    }

    pub fn start_gateway(&self) -> Gateway {
        self.start_gateway_with(&[])
    }

    /// `proximity gateway` on port 0 with `extra` arguments.
    pub fn start_gateway_with(&self, extra: &[&str]) -> Gateway {
        self.start_gateway_with_env(extra, &[])
    }

    /// `proximity gateway` on port 0 with `extra` arguments and environment variables.
    pub fn start_gateway_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Gateway {
        let mut child = self
            .proximity()
            .args(["gateway", "--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Gateway { child, url }
    }
}

/// A running `proximity gateway`; killed (SIGKILL) when dropped.
pub struct Gateway {
    pub child: Child,
    pub url: String,
}

impl Gateway {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait until every usage row this gateway acknowledged is in the store: a gateway
    /// that owns its SQLite file writes them through its journal, and `/healthz` counts
    /// those not moved yet.
    pub async fn settled(&self) {
        let c = reqwest::Client::new();
        for _ in 0..500 {
            let v: Value = c
                .get(format!("{}/healthz", self.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["usage_pending"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("usage rows still waiting in the journal after 5 s");
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// What a client got back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn request_id(&self) -> String {
        self.headers["x-proximity-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// The `data:` payloads of an SSE body.
    pub fn events(&self) -> Vec<String> {
        self.body
            .split("\n\n")
            .filter_map(|e| e.trim().strip_prefix("data: ").map(str::to_owned))
            .collect()
    }
}

/// POST a body to `/v1/chat/completions` with the headers the OpenAI Python SDK sends.
pub async fn post_chat(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
    workflow: Option<&str>,
) -> Result<Reply, reqwest::Error> {
    let workflow: Vec<(&str, &str)> = workflow
        .map(|w| ("x-proximity-workflow", w))
        .into_iter()
        .collect();
    post_chat_with(client, url, key, body, &workflow).await
}

/// [`post_chat`] with more request headers.
pub async fn post_chat_with(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Result<Reply, reqwest::Error> {
    let mut req = client
        .post(format!("{url}/v1/chat/completions"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("user-agent", "OpenAI/Python 1.54.0")
        .header("x-stainless-lang", "python")
        .header("x-stainless-package-version", "1.54.0")
        .header("x-stainless-retry-count", "0")
        .body(body.to_string());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.text().await?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub async fn get(client: &reqwest::Client, url: &str, key: Option<&str>) -> Reply {
    let mut req = client.get(url);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let res = req.send().await.unwrap();
    Reply {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

/// A chat body as the SDK sends it for one user message.
pub fn user(model: &str, text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}], "model": model})
}

/// A streaming chat body as the SDK sends it (`stream_options.include_usage`).
pub fn user_stream(model: &str, text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}], "model": model,
           "stream": true, "stream_options": {"include_usage": true}})
}

/// Usage rows in the gateway's database.
/// The spend the store's budget ledger holds for `scope` this month.
pub async fn ledger_spent(setup: &Setup, scope: &str) -> f64 {
    let store = proximity_store::Store::connect(&setup.db_url())
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let month = chrono::Datelike::month(&now);
    let month = format!("{:04}-{month:02}", chrono::Datelike::year(&now));
    let (spent, _) = store.budget_state(scope, &month).await.unwrap();
    store.close().await;
    spent
}

/// `proximity usage --by BY --format json`, which must succeed.
pub fn usage_json(setup: &Setup, by: &str) -> Value {
    let out = setup
        .proximity()
        .args(["usage", "--by", by, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub async fn usage_rows(setup: &Setup) -> Vec<proximity_store::UsageRecord> {
    let store = proximity_store::Store::connect(&setup.db_url())
        .await
        .unwrap();
    let rows = store.usage(None).await.unwrap();
    store.close().await;
    rows
}
