//! `proximity serve`: the dashboard (`proximity-web`) over the program and its store, on
//! 127.0.0.1:7777 unless `--listen` says otherwise; stops on SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use proximity_web::{AppState, Security};
use tokio::signal::unix::{signal, SignalKind};

use crate::args::{GlobalArgs, ServeArgs};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &ServeArgs) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    context::recover_usage(&store).await;
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", a.listen))?;
    let addr = listener.local_addr()?;
    let security = Security::new(addr, a.admin_token.clone());
    let access = security.access();
    let state = Arc::new(AppState::new(program, store.clone(), security));
    if let Err(e) = state.warm().await {
        tracing::warn!(error = %e, "cannot pre-read the latest run");
    }
    output::emit(&format!("dashboard on http://{addr}/"), None)?;
    if access == proximity_web::security::WriteAccess::ReadOnly {
        tracing::warn!(
            "listening beyond loopback without --admin-token: the dashboard is read-only"
        );
    }
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    let app =
        proximity_web::app(state).layer(axum::middleware::from_fn(crate::telemetry::http_span));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the dashboard server failed")?;
    store.close().await;
    Ok(Outcome::Ok)
}
