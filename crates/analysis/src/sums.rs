//! The scorecard from a run's aggregates instead of its every result: the store's sums per
//! cell ([`ScoreCell`]) and per pair ([`PairSignals`]), the top silent failures and the
//! samples' self-consistency ([`Agreements`]). `proximity eval` and `proximity report`
//! load these so a run of 100,000 cases ends small; [`crate::scorecard()`] computes the
//! same aggregates from results in memory, so both give the same [`Report`].

use std::collections::BTreeMap;

use proximity_program::Program;
use proximity_store::dashboard::PairSignals;
use proximity_store::{ResultRecord, RunRecord, ScoreCell, Verdict};

use crate::anatomy::{confidence, from_counts, Agreements};
use crate::cells::{pair_scores, PairScore};
use crate::scorecard::{
    failure_order, tidy, Failure, Latency, Report, ScoreRow, Totals, TOP_FAILURES,
};
use crate::stats::percentile_u64;

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

/// The [`PairSignals`] of one pair's results.
pub(crate) fn pair_signals(persona: &str, tool: &str, rows: &[&ResultRecord]) -> PairSignals {
    let count = |f: &dyn Fn(&ResultRecord) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    let logprob = |v: Verdict| {
        rows.iter()
            .filter(|r| r.verdict == v)
            .filter_map(|r| r.mean_logprob)
            .fold((0.0, 0), |(sum, n), x| (sum + x, n + 1))
    };
    let (logprob_pass_sum, logprob_pass_n) = logprob(Verdict::Pass);
    let (logprob_silent_sum, logprob_silent_n) = logprob(Verdict::Silent);
    let answered: Vec<u64> = rows
        .iter()
        .filter(|r| r.error_class.is_none())
        .map(|r| r.latency_ms)
        .collect();
    let latencies: Vec<u64> = if answered.is_empty() {
        rows.iter().map(|r| r.latency_ms).collect()
    } else {
        answered
    };
    PairSignals {
        persona: persona.to_owned(),
        tool_id: tool.to_owned(),
        results: rows.len() as u64,
        answered: count(&|r| r.error_class.is_none()),
        hedged: count(&|r| r.hedged == Some(true)),
        hedge_recorded: count(&|r| r.hedged.is_some()),
        logprob_pass_sum,
        logprob_pass_n,
        logprob_silent_sum,
        logprob_silent_n,
        latency_p50: percentile_u64(&latencies, 50.0).unwrap_or(0),
        latency_p95: percentile_u64(&latencies, 95.0).unwrap_or(0),
    }
}

/// The scorecard of `run` from its aggregates: the same [`Report`] as
/// [`crate::scorecard()`] over every result of the run.
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
    ScoreRow {
        failure_anatomy: from_counts(&pair.verdicts, confidence, pair.mostly_silent_workflows),
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
