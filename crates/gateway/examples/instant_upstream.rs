//! An OpenAI-compatible upstream that answers every chat completion at once with a fixed
//! body: the upstream of `bench/gateway_overhead.sh`, so what is measured is the gateway.
//!
//! Usage: `instant_upstream [ADDR]` (default 127.0.0.1:0); prints `listening on ADDR`.

#[path = "common/mod.rs"]
mod common;

use axum::routing::post;
use axum::Router;

const BODY: &str = r#"{"id":"chatcmpl-x","object":"chat.completion","model":"instant","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async { ([("content-type", "application/json")], BODY) }),
    );
    let listener = common::listen(&addr).await?;
    axum::serve(listener, app).await
}
