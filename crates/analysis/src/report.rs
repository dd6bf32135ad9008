//! The scorecard of a run as reported ([`Report`]): per (persona, tool) pair a
//! [`ScoreRow`] (real-work and demo scores, the failure anatomy, cost, latency, the
//! workflows and those below their floor), the run's totals and its most instructive
//! silent failures, and the order failures are listed in. Built by [`crate::scorecard`];
//! the method is in `docs/report-json.md`, "How scores are computed".

use chrono::{DateTime, Utc};
use proximity_store::{ResultRecord, RunStatus, Verdict};
use serde::Serialize;

use crate::anatomy::{FailureAnatomy, VerdictCounts};
use crate::estimate::Estimate;

/// How many characters of a failing output the report keeps.
pub const OUTPUT_CHARS: usize = 300;

/// The scorecard of one run. Its JSON form is documented in `docs/report-json.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub run_id: String,
    pub program: String,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    /// Work items planned (cases × tools × samples).
    pub planned: u64,
    /// Results recorded.
    pub completed: u64,
    pub scorecard: Vec<ScoreRow>,
    /// The most instructive silent failures (see [`top_silent`]), at most [`TOP_FAILURES`](crate::scorecard::TOP_FAILURES).
    pub silent_failures: Vec<Failure>,
    pub totals: Totals,
}

/// One (persona, tool) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    pub persona: String,
    pub tool: String,
    /// Over results of non-demo cases. `None` when no such result belongs to a workflow
    /// of the persona (as the program defines it now) with a positive share.
    pub real_work_score: Option<Estimate>,
    /// Σ share of the persona's workflows that have results; below 1 is a coverage gap.
    pub coverage: f64,
    /// Workflows of the persona without results, in program order.
    pub uncovered_workflows: Vec<String>,
    /// Unweighted pass rate over results of `source: demo` cases.
    pub demo_score: Option<Estimate>,
    /// Real-work score minus demo score.
    pub gap: Option<f64>,
    /// Silent results over all results, unweighted.
    pub silent_failure_rate: Estimate,
    /// Silent results over non-pass results; `None` without failures.
    pub silent_share_of_failures: Option<f64>,
    pub verdicts: VerdictCounts,
    /// Pass / silent / structural / loud rates with intervals, confidence signals and the
    /// workflows that fail mostly silently (see [`crate::anatomy`]).
    pub failure_anatomy: FailureAnatomy,
    /// What the responses cost at the tool's prices, cached or not.
    pub cost_usd: f64,
    /// What this run paid: results not served from the cache.
    pub spent_usd: f64,
    pub cost_per_1k_requests: f64,
    /// Σ workflow monthly volume × mean cost per request + seat price × headcount;
    /// `None` when the persona or the tool is not in the program.
    pub monthly_cost_usd: Option<f64>,
    pub latency_ms: Latency,
    pub workflows: Vec<WorkflowScore>,
    pub below_floor: Vec<BelowFloor>,
}

/// Latency percentiles (nearest rank) in milliseconds, over the results that got an
/// answer (no provider error), or over all results when none did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p95: u64,
}

/// One workflow of the persona that has results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowScore {
    pub workflow: String,
    pub share: f64,
    pub floor: f64,
    pub edge_share: f64,
    /// The workflow's score, mixing the kinds by `edge_share`.
    pub score: Estimate,
    /// Weighted pass rate of routine cases; `None` without routine results.
    pub routine: Option<Estimate>,
    /// Weighted pass rate of edge cases; `None` without edge results.
    pub edge: Option<Estimate>,
    /// Mean cost per request in US dollars.
    pub mean_cost_usd: f64,
}

/// A workflow whose score point estimate is below its floor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BelowFloor {
    pub workflow: String,
    pub score: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub floor: f64,
    pub n: u64,
    pub n_eff: f64,
}

/// A failing result, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub case_id: String,
    pub tool: String,
    pub persona: String,
    pub workflow: String,
    pub kind: String,
    pub sample: u32,
    pub verdict: Verdict,
    pub case_weight: f64,
    pub reason: String,
    /// The model's output, cut to [`OUTPUT_CHARS`] characters (`…` marks a cut). Untrusted.
    pub output: String,
}

impl Failure {
    pub fn from_result(r: &ResultRecord) -> Self {
        Self {
            case_id: r.case_id.clone(),
            tool: r.tool_id.clone(),
            persona: r.persona.clone(),
            workflow: r.workflow.clone(),
            kind: r.kind.clone(),
            sample: r.sample,
            verdict: r.verdict,
            case_weight: r.case_weight,
            reason: r.reason.clone(),
            output: truncate_chars(&r.output, OUTPUT_CHARS),
        }
    }
}

/// Run-wide totals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Totals {
    pub results: u64,
    /// Results served from the response cache.
    pub cached: u64,
    pub cost_usd: f64,
    pub spent_usd: f64,
}

/// The CI gate: whether any workflow of any pair scored below its floor.
pub fn any_below_floor(report: &Report) -> bool {
    report
        .scorecard
        .iter()
        .any(|row| !row.below_floor.is_empty())
}

/// Failing results, most instructive first: silent before structural before loud, edge
/// before routine, higher case weight first (then case, tool and sample for a stable
/// order). At most `n`.
pub fn top_failures(results: &[ResultRecord], n: usize) -> Vec<&ResultRecord> {
    let mut failing: Vec<&ResultRecord> = results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .collect();
    failing.sort_by(|a, b| failure_order(a, b));
    failing.truncate(n);
    failing
}

/// The order failures are listed in: worst verdict, edge cases and heavy cases first.
pub(crate) fn failure_order(a: &ResultRecord, b: &ResultRecord) -> std::cmp::Ordering {
    verdict_rank(a.verdict)
        .cmp(&verdict_rank(b.verdict))
        .then_with(|| kind_rank(&a.kind).cmp(&kind_rank(&b.kind)))
        .then_with(|| b.case_weight.total_cmp(&a.case_weight))
        .then_with(|| a.case_id.cmp(&b.case_id))
        .then_with(|| a.tool_id.cmp(&b.tool_id))
        .then_with(|| a.sample.cmp(&b.sample))
}

/// Silent failures only, in the order of [`top_failures`]. At most `n`.
pub fn top_silent(results: &[ResultRecord], n: usize) -> Vec<&ResultRecord> {
    let mut silent = top_failures(results, usize::MAX);
    silent.retain(|r| r.verdict == Verdict::Silent);
    silent.truncate(n);
    silent
}

pub(crate) fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Silent => 0,
        Verdict::Structural => 1,
        Verdict::Loud => 2,
        Verdict::Pass => 3,
    }
}

fn kind_rank(kind: &str) -> u8 {
    if kind == "edge" {
        0
    } else {
        1
    }
}

/// The first `max` characters of `text`, with `…` appended when it was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Fill each row's `failure_anatomy.effective_context_tokens` from the context-fill
/// probe: `effective_context(tool_id)` is the tool's measured effective context, `None`
/// when the tool was not probed.
pub fn set_effective_context(report: &mut Report, effective_context: impl Fn(&str) -> Option<u64>) {
    for row in &mut report.scorecard {
        row.failure_anatomy.effective_context_tokens = effective_context(&row.tool);
    }
}
