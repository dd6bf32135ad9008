//! The scorecard's numbers from the store's per-cell sums ([`ScoreCell`]) instead of every
//! result: real-work score (workflow shares × edge/routine mix × case weights, Wilson
//! interval on Kish's effective n), demo score, gap, silent-failure rate, monthly cost and
//! per-workflow scores. The method is `proximity_analysis::scorecard`'s (see
//! `docs/report-json.md`); a test holds the two to the same figures on the example program.

use std::collections::BTreeMap;

use proximity_analysis::stats::{wilson, wilson_counts};
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

impl Est {
    fn weighted(sum_w: f64, sum_w2: f64, sum_w_pass: f64, n: u64) -> Option<Self> {
        if sum_w.is_nan() || sum_w <= 0.0 {
            return None;
        }
        let value = (sum_w_pass / sum_w).clamp(0.0, 1.0);
        let n_eff = if sum_w2 > 0.0 {
            sum_w * sum_w / sum_w2
        } else {
            0.0
        };
        let ci = wilson(value, n_eff);
        Some(Self {
            value,
            low: ci.low,
            high: ci.high,
            n,
            n_eff,
        })
    }

    fn counts(successes: u64, n: u64) -> Self {
        let ci = wilson_counts(successes, n);
        Self {
            value: if n > 0 {
                successes as f64 / n as f64
            } else {
                0.0
            },
            low: ci.low,
            high: ci.high,
            n,
            n_eff: n as f64,
        }
    }

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

    fn add(&mut self, c: &ScoreCell) {
        self.pass += c.pass.max(0) as u64;
        self.loud += c.loud.max(0) as u64;
        self.structural += c.structural.max(0) as u64;
        self.silent += c.silent.max(0) as u64;
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

#[derive(Default)]
struct Sums {
    n: u64,
    w: f64,
    w2: f64,
    wp: f64,
    cost: f64,
}

impl Sums {
    fn add(&mut self, c: &ScoreCell) {
        self.n += c.n.max(0) as u64;
        self.w += c.sum_w;
        self.w2 += c.sum_w2;
        self.wp += c.sum_w_pass;
        self.cost += c.cost_usd;
    }
}

/// The pairs of a run in program order (persona, then tool), from its score cells.
pub fn pairs(program: &Program, cells: &[ScoreCell]) -> Vec<PairEst> {
    let mut by_pair: BTreeMap<(&str, &str), Vec<&ScoreCell>> = BTreeMap::new();
    for c in cells {
        by_pair
            .entry((c.persona.as_str(), c.tool_id.as_str()))
            .or_default()
            .push(c);
    }
    let mut out: Vec<PairEst> = by_pair
        .into_iter()
        .map(|((persona, tool), cells)| pair(program, persona, tool, &cells))
        .collect();
    out.sort_by_key(|p| {
        (
            program
                .personas
                .iter()
                .position(|x| x.id == p.persona)
                .unwrap_or(usize::MAX),
            p.persona.clone(),
            program
                .tools
                .iter()
                .position(|x| x.id == p.tool)
                .unwrap_or(usize::MAX),
            p.tool.clone(),
        )
    });
    out
}

fn pair(program: &Program, persona_id: &str, tool_id: &str, cells: &[&ScoreCell]) -> PairEst {
    let mut verdicts = Counts::default();
    let mut all = Sums::default();
    let mut demo = Counts::default();
    for c in cells {
        verdicts.add(c);
        all.add(c);
        if c.demo {
            demo.add(c);
        }
    }
    let n = verdicts.total();
    let mean_cost = if n > 0 { all.cost / n as f64 } else { 0.0 };

    // Per covered workflow: Σw', Σw'², Σw'·pass with w' the weight within the workflow.
    struct Covered<'a> {
        share: f64,
        sums: (f64, f64, f64),
        est: WorkflowEst,
        _id: &'a str,
    }
    let mut covered = Vec::new();
    let mut uncovered = Vec::new();
    let persona = program.persona(persona_id);
    if let Some(persona) = persona {
        for w in &persona.workflows {
            let mut routine = Sums::default();
            let mut edge = Sums::default();
            for c in cells.iter().filter(|c| !c.demo && c.workflow == w.id) {
                if c.kind == "edge" {
                    edge.add(c);
                } else {
                    routine.add(c);
                }
            }
            let (has_r, has_e) = (routine.w > 0.0, edge.w > 0.0);
            let es = w.edge_share.clamp(0.0, 1.0);
            let (rs, es) = match (has_r, has_e) {
                (true, true) => (1.0 - es, es),
                (true, false) => (1.0, 0.0),
                (false, true) => (0.0, 1.0),
                (false, false) => {
                    uncovered.push(w.id.clone());
                    continue;
                }
            };
            let mut sums = (0.0, 0.0, 0.0);
            let mut count = 0;
            let mut cost = 0.0;
            for (share, s, has) in [(rs, &routine, has_r), (es, &edge, has_e)] {
                if has {
                    sums.0 += share;
                    sums.1 += share * share * s.w2 / (s.w * s.w);
                    sums.2 += share * s.wp / s.w;
                    count += s.n;
                    cost += s.cost;
                }
            }
            let Some(score) = Est::weighted(sums.0, sums.1, sums.2, count) else {
                continue;
            };
            covered.push(Covered {
                share: w.share,
                sums,
                est: WorkflowEst {
                    workflow: w.id.clone(),
                    share: w.share,
                    floor: w.floor,
                    score,
                    mean_cost_usd: if count > 0 { cost / count as f64 } else { 0.0 },
                },
                _id: &w.id,
            });
        }
    }
    let coverage: f64 = covered.iter().map(|c| c.share).sum();
    let mut overall = (0.0, 0.0, 0.0);
    let mut overall_n = 0;
    if coverage > 0.0 {
        for c in &covered {
            let scale = c.share / coverage;
            overall.0 += scale * c.sums.0;
            overall.1 += scale * scale * c.sums.1;
            overall.2 += scale * c.sums.2;
            overall_n += c.est.score.n;
        }
    }
    let real_work = Est::weighted(overall.0, overall.1, overall.2, overall_n);
    let demo_est = (demo.total() > 0).then(|| Est::counts(demo.pass, demo.total()));
    let gap = match (&real_work, &demo_est) {
        (Some(r), Some(d)) => Some(r.value - d.value),
        _ => None,
    };
    let workflows: Vec<WorkflowEst> = covered.into_iter().map(|c| c.est).collect();
    let monthly_cost_usd = match (persona, program.tool(tool_id)) {
        (Some(persona), Some(tool)) => {
            let requests: f64 = persona
                .workflows
                .iter()
                .map(|w| {
                    let per = workflows
                        .iter()
                        .find(|s| s.workflow == w.id)
                        .map_or(mean_cost, |s| s.mean_cost_usd);
                    w.monthly_volume as f64 * per
                })
                .sum();
            Some(requests + tool.price.seat_per_month * f64::from(persona.headcount))
        }
        _ => None,
    };
    PairEst {
        persona: persona_id.to_owned(),
        tool: tool_id.to_owned(),
        real_work,
        demo: demo_est,
        gap,
        silent_rate: Est::counts(verdicts.silent, n),
        verdicts,
        cost_usd: all.cost,
        monthly_cost_usd,
        coverage,
        workflows,
        uncovered,
    }
}
