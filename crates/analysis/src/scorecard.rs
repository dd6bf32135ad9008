//! The scorecard of a run ([`crate::Report`]), built from its aggregates: the store's sums
//! per cell ([`ScoreCell`]) and per pair ([`PairSignals`]), the top silent failures and
//! the samples' self-consistency ([`Agreements`]), gathered in [`RunSums`]. `proximity
//! eval` and `proximity report` load these so a run of 100,000 cases ends small;
//! [`scorecard()`] computes the same aggregates from results in memory
//! ([`RunSums::from_results`]), so both give the same [`Report`]. See
//! `docs/report-json.md`, "How scores are computed", for the method.

use std::collections::BTreeMap;

use proximity_program::Program;
use proximity_store::dashboard::PairSignals;
use proximity_store::{ResultRecord, RunRecord, ScoreCell, Verdict};

use crate::agreement::Agreements;
use crate::anatomy::{confidence, from_counts, pair_signals};
use crate::estimate::tidy;
use crate::pair_scores::{pair_scores, PairScore};
use crate::report::{failure_order, Failure, Latency, Report, ScoreRow, Totals};

/// How many failures the report lists (`silent_failures`).
pub const TOP_FAILURES: usize = 10;

/// What the scorecard of a run rests on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSums {
    /// `Store::score_cells`.
    pub cells: Vec<ScoreCell>,
    /// `Store::pair_signals`.
    pub pairs: Vec<PairSignals>,
    /// At least the run's [`TOP_FAILURES`] first silent failures in the report's order
    /// (`Store::top_silent`); more are cut.
    pub silent: Vec<ResultRecord>,
    /// The self-consistency of the run's cases (an [`crate::AgreementFold`] over
    /// `Store::answer_rows`).
    pub agreement: Agreements,
}

impl RunSums {
    /// The aggregates of `run_id`'s `results` (results of other runs are ignored), as the
    /// store computes them.
    pub fn from_results(run_id: &str, results: &[ResultRecord]) -> Self {
        let results: Vec<&ResultRecord> = results.iter().filter(|r| r.run_id == run_id).collect();

        let mut cells: BTreeMap<(&str, &str, &str, &str, bool), ScoreCell> = BTreeMap::new();
        let mut pairs: BTreeMap<(&str, &str), Vec<&ResultRecord>> = BTreeMap::new();
        for r in &results {
            let demo = r.source == "demo";
            let c = cells
                .entry((&r.persona, &r.tool_id, &r.workflow, &r.kind, demo))
                .or_insert_with(|| empty_cell(r, demo));
            add_to_cell(c, r);
            pairs.entry((&r.persona, &r.tool_id)).or_default().push(r);
        }

        let mut silent: Vec<&ResultRecord> = results
            .iter()
            .copied()
            .filter(|r| r.verdict == Verdict::Silent)
            .collect();
        silent.sort_by(|a, b| failure_order(a, b));
        silent.truncate(TOP_FAILURES);

        Self {
            cells: cells.into_values().collect(),
            pairs: pairs
                .into_iter()
                .map(|((persona, tool), rows)| pair_signals(persona, tool, &rows))
                .collect(),
            silent: silent.into_iter().cloned().collect(),
            agreement: Agreements::of(results.iter().copied()),
        }
    }
}

fn empty_cell(r: &ResultRecord, demo: bool) -> ScoreCell {
    ScoreCell {
        persona: r.persona.clone(),
        tool_id: r.tool_id.clone(),
        workflow: r.workflow.clone(),
        kind: r.kind.clone(),
        demo,
        n: 0,
        sum_w: 0.0,
        sum_w2: 0.0,
        sum_w_pass: 0.0,
        pass: 0,
        loud: 0,
        structural: 0,
        silent: 0,
        cost_usd: 0.0,
        spent_usd: 0.0,
        cached: 0,
    }
}

fn add_to_cell(c: &mut ScoreCell, r: &ResultRecord) {
    let w = r.case_weight;
    c.n += 1;
    c.sum_w += w;
    c.sum_w2 += w * w;
    match r.verdict {
        Verdict::Pass => {
            c.pass += 1;
            c.sum_w_pass += w;
        }
        Verdict::Loud => c.loud += 1,
        Verdict::Structural => c.structural += 1,
        Verdict::Silent => c.silent += 1,
    }
    c.cost_usd += r.cost_usd;
    if r.cached {
        c.cached += 1;
    } else {
        c.spent_usd += r.cost_usd;
    }
}

/// The scorecard of `run` from its aggregates: the same [`Report`] as
/// [`scorecard()`] over every result of the run.
pub fn scorecard_from_sums(program: &Program, run: &RunRecord, sums: &RunSums) -> Report {
    let scorecard = pair_scores(program, &sums.cells)
        .into_iter()
        .map(|pair| {
            let signals = sums
                .pairs
                .iter()
                .find(|s| s.persona == pair.persona && s.tool_id == pair.tool);
            score_row(pair, signals, &sums.agreement)
        })
        .collect();

    let mut silent: Vec<&ResultRecord> = sums
        .silent
        .iter()
        .filter(|r| r.run_id == run.id && r.verdict == Verdict::Silent)
        .collect();
    silent.sort_by(|a, b| failure_order(a, b));
    silent.truncate(TOP_FAILURES);

    let mut totals = Totals {
        results: 0,
        cached: 0,
        cost_usd: 0.0,
        spent_usd: 0.0,
    };
    for c in &sums.cells {
        totals.results += c.n.max(0) as u64;
        totals.cached += c.cached.max(0) as u64;
        totals.cost_usd += c.cost_usd;
        totals.spent_usd += c.spent_usd;
    }
    totals.cost_usd = tidy(totals.cost_usd);
    totals.spent_usd = tidy(totals.spent_usd);

    Report {
        run_id: run.id.clone(),
        program: run.program.clone(),
        status: run.status,
        started_at: run.started_at,
        planned: run.planned,
        completed: totals.results,
        scorecard,
        silent_failures: silent.into_iter().map(Failure::from_result).collect(),
        totals,
    }
}

fn score_row(pair: PairScore, signals: Option<&PairSignals>, agreement: &Agreements) -> ScoreRow {
    let none = PairSignals::default();
    let signals = signals.unwrap_or(&none);
    let confidence = confidence(signals, agreement.pair(&pair.persona, &pair.tool));
    let mut failure_anatomy = from_counts(&pair.verdicts, confidence, pair.mostly_silent_workflows);
    failure_anatomy.degenerate = signals.degenerate;
    ScoreRow {
        failure_anatomy,
        latency_ms: Latency {
            p50: signals.latency_p50,
            p95: signals.latency_p95,
        },
        persona: pair.persona,
        tool: pair.tool,
        real_work_score: pair.real_work_score,
        coverage: pair.coverage,
        uncovered_workflows: pair.uncovered_workflows,
        demo_score: pair.demo_score,
        gap: pair.gap,
        silent_failure_rate: pair.silent_failure_rate,
        silent_share_of_failures: pair.silent_share_of_failures,
        verdicts: pair.verdicts,
        cost_usd: pair.cost_usd,
        spent_usd: pair.spent_usd,
        cost_per_1k_requests: pair.cost_per_1k_requests,
        monthly_cost_usd: pair.monthly_cost_usd,
        workflows: pair.workflows,
        below_floor: pair.below_floor,
    }
}

/// Build the scorecard of `run` from its `results` (results of other runs are ignored):
/// their aggregates ([`RunSums::from_results`]) through [`scorecard_from_sums`], the
/// method `proximity eval` and `proximity report` use on the store's aggregates.
pub fn scorecard(program: &Program, run: &RunRecord, results: &[ResultRecord]) -> Report {
    scorecard_from_sums(program, run, &RunSums::from_results(&run.id, results))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anatomy::VerdictCounts;
    use crate::fixture::{cell, persona, program, result, run, tool, workflow};
    use crate::report::{any_below_floor, top_failures, top_silent, truncate_chars, OUTPUT_CHARS};

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
