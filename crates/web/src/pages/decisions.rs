//! Decisions: the recorded calls and, for each, why it is stale (evidence older than its
//! horizon, a tool whose fingerprint changed since, drift, contradicting field notes),
//! from [`crate::sources::decisions`] — the same review as `proximity decide review`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use minijinja::{context, Value};

use super::{html, page, Chrome, PageCtx};
use crate::links::Links;
use crate::{sources, AppState, WebError};

pub async fn build(ctx: &PageCtx<'_>) -> Result<Value, WebError> {
    let decisions = sources::decisions(ctx.store, ctx.program).await?;
    Ok(context! {
        available => decisions.is_some(),
        decisions => decisions.unwrap_or_default(),
    })
}

pub async fn handler(State(state): State<Arc<AppState>>) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let view = build(&ctx).await?;
    let chrome = Chrome::new(&ctx, "Decisions", Some(&state.security));
    Ok(html(page("decisions.html", &chrome, view)?))
}
