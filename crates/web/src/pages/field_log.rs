//! Field log: the notes people wrote from real work, a form to add one and a button to
//! promote one to a case. Writes go through the same operations as `proximity note`
//! ([`proximity_ops::notes`]) and redirect back with a notice. Promotion asks for the assertion the case must meet (text the answer must
//! contain, or that it must abstain) and appends the case through
//! [`proximity_program::promote`], as `proximity note promote` does.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use proximity_ops::notes::{self, NoteInput, PromoteRequest};
use proximity_program::promote;
use proximity_store::{NoteFilter, NoteRecord};
use serde::{Deserialize, Serialize};

use super::{html, notice_text, page, Chrome, NoticeParam, PageCtx};
use crate::links::Links;
use crate::{AppState, WebError};

/// A field note as the field log lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteView {
    pub id: String,
    pub date: String,
    pub author: String,
    pub role: String,
    pub persona: String,
    pub tool: String,
    pub workflow: Option<String>,
    pub task: String,
    pub what_happened: String,
    pub outcome: String,
    pub failure_mode: Option<String>,
    pub minutes_saved: f64,
    pub minutes_lost: f64,
    /// The case it was promoted to, if it was.
    pub promoted_to: Option<String>,
    /// It has the workflow and prompt a promoted case needs (otherwise only the cli,
    /// given `--workflow` and `--prompt`, can promote it).
    pub promotable: bool,
}

impl From<NoteRecord> for NoteView {
    fn from(n: NoteRecord) -> Self {
        let promotable = n.note.workflow.is_some()
            && n.note
                .prompt
                .as_deref()
                .is_some_and(|p| !p.trim().is_empty());
        Self {
            promotable,
            id: n.id.to_string(),
            date: n.note.date.format("%Y-%m-%d").to_string(),
            author: n.note.author,
            role: n.note.role.as_str().to_owned(),
            persona: n.note.persona,
            tool: n.note.tool,
            workflow: n.note.workflow,
            task: n.note.task,
            what_happened: n.note.what_happened,
            outcome: n.note.outcome.as_str().to_owned(),
            failure_mode: n.note.failure_mode.map(|f| f.as_str().to_owned()),
            minutes_saved: n.note.minutes_saved,
            minutes_lost: n.note.minutes_lost,
            promoted_to: n.promoted_case,
        }
    }
}

/// A note as the form submits it (every field is untrusted text).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NoteFields {
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub persona: String,
    #[serde(default)]
    pub tool: String,
    #[serde(default)]
    pub workflow: String,
    #[serde(default)]
    pub task: String,
    #[serde(default)]
    pub what_happened: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub failure_mode: String,
    #[serde(default)]
    pub minutes_saved: String,
    #[serde(default)]
    pub minutes_lost: String,
    /// The prompt, pasted: what a promoted case will ask.
    #[serde(default)]
    pub prompt: String,
    /// The tool's output, pasted.
    #[serde(default)]
    pub output: String,
}

impl NoteFields {
    /// The note as the operation takes it; only the minutes are read here (a form sends
    /// text), the rest is checked by [`notes::validate`].
    fn input(self) -> Result<NoteInput, WebError> {
        let optional = |s: String| Some(s).filter(|s| !s.trim().is_empty());
        Ok(NoteInput {
            minutes_saved: notes::minutes_text("Minutes saved", &self.minutes_saved)?,
            minutes_lost: notes::minutes_text("Minutes lost", &self.minutes_lost)?,
            author: self.author,
            role: optional(self.role),
            persona: self.persona,
            tool: self.tool,
            workflow: optional(self.workflow),
            task: self.task,
            what_happened: self.what_happened,
            outcome: self.outcome,
            failure_mode: optional(self.failure_mode),
            prompt: optional(self.prompt),
            output: optional(self.output),
            date: None,
        })
    }
}

/// What the promote form confirms: the assertions the case must meet (at least one).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PromoteInput {
    /// `correct: contains` this text.
    #[serde(default)]
    pub must_contain: String,
    /// `correct: must_abstain` (any non-empty value, as a checkbox sends `on`).
    #[serde(default)]
    pub must_abstain: Option<String>,
}

impl PromoteInput {
    fn assertions(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let text = self.must_contain.trim();
        if !text.is_empty() {
            out.push(promote::assertion("correct", "contains", text));
        }
        if self.must_abstain.as_deref().is_some_and(|v| !v.is_empty()) {
            out.push(("correct", "must_abstain: true".to_owned()));
        }
        out
    }
}

pub async fn build(ctx: &PageCtx<'_>) -> Result<Value, WebError> {
    let mut notes: Vec<NoteView> = notes::list(ctx.store, &NoteFilter::default())
        .await?
        .into_iter()
        .map(NoteView::from)
        .collect();
    // Newest encounter first.
    notes.reverse();
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
        notes => notes,
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

fn back(notice: &str) -> Response {
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
    notes::add(
        &state.store,
        &state.program,
        form.note.input()?,
        chrono::Utc::now(),
    )
    .await?;
    Ok(back("added"))
}

#[derive(Debug, Deserialize)]
pub struct PromoteForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(flatten)]
    pub assertions: PromoteInput,
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
    let note_id = id
        .parse::<i64>()
        .map_err(|_| WebError::NotFound(format!("No field note `{id}`.")))?;
    let request = PromoteRequest {
        note_id,
        assertions: form.assertions.assertions(),
        ..PromoteRequest::default()
    };
    notes::promote(&state.store, &state.program, &request).await?;
    Ok(back("promoted"))
}
