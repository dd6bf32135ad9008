//! The HTTP client the remote providers (`openai`, `anthropic`) send their requests with,
//! and what a request can fail with before there is an answer to classify ([`Fault`]).
//!
//! Straight to the endpoint it is hyper-util's pooled HTTP/1.1 client over rustls (the
//! webpki roots, as reqwest's `rustls-tls` used), with `TCP_NODELAY`, the tool's connect
//! timeout and its per-request timeout over the whole exchange, body included. That is the
//! gateway's hot path: reqwest on top of the same client parsed the URL twice a request
//! and ran a redirect and a retry layer that a POST to a model never uses (~20% of a bare
//! relay's CPU, measured 2026-11-26; `bench/results/gateway-vs-litellm.md`).
//!
//! When the environment names a proxy for the endpoint (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, minus `NO_PROXY`, read once when the provider is built, as reqwest did)
//! the request goes through reqwest instead, which speaks to proxies (`CONNECT` tunnels,
//! proxy credentials).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Sleep;

use crate::error::{ErrorClass, ProviderError};

const AGENT: &str = concat!("proximity/", env!("CARGO_PKG_VERSION"));

/// How long an idle pooled connection is kept (reqwest's default).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The longest wait for a TCP connection, whatever the tool's timeout.
const MAX_CONNECT: Duration = Duration::from_secs(10);

/// What went wrong before an answer could be read in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The per-request timeout passed.
    Timeout,
    /// No connection (refused, reset, DNS, TLS) or it broke before the answer's head.
    Connect,
    /// The answer's body was cut off or unreadable after its head.
    Body,
    /// The request could not be built (a bad header value).
    Build,
}

/// A failure to get an answer, with its causes in words (never the URL, which may carry a
/// key in its query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub detail: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl Fault {
    fn new(kind: FaultKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    fn timeout() -> Self {
        Self::new(FaultKind::Timeout, "operation timed out")
    }

    /// A hyper-util client error: connecting, or sending and waiting for the head.
    fn of_client(e: &hyper_util::client::legacy::Error) -> Self {
        Self::new(FaultKind::Connect, crate::error_chain::error_chain(e))
    }

    /// A reqwest error, by what reqwest says it was.
    fn of_reqwest(e: &reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            FaultKind::Timeout
        } else if e.is_body() || e.is_decode() {
            FaultKind::Body
        } else if e.is_builder() {
            FaultKind::Build
        } else {
            FaultKind::Connect
        };
        Self::new(kind, crate::error_chain::error_chain(e))
    }
}

type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

enum Via {
    Direct(Direct),
    Proxied(reqwest::Client),
}

/// The HTTP client of one provider instance.
pub struct Transport {
    via: Via,
    timeout: Duration,
}

impl Transport {
    /// The client for requests to `url` with the tool's `timeout` (connecting included,
    /// and no longer than 10 s for the TCP connection alone), through a proxy when the
    /// environment names one for `url`.
    pub fn new(url: &Uri, timeout: Duration) -> Result<Self, ProviderError> {
        Self::with_proxies(url, timeout, Matcher::from_env())
    }

    /// As [`Transport::new`], with the proxies `proxies` names instead of the
    /// environment's.
    pub fn with_proxies(
        url: &Uri,
        timeout: Duration,
        proxies: Matcher,
    ) -> Result<Self, ProviderError> {
        let connect = timeout.min(MAX_CONNECT);
        let via = if proxies.intercept(url).is_some() {
            Via::Proxied(proxied_client(timeout, connect, proxies)?)
        } else {
            Via::Direct(direct_client(connect))
        };
        Ok(Self { via, timeout })
    }

    /// Whether requests go through a proxy.
    pub fn is_proxied(&self) -> bool {
        matches!(self.via, Via::Proxied(_))
    }

    /// `POST` `body` (JSON) to `url` with `headers`, and wait for the answer's head.
    pub async fn post_json(
        &self,
        url: &Uri,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Response, Fault> {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        match &self.via {
            Via::Direct(client) => {
                let mut request = Request::new(Full::new(Bytes::from(body)));
                *request.method_mut() = Method::POST;
                *request.uri_mut() = url.clone();
                *request.headers_mut() = headers;
                // One timer for the whole exchange, body included (each timer registered
                // is a lock on the runtime's timer wheel).
                let mut timer = Box::pin(tokio::time::sleep(self.timeout));
                let response = tokio::select! {
                    biased;
                    r = client.request(request) => r.map_err(|e| Fault::of_client(&e))?,
                    () = &mut timer => return Err(Fault::timeout()),
                };
                let (head, body) = response.into_parts();
                Ok(Response {
                    status: head.status.as_u16(),
                    headers: head.headers,
                    body: Body::Direct { body, timer },
                })
            }
            Via::Proxied(client) => {
                let response = client
                    .post(url.to_string())
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| Fault::of_reqwest(&e))?;
                Ok(Response {
                    status: response.status().as_u16(),
                    headers: response.headers().clone(),
                    body: Body::Proxied(response),
                })
            }
        }
    }
}

fn direct_client(connect: Duration) -> Direct {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(connect));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https)
}

/// reqwest, sending each request where `proxies` says (and nowhere else: the environment
/// was read into `proxies`).
fn proxied_client(
    timeout: Duration,
    connect: Duration,
    proxies: Matcher,
) -> Result<reqwest::Client, ProviderError> {
    let route = reqwest::Proxy::custom(move |url| {
        let dst = Uri::try_from(url.as_str()).ok()?;
        let via = proxies.intercept(&dst)?;
        let mut proxy = reqwest::Url::parse(&via.uri().to_string()).ok()?;
        if let Some((user, password)) = via.raw_auth() {
            proxy.set_username(user).ok()?;
            proxy.set_password(Some(password)).ok()?;
        }
        Some(proxy)
    });
    reqwest::Client::builder()
        .no_proxy()
        .proxy(route)
        .timeout(timeout)
        .connect_timeout(connect)
        .build()
        .map_err(|e| {
            ProviderError::new(
                ErrorClass::Config,
                format!(
                    "could not build an HTTP client: {}",
                    crate::error_chain::error_chain(&e)
                ),
            )
        })
}

/// An answer whose head has arrived.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    body: Body,
}

enum Body {
    Direct {
        body: hyper::body::Incoming,
        /// The request's timeout covers the body too.
        timer: Pin<Box<Sleep>>,
    },
    Proxied(reqwest::Response),
}

/// A body read piece by piece.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Fault>> + Send>>;

impl Response {
    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, Fault> {
        match self.body {
            Body::Direct { body, mut timer } => tokio::select! {
                biased;
                r = body.collect() => r
                    .map(http_body_util::Collected::to_bytes)
                    .map_err(|e| Fault::new(FaultKind::Body, crate::error_chain::error_chain(&e))),
                () = &mut timer => Err(Fault::timeout()),
            },
            Body::Proxied(r) => r.bytes().await.map_err(|e| Fault::of_reqwest(&e)),
        }
    }

    /// The body as it arrives; a [`FaultKind::Timeout`] ends it once the request's timeout
    /// passes.
    pub fn into_stream(self) -> ByteStream {
        match self.body {
            Body::Direct { body, timer } => Box::pin(Deadlined {
                inner: body.into_data_stream(),
                sleep: timer,
                over: false,
            }),
            Body::Proxied(r) => Box::pin(
                r.bytes_stream()
                    .map(|chunk| chunk.map_err(|e| Fault::of_reqwest(&e))),
            ),
        }
    }
}

/// A body stream that ends with a timeout fault at its deadline.
struct Deadlined<S> {
    inner: S,
    sleep: Pin<Box<Sleep>>,
    over: bool,
}

impl<S> Stream for Deadlined<S>
where
    S: Stream<Item = Result<Bytes, hyper::Error>> + Unpin,
{
    type Item = Result<Bytes, Fault>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.over {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => return Poll::Ready(Some(Ok(chunk))),
            Poll::Ready(Some(Err(e))) => {
                self.over = true;
                let detail = crate::error_chain::error_chain(&e);
                return Poll::Ready(Some(Err(Fault::new(FaultKind::Body, detail))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.over = true;
                Poll::Ready(Some(Err(Fault::timeout())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn a_proxy_named_for_the_endpoint_routes_through_reqwest() {
        let t = |u: &str| {
            let proxies = Matcher::builder()
                .http("http://proxy.internal:3128")
                .no("localhost,127.0.0.1")
                .build();
            Transport::with_proxies(&uri(u), Duration::from_secs(5), proxies)
                .unwrap()
                .is_proxied()
        };
        assert!(t("http://models.example/v1/chat/completions"));
        assert!(!t("http://127.0.0.1:8080/v1/chat/completions"));
        // Only HTTP_PROXY is set: HTTPS goes straight.
        assert!(!t("https://api.openai.com/v1/chat/completions"));
        let none = Matcher::builder().build();
        assert!(
            !Transport::with_proxies(&uri("https://x/v1"), Duration::from_secs(1), none)
                .unwrap()
                .is_proxied()
        );
    }
}
