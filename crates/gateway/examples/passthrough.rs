//! A bare relay: every `POST /v1/chat/completions` is sent on to the upstream and its
//! answer returned, on the gateway's HTTP stack (axum, reqwest, tokio's multi-threaded
//! runtime without its LIFO slot, as `proximity gateway` runs it) and nothing else: no
//! key, tier, rate limit, budget or usage row. What a second hop costs on its own, to
//! set the gateway's added latency against.
//!
//! Usage: `passthrough UPSTREAM_ADDR [ADDR]` (ADDR defaults to 127.0.0.1:0); prints
//! `listening on ADDR`.

#[path = "common/mod.rs"]
mod common;
#[path = "common/relay_main.rs"]
mod relay_main;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

fn main() -> std::io::Result<()> {
    relay_main::run("passthrough", serve)
}

async fn serve(upstream: String, addr: String) -> std::io::Result<()> {
    let url = format!("http://{upstream}/v1/chat/completions");
    let client = reqwest::Client::new();
    relay_main::serve(&addr, post(relay), (client, url)).await
}

async fn relay(
    State((client, url)): State<(reqwest::Client, String)>,
    body: Bytes,
) -> Result<([(&'static str, &'static str); 1], Bytes), StatusCode> {
    let answer = client
        .post(url.as_str())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let bytes = answer.bytes().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(([("content-type", "application/json")], bytes))
}
