//! Runs: every run, newest first, with its results by verdict.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use minijinja::{context, Value};
use proximity_store::RunStatus;
use serde::Serialize;

use super::{html, page, run_kind, usd_small, Chrome, PageCtx};
use crate::links::Links;
use crate::{AppState, WebError};

#[derive(Debug, Serialize)]
struct RunLine {
    id: String,
    href: String,
    overview_href: String,
    started_at: String,
    status: String,
    kind: &'static str,
    planned: u64,
    results: i64,
    pass: i64,
    silent: i64,
    structural: i64,
    loud: i64,
    cost: String,
}

pub async fn build(ctx: &PageCtx<'_>) -> Result<Value, WebError> {
    let runs = ctx.store.runs().await?;
    let tallies = ctx.store.run_tallies().await?;
    let lines: Vec<RunLine> = runs
        .iter()
        .map(|r| {
            let t = tallies.iter().find(|t| t.run_id == r.id);
            RunLine {
                id: r.id.clone(),
                href: ctx.links.run(&r.id, &Default::default(), 0),
                overview_href: ctx.links.overview(&r.id),
                started_at: r.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                status: r.status.as_str().to_owned(),
                kind: if r.status == RunStatus::Running && r.planned > 0 && t.is_none() {
                    "queued"
                } else {
                    run_kind(r).label()
                },
                planned: r.planned,
                results: t.map_or(0, |t| t.results),
                pass: t.map_or(0, |t| t.pass),
                silent: t.map_or(0, |t| t.silent),
                structural: t.map_or(0, |t| t.structural),
                loud: t.map_or(0, |t| t.loud),
                cost: usd_small(t.map_or(0.0, |t| t.cost_usd)),
            }
        })
        .collect();
    Ok(context! { runs => lines })
}

pub async fn handler(State(state): State<Arc<AppState>>) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let view = build(&ctx).await?;
    let chrome = Chrome::new(&ctx, "Runs", Some(&state.security));
    Ok(html(page("runs.html", &chrome, view)?))
}
