//! `proximity gateway`: load the program, open the store, serve the gateway; reload the
//! program on SIGHUP (requests in flight finish on the old one), and on SIGINT/SIGTERM
//! stop accepting and finish the requests in flight before exiting.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use proximity_gateway::{AppState, Loaded, Options};
use tokio::signal::unix::{signal, SignalKind};

use crate::args::{GatewayArgs, GlobalArgs};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &GatewayArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    context::recover_usage(&store).await;
    let options = Options {
        log_content: a.log_content,
        deadline: Duration::from_secs(a.deadline_secs.max(1)),
        shared_limits: a.shared_limits,
        max_body_bytes: a.max_body_bytes.max(1),
        header_timeout: Duration::from_secs(a.header_timeout_secs.max(1)),
        body_timeout: Duration::from_secs(a.body_timeout_secs.max(1)),
        max_connections: a.max_connections.max(1),
        live_queue: a.live_queue.max(1),
        ..Options::default()
    };
    // Reservations older than any request can live belong to a gateway that died.
    let stale_after = options.deadline + Duration::from_secs(60);
    release_stale(&store, stale_after).await;
    let state = Arc::new(AppState::new(Loaded::new(program), store.clone(), options).await?);
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", a.listen))?;
    let addr = listener.local_addr()?;
    output::emit(&format!("listening on http://{addr}"), None)?;
    tracing::info!(%addr, "gateway listening");

    let mut hangup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let reload_state = state.clone();
    let reload_args = GlobalArgs {
        quiet: true,
        ..g.clone()
    };
    let reloader = tokio::spawn(async move {
        let g = reload_args;
        while hangup.recv().await.is_some() {
            match context::load_program(&g) {
                Ok(p) => {
                    reload_state.reload(Loaded::new(p));
                    tracing::warn!("program reloaded");
                }
                Err(e) => tracing::error!(error = %e, "reload failed; keeping the loaded program"),
            }
        }
    });
    let sweeper_store = store.clone();
    let sweeper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            release_stale(&sweeper_store, stale_after).await;
        }
    });

    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::warn!("shutting down: finishing requests in flight");
    };
    proximity_gateway::serve(state, listener, shutdown).await?;
    reloader.abort();
    sweeper.abort();
    store.close().await;
    Ok(Outcome::Ok)
}

async fn release_stale(store: &proximity_store::Store, older_than: Duration) {
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::minutes(5));
    match store.release_reservations_before(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            released = n,
            "released budget reservations of dead requests"
        ),
        Err(e) => tracing::error!(error = %e, "cannot release stale reservations"),
    }
}
