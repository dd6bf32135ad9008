//! The gateway's HTTP/1.1 server, bounded by construction: a cap on open connections
//! (past it a connection gets a JSON 503 and is closed, so `accept` never starves), a
//! header-read timeout that is also the idle keep-alive timeout (hyper's timer runs
//! whenever a connection waits for a request head), the soft open-file limit raised to
//! the hard one, and hyper's own parse-error answers (400, 414, 431, and 408 for a head
//! that stopped half-way) rewritten into OpenAI-shaped JSON bodies.
//!
//! Body-read timeouts and the body limit are the request handler's ([`crate::read_body`]):
//! they need the route to answer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::error::ApiError;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open client connections at most; past it, 503.
    pub max_connections: usize,
    /// How long a connection may take to send a request head, and stay idle between
    /// requests.
    pub header_timeout: Duration,
}

/// File descriptors kept free of client connections: the store, upstream connections
/// beyond one a connection are counted separately, logs, the listener.
const RESERVED_FDS: u64 = 256;

/// Raise the soft `RLIMIT_NOFILE` to the hard limit, and return the soft limit in force.
/// A gateway holds one descriptor per client connection and one per upstream connection:
/// the common default of 1,024 is a few hundred idle clients.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let Some(current) = now.current else {
        return None; // unlimited
    };
    // An "unlimited" hard limit is refused by some kernels as a soft one: 2^20 is plenty.
    let target = now.maximum.unwrap_or(1 << 20).min(1 << 20);
    if target <= current {
        return Some(current);
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: now.maximum,
        },
    ) {
        Ok(()) => Some(target),
        Err(e) => {
            tracing::warn!(error = %e, current, target, "cannot raise the open-file limit");
            Some(current)
        }
    }
}

/// The connection cap that fits `limits` into the open-file limit: a connection in a
/// request holds two descriptors (client and upstream).
pub fn effective_cap(configured: usize, open_file_limit: Option<u64>) -> usize {
    match open_file_limit {
        Some(n) => {
            let fits = n.saturating_sub(RESERVED_FDS) / 2;
            configured.min(usize::try_from(fits).unwrap_or(usize::MAX).max(1))
        }
        None => configured,
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then let every connection finish
/// its request in flight (streams included) and return when the last has closed.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (closing, _) = watch::channel(false);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Refusals write a 503 and wait for the client to read it: bounded too.
    let refusing = Arc::new(Semaphore::new(256));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of descriptors or memory for a moment: others will close. A
                // connection reset before it was accepted is nothing.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) {
                    tracing::warn!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                continue;
            }
        };
        // TCP_NODELAY: a streamed answer is many small writes, and Nagle's algorithm
        // would hold each one back until the client acknowledged the last.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client connection");
        }
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let closing = closing.subscribe();
                let app = app.clone();
                tokio::spawn(async move {
                    connection(tcp, app, limits.header_timeout, closing).await;
                    drop(permit);
                });
            }
            Err(_) => {
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(tcp).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    drop(listener);
    let _ = closing.send(true);
    closing.closed().await;
}

/// Answer a connection over the cap with a 503 and close it.
async fn refuse(mut tcp: TcpStream) {
    let answer = canned(&ApiError::Overloaded);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(&answer).await?;
        tcp.shutdown().await
    })
    .await;
}

/// A whole HTTP/1.1 response carrying `e`'s JSON body, closing the connection.
fn canned(e: &ApiError) -> Vec<u8> {
    let body = e.body().to_string();
    let status = e.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if matches!(e, ApiError::Overloaded) {
        head.push_str("retry-after: 1\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

async fn connection(
    tcp: TcpStream,
    app: Router,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) {
    let timed_out = Arc::new(AtomicBool::new(false));
    let io = ClientIo {
        tcp,
        partial: false,
        timed_out: timed_out.clone(),
        header_timeout,
        rewrite: None,
    };
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        app.clone().oneshot(req.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    // `run` waits for every receiver to be dropped: this one lives as long as the
    // connection, the other only until the shutdown is seen.
    let _open = closing.clone();
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = closed => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            // Dropping the connection drops the socket: it writes a 408 first when
            // the client had started a request.
            timed_out.store(true, Ordering::Relaxed);
        } else {
            tracing::debug!(error = %e, "client connection ended with an error");
        }
    }
}

/// A client socket as hyper sees it, which also notices when the client has sent part of
/// a request (so a header timeout then gets a 408, while an idle keep-alive connection is
/// closed quietly) and replaces hyper's empty-bodied error answers with JSON ones.
struct ClientIo {
    tcp: TcpStream,
    /// Bytes came in since the last answer went out.
    partial: bool,
    timed_out: Arc<AtomicBool>,
    header_timeout: Duration,
    /// A JSON answer being written in place of hyper's, and how much of it is out, with
    /// the length of hyper's to report as written once it is.
    rewrite: Option<(Vec<u8>, usize, usize)>,
}

impl ClientIo {
    /// The JSON answer for hyper's automatic one in `head`, when `head` is one.
    fn replacement(&self, head: &[u8]) -> Option<Vec<u8>> {
        // hyper answers a request it cannot parse with a status line and no body; every
        // answer the gateway writes itself with these statuses has a JSON body.
        if !head.starts_with(b"HTTP/1.1 4") || !head.ends_with(b"\r\n\r\n") {
            return None;
        }
        let empty = head
            .windows(19)
            .any(|w| w.eq_ignore_ascii_case(b"content-length: 0\r\n"));
        if !empty {
            return None;
        }
        let e = match head.get(9..12)? {
            b"400" => ApiError::bad("the request is not valid HTTP/1.1"),
            b"414" => ApiError::bad("the request's URI is too long"),
            b"431" => ApiError::HeadersTooLarge,
            _ => return None,
        };
        Some(canned(&e))
    }

    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, done, _)) = &mut self.rewrite {
            if *done == bytes.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        let original = self.rewrite.take().map_or(0, |(_, _, len)| len);
        Poll::Ready(Ok(original))
    }
}

impl Drop for ClientIo {
    fn drop(&mut self) {
        if self.partial && self.timed_out.load(Ordering::Relaxed) {
            let e = ApiError::RequestTimeout(self.header_timeout.as_secs());
            let _ = self.tcp.try_write(&canned(&e));
        }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.tcp).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.partial = true;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.partial = false;
        if self.rewrite.is_none() {
            if let Some(r) = self.replacement(buf) {
                self.rewrite = Some((r, 0, buf.len()));
            }
        }
        if self.rewrite.is_some() {
            return self.poll_rewrite(cx);
        }
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.partial = false;
        if self.rewrite.is_none() && bufs.len() == 1 {
            if let Some(r) = self.replacement(&bufs[0]) {
                self.rewrite = Some((r, 0, bufs[0].len()));
            }
        }
        if self.rewrite.is_some() {
            return self.poll_rewrite(cx);
        }
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.rewrite.is_some() {
            ready!(self.poll_rewrite(cx))?;
        }
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.rewrite.is_some() {
            ready!(self.poll_rewrite(cx))?;
        }
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        assert_eq!(effective_cap(10_000, Some(1024)), 384);
        assert_eq!(effective_cap(100, Some(1024)), 100);
        assert_eq!(effective_cap(100, None), 100);
        assert_eq!(effective_cap(100, Some(10)), 1);
    }

    #[test]
    fn canned_answers_are_whole_json_responses() {
        let a = String::from_utf8(canned(&ApiError::Overloaded)).unwrap();
        assert!(a.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{a}");
        let (head, body) = a.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "overloaded");
    }
}
