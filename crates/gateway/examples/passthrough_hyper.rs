//! The bare relay of `passthrough.rs` with hyper-util's client in place of reqwest (no
//! redirect or retry layers, no URL parsed per request, plain HTTP only): what reqwest's
//! layers cost a relay on this stack, to set against what the gateway's own work costs.
//!
//! Usage: `passthrough_hyper UPSTREAM_ADDR [ADDR]` (ADDR defaults to 127.0.0.1:0); prints
//! `listening on ADDR`.
//!
//! `PASSTHROUGH_SPIN_US=N` makes the relay burn N µs of CPU on each request's path (half
//! before the upstream call, half after), nothing else changed: with it a benchmark can
//! tell how much of a gateway's tail is what its work costs in CPU on a shared machine,
//! and how much is how it does that work.

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
use std::time::{Duration, Instant};

/// The upstream client: HTTP/1 over a pool of keep-alive connections.
type C = Client<HttpConnector, Full<Bytes>>;

fn main() -> std::io::Result<()> {
    relay_main::run("passthrough_hyper", serve)
}

/// What each request shares: the client, the upstream URL, and the CPU to burn.
#[derive(Clone)]
struct Relay {
    client: C,
    url: Uri,
    spin: Duration,
}

async fn serve(upstream: String, addr: String) -> std::io::Result<()> {
    let url: Uri = format!("http://{upstream}/v1/chat/completions")
        .parse()
        .map_err(std::io::Error::other)?;
    let spin_us = match std::env::var("PASSTHROUGH_SPIN_US") {
        Ok(v) => v.parse::<u64>().map_err(|e| {
            std::io::Error::other(format!(
                "PASSTHROUGH_SPIN_US=`{v}`: {e} (µs, a whole number)"
            ))
        })?,
        Err(_) => 0,
    };
    let client: C = Client::builder(TokioExecutor::new()).build_http();
    let state = Relay {
        client,
        url,
        spin: Duration::from_micros(spin_us / 2),
    };
    relay_main::serve(&addr, post(relay), state).await
}

/// Keep the thread busy for `d` (a request's share of `PASSTHROUGH_SPIN_US`).
fn spin(d: Duration) {
    if d.is_zero() {
        return;
    }
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

async fn relay(
    State(Relay {
        client,
        url,
        spin: d,
    }): State<Relay>,
    body: Bytes,
) -> Result<([(&'static str, &'static str); 1], Body), StatusCode> {
    spin(d);
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
    spin(d);
    Ok(([("content-type", "application/json")], Body::from(bytes)))
}
