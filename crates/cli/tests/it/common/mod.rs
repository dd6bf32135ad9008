//! Test harness for end-to-end tests: the real `proximity` binary, a temporary program
//! and a real HTTP server speaking the OpenAI chat completions API on 127.0.0.1:0.
//!
//! The fake upstream picks its behaviour from markers in the last user message:
//! `[rate-limit-once]` answers 429 with `Retry-After: 1` the first time, `[fail-once]`
//! answers 500 the first time, `[stall]` never answers in time, `[malformed]` sends a body
//! that is not JSON, `[hold]` waits until the test opens the gate. Anything else gets
//! a deterministic answer: "Paris" for capital questions, "391" for `17 * 23`, the
//! prompt's first word otherwise.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the fake upstream saw.
#[derive(Default)]
pub struct Upstream {
    /// Calls received, by last user message.
    pub calls: Mutex<HashMap<String, u64>>,
    /// Answers delivered (HTTP 200 with a completion), by last user message.
    pub answered: Mutex<HashMap<String, u64>>,
    pub total_calls: AtomicU64,
    /// While closed, `[hold]` requests wait.
    pub gate_open: AtomicBool,
    /// Set when the client was killed: held requests then fail instead of answering.
    pub client_gone: AtomicBool,
    pub delay_ms: AtomicU64,
}

impl Upstream {
    pub fn answered_total(&self) -> u64 {
        self.answered.lock().unwrap().values().sum()
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<Upstream>,
    _rt: tokio::runtime::Runtime,
}

impl Server {
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
    } else if lower.contains("17 * 23") {
        "391".to_owned()
    } else {
        prompt.split_whitespace().next().unwrap_or("ok").to_owned()
    }
}

async fn completions(
    State(s): State<Arc<Upstream>>,
    _h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let prompt = last_user(&body);
    let n = {
        let mut calls = s.calls.lock().unwrap();
        let c = calls.entry(prompt.clone()).or_insert(0);
        *c += 1;
        *c
    };
    s.total_calls.fetch_add(1, Ordering::SeqCst);
    let delay = s.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if prompt.contains("[rate-limit-once]") && n == 1 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(json!({"error": {"message": "slow down", "type": "rate_limit"}})),
        )
            .into_response();
    }
    if prompt.contains("[fail-once]") && n == 1 {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "boom"}})),
        )
            .into_response();
    }
    if prompt.contains("[stall]") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if prompt.contains("[malformed]") {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"choices\": [ {\"message\": ",
        )
            .into_response();
    }
    if prompt.contains("[hold]") {
        while !s.gate_open.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if s.client_gone.load(Ordering::SeqCst) {
            return (StatusCode::SERVICE_UNAVAILABLE, "client gone").into_response();
        }
    }
    let text = answer_for(&prompt);
    *s.answered
        .lock()
        .unwrap()
        .entry(prompt.clone())
        .or_insert(0) += 1;
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "fake-model-2026-01",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    }))
    .into_response()
}

/// Start the fake upstream on 127.0.0.1:0 in a runtime of its own.
pub fn start_server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let state = Arc::new(Upstream::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(state.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        addr,
        state,
        _rt: rt,
    }
}

/// A temporary program directory.
pub struct TempProgram {
    pub dir: tempfile::TempDir,
}

impl TempProgram {
    pub fn new(program_yaml: &str, suites: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("proximity.yaml"), program_yaml).unwrap();
        fs_err::create_dir_all(dir.path().join("suites")).unwrap();
        for (name, text) in suites {
            fs_err::write(dir.path().join("suites").join(name), text).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Copy a program directory, leaving out its store (`.proximity`).
pub fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".proximity" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary copy of `examples/acme`, without its store.
pub fn acme() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("acme");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme"),
        &root,
    );
    (dir, root)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_proximity"))
}

/// A `proximity` command on `program`, with a clean environment for what matters.
pub fn proximity(program: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--program").arg(program);
    c.env_remove("PROXIMITY_DATABASE_URL");
    c.env_remove("PROXIMITY_PROGRAM");
    // Tables fit `COLUMNS` when it is set: tests ask for a width where they mean one.
    c.env_remove("COLUMNS");
    c.env("NO_COLOR", "1");
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A program with one OpenAI-compatible tool pointing at `base_url` and the given cases
/// (id, prompt, assertion YAML lines under `correct`).
pub fn openai_program(
    base_url: &str,
    extra_params: &str,
    cases: &[(&str, &str, &str)],
) -> TempProgram {
    let program = format!(
        r#"version: 1
name: e2e
tools:
  - id: gpt
    provider: openai
    model: fake-model
    base_url: {base_url}
    api_key_env: PROXIMITY_TEST_KEY
    price: {{ input_per_mtok: 10, output_per_mtok: 30 }}
    params:
      max_tokens: 20
{extra_params}
tiers:
  - id: t
    tools: [gpt]
personas:
  - id: p
    headcount: 3
    tier: t
    workflows:
      - {{ id: w, share: 1.0, floor: 0.5 }}
"#
    );
    let mut suite = String::from("persona: p\nworkflow: w\ncases:\n");
    for (id, prompt, assertion) in cases {
        suite.push_str(&format!(
            "  - id: {id}\n    prompt: {prompt:?}\n    assert:\n      correct:\n        - {assertion}\n"
        ));
    }
    TempProgram::new(&program, &[("s.yaml", &suite)])
}

/// The JSON report of the latest run.
pub fn report_json(program: &Path) -> Value {
    let out = run(proximity(program).args(["report", "--format", "json"]));
    assert!(out.status.success(), "report failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}
