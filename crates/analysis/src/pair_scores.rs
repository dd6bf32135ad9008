//! A (persona, tool) pair's scores from the per-cell sums of its results ([`ScoreCell`]:
//! Σ case weight, Σ weight², Σ weight of passes, verdict counts and cost per persona ×
//! tool × workflow × kind × demo-or-not): the real-work score (workflow shares ×
//! edge/routine mix × case weights, Wilson interval on Kish's effective n), the workflows'
//! scores and floors, coverage, the demo score and gap, the silent-failure rate, cost and
//! the monthly estimate. The scorecard ([`crate::scorecard`]) and the dashboard
//! (`proximity-web`) both rest on it; the method is in `docs/report-json.md`, "How scores
//! are computed". [`Cells`] is where a run's cells come from: the store, or the
//! dashboard's cache of finished runs, so the planner and the decisions review read each
//! finished run's sums once per server.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use proximity_program::{Program, Workflow};
use proximity_store::{RunRecord, ScoreCell, Store, StoreError};

use crate::anatomy::{mostly_silent, SilentWorkflow, VerdictCounts};
use crate::estimate::{tidy, Estimate};
use crate::report::{BelowFloor, WorkflowScore};

/// Where a run's score cells (per-cell sums) come from: the store, or a cache in front of
/// it (the dashboard's).
pub trait Cells {
    fn cells(
        &self,
        run: &RunRecord,
    ) -> impl Future<Output = Result<Arc<Vec<ScoreCell>>, StoreError>> + Send;
}

impl Cells for Store {
    fn cells(
        &self,
        run: &RunRecord,
    ) -> impl Future<Output = Result<Arc<Vec<ScoreCell>>, StoreError>> + Send {
        let id = run.id.clone();
        async move { Ok(Arc::new(self.score_cells(&id).await?)) }
    }
}

/// What a pair's cells say about it: every [`crate::ScoreRow`] field but the latency and
/// the failure anatomy's confidence signals.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    pub persona: String,
    pub tool: String,
    pub real_work_score: Option<Estimate>,
    pub coverage: f64,
    pub uncovered_workflows: Vec<String>,
    pub demo_score: Option<Estimate>,
    pub gap: Option<f64>,
    pub silent_failure_rate: Estimate,
    pub silent_share_of_failures: Option<f64>,
    pub verdicts: VerdictCounts,
    pub cost_usd: f64,
    pub spent_usd: f64,
    pub cost_per_1k_requests: f64,
    pub monthly_cost_usd: Option<f64>,
    pub workflows: Vec<WorkflowScore>,
    pub below_floor: Vec<BelowFloor>,
    pub mostly_silent_workflows: Vec<SilentWorkflow>,
}

/// The pairs of a run's cells in program order: personas as the program lists them, then
/// tools; pairs the program no longer has come after, by id.
pub fn pair_scores(program: &Program, cells: &[ScoreCell]) -> Vec<PairScore> {
    let mut by_pair: BTreeMap<(&str, &str), Vec<&ScoreCell>> = BTreeMap::new();
    for c in cells {
        by_pair
            .entry((c.persona.as_str(), c.tool_id.as_str()))
            .or_default()
            .push(c);
    }
    let mut keys: Vec<(&str, &str)> = by_pair.keys().copied().collect();
    keys.sort_by_key(|(persona, tool)| {
        (
            program
                .personas
                .iter()
                .position(|p| p.id == *persona)
                .unwrap_or(usize::MAX),
            *persona,
            program
                .tools
                .iter()
                .position(|t| t.id == *tool)
                .unwrap_or(usize::MAX),
            *tool,
        )
    });
    keys.into_iter()
        .filter_map(|key| Some(pair(program, key.0, key.1, by_pair.get(&key)?)))
        .collect()
}

/// Sums over some of a pair's cells.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    n: u64,
    w: f64,
    w2: f64,
    w_pass: f64,
    cost: f64,
}

impl Sums {
    fn add(&mut self, c: &ScoreCell) {
        self.n += count(c.n);
        self.w += c.sum_w;
        self.w2 += c.sum_w2;
        self.w_pass += c.sum_w_pass;
        self.cost += c.cost_usd;
    }

    /// The unmixed pass rate of these results, weighted by case weight.
    fn estimate(&self) -> Option<Estimate> {
        Estimate::weighted(self.w, self.w2, self.w_pass, self.n)
    }
}

/// A workflow's results as weighted trials: each result weighs its kind's share of the
/// workflow (`edge_share` or its complement; 1 when only one kind has results) times its
/// share of its kind's case weight, so the weights sum to 1. Kept as Σw, Σw², Σw·pass.
#[derive(Debug, Clone, Copy, Default)]
struct Mixed {
    n: u64,
    w: f64,
    w2: f64,
    w_pass: f64,
    cost: f64,
}

impl Mixed {
    fn of(workflow: &Workflow, routine: &Sums, edge: &Sums) -> Self {
        let (has_routine, has_edge) = (routine.w > 0.0, edge.w > 0.0);
        let edge_share = workflow.edge_share.clamp(0.0, 1.0);
        let (routine_share, edge_share) = match (has_routine, has_edge) {
            (true, true) => (1.0 - edge_share, edge_share),
            (true, false) => (1.0, 0.0),
            (false, true) => (0.0, 1.0),
            (false, false) => (0.0, 0.0),
        };
        let mut out = Self::default();
        for (share, kind, has) in [
            (routine_share, routine, has_routine),
            (edge_share, edge, has_edge),
        ] {
            if has {
                out.n += kind.n;
                out.w += share;
                out.w2 += share * share * kind.w2 / (kind.w * kind.w);
                out.w_pass += share * kind.w_pass / kind.w;
                out.cost += kind.cost;
            }
        }
        out
    }

    /// These trials scaled by `scale` and added to `self`.
    fn add_scaled(&mut self, other: &Self, scale: f64) {
        self.n += other.n;
        self.w += scale * other.w;
        self.w2 += scale * scale * other.w2;
        self.w_pass += scale * other.w_pass;
    }

    fn estimate(&self) -> Option<Estimate> {
        Estimate::weighted(self.w, self.w2, self.w_pass, self.n)
    }
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

fn verdicts(c: &ScoreCell) -> VerdictCounts {
    VerdictCounts {
        pass: count(c.pass),
        loud: count(c.loud),
        structural: count(c.structural),
        silent: count(c.silent),
    }
}

fn pair(program: &Program, persona_id: &str, tool_id: &str, cells: &[&ScoreCell]) -> PairScore {
    let persona = program.persona(persona_id);
    let tool = program.tool(tool_id);

    let mut all = VerdictCounts::default();
    let mut demo = VerdictCounts::default();
    let (mut cost_usd, mut spent_usd) = (0.0, 0.0);
    // Per workflow: non-pass results and silent ones, demo cases included.
    let mut failures: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for c in cells {
        let v = verdicts(c);
        all.merge(&v);
        if c.demo {
            demo.merge(&v);
        }
        cost_usd += c.cost_usd;
        spent_usd += c.spent_usd;
        if v.failures() > 0 {
            let e = failures.entry(c.workflow.as_str()).or_default();
            e.0 += v.failures();
            e.1 += v.silent;
        }
    }
    let n = all.total();

    // Workflows of the persona with real-work results, in program order.
    let mut covered: Vec<(&Workflow, Sums, Sums)> = Vec::new();
    let mut uncovered_workflows = Vec::new();
    if let Some(persona) = persona {
        for w in &persona.workflows {
            let (mut routine, mut edge) = (Sums::default(), Sums::default());
            for c in cells.iter().filter(|c| !c.demo && c.workflow == w.id) {
                if c.kind == "edge" {
                    edge.add(c);
                } else {
                    routine.add(c);
                }
            }
            if routine.w > 0.0 || edge.w > 0.0 {
                covered.push((w, routine, edge));
            } else {
                uncovered_workflows.push(w.id.clone());
            }
        }
    }

    let coverage = tidy(covered.iter().map(|(w, _, _)| w.share).sum());
    let mut workflows = Vec::new();
    let mut below_floor = Vec::new();
    let mut overall = Mixed::default();
    for (w, routine, edge) in &covered {
        let mixed = Mixed::of(w, routine, edge);
        let Some(score) = mixed.estimate() else {
            continue;
        };
        if coverage > 0.0 {
            overall.add_scaled(&mixed, w.share / coverage);
        }
        let mean_cost_usd = if mixed.n > 0 {
            mixed.cost / mixed.n as f64
        } else {
            0.0
        };
        if score.value < w.floor {
            below_floor.push(BelowFloor {
                workflow: w.id.clone(),
                score: score.value,
                ci_low: score.ci_low,
                ci_high: score.ci_high,
                floor: w.floor,
                n: score.n,
                n_eff: score.n_eff,
            });
        }
        workflows.push(WorkflowScore {
            workflow: w.id.clone(),
            share: w.share,
            floor: w.floor,
            edge_share: w.edge_share,
            score,
            routine: routine.estimate(),
            edge: edge.estimate(),
            mean_cost_usd: tidy(mean_cost_usd),
        });
    }
    let real_work_score = overall.estimate();

    let demo_score = (demo.total() > 0).then(|| Estimate::counts(demo.pass, demo.total()));
    let gap = match (&real_work_score, &demo_score) {
        (Some(real), Some(demo)) => Some(tidy(real.value - demo.value)),
        _ => None,
    };
    let silent_share_of_failures =
        (all.failures() > 0).then(|| tidy(all.silent as f64 / all.failures() as f64));

    let mean_cost = if n > 0 { cost_usd / n as f64 } else { 0.0 };
    let monthly_cost_usd = match (persona, tool) {
        (Some(persona), Some(tool)) => {
            let requests: f64 = persona
                .workflows
                .iter()
                .map(|w| {
                    let per_request = workflows
                        .iter()
                        .find(|s| s.workflow == w.id)
                        .map_or(mean_cost, |s| s.mean_cost_usd);
                    w.monthly_volume as f64 * per_request
                })
                .sum();
            Some(tidy(
                requests + tool.price.seat_per_month * f64::from(persona.headcount),
            ))
        }
        _ => None,
    };

    PairScore {
        persona: persona_id.to_owned(),
        tool: tool_id.to_owned(),
        real_work_score,
        coverage,
        uncovered_workflows,
        demo_score,
        gap,
        silent_failure_rate: Estimate::counts(all.silent, n),
        silent_share_of_failures,
        verdicts: all,
        cost_usd: tidy(cost_usd),
        spent_usd: tidy(spent_usd),
        cost_per_1k_requests: tidy(mean_cost * 1000.0),
        monthly_cost_usd,
        workflows,
        below_floor,
        mostly_silent_workflows: mostly_silent(failures),
    }
}
