//! The scorecard of a run: per (persona, tool) the real-work score weighted by the
//! persona's work mix, the demo score and the gap, the failure anatomy, cost and latency,
//! and the workflows below their quality floor; and the order failures are listed in.
//! The figures are computed from aggregates ([`crate::sums`], [`crate::cells`]). See
//! `docs/report-json.md`, "How scores are computed", for the method.

use chrono::{DateTime, Utc};
use proximity_program::Program;
use proximity_store::{ResultRecord, RunRecord, RunStatus, Verdict};
use serde::Serialize;

use crate::anatomy::FailureAnatomy;
use crate::stats::{wilson, wilson_counts};
use crate::sums::{scorecard_from_sums, RunSums};

/// How many failures the report lists (`silent_failures`).
pub const TOP_FAILURES: usize = 10;

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
    /// The most instructive silent failures (see [`top_silent`]), at most [`TOP_FAILURES`].
    pub silent_failures: Vec<Failure>,
    pub totals: Totals,
}

/// A proportion with its 95% Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Point estimate, `0..=1`.
    pub value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Results it rests on.
    pub n: u64,
    /// Kish effective sample size used for the interval (equals `n` when unweighted).
    pub n_eff: f64,
}

impl Estimate {
    /// A weighted proportion of `n` trials from its sums: Σ weight, Σ weight² and
    /// Σ weight of the passing trials. The interval rests on Kish's effective sample size
    /// `(Σw)² / Σw²`. `None` without positive weight.
    pub(crate) fn weighted(sum_w: f64, sum_w2: f64, sum_w_pass: f64, n: u64) -> Option<Self> {
        if sum_w.is_nan() || sum_w <= 0.0 {
            return None;
        }
        let value = (sum_w_pass / sum_w).clamp(0.0, 1.0);
        let n_eff = if sum_w2 > 0.0 {
            sum_w * sum_w / sum_w2
        } else {
            0.0
        };
        Some(Self::with_n_eff(value, n, n_eff))
    }

    fn with_n_eff(value: f64, n: u64, n_eff: f64) -> Self {
        let ci = wilson(value, n_eff);
        Self {
            value: tidy(value),
            ci_low: tidy(ci.low),
            ci_high: tidy(ci.high),
            n,
            n_eff: tidy(n_eff),
        }
    }

    /// An unweighted proportion: `successes` of `n`.
    pub(crate) fn counts(successes: u64, n: u64) -> Self {
        let ci = wilson_counts(successes, n);
        Self {
            value: if n > 0 {
                tidy(successes as f64 / n as f64)
            } else {
                0.0
            },
            ci_low: tidy(ci.low),
            ci_high: tidy(ci.high),
            n,
            n_eff: n as f64,
        }
    }
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

/// Results by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerdictCounts {
    pub pass: u64,
    pub loud: u64,
    pub structural: u64,
    pub silent: u64,
}

impl VerdictCounts {
    pub(crate) fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Loud => self.loud += 1,
            Verdict::Structural => self.structural += 1,
            Verdict::Silent => self.silent += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        self.pass += other.pass;
        self.loud += other.loud;
        self.structural += other.structural;
        self.silent += other.silent;
    }

    pub fn total(&self) -> u64 {
        self.pass + self.loud + self.structural + self.silent
    }

    pub fn failures(&self) -> u64 {
        self.loud + self.structural + self.silent
    }
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

fn verdict_rank(v: Verdict) -> u8 {
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

/// Build the scorecard of `run` from its `results` (results of other runs are ignored):
/// their aggregates ([`RunSums::from_results`]) through [`scorecard_from_sums`], the
/// method `proximity eval` and `proximity report` use on the store's aggregates.
pub fn scorecard(program: &Program, run: &RunRecord, results: &[ResultRecord]) -> Report {
    scorecard_from_sums(program, run, &RunSums::from_results(&run.id, results))
}

/// Round away float noise (`0.8999999999999999` → `0.9`) and negative zero, so
/// reports read cleanly and compare stably; 12 decimals keep every meaningful digit.
pub(crate) fn tidy(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let r = (x * 1e12).round() / 1e12;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// The first `max` characters of `text`, with `…` appended when it was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{cell, persona, program, result, run, tool, workflow};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn one_row(program: &Program, results: &[ResultRecord]) -> ScoreRow {
        let report = scorecard(program, &run(results.len() as u64), results);
        assert_eq!(report.scorecard.len(), 1);
        report.scorecard.into_iter().next().unwrap()
    }

    #[test]
    fn real_work_score_weights_workflow_shares_and_edge_share() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona(
                "a",
                1,
                vec![
                    workflow("w1", 0.7, 0.0, 0.4, 0),
                    workflow("w2", 0.3, 0.0, 0.4, 0),
                ],
            )],
        );
        let mut results = cell("a", "t", "w1", "routine", 3, 1);
        results.extend(cell("a", "t", "w1", "edge", 1, 1));
        results.extend(cell("a", "t", "w2", "routine", 2, 0));
        let row = one_row(&p, &results);

        // w1 = 0.4 × 1/2 + 0.6 × 3/4 = 0.65; w2 has only routine results = 1.0.
        let w1 = &row.workflows[0];
        assert!(close(w1.score.value, 0.65), "{w1:?}");
        assert!(close(w1.routine.unwrap().value, 0.75));
        assert!(close(w1.edge.unwrap().value, 0.5));
        // Weights within w1: routine 0.6/4 = 0.15 ×4, edge 0.4/2 = 0.2 ×2.
        // Kish: 1 / (4 × 0.0225 + 2 × 0.04) = 1 / 0.17.
        assert!(close(w1.score.n_eff, 1.0 / 0.17), "{}", w1.score.n_eff);
        assert_eq!(w1.score.n, 6);
        assert!(close(row.workflows[1].score.value, 1.0));

        // Real work = 0.7 × 0.65 + 0.3 × 1.0 = 0.755.
        let real = row.real_work_score.unwrap();
        assert!(close(real.value, 0.755), "{real:?}");
        // Final weights: 0.105 ×4, 0.14 ×2, 0.15 ×2 → Σw² = 0.1283.
        assert!(close(real.n_eff, 1.0 / 0.1283), "{}", real.n_eff);
        let ci = crate::stats::wilson(0.755, 1.0 / 0.1283);
        assert!(close(real.ci_low, ci.low) && close(real.ci_high, ci.high));
        assert!(real.ci_low < 0.755 && real.ci_high > 0.755);
        assert!(close(row.coverage, 1.0));
        assert!(row.uncovered_workflows.is_empty());
    }

    #[test]
    fn uncovered_workflows_are_renormalised_and_reported_as_coverage_gap() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona(
                "a",
                1,
                vec![
                    workflow("w1", 0.5, 0.0, 0.4, 0),
                    workflow("w2", 0.3, 0.0, 0.4, 0),
                    workflow("w3", 0.2, 0.0, 0.4, 0),
                ],
            )],
        );
        let mut results = cell("a", "t", "w1", "routine", 2, 0);
        results.extend(cell("a", "t", "w2", "routine", 0, 2));
        let row = one_row(&p, &results);
        assert!(close(row.real_work_score.unwrap().value, 0.5 / 0.8));
        assert!(close(row.coverage, 0.8));
        assert_eq!(row.uncovered_workflows, vec!["w3".to_owned()]);
    }

    #[test]
    fn case_weight_weights_results_within_a_kind() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("a", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)])],
        );
        let mut heavy = result("a", "t", "w", "routine", "heavy", 0, Verdict::Pass);
        heavy.case_weight = 3.0;
        let light = result("a", "t", "w", "routine", "light", 0, Verdict::Silent);
        let row = one_row(&p, &[heavy, light]);
        let real = row.real_work_score.unwrap();
        assert!(close(real.value, 0.75));
        // (0.75 + 0.25)² / (0.5625 + 0.0625) = 1.6
        assert!(close(real.n_eff, 1.6));
    }

    #[test]
    fn demo_cases_give_the_demo_score_and_stay_out_of_real_work() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("a", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)])],
        );
        let mut results = cell("a", "t", "w", "routine", 1, 1);
        for i in 0..2 {
            let mut demo = result(
                "a",
                "t",
                "w",
                "routine",
                &format!("demo{i}"),
                0,
                Verdict::Pass,
            );
            demo.source = "demo".into();
            results.push(demo);
        }
        let row = one_row(&p, &results);
        assert!(close(row.real_work_score.unwrap().value, 0.5));
        let demo = row.demo_score.unwrap();
        assert!(close(demo.value, 1.0));
        assert_eq!(demo.n, 2);
        assert!(close(row.gap.unwrap(), -0.5));

        let without = one_row(&p, &cell("a", "t", "w", "routine", 1, 1));
        assert_eq!(without.demo_score, None);
        assert_eq!(without.gap, None);
    }

    #[test]
    fn workflows_below_floor_are_listed_and_trip_the_gate() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona(
                "a",
                1,
                vec![
                    workflow("low", 0.5, 0.8, 0.4, 0),
                    workflow("ok", 0.5, 0.75, 0.4, 0),
                ],
            )],
        );
        let mut results = cell("a", "t", "low", "routine", 3, 1);
        results.extend(cell("a", "t", "ok", "routine", 3, 1));
        let report = scorecard(&p, &run(8), &results);
        let row = &report.scorecard[0];
        assert_eq!(row.below_floor.len(), 1, "0.75 meets a 0.75 floor");
        let b = &row.below_floor[0];
        assert_eq!(b.workflow, "low");
        assert!(close(b.score, 0.75) && close(b.floor, 0.8));
        assert_eq!(b.n, 4);
        assert!(b.ci_low < 0.75 && b.ci_high > 0.75);
        assert!(any_below_floor(&report));

        let fine = scorecard(&p, &run(4), &cell("a", "t", "ok", "routine", 4, 0));
        assert!(!any_below_floor(&fine));
    }

    #[test]
    fn failure_anatomy_counts_and_rates() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("a", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)])],
        );
        let mut results = cell("a", "t", "w", "routine", 5, 2);
        results.push(result("a", "t", "w", "routine", "l", 0, Verdict::Loud));
        results.push(result(
            "a",
            "t",
            "w",
            "routine",
            "s",
            0,
            Verdict::Structural,
        ));
        results.push(result(
            "a",
            "t",
            "w",
            "routine",
            "s",
            1,
            Verdict::Structural,
        ));
        let row = one_row(&p, &results);
        assert_eq!(
            row.verdicts,
            VerdictCounts {
                pass: 5,
                loud: 1,
                structural: 2,
                silent: 2
            }
        );
        assert!(close(row.silent_failure_rate.value, 0.2));
        assert_eq!(row.silent_failure_rate.n, 10);
        assert!(close(row.silent_share_of_failures.unwrap(), 0.4));

        let clean = one_row(&p, &cell("a", "t", "w", "routine", 3, 0));
        assert_eq!(clean.silent_share_of_failures, None);
        assert_eq!(clean.silent_failure_rate.value, 0.0);
    }

    #[test]
    fn cost_spend_and_monthly_estimate() {
        let p = program(
            vec![tool("t", 1.0, 2.0, 25.0)],
            vec![persona(
                "a",
                4,
                vec![
                    workflow("w1", 0.5, 0.0, 0.4, 1000),
                    workflow("w2", 0.5, 0.0, 0.4, 100),
                ],
            )],
        );
        let mut results = cell("a", "t", "w1", "routine", 2, 0);
        results[0].cost_usd = 0.002;
        results[1].cost_usd = 0.004;
        results[1].cached = true;
        let row = one_row(&p, &results);
        assert!(close(row.cost_usd, 0.006));
        assert!(close(row.spent_usd, 0.002));
        assert!(close(row.cost_per_1k_requests, 3.0));
        // w1: 1000 × 0.003; w2 has no results: 100 × the pair's mean 0.003; seats 4 × 25.
        assert!(close(row.monthly_cost_usd.unwrap(), 3.0 + 0.3 + 100.0));
    }

    #[test]
    fn latency_percentiles_skip_requests_that_errored() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("a", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)])],
        );
        let mut results = cell("a", "t", "w", "routine", 4, 0);
        for (r, ms) in results.iter_mut().zip([100, 200, 300, 400]) {
            r.latency_ms = ms;
        }
        let mut timeout = result("a", "t", "w", "routine", "x", 0, Verdict::Loud);
        timeout.error_class = Some("timeout".into());
        timeout.latency_ms = 60_000;
        results.push(timeout);
        let row = one_row(&p, &results);
        assert_eq!(row.latency_ms, Latency { p50: 200, p95: 400 });
    }

    #[test]
    fn rows_follow_program_order_and_unknown_pairs_come_last() {
        let p = program(
            vec![tool("t2", 0.0, 0.0, 0.0), tool("t1", 0.0, 0.0, 0.0)],
            vec![
                persona("zeta", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)]),
                persona("alpha", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)]),
            ],
        );
        let mut results = Vec::new();
        for (persona, tool) in [
            ("alpha", "t1"),
            ("ghost", "t1"),
            ("alpha", "t2"),
            ("zeta", "t1"),
            ("zeta", "gone"),
        ] {
            results.extend(cell(persona, tool, "w", "routine", 1, 0));
        }
        let mut other_run = result("alpha", "t1", "w", "routine", "c", 0, Verdict::Silent);
        other_run.run_id = "run-0".into();
        results.push(other_run);

        let report = scorecard(&p, &run(5), &results);
        let order: Vec<(&str, &str)> = report
            .scorecard
            .iter()
            .map(|r| (r.persona.as_str(), r.tool.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("zeta", "t1"),
                ("zeta", "gone"),
                ("alpha", "t2"),
                ("alpha", "t1"),
                ("ghost", "t1")
            ]
        );
        assert_eq!(report.completed, 5, "results of other runs are ignored");
        let ghost = &report.scorecard[4];
        assert_eq!(ghost.real_work_score, None);
        assert_eq!(ghost.monthly_cost_usd, None);
        assert_eq!(ghost.coverage, 0.0);
        assert_eq!(report.scorecard[1].monthly_cost_usd, None, "unknown tool");
    }

    #[test]
    fn top_silent_puts_edge_and_heavy_cases_first() {
        let mut a = result("p", "t", "w", "routine", "a", 0, Verdict::Silent);
        a.case_weight = 5.0;
        let b = result("p", "t", "w", "edge", "b", 0, Verdict::Silent);
        let mut c = result("p", "t", "w", "edge", "c", 0, Verdict::Silent);
        c.case_weight = 2.0;
        let loud = result("p", "t", "w", "edge", "d", 0, Verdict::Loud);
        let structural = result("p", "t", "w", "routine", "e", 0, Verdict::Structural);
        let pass = result("p", "t", "w", "edge", "f", 0, Verdict::Pass);
        let results = vec![loud, a, pass, structural, b, c];

        let ids = |v: Vec<&ResultRecord>| v.iter().map(|r| r.case_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(top_silent(&results, 10)), ["c", "b", "a"]);
        assert_eq!(ids(top_silent(&results, 2)), ["c", "b"]);
        assert_eq!(ids(top_failures(&results, 10)), ["c", "b", "a", "e", "d"]);
    }

    #[test]
    fn report_lists_truncated_silent_failures() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("a", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)])],
        );
        let mut results = cell("a", "t", "w", "routine", 0, 12);
        results[3].output = "é".repeat(400);
        results[3].kind = "edge".into();
        let report = scorecard(&p, &run(12), &results);
        assert_eq!(report.silent_failures.len(), TOP_FAILURES);
        let first = &report.silent_failures[0];
        assert_eq!(first.case_id, "w-routine-3");
        assert_eq!(first.output.chars().count(), OUTPUT_CHARS + 1);
        assert!(first.output.ends_with('…'));
    }

    #[test]
    fn truncate_chars_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("", 3), "");
    }

    #[test]
    fn all_failing_workflow_scores_positive_zero_not_negative_zero() {
        let p = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("a", 1, vec![workflow("w", 1.0, 0.5, 0.4, 0)])],
        );
        let row = one_row(&p, &cell("a", "t", "w", "routine", 0, 2));
        let value = row.real_work_score.unwrap().value;
        assert!(value == 0.0 && value.is_sign_positive(), "{value}");
        assert_eq!(tidy(0.1 + 0.2), 0.3);
        assert_eq!(tidy(0.6 + 0.3), 0.9);
    }
}
