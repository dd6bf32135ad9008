//! What the bare relays among the examples (`passthrough`, `passthrough_hyper`) share:
//! their command line, `UPSTREAM_ADDR [ADDR]`, and the runtime `proximity gateway` runs
//! on.

use std::future::Future;

/// Run `serve(upstream, addr)` on tokio's multi-threaded runtime without its LIFO slot,
/// as `proximity gateway` runs, with UPSTREAM_ADDR and ADDR (default `127.0.0.1:0`) from
/// the command line; `name` is the program's, for the usage message.
pub fn run<F>(name: &str, serve: impl FnOnce(String, String) -> F) -> std::io::Result<()>
where
    F: Future<Output = std::io::Result<()>>,
{
    let mut args = std::env::args().skip(1);
    let Some(upstream) = args.next() else {
        return Err(std::io::Error::other(format!(
            "usage: {name} UPSTREAM_ADDR [ADDR]"
        )));
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    #[allow(unused_mut)]
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder
        .enable_all()
        .build()?
        .block_on(serve(upstream, addr))
}

/// Serve `relay` as `POST /v1/chat/completions` with `state` on `addr`, announcing the
/// address as [`crate::common::listen`] does.
pub async fn serve<S>(
    addr: &str,
    relay: axum::routing::MethodRouter<S>,
    state: S,
) -> std::io::Result<()>
where
    S: Clone + Send + Sync + 'static,
{
    let app = axum::Router::new()
        .route("/v1/chat/completions", relay)
        .with_state(state);
    let listener = crate::common::listen(addr).await?;
    axum::serve(listener, app).await
}
