//! Decisions: the recorded calls and, for each, why it is stale (evidence older than its
//! horizon, a tool whose fingerprint changed since, drift, contradicting field notes),
//! from [`proximity_ops::decisions::review`] — the same review as `proximity decide review`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use minijinja::{context, Value};

use super::{html, page, Chrome, PageCtx};
use crate::links::Links;
use crate::views::DecisionView;
use crate::{AppState, WebError};

/// Every decision, those due for review (stale) first.
pub async fn views(ctx: &PageCtx<'_>) -> Result<Vec<DecisionView>, WebError> {
    Ok(
        proximity_ops::decisions::review(ctx.store, ctx.program, chrono::Utc::now(), ctx)
            .await?
            .iter()
            .map(|(d, r)| DecisionView::new(d, r))
            .collect(),
    )
}

pub async fn build(ctx: &PageCtx<'_>) -> Result<Value, WebError> {
    Ok(context! { decisions => views(ctx).await? })
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
