//! The data the dashboard shows that other parts of Proximity own: field notes (read
//! and written through the store's `notes`), their promotion to cases, decisions,
//! baselines and drift, and the planner's standardisation plan. Each is one function
//! here; until its part lands it answers `None` / [`WriteOutcome::Unavailable`] ("not
//! available yet") and the page shows an empty state. Wiring one in means changing that
//! one function's body.

use chrono::{NaiveDate, Utc};
use proximity_program::Program;
use proximity_store::{FailureMode, NewNote, NoteFilter, NoteOutcome, NoteRole, Store};
use serde::Serialize;

use crate::WebError;

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
}

/// A note as the form submits it (every field is untrusted text).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct NoteForm {
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
}

impl NoteForm {
    /// The note to store, or what is wrong with the form.
    pub fn to_note(&self, program: &Program, today: NaiveDate) -> Result<NewNote, WebError> {
        let bad = |m: String| Err(WebError::BadRequest(m));
        let text = |s: &str| s.trim().to_owned();
        if text(&self.task).is_empty() {
            return bad("A field note needs the task: what were you trying to do?".into());
        }
        if text(&self.author).is_empty() {
            return bad("A field note needs its author.".into());
        }
        if program.persona(self.persona.trim()).is_none() {
            return bad(format!(
                "No persona `{}` in the program.",
                self.persona.trim()
            ));
        }
        if program.tool(self.tool.trim()).is_none() {
            return bad(format!("No tool `{}` in the program.", self.tool.trim()));
        }
        let Some(role) = NoteRole::parse(&self.role) else {
            return bad(format!("Role: one of {}.", NoteRole::ALL.join(", ")));
        };
        let Some(outcome) = NoteOutcome::parse(&self.outcome) else {
            return bad(format!("Outcome: one of {}.", NoteOutcome::ALL.join(", ")));
        };
        let failure_mode = match self.failure_mode.trim() {
            "" => None,
            m => match FailureMode::parse(m) {
                Some(f) => Some(f),
                None => {
                    return bad(format!(
                        "Failure mode: one of {}.",
                        FailureMode::ALL.join(", ")
                    ))
                }
            },
        };
        let minutes = |s: &str, what: &str| -> Result<f64, WebError> {
            match s.trim() {
                "" => Ok(0.0),
                m => m
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        WebError::BadRequest(format!("{what}: a number of minutes, 0 or more."))
                    }),
            }
        };
        let optional = |s: &str| Some(text(s)).filter(|s| !s.is_empty());
        Ok(NewNote {
            date: today,
            author: text(&self.author),
            role,
            persona: text(&self.persona),
            tool: text(&self.tool),
            workflow: optional(&self.workflow),
            task: text(&self.task),
            what_happened: text(&self.what_happened),
            outcome,
            failure_mode,
            minutes_saved: minutes(&self.minutes_saved, "Minutes saved")?,
            minutes_lost: minutes(&self.minutes_lost, "Minutes lost")?,
            prompt: None,
            output: None,
        })
    }
}

/// A recorded decision and why it may be stale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionView {
    pub id: String,
    pub title: String,
    pub decided_at: String,
    pub review_by: Option<String>,
    /// Why it is stale (evidence older than its horizon, a tool's fingerprint changed);
    /// empty when it is current.
    pub stale_reasons: Vec<String>,
}

/// A drift finding against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftAlert {
    pub tool: String,
    pub baseline: String,
    pub summary: String,
}

/// A tool's accepted risk baseline beside its latest risk probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskView {
    pub baseline: String,
    pub rows: Vec<(String, String, String)>,
}

/// What standardising a persona on a tool breaks, from the planner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    pub breaks: Vec<String>,
    pub summary: String,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Done,
    /// The part of Proximity that owns this data has not landed yet.
    Unavailable,
}

/// The field log, newest encounter first (the store's field notes).
pub async fn field_notes(store: &Store) -> Result<Option<Vec<NoteView>>, WebError> {
    let mut notes = store.notes(&NoteFilter::default()).await?;
    notes.reverse();
    Ok(Some(
        notes
            .into_iter()
            .map(|n| NoteView {
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
            })
            .collect(),
    ))
}

/// Record a field note.
pub async fn add_field_note(store: &Store, note: &NewNote) -> Result<WriteOutcome, WebError> {
    store.insert_note(note, Utc::now()).await?;
    Ok(WriteOutcome::Done)
}

/// Promote a field note into a case. Plug in issue 6's promotion (it writes the case
/// into a suite file) here.
pub async fn promote_field_note(_store: &Store, _id: &str) -> Result<WriteOutcome, WebError> {
    Ok(WriteOutcome::Unavailable)
}

/// A persona no leader has used a tool for first-hand within the program's horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistantPersona {
    pub persona: String,
    /// The last leader note on the persona, if any.
    pub last_leader_note: Option<String>,
}

/// Proximity coverage (`proximity coverage`): the personas whose decisions are made at a
/// distance, from leaders' field notes.
pub async fn distant_personas(
    store: &Store,
    program: &Program,
) -> Result<Option<(u32, Vec<DistantPersona>)>, WebError> {
    let notes = store.notes(&NoteFilter::default()).await?;
    let cov = proximity_analysis::coverage::coverage(program, &notes, Utc::now().date_naive());
    Ok(Some((
        cov.horizon_days,
        cov.personas
            .into_iter()
            .filter(|p| p.flagged)
            .map(|p| DistantPersona {
                persona: p.persona,
                last_leader_note: p.last_leader_note.map(|d| d.format("%Y-%m-%d").to_string()),
            })
            .collect(),
    )))
}

/// Every decision, those due for review first. Plug in issue 6's decision log here.
pub async fn decisions(
    _store: &Store,
    _program: &Program,
) -> Result<Option<Vec<DecisionView>>, WebError> {
    Ok(None)
}

/// Drift alerts against accepted baselines. Plug in `proximity drift` here.
pub async fn drift_alerts(
    _store: &Store,
    _program: &Program,
) -> Result<Option<Vec<DriftAlert>>, WebError> {
    Ok(None)
}

/// A tool's risk baseline vs its latest risk probe, and its drift timeline. Plug in the
/// risk probe and baselines here.
pub async fn risk_baseline(_store: &Store, _tool: &str) -> Result<Option<RiskView>, WebError> {
    Ok(None)
}

/// Accept a run as a tool's baseline. Plug in `proximity baseline accept` here.
pub async fn accept_baseline(
    _store: &Store,
    _run: &str,
    _name: &str,
) -> Result<WriteOutcome, WebError> {
    Ok(WriteOutcome::Unavailable)
}

/// The planner's view of standardising `persona` on `tool`. Plug in `proximity plan`
/// here; until then the persona page computes workflows below floor from the scorecard.
pub fn standardise_plan(_program: &Program, _persona: &str, _tool: &str) -> Option<PlanView> {
    None
}
