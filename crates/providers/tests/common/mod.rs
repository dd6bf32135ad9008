//! A scriptable HTTP server on 127.0.0.1:0 for provider tests: it records every request
//! and answers call `n` as the test's script says.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::Value;

/// What the fake server saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// How the fake server answers call `n` (0-based).
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

pub type Script = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

pub struct Mock {
    pub base_url: String,
    pub calls: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

#[derive(Clone)]
struct AppState {
    calls: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Script>,
}

async fn handle(State(s): State<AppState>, uri: Uri, headers: HeaderMap, body: String) -> Response {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    let seen = Seen {
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    };
    s.seen.lock().unwrap().push(seen.clone());
    let reply = (s.script)(n, &seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut r = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        r = r.header(*k, v);
    }
    r.body(Body::from(reply.body)).unwrap()
}

/// Start a server on 127.0.0.1:0 answering every path by `script`; `base_url` is its
/// address followed by `prefix`.
pub async fn serve(
    prefix: &str,
    script: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static,
) -> Mock {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        calls: calls.clone(),
        seen: seen.clone(),
        script: Arc::new(script),
    };
    let app = Router::new().fallback(handle).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Mock {
        base_url: format!("http://{addr}{prefix}"),
        calls,
        seen,
    }
}
