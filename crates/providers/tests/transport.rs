//! The providers' HTTP transport against real sockets: a proxy named for the endpoint is
//! used, a body cut off is a body fault, a stream that stalls ends at the request's
//! timeout, and a request straight to the endpoint carries the headers it was given.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{serve, Reply};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Uri};
use hyper_util::client::proxy::matcher::Matcher;
use proximity_providers::transport::{Fault, FaultKind, Transport};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn uri(s: &str) -> Uri {
    s.parse().unwrap()
}

fn no_proxies() -> Matcher {
    Matcher::builder().build()
}

#[tokio::test]
async fn straight_to_the_endpoint_with_the_given_headers() {
    let mock = serve("/v1", |_, _| Reply::json(200, json!({"ok": true}))).await;
    let url = uri(&format!("{}/chat/completions", mock.base_url));
    let t = Transport::with_proxies(&url, Duration::from_secs(5), no_proxies()).unwrap();
    assert!(!t.is_proxied());
    let mut headers = HeaderMap::new();
    headers.insert("x-test", HeaderValue::from_static("1"));
    let r = t
        .post_json(&url, headers, br#"{"a":1}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(&r.bytes().await.unwrap()[..], br#"{"ok":true}"#);
    let seen = mock.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.body, json!({"a": 1}));
    assert_eq!(seen.headers["x-test"], "1");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert!(seen.headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("proximity/"));
}

#[tokio::test]
async fn a_proxy_named_for_the_endpoint_carries_the_request() {
    // The "proxy" is the mock server: an HTTP proxy gets the request in absolute form,
    // with the endpoint's host, which nothing here could resolve on its own.
    let proxy = serve("", |_, _| Reply::json(200, json!({"via": "proxy"}))).await;
    let proxies = Matcher::builder().http(proxy.base_url.clone()).build();
    let url = uri("http://models.invalid/v1/chat/completions");
    let t = Transport::with_proxies(&url, Duration::from_secs(5), proxies).unwrap();
    assert!(t.is_proxied());
    let r = t.post_json(&url, HeaderMap::new(), b"{}".to_vec()).await;
    let r = r.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(&r.bytes().await.unwrap()[..], br#"{"via":"proxy"}"#);
    let seen = proxy.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.headers["host"], "models.invalid");
}

/// A server that answers one connection with `head` and `body`, then waits `linger`
/// before closing it.
async fn raw_server(head: &'static str, body: &'static str, linger: Duration) -> Uri {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 8192];
        // Read the request (small, one read is enough on loopback).
        let _ = socket.read(&mut buf).await;
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(body.as_bytes()).await.unwrap();
        tokio::time::sleep(linger).await;
    });
    uri(&format!("http://{addr}/v1/chat/completions"))
}

#[tokio::test]
async fn a_body_cut_off_is_a_body_fault() {
    let url = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n",
        "{\"partial\":",
        Duration::ZERO,
    )
    .await;
    let t = Transport::with_proxies(&url, Duration::from_secs(5), no_proxies()).unwrap();
    let r = t.post_json(&url, HeaderMap::new(), b"{}".to_vec()).await;
    let fault = r.unwrap().bytes().await.unwrap_err();
    assert_eq!(fault.kind, FaultKind::Body, "{fault}");
}

#[tokio::test]
async fn a_stream_that_stalls_ends_at_the_timeout() {
    let url = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        "6\r\ndata: \r\n",
        Duration::from_secs(30),
    )
    .await;
    let t = Transport::with_proxies(&url, Duration::from_millis(300), no_proxies()).unwrap();
    let started = std::time::Instant::now();
    let r = t.post_json(&url, HeaderMap::new(), b"{}".to_vec()).await;
    let mut body = r.unwrap().into_stream();
    assert_eq!(&body.next().await.unwrap().unwrap()[..], b"data: ");
    let fault = body.next().await.unwrap().unwrap_err();
    assert_eq!(fault.kind, FaultKind::Timeout, "{fault}");
    assert!(body.next().await.is_none());
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// What a POST to `url`, straight to it, failed with.
async fn failed_post(url: &Uri) -> Fault {
    let t = Transport::with_proxies(url, Duration::from_secs(5), no_proxies()).unwrap();
    t.post_json(url, HeaderMap::new(), b"{}".to_vec())
        .await
        .err()
        .unwrap()
}

#[tokio::test]
async fn a_closed_port_is_a_connect_fault_naming_the_cause() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let fault = failed_post(&uri(&format!("http://{addr}/v1/chat/completions"))).await;
    assert_eq!(fault.kind, FaultKind::Connect);
    assert!(fault.detail.contains("refused"), "{fault}");
    assert!(!fault.detail.contains("/v1"), "{fault}");
}

#[tokio::test]
async fn https_goes_through_tls_and_a_failed_handshake_is_a_connect_fault() {
    // A plain-HTTP server answering a TLS client hello: the handshake fails, classified
    // like any other failure to connect.
    let plain = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n",
        "{}",
        Duration::ZERO,
    )
    .await;
    let fault = failed_post(&uri(&plain.to_string().replacen("http://", "https://", 1))).await;
    assert_eq!(fault.kind, FaultKind::Connect, "{fault}");
}
