//! The data the dashboard shows that other parts of Proximity own: field notes (read
//! and written through the store's `notes`), their promotion to cases, decisions,
//! baselines and drift, and the planner's standardisation plan. Each is one function
//! here; until its part lands it answers `None` / [`WriteOutcome::Unavailable`] ("not
//! available yet") and the page shows an empty state. Wiring one in means changing that
//! one function's body.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use proximity_analysis::plan::{self, PlanInput};
use proximity_analysis::staleness;
use proximity_program::promote::{self, Promotion};
use proximity_program::{CaseKind, Program};
use proximity_store::{
    FailureMode, NewNote, NoteFilter, NoteOutcome, NoteRole, ResultRecord, Store, Verdict,
};
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
    /// The prompt, pasted: what a promoted case will ask.
    #[serde(default)]
    pub prompt: String,
    /// The tool's output, pasted.
    #[serde(default)]
    pub output: String,
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
            prompt: optional(&self.prompt),
            output: optional(&self.output),
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

/// A drift finding against a baseline (`proximity drift` records them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftAlert {
    pub tool: String,
    /// When it was found, `YYYY-MM-DD HH:MM`.
    pub found_at: String,
    /// What drifted (`quality: …`, `vendor_update: …`, `config_change: …`).
    pub summary: String,
}

/// A tool's accepted risk baseline beside its latest risk probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskView {
    pub baseline: String,
    /// The latest run with risk-probe results of the tool.
    pub latest_run: Option<String>,
    /// Per family: (family, pass rate in the baseline, pass rate now), rates as
    /// `P of N passed`, `—` when the run has none of the family.
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

/// What the promote form confirms: the assertions the case must meet (at least one).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
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

/// Promote a field note into a case: appended to the suite holding the persona's cases
/// with [`promote::append_case`] (as `proximity note promote` does), then the note
/// marked promoted.
pub async fn promote_field_note(
    store: &Store,
    program: &Program,
    id: &str,
    input: &PromoteInput,
) -> Result<WriteOutcome, WebError> {
    let bad = |m: String| Err(WebError::BadRequest(m));
    let Ok(note_id) = id.parse::<i64>() else {
        return Err(WebError::NotFound(format!("No field note `{id}`.")));
    };
    let Some(note) = store.note(note_id).await? else {
        return Err(WebError::NotFound(format!("No field note `{id}`.")));
    };
    let n = &note.note;
    if let Some(case) = &note.promoted_case {
        return bad(format!("This note was already promoted to case `{case}`."));
    }
    let assertions = input.assertions();
    if assertions.is_empty() {
        return bad(
            "Promotion needs an assertion: what the answer must contain, or that it must abstain."
                .into(),
        );
    }
    let Some(workflow) = n.workflow.clone() else {
        return bad(
            "The note names no workflow; promote it with `proximity note promote --workflow`."
                .into(),
        );
    };
    let Some(prompt) = n.prompt.clone() else {
        return bad(
            "The note has no prompt; promote it with `proximity note promote --prompt`.".into(),
        );
    };
    let Some(suite) = promote::suite_for(program, &n.persona) else {
        return bad(format!(
            "No suite file has cases of persona `{}`; promote it with `proximity note promote --suite`.",
            n.persona
        ));
    };
    let case_id = format!("field-note-{}", note.id);
    let promotion = Promotion {
        note_id: note.id,
        author: n.author.clone(),
        date: n.date.format("%Y-%m-%d").to_string(),
        outcome: n.outcome.as_str().to_owned(),
        persona: n.persona.clone(),
        workflow,
        kind: if n.outcome.is_failure() {
            CaseKind::Edge
        } else {
            CaseKind::Routine
        },
        case_id: case_id.clone(),
        task: n.task.clone(),
        what_happened: n.what_happened.clone(),
        prompt,
        assertions,
    };
    let rel = match promote::append_case(program, &suite, &promotion) {
        Ok(rel) => rel,
        Err(promote::PromoteError::Io(e)) => return Err(e.into()),
        Err(e) => return bad(e.to_string()),
    };
    store.mark_note_promoted(note.id, &case_id, &rel).await?;
    Ok(WriteOutcome::Done)
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

/// Every decision, those due for review (stale) first, from
/// [`staleness::review_all`] (what `proximity decide review` reports).
pub async fn decisions(
    store: &Store,
    program: &Program,
) -> Result<Option<Vec<DecisionView>>, WebError> {
    let mut out: Vec<DecisionView> = staleness::review_all(program, store, Utc::now())
        .await?
        .into_iter()
        .map(|(d, r)| DecisionView {
            id: d.id.to_string(),
            title: d.decision.title.clone(),
            decided_at: d.created_at.format("%Y-%m-%d").to_string(),
            review_by: d
                .created_at
                .checked_add_signed(Duration::days(i64::from(d.decision.horizon_days)))
                .map(|t| t.format("%Y-%m-%d").to_string()),
            stale_reasons: r.reasons.iter().map(|s| s.describe()).collect(),
        })
        .collect();
    out.sort_by_key(|d| d.stale_reasons.is_empty());
    Ok(Some(out))
}

fn drift_view(f: proximity_store::DriftFinding) -> DriftAlert {
    DriftAlert {
        tool: f.tool,
        found_at: f.found_at.format("%Y-%m-%d %H:%M").to_string(),
        summary: f.summary,
    }
}

/// Drift found on the program's tools within its horizon, newest first (what
/// `proximity drift` recorded).
pub async fn drift_alerts(
    store: &Store,
    program: &Program,
) -> Result<Option<Vec<DriftAlert>>, WebError> {
    let since = Utc::now() - Duration::days(i64::from(program.horizon_days));
    let mut found = Vec::new();
    for t in &program.tools {
        found.extend(store.drift_findings_since(&t.id, since).await?);
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.found_at));
    Ok(Some(found.into_iter().map(drift_view).collect()))
}

/// Every drift finding on one tool, oldest first: the Tool page's drift timeline.
pub async fn drift_timeline(store: &Store, tool: &str) -> Result<Vec<DriftAlert>, WebError> {
    let since = chrono::DateTime::<Utc>::MIN_UTC;
    Ok(store
        .drift_findings_since(tool, since)
        .await?
        .into_iter()
        .map(drift_view)
        .collect())
}

/// Workflow prefix of the built-in risk probes (`risk-<family>`, `proximity probe risk`).
const RISK_PREFIX: &str = "risk-";

/// Per family: (results, passed) of `tool`'s risk-probe results.
fn risk_families(results: &[ResultRecord], tool: &str) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in results.iter().filter(|r| r.tool_id == tool) {
        if let Some(f) = r.workflow.strip_prefix(RISK_PREFIX) {
            let e = out.entry(f.to_owned()).or_default();
            e.0 += 1;
            e.1 += u64::from(r.verdict == Verdict::Pass);
        }
    }
    out
}

/// A tool's risk baseline vs its latest risk probe: the newest accepted baseline that
/// covers the tool, its run's per-family pass rates beside those of the newest run with
/// risk-probe results of the tool. `None` when no baseline covers the tool.
pub async fn risk_baseline(store: &Store, tool: &str) -> Result<Option<RiskView>, WebError> {
    let Some(baseline) = store
        .baselines()
        .await?
        .into_iter()
        .filter(|b| b.tools.iter().any(|t| t.tool_id == tool))
        .max_by_key(|b| b.accepted_at)
    else {
        return Ok(None);
    };
    let then = risk_families(&store.results(&baseline.run_id).await?, tool);
    let mut runs = store.runs().await?;
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    let mut latest = None;
    for run in &runs {
        let now = risk_families(&store.results(&run.id).await?, tool);
        if !now.is_empty() {
            latest = Some((run.id.clone(), now));
            break;
        }
    }
    let rate = |m: &BTreeMap<String, (u64, u64)>, f: &str| {
        m.get(f)
            .map_or("—".to_owned(), |(n, p)| format!("{p} of {n} passed"))
    };
    let empty = BTreeMap::new();
    let now = latest.as_ref().map_or(&empty, |(_, m)| m);
    let mut families: Vec<&String> = then.keys().chain(now.keys()).collect();
    families.sort();
    families.dedup();
    Ok(Some(RiskView {
        baseline: baseline.name.clone(),
        latest_run: latest.as_ref().map(|(id, _)| id.clone()),
        rows: families
            .into_iter()
            .map(|f| (f.clone(), rate(&then, f), rate(now, f)))
            .collect(),
    }))
}

/// Accept a finished run as a named baseline, as `proximity baseline accept` does: one row
/// per tool fingerprint of its results. Names are accepted once.
pub async fn accept_baseline(
    store: &Store,
    program: &Program,
    run: &str,
    name: &str,
) -> Result<WriteOutcome, WebError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(WebError::BadRequest("A baseline needs a name.".into()));
    }
    let record = match store.run(run.trim()).await {
        Ok(r) => r,
        Err(proximity_store::StoreError::NoSuchRun(_)) => {
            return Err(WebError::BadRequest("No such run.".into()))
        }
        Err(e) => return Err(e.into()),
    };
    if record.status != proximity_store::RunStatus::Finished {
        return Err(WebError::BadRequest(
            "Only a finished run can be a baseline.".into(),
        ));
    }
    let results = store.results(&record.id).await?;
    if results.is_empty() {
        return Err(WebError::BadRequest(
            "The run has no results to pin.".into(),
        ));
    }
    let baseline = proximity_store::BaselineRecord {
        name: name.to_owned(),
        run_id: record.id.clone(),
        accepted_at: chrono::Utc::now(),
        accepted_by: "dashboard".into(),
        note: None,
        tools: proximity_analysis::drift::baseline_tools(program, &results),
    };
    match store.insert_baseline(&baseline).await {
        Ok(()) => Ok(WriteOutcome::Done),
        Err(proximity_store::StoreError::BaselineExists(_)) => Err(WebError::BadRequest(
            "A baseline of that name exists already: baselines are immutable.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The planner's input: per persona × tool of the program, the latest run with results
/// for that pair (as `proximity plan` loads it). `None` when nothing has been run.
pub async fn plan_input(store: &Store, program: &Program) -> Result<Option<PlanInput>, WebError> {
    let loaded = plan::evidence::load(program, store).await?;
    if loaded.runs.is_empty() {
        return Ok(None);
    }
    Ok(Some(plan::inputs(program, &loaded.evidence(), Utc::now())))
}

/// The planner's what-if of standardising `persona` on `tool` ([`plan::what_if`], as
/// `proximity plan --standardize` answers it): the workflows whose lower bound would
/// fall below their floor, and the cost and silent-rate change.
pub fn standardise_plan(input: &PlanInput, persona: &str, tool: &str) -> Option<PlanView> {
    let w = plan::what_if(input, persona, tool).ok()?;
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    let breaks = w
        .below_floor
        .iter()
        .map(|b| match (b.score, b.ci_low) {
            (Some(s), Some(lo)) => format!(
                "{} (score {}, lower bound {} vs floor {}, n={})",
                b.workflow,
                pct(s),
                pct(lo),
                pct(b.floor),
                b.n
            ),
            _ => format!("{} (no results, floor {})", b.workflow, pct(b.floor)),
        })
        .collect();
    let mut summary = format!(
        "${:.2}/month, silent-failure rate {} over {} results",
        w.monthly_cost_usd,
        pct(w.silent_rate),
        w.results
    );
    if let Some(c) = &w.compared_with {
        summary.push_str(&format!(
            "; vs the planner's choice `{}`: {:+.2} $/month, silent rate {:+.1} points",
            c.tool,
            c.cost_change_usd,
            c.silent_rate_change * 100.0
        ));
    }
    if let Some(st) = &w.stale {
        summary.push_str(&format!(
            "; evidence from run {} is {} days old",
            st.run_id, st.age_days
        ));
    }
    Some(PlanView { breaks, summary })
}
