//! The scorecard's numbers as the dashboard shows them, from the store's per-cell sums
//! ([`ScoreCell`]) instead of every result: real-work score, demo score, gap,
//! silent-failure rate, monthly cost and per-workflow scores. The math is
//! `proximity_analysis::pair_scores`' (the scorecard's own, see `docs/report-json.md`); a test
//! holds the two to the same figures on the example program.

use proximity_analysis::pair_scores::{pair_scores, PairScore};
use proximity_analysis::{Estimate, VerdictCounts, WorkflowScore};
use proximity_program::Program;
use proximity_store::ScoreCell;
use serde::Serialize;

/// A proportion with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Est {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub n: u64,
    pub n_eff: f64,
}

impl From<Estimate> for Est {
    fn from(e: Estimate) -> Self {
        Self {
            value: e.value,
            low: e.ci_low,
            high: e.ci_high,
            n: e.n,
            n_eff: e.n_eff,
        }
    }
}

impl Est {
    /// `82%`.
    pub fn pct(&self) -> String {
        pct(self.value)
    }

    /// `82% [70–90%]`.
    pub fn with_ci(&self) -> String {
        format!(
            "{} [{:.0}–{:.0}%]",
            pct(self.value),
            self.low * 100.0,
            self.high * 100.0
        )
    }
}

pub fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// Results by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: u64,
    pub loud: u64,
    pub structural: u64,
    pub silent: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.pass + self.loud + self.structural + self.silent
    }
}

impl From<VerdictCounts> for Counts {
    fn from(v: VerdictCounts) -> Self {
        Self {
            pass: v.pass,
            loud: v.loud,
            structural: v.structural,
            silent: v.silent,
        }
    }
}

/// One workflow of a persona on one tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowEst {
    pub workflow: String,
    pub share: f64,
    pub floor: f64,
    pub score: Est,
    /// Mean cost per request (real-work results).
    pub mean_cost_usd: f64,
}

impl WorkflowEst {
    /// The point estimate is below the floor.
    pub fn below_floor(&self) -> bool {
        self.score.value < self.floor
    }

    /// The interval's lower bound is below the floor: not shown to meet it.
    pub fn at_risk(&self) -> bool {
        self.score.low < self.floor
    }
}

/// One (persona, tool) pair of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairEst {
    pub persona: String,
    pub tool: String,
    pub real_work: Option<Est>,
    pub demo: Option<Est>,
    pub gap: Option<f64>,
    pub silent_rate: Est,
    pub verdicts: Counts,
    pub cost_usd: f64,
    pub monthly_cost_usd: Option<f64>,
    pub coverage: f64,
    pub workflows: Vec<WorkflowEst>,
    /// Workflows of the persona without real-work results, in program order.
    pub uncovered: Vec<String>,
}

impl From<WorkflowScore> for WorkflowEst {
    fn from(w: WorkflowScore) -> Self {
        Self {
            workflow: w.workflow,
            share: w.share,
            floor: w.floor,
            score: w.score.into(),
            mean_cost_usd: w.mean_cost_usd,
        }
    }
}

impl From<PairScore> for PairEst {
    fn from(p: PairScore) -> Self {
        Self {
            persona: p.persona,
            tool: p.tool,
            real_work: p.real_work_score.map(Est::from),
            demo: p.demo_score.map(Est::from),
            gap: p.gap,
            silent_rate: p.silent_failure_rate.into(),
            verdicts: p.verdicts.into(),
            cost_usd: p.cost_usd,
            monthly_cost_usd: p.monthly_cost_usd,
            coverage: p.coverage,
            workflows: p.workflows.into_iter().map(WorkflowEst::from).collect(),
            uncovered: p.uncovered_workflows,
        }
    }
}

/// The pairs of a run in program order (persona, then tool), from its score cells.
pub fn pairs(program: &Program, cells: &[ScoreCell]) -> Vec<PairEst> {
    pair_scores(program, cells)
        .into_iter()
        .map(PairEst::from)
        .collect()
}
