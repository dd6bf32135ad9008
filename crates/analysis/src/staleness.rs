//! Whether a decision is stale: its evidence is older than its horizon, a tool it covers
//! changed fingerprint since the cited runs, drift was found on such a tool, or newer
//! field notes on a covered persona × tool report failures. [`review`] is pure;
//! [`resolve`] reads a decision's evidence (times, the fingerprints of cited runs, drift
//! findings) from the store, and [`review_all`] does both for every decision — what
//! `proximity decide review` and the dashboard's Decisions page both call.
//!
//! Apart from staleness, [`review`] lists where a decision's own evidence contradicts it
//! ([`Contradiction`]): a cited run (or a cited baseline's run) in which a persona × tool
//! the decision names scores below a workflow's floor, or a cited plan that assigns a
//! persona the decision covers to other tools than the decision names.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use proximity_program::fingerprint::{config_fingerprint, version_fingerprint};
use proximity_program::Program;
use proximity_store::{
    DecisionRecord, DriftFinding, DriftSource, Evidence, EvidenceKind, NoteFilter, NoteRecord,
    ScoreCell, Store, StoreError,
};
use serde::Serialize;

use crate::pair_scores::{pair_scores, Cells};

/// The evidence of one decision, resolved from the store.
#[derive(Debug, Clone, Default)]
pub struct ResolvedEvidence {
    /// Each cited piece and when it was made (`None`: not found in the store).
    pub times: Vec<(Evidence, Option<DateTime<Utc>>)>,
    /// From the cited runs (and runs of cited plans): (run id, tool, stored version
    /// fingerprint, reported model version), one per distinct combination.
    pub fingerprints: Vec<(String, String, String, Option<String>)>,
    /// Drift findings on covered tools since the decision.
    pub drift: Vec<DriftFinding>,
    /// The score cells (per-cell sums) of each cited run and cited baseline's run:
    /// (the evidence as cited, run id, cells).
    pub run_cells: Vec<(String, String, Vec<ScoreCell>)>,
    /// Cited plans: (evidence as cited, the plan as its JSON output).
    pub plans: Vec<(String, serde_json::Value)>,
}

/// Where a decision's own evidence says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contradiction {
    /// The evidence, as cited (`run:ID`, `baseline:NAME`, `plan:ID`).
    pub evidence: String,
    pub persona: String,
    pub tool: String,
    /// What it says, in plain words.
    pub finding: String,
}

impl Contradiction {
    /// One line for a person.
    pub fn describe(&self) -> String {
        format!("{} contradicts it: {}", self.evidence, self.finding)
    }
}

/// Why a decision is stale.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StaleReason {
    /// A cited piece of evidence is older than the decision's horizon.
    EvidenceOld {
        evidence: String,
        age_days: i64,
        horizon_days: u32,
    },
    /// A cited piece of evidence is not in the store.
    EvidenceMissing { evidence: String },
    /// The tool's configuration or reported model differs from the cited run's.
    FingerprintChanged {
        tool: String,
        run: String,
        then: String,
        now: String,
    },
    /// The tool the decision covers is no longer in the program.
    ToolRemoved { tool: String },
    /// Drift was found on a covered tool.
    Drift { tool: String, summary: String },
    /// A newer field note on a covered persona × tool reports a failure.
    ContradictingNote {
        note: i64,
        persona: String,
        tool: String,
        outcome: String,
    },
}

impl StaleReason {
    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            Self::EvidenceOld {
                evidence,
                age_days,
                horizon_days,
            } => format!("evidence {evidence} is {age_days} days old (horizon {horizon_days})"),
            Self::EvidenceMissing { evidence } => {
                format!("evidence {evidence} is not in the store")
            }
            Self::FingerprintChanged {
                tool,
                run,
                then,
                now,
            } => format!("tool `{tool}` changed since run {run}: fingerprint {then} → {now}"),
            Self::ToolRemoved { tool } => format!("tool `{tool}` is no longer in the program"),
            Self::Drift { tool, summary } => format!("drift on `{tool}`: {summary}"),
            Self::ContradictingNote {
                note,
                persona,
                tool,
                outcome,
            } => format!("note {note} ({persona} × {tool}) after the decision: {outcome}"),
        }
    }
}

/// A decision and whether (and why) it is stale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub decision: i64,
    pub title: String,
    pub stale: bool,
    pub reasons: Vec<StaleReason>,
    /// Where its own evidence contradicts it (not a staleness reason: the evidence may
    /// be fresh and still say otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contradicted_by: Vec<Contradiction>,
}

fn label(e: &Evidence) -> String {
    format!("{}:{}", e.kind.as_str(), e.reference)
}

/// The tools a decision covers: those it names, or else every tool of its cited runs.
pub fn covered_tools(d: &DecisionRecord, ev: &ResolvedEvidence) -> BTreeSet<String> {
    if !d.decision.tools.is_empty() {
        return d.decision.tools.iter().cloned().collect();
    }
    ev.fingerprints.iter().map(|f| f.1.clone()).collect()
}

/// Drift findings on `tools` since `since`, from any [`DriftSource`] (the store, which
/// holds what `proximity drift` found; a double in tests).
pub async fn collect_drift<D: DriftSource>(
    source: &D,
    tools: &BTreeSet<String>,
    since: DateTime<Utc>,
) -> Result<Vec<DriftFinding>, proximity_store::StoreError> {
    let mut out = Vec::new();
    for t in tools {
        out.extend(source.drift_findings(t, since).await?);
    }
    Ok(out)
}

/// When a piece of evidence was made; `None` when it is not in the store.
pub async fn evidence_time(
    store: &Store,
    e: &Evidence,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(match e.kind {
        EvidenceKind::Run => match store.run(&e.reference).await {
            Ok(r) => Some(r.started_at),
            Err(StoreError::NoSuchRun(_)) => None,
            Err(err) => return Err(err),
        },
        EvidenceKind::Note => match e.reference.parse::<i64>() {
            Ok(id) => store
                .note(id)
                .await?
                .and_then(|n| n.note.date.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            Err(_) => None,
        },
        EvidenceKind::Plan => match e.reference.parse::<i64>() {
            Ok(id) => store.plan(id).await?.map(|p| p.created_at),
            Err(_) => None,
        },
        EvidenceKind::Baseline => match store.baseline(&e.reference).await {
            Ok(b) => Some(b.accepted_at),
            Err(StoreError::NoSuchBaseline(_)) => None,
            Err(err) => return Err(err),
        },
    })
}

/// Resolve a decision's evidence from the store: when each cited piece was made, the
/// tool fingerprints of the cited runs (and of the runs of cited baselines and plans),
/// and drift found on covered tools since the decision.
pub async fn resolve(store: &Store, d: &DecisionRecord) -> Result<ResolvedEvidence, StoreError> {
    resolve_with(store, d, &mut RunCells::default(), store).await
}

/// The score cells of runs already read, by run id: decisions citing the same run read
/// its sums once.
pub type RunCells = std::collections::BTreeMap<String, Vec<ScoreCell>>;

async fn cells_of(
    store: &Store,
    run: &str,
    cache: &mut RunCells,
    source: &impl Cells,
) -> Result<Vec<ScoreCell>, StoreError> {
    if let Some(c) = cache.get(run) {
        return Ok(c.clone());
    }
    let record = store.run(run).await?;
    let c = source.cells(&record).await?.as_ref().clone();
    cache.insert(run.to_owned(), c.clone());
    Ok(c)
}

/// [`resolve`], reading each run's score cells from `source` (the store, or the
/// dashboard's cache of finished runs) once per `cache`.
pub async fn resolve_with(
    store: &Store,
    d: &DecisionRecord,
    cache: &mut RunCells,
    source: &impl Cells,
) -> Result<ResolvedEvidence, StoreError> {
    let mut ev = ResolvedEvidence::default();
    let mut runs: BTreeSet<String> = BTreeSet::new();
    for e in &d.decision.evidence {
        let at = evidence_time(store, e).await?;
        ev.times.push((e.clone(), at));
        match e.kind {
            EvidenceKind::Run if at.is_some() => {
                runs.insert(e.reference.clone());
                let cells = cells_of(store, &e.reference, cache, source).await?;
                ev.run_cells.push((label(e), e.reference.clone(), cells));
            }
            EvidenceKind::Baseline if at.is_some() => {
                let run = store.baseline(&e.reference).await?.run_id;
                let cells = cells_of(store, &run, cache, source).await?;
                ev.run_cells.push((label(e), run.clone(), cells));
                runs.insert(run);
            }
            EvidenceKind::Plan => {
                if let Ok(id) = e.reference.parse::<i64>() {
                    if let Some(p) = store.plan(id).await? {
                        runs.extend(p.runs);
                        ev.plans.push((label(e), p.body));
                    }
                }
            }
            _ => {}
        }
    }
    for run in &runs {
        let Ok(seen) = store.run_fingerprints(run).await else {
            continue;
        };
        ev.fingerprints.extend(
            seen.into_iter()
                .map(|(tool, fingerprint, version)| (run.clone(), tool, fingerprint, version)),
        );
    }
    let covered = covered_tools(d, &ev);
    ev.drift = collect_drift(store, &covered, d.created_at).await?;
    Ok(ev)
}

/// Every recorded decision (oldest first) with its review at `now`, the cited runs'
/// score cells read from `source`.
pub async fn review_all(
    program: &Program,
    store: &Store,
    now: DateTime<Utc>,
    source: &impl Cells,
) -> Result<Vec<(DecisionRecord, Review)>, StoreError> {
    let notes = store.notes(&NoteFilter::default()).await?;
    let mut out = Vec::new();
    let mut cache = RunCells::default();
    for d in store.decisions().await? {
        let ev = resolve_with(store, &d, &mut cache, source).await?;
        let r = review(program, &d, &ev, &notes, now);
        out.push((d, r));
    }
    Ok(out)
}

/// Review one decision.
pub fn review(
    program: &Program,
    d: &DecisionRecord,
    ev: &ResolvedEvidence,
    notes: &[NoteRecord],
    now: DateTime<Utc>,
) -> Review {
    let horizon = d.decision.horizon_days;
    let mut reasons = Vec::new();

    // 1. Age. A decision citing nothing is as old as itself.
    if ev.times.is_empty() {
        let age = (now - d.created_at).num_days();
        if age > i64::from(horizon) {
            reasons.push(StaleReason::EvidenceOld {
                evidence: format!("decision:{}", d.id),
                age_days: age,
                horizon_days: horizon,
            });
        }
    }
    for (e, at) in &ev.times {
        match at {
            Some(at) => {
                let age = (now - *at).num_days();
                if age > i64::from(horizon) {
                    reasons.push(StaleReason::EvidenceOld {
                        evidence: label(e),
                        age_days: age,
                        horizon_days: horizon,
                    });
                }
            }
            None => reasons.push(StaleReason::EvidenceMissing { evidence: label(e) }),
        }
    }

    // 2. Fingerprints of covered tools in the cited runs against the program now.
    let covered = covered_tools(d, ev);
    let mut removed = BTreeSet::new();
    for (run, tool, stored, model_version) in &ev.fingerprints {
        if !covered.contains(tool) {
            continue;
        }
        let Some(t) = program.tool(tool) else {
            if removed.insert(tool.clone()) {
                reasons.push(StaleReason::ToolRemoved { tool: tool.clone() });
            }
            continue;
        };
        let current = version_fingerprint(&config_fingerprint(t), model_version.as_deref());
        if &current != stored {
            reasons.push(StaleReason::FingerprintChanged {
                tool: tool.clone(),
                run: run.clone(),
                then: stored.clone(),
                now: current,
            });
        }
    }

    // 3. Drift found on covered tools.
    for f in &ev.drift {
        if covered.contains(&f.tool) {
            reasons.push(StaleReason::Drift {
                tool: f.tool.clone(),
                summary: f.summary.clone(),
            });
        }
    }

    // 4. Newer notes on a covered persona × tool that report a failure.
    let personas = &d.decision.personas;
    for n in notes {
        let covers_persona = personas.is_empty() || personas.contains(&n.note.persona);
        let covers_tool = covered.is_empty() || covered.contains(&n.note.tool);
        if n.created_at > d.created_at
            && covers_persona
            && covers_tool
            && n.note.outcome.is_failure()
        {
            reasons.push(StaleReason::ContradictingNote {
                note: n.id,
                persona: n.note.persona.clone(),
                tool: n.note.tool.clone(),
                outcome: n.note.outcome.as_str().to_owned(),
            });
        }
    }

    Review {
        decision: d.id,
        title: d.decision.title.clone(),
        stale: !reasons.is_empty(),
        reasons,
        contradicted_by: contradictions(program, d, ev),
    }
}

/// Where `d`'s own evidence contradicts it. Only a decision that names its tools
/// recommends something to contradict; its personas (all, when it names none) bound
/// which pairs count.
pub fn contradictions(
    program: &Program,
    d: &DecisionRecord,
    ev: &ResolvedEvidence,
) -> Vec<Contradiction> {
    let tools = &d.decision.tools;
    let personas = &d.decision.personas;
    if tools.is_empty() {
        return Vec::new();
    }
    let covers = |p: &str| personas.is_empty() || personas.iter().any(|x| x == p);
    let mut out = Vec::new();
    for (evidence, run, cells) in &ev.run_cells {
        for s in pair_scores(program, cells) {
            if !covers(&s.persona) || !tools.contains(&s.tool) || s.below_floor.is_empty() {
                continue;
            }
            let below: Vec<String> = s
                .below_floor
                .iter()
                .map(|b| {
                    format!(
                        "{} at {:.0}% against a {:.0}% floor",
                        b.workflow,
                        b.score * 100.0,
                        b.floor * 100.0
                    )
                })
                .collect();
            out.push(Contradiction {
                evidence: evidence.clone(),
                persona: s.persona.clone(),
                tool: s.tool.clone(),
                finding: format!(
                    "{}{} × {} has {} of {} workflows below their floor ({})",
                    // A baseline's or a plan's run is named; a cited run is the evidence.
                    if *evidence == format!("run:{run}") {
                        String::new()
                    } else {
                        format!("in run {run}, ")
                    },
                    s.persona,
                    s.tool,
                    s.below_floor.len(),
                    s.workflows.len(),
                    below.join("; ")
                ),
            });
        }
    }
    for (evidence, body) in &ev.plans {
        let Some(planned) = body.get("personas").and_then(|p| p.as_array()) else {
            continue;
        };
        for p in planned {
            let Some(persona) = p.get("persona").and_then(|x| x.as_str()) else {
                continue;
            };
            if !covers(persona) {
                continue;
            }
            let mut assigned: Vec<&str> = p
                .get("assignment")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.get("tool").and_then(|t| t.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            assigned.sort_unstable();
            assigned.dedup();
            if assigned.is_empty() || assigned.iter().any(|t| tools.iter().any(|x| x == t)) {
                continue;
            }
            out.push(Contradiction {
                evidence: evidence.clone(),
                persona: persona.to_owned(),
                tool: tools.join(", "),
                finding: format!(
                    "the plan assigns {persona} to {}, not {}",
                    assigned.join(", "),
                    tools.join(", ")
                ),
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
