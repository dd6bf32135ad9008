//! The bare relay of `passthrough.rs` with hyper-util's client in place of reqwest (no
//! redirect or retry layers, no URL parsed per request, plain HTTP only): what reqwest's
//! layers cost a relay on this stack, to set against what the gateway's own work costs.
//!
//! Usage: `passthrough_hyper UPSTREAM_ADDR [ADDR]` (ADDR defaults to 127.0.0.1:0); prints
//! `listening on ADDR`.

#[path = "common/mod.rs"]
mod common;
#[path = "common/relay_main.rs"]
mod relay_main;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, StatusCode, Uri};
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// The upstream client: HTTP/1 over a pool of keep-alive connections.
type C = Client<HttpConnector, Full<Bytes>>;

fn main() -> std::io::Result<()> {
    relay_main::run("passthrough_hyper", serve)
}

async fn serve(upstream: String, addr: String) -> std::io::Result<()> {
    let url: Uri = format!("http://{upstream}/v1/chat/completions")
        .parse()
        .map_err(std::io::Error::other)?;
    let client: C = Client::builder(TokioExecutor::new()).build_http();
    relay_main::serve(&addr, post(relay), (client, url)).await
}

async fn relay(
    State((client, url)): State<(C, Uri)>,
    body: Bytes,
) -> Result<([(&'static str, &'static str); 1], Body), StatusCode> {
    let req = Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let answer = client
        .request(req)
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let bytes = answer
        .into_body()
        .collect()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .to_bytes();
    Ok(([("content-type", "application/json")], Body::from(bytes)))
}
