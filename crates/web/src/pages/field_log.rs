//! Field log: the notes people wrote from real work, a form to add one and a button to
//! promote one to a case. Writes go through [`crate::sources`] and redirect back with a
//! notice. Promotion asks for the assertion the case must meet (text the answer must
//! contain, or that it must abstain) and appends the case through
//! [`proximity_program::promote`], as `proximity note promote` does.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::Deserialize;

use super::{html, notice_text, page, Chrome, NoticeParam, PageCtx};
use crate::links::Links;
use crate::sources::{self, NoteForm as NoteFields, WriteOutcome};
use crate::{AppState, WebError};

pub async fn build(ctx: &PageCtx<'_>) -> Result<Value, WebError> {
    let notes = sources::field_notes(ctx.store).await?;
    let personas: Vec<String> = ctx.program.personas.iter().map(|p| p.id.clone()).collect();
    let tools: Vec<String> = ctx.program.tools.iter().map(|t| t.id.clone()).collect();
    let workflows: Vec<String> = ctx
        .program
        .personas
        .iter()
        .flat_map(|p| p.workflows.iter().map(|w| w.id.clone()))
        .collect();
    Ok(context! {
        workflows => workflows,
        roles => proximity_store::NoteRole::ALL,
        outcomes => proximity_store::NoteOutcome::ALL,
        failure_modes => proximity_store::FailureMode::ALL,
        available => notes.is_some(),
        notes => notes.unwrap_or_default(),
        personas => personas,
        tools => tools,
    })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(q): Query<NoticeParam>,
) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let view = build(&ctx).await?;
    let view = context! { notice => notice_text(q.notice.as_deref()), ..view };
    let chrome = Chrome::new(&ctx, "Field log", Some(&state.security));
    Ok(html(page("field_log.html", &chrome, view)?))
}

/// The add-note form.
#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(flatten)]
    pub note: NoteFields,
}

fn back(outcome: WriteOutcome, done: &str) -> Response {
    let notice = match outcome {
        WriteOutcome::Done => done,
        WriteOutcome::Unavailable => "unavailable",
    };
    Redirect::to(&format!("/field-log?notice={notice}")).into_response()
}

/// `POST /field-log`: add a note.
pub async fn add(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<NoteForm>,
) -> Result<Response, WebError> {
    state
        .security
        .check_write(&headers, &form.csrf, form.admin_token.as_deref())?;
    let note = form
        .note
        .to_note(&state.program, chrono::Utc::now().date_naive())?;
    let outcome = sources::add_field_note(&state.store, &note).await?;
    Ok(back(outcome, "added"))
}

#[derive(Debug, Deserialize)]
pub struct PromoteForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(flatten)]
    pub assertions: sources::PromoteInput,
}

/// `POST /field-log/{id}/promote`: turn a note into a case.
pub async fn promote(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PromoteForm>,
) -> Result<Response, WebError> {
    state
        .security
        .check_write(&headers, &form.csrf, form.admin_token.as_deref())?;
    let outcome =
        sources::promote_field_note(&state.store, &state.program, &id, &form.assertions).await?;
    Ok(back(outcome, "promoted"))
}
