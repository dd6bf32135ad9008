//! The planner: which tool each persona (or each workflow) should get. From the latest
//! measured scores per tool it finds the cheapest assignment that keeps every workflow
//! at or above its floor — judged by the lower bound of the 95% Wilson interval, not the
//! point estimate — within the tier budgets; the cost/quality frontier of all
//! assignments; and the "what if we standardised persona P on tool T" answer.
//!
//! Method (see `docs/decisions.md`, "Plan"): tier budgets are per seat and floors are
//! per workflow, so personas do not constrain each other and the program optimum is the
//! per-persona optimum, found exactly: one candidate per tool, or with `per_workflow` an
//! exact enumeration of the set of tools whose seats are paid (each workflow then takes
//! its cheapest floor-meeting tool of the set). The frontier merges the personas'
//! Pareto sets pairwise, which is exact because cost and headcount-weighted score add.

pub mod evidence;
pub mod from_scores;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use proximity_program::Program;
use proximity_store::{ResultRecord, RunRecord};
use serde::Serialize;

use crate::scorecard::scorecard;

/// Per-workflow mode enumerates subsets of a persona's tools: at most this many tools.
pub const MAX_TOOLS_PER_WORKFLOW_SEARCH: usize = 16;

const EPS: f64 = 1e-9;

/// What the planner knows: per persona, its workflows and what each candidate tool
/// measured on them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanInput {
    pub personas: Vec<PersonaInput>,
    /// Evidence older than this many days is flagged.
    pub horizon_days: u32,
    /// "Now", for the age of evidence.
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaInput {
    pub id: String,
    pub headcount: u32,
    pub tier: String,
    /// US dollars per seat per month; `None`: no budget.
    pub budget_per_seat: Option<f64>,
    pub workflows: Vec<WorkflowInput>,
    pub tools: Vec<ToolOption>,
}

impl PersonaInput {
    /// A persona of `program` as the planner sees it, with the tool options found for it.
    pub(crate) fn new(
        program: &Program,
        p: &proximity_program::Persona,
        tools: Vec<ToolOption>,
    ) -> Self {
        Self {
            id: p.id.clone(),
            headcount: p.headcount,
            tier: p.tier.clone(),
            budget_per_seat: program.tier(&p.tier).and_then(|t| t.budget_per_seat_month),
            workflows: p
                .workflows
                .iter()
                .map(|w| WorkflowInput {
                    id: w.id.clone(),
                    share: w.share,
                    floor: w.floor,
                    monthly_volume: w.monthly_volume,
                })
                .collect(),
            tools,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowInput {
    pub id: String,
    pub share: f64,
    pub floor: f64,
    pub monthly_volume: u64,
}

/// One tool a persona could get, and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolOption {
    pub tool: String,
    pub seat_per_month: f64,
    /// The run the measurements come from.
    pub run_id: String,
    pub run_started_at: DateTime<Utc>,
    /// One per workflow of the persona, in the same order; `None`: no results.
    pub cells: Vec<Option<Cell>>,
    /// Silent results over all results of this persona on this tool.
    pub silent_rate: f64,
    /// Results the silent rate rests on.
    pub results: u64,
}

/// A workflow's measurement on a tool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cell {
    /// Weighted pass rate (point estimate).
    pub score: f64,
    /// Lower bound of its 95% Wilson interval: what floors are checked against.
    pub ci_low: f64,
    pub n: u64,
    /// Mean cost of one request in US dollars.
    pub mean_cost_usd: f64,
}

impl PersonaInput {
    fn seat_cost(&self, t: usize) -> f64 {
        self.tools[t].seat_per_month * f64::from(self.headcount)
    }

    fn usage_cost(&self, t: usize, w: usize) -> f64 {
        self.tools[t].cells[w].map_or(0.0, |c| {
            c.mean_cost_usd * self.workflows[w].monthly_volume as f64
        })
    }

    fn meets(&self, t: usize, w: usize) -> bool {
        self.tools[t].cells[w].is_some_and(|c| c.ci_low + EPS >= self.workflows[w].floor)
    }

    /// Share-weighted score contribution of workflow `w` on tool `t` (0 without results).
    fn score_part(&self, t: usize, w: usize) -> f64 {
        self.workflows[w].share * self.tools[t].cells[w].map_or(0.0, |c| c.score)
    }

    fn within_budget(&self, cost: f64) -> bool {
        match self.budget_per_seat {
            None => true,
            Some(b) => cost / f64::from(self.headcount.max(1)) <= b + EPS,
        }
    }

    /// Cost and score of an assignment (tool index per workflow).
    pub fn evaluate(&self, choice: &[usize]) -> (f64, f64) {
        let mut used: Vec<usize> = choice.to_vec();
        used.sort_unstable();
        used.dedup();
        let seats: f64 = used.iter().map(|&t| self.seat_cost(t)).sum();
        let usage: f64 = choice
            .iter()
            .enumerate()
            .map(|(w, &t)| self.usage_cost(t, w))
            .sum();
        let score = choice
            .iter()
            .enumerate()
            .map(|(w, &t)| self.score_part(t, w))
            .sum();
        (seats + usage, score)
    }

    /// Whether every workflow meets its floor and the cost fits the budget.
    pub fn feasible(&self, choice: &[usize]) -> bool {
        choice.iter().enumerate().all(|(w, &t)| self.meets(t, w))
            && self.within_budget(self.evaluate(choice).0)
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// `persona` (one tool per persona) or `workflow` (one tool per workflow).
    pub granularity: &'static str,
    pub personas: Vec<PersonaPlan>,
    /// Whether every persona has a feasible assignment.
    pub feasible: bool,
    /// Σ monthly cost of the chosen assignments (feasible personas only).
    pub monthly_cost_usd: f64,
    /// Pareto-optimal assignments: real-work score against monthly cost.
    pub frontier: Vec<FrontierPoint>,
    /// Evidence older than the horizon.
    pub stale_evidence: Vec<StaleEvidence>,
    pub horizon_days: u32,
}

/// One persona's cheapest feasible assignment, or why none exists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaPlan {
    pub persona: String,
    /// Workflow → tool; empty when none is feasible.
    pub assignment: Vec<WorkflowChoice>,
    pub monthly_cost_usd: Option<f64>,
    pub cost_per_seat_usd: Option<f64>,
    pub budget_per_seat_usd: Option<f64>,
    /// Share-weighted score of the assignment.
    pub score: Option<f64>,
    /// When no assignment is feasible: the constraints that bind, in sentences.
    pub binding: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowChoice {
    pub workflow: String,
    pub tool: String,
    pub score: Option<f64>,
    pub ci_low: Option<f64>,
    pub floor: f64,
}

/// A point of the cost/quality frontier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontierPoint {
    pub monthly_cost_usd: f64,
    /// Headcount-weighted real-work score over the personas.
    pub score: f64,
    /// Whether every workflow meets its floor and every persona its budget.
    pub feasible: bool,
    /// Per persona, its tools: `tool`, or `workflow=tool,...` per workflow.
    pub assignment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaleEvidence {
    pub tool: String,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub age_days: i64,
}

/// A tool's run and results: the evidence the plan reads for that tool (for one persona,
/// or for every persona with results in the run).
pub struct ToolEvidence<'a> {
    pub persona: Option<&'a str>,
    pub tool: &'a str,
    pub run: &'a RunRecord,
    pub results: &'a [ResultRecord],
}

/// Build the planner's input from the program and, per persona × tool, its latest run.
///
/// A persona's candidates are the tools with results for it (normally its tier's tools).
pub fn inputs(program: &Program, evidence: &[ToolEvidence<'_>], now: DateTime<Utc>) -> PlanInput {
    let mut personas = Vec::new();
    for p in &program.personas {
        let mut tools = Vec::new();
        for e in evidence
            .iter()
            .filter(|e| e.persona.is_none_or(|x| x == p.id))
        {
            if tools.iter().any(|t: &ToolOption| t.tool == e.tool) {
                continue;
            }
            let rows: Vec<ResultRecord> = e
                .results
                .iter()
                .filter(|r| r.tool_id == e.tool && r.persona == p.id)
                .cloned()
                .collect();
            if rows.is_empty() {
                continue;
            }
            let report = scorecard(program, e.run, &rows);
            let Some(row) = report.scorecard.first() else {
                continue;
            };
            let cells = p
                .workflows
                .iter()
                .map(|w| {
                    row.workflows
                        .iter()
                        .find(|s| s.workflow == w.id)
                        .map(|s| Cell {
                            score: s.score.value,
                            ci_low: s.score.ci_low,
                            n: s.score.n,
                            mean_cost_usd: s.mean_cost_usd,
                        })
                })
                .collect();
            tools.push(ToolOption {
                tool: e.tool.to_owned(),
                seat_per_month: program.tool(e.tool).map_or(0.0, |t| t.price.seat_per_month),
                run_id: e.run.id.clone(),
                run_started_at: e.run.started_at,
                cells,
                silent_rate: row.silent_failure_rate.value,
                results: row.silent_failure_rate.n,
            });
        }
        personas.push(PersonaInput::new(program, p, tools));
    }
    PlanInput {
        personas,
        horizon_days: program.horizon_days,
        now,
    }
}

/// Why planning could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("persona `{persona}` has {tools} candidate tools; per-workflow planning searches at most {max}")]
    TooManyTools {
        persona: String,
        tools: usize,
        max: usize,
    },
    #[error("unknown persona `{0}`")]
    UnknownPersona(String),
    #[error("no results of tool `{tool}` for persona `{persona}`: run `proximity eval --tool {tool}` first")]
    NoEvidence { persona: String, tool: String },
}

/// A persona's candidate assignments for the frontier: (cost, weighted score, choice).
type Options = Vec<(f64, f64, Vec<usize>)>;

/// Keep the Pareto-optimal options (lower cost, higher score), cheapest first; of equal
/// points the first is kept.
fn pareto(mut opts: Options) -> Options {
    opts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut out: Options = Vec::new();
    for o in opts {
        match out.last() {
            Some(last) if o.1 <= last.1 + EPS => {}
            _ => out.push(o),
        }
    }
    out
}

/// Pareto options of one persona.
fn persona_options(p: &PersonaInput, per_workflow: bool) -> Options {
    let nw = p.workflows.len();
    if !per_workflow {
        return pareto(
            (0..p.tools.len())
                .map(|t| {
                    let choice = vec![t; nw];
                    let (c, s) = p.evaluate(&choice);
                    (c, s, choice)
                })
                .collect(),
        );
    }
    let nt = p.tools.len();
    let mut all: Options = Vec::new();
    for mask in 1_u32..(1_u32 << nt) {
        let set: Vec<usize> = (0..nt).filter(|t| mask & (1 << t) != 0).collect();
        let seats: f64 = set.iter().map(|&t| p.seat_cost(t)).sum();
        // Merge workflow by workflow, keeping the Pareto set of partial assignments.
        let mut partial: Options = vec![(seats, 0.0, Vec::new())];
        for w in 0..nw {
            let mut next = Vec::with_capacity(partial.len() * set.len());
            for (c, s, choice) in &partial {
                for &t in &set {
                    let mut ch = choice.clone();
                    ch.push(t);
                    next.push((c + p.usage_cost(t, w), s + p.score_part(t, w), ch));
                }
            }
            partial = pareto(next);
        }
        all.extend(partial);
    }
    pareto(all)
}

/// The cheapest feasible assignment of one persona (ties: higher score), or `None`.
fn cheapest(p: &PersonaInput, per_workflow: bool) -> Option<(f64, f64, Vec<usize>)> {
    let nw = p.workflows.len();
    let nt = p.tools.len();
    let mut best: Option<(f64, f64, Vec<usize>)> = None;
    let mut consider = |cand: (f64, f64, Vec<usize>)| {
        if !p.within_budget(cand.0) {
            return;
        }
        let better = match &best {
            None => true,
            Some(b) => cand.0 < b.0 - EPS || (cand.0 <= b.0 + EPS && cand.1 > b.1 + EPS),
        };
        if better {
            best = Some(cand);
        }
    };
    if !per_workflow {
        for t in 0..nt {
            let choice = vec![t; nw];
            if (0..nw).all(|w| p.meets(t, w)) {
                let (c, s) = p.evaluate(&choice);
                consider((c, s, choice));
            }
        }
        return best;
    }
    // Fix the set of tools whose seats are paid; each workflow then independently takes
    // its cheapest floor-meeting tool of the set. Minimising over all sets is exact.
    'sets: for mask in 1_u32..(1_u32 << nt) {
        let set: Vec<usize> = (0..nt).filter(|t| mask & (1 << t) != 0).collect();
        let mut choice = Vec::with_capacity(nw);
        for w in 0..nw {
            let pick = set
                .iter()
                .copied()
                .filter(|&t| p.meets(t, w))
                .min_by(|&a, &b| {
                    p.usage_cost(a, w)
                        .total_cmp(&p.usage_cost(b, w))
                        .then(p.score_part(b, w).total_cmp(&p.score_part(a, w)))
                });
            match pick {
                Some(t) => choice.push(t),
                None => continue 'sets,
            }
        }
        let seats: f64 = set.iter().map(|&t| p.seat_cost(t)).sum();
        let usage: f64 = choice
            .iter()
            .enumerate()
            .map(|(w, &t)| p.usage_cost(t, w))
            .sum();
        let score = choice
            .iter()
            .enumerate()
            .map(|(w, &t)| p.score_part(t, w))
            .sum();
        consider((seats + usage, score, choice));
    }
    best
}

/// Why no assignment of `p` is feasible, in sentences.
fn binding(p: &PersonaInput, per_workflow: bool) -> Vec<String> {
    let mut out = Vec::new();
    if p.tools.is_empty() {
        out.push(format!(
            "no tool has results for persona `{}`: run `proximity eval` first",
            p.id
        ));
        return out;
    }
    for (w, wf) in p.workflows.iter().enumerate() {
        if (0..p.tools.len()).any(|t| p.meets(t, w)) {
            continue;
        }
        let best = (0..p.tools.len())
            .filter_map(|t| p.tools[t].cells[w].map(|c| (t, c)))
            .max_by(|a, b| a.1.ci_low.total_cmp(&b.1.ci_low));
        out.push(match best {
            Some((t, c)) => format!(
                "floor {:.2} of `{}` binds: no tool reaches it (best lower bound {:.3}, `{}`, n={})",
                wf.floor, wf.id, c.ci_low, p.tools[t].tool, c.n
            ),
            None => format!("`{}` has no results on any tool", wf.id),
        });
    }
    if !out.is_empty() {
        return out;
    }
    if !per_workflow {
        let single = (0..p.tools.len()).any(|t| (0..p.workflows.len()).all(|w| p.meets(t, w)));
        if !single {
            for (t, tool) in p.tools.iter().enumerate() {
                let failing: Vec<String> = (0..p.workflows.len())
                    .filter(|&w| !p.meets(t, w))
                    .map(|w| format!("`{}`", p.workflows[w].id))
                    .collect();
                out.push(format!(
                    "`{}` misses the floor of {}",
                    tool.tool,
                    failing.join(", ")
                ));
            }
            out.push("no single tool meets every floor: try `--per-workflow`".to_owned());
            return out;
        }
    }
    // Floors can be met; the budget cannot.
    let unbounded = PersonaInput {
        budget_per_seat: None,
        ..p.clone()
    };
    if let Some((cost, _, _)) = cheapest(&unbounded, per_workflow) {
        out.push(format!(
            "the tier budget binds: the cheapest assignment meeting every floor costs {:.2} USD per seat per month, over the budget of {:.2}",
            cost / f64::from(p.headcount.max(1)),
            p.budget_per_seat.unwrap_or(0.0)
        ));
    }
    out
}

fn describe(p: &PersonaInput, choice: &[usize]) -> String {
    let first = choice.first().copied();
    if choice.iter().all(|&t| Some(t) == first) {
        return first.map_or_else(String::new, |t| p.tools[t].tool.clone());
    }
    choice
        .iter()
        .enumerate()
        .map(|(w, &t)| format!("{}={}", p.workflows[w].id, p.tools[t].tool))
        .collect::<Vec<_>>()
        .join(",")
}

/// Plan the whole program: per persona the cheapest feasible assignment, and the
/// frontier. `per_workflow`: a persona may use a different tool per workflow.
pub fn plan(input: &PlanInput, per_workflow: bool) -> Result<Plan, PlanError> {
    if per_workflow {
        if let Some(p) = input
            .personas
            .iter()
            .find(|p| p.tools.len() > MAX_TOOLS_PER_WORKFLOW_SEARCH)
        {
            return Err(PlanError::TooManyTools {
                persona: p.id.clone(),
                tools: p.tools.len(),
                max: MAX_TOOLS_PER_WORKFLOW_SEARCH,
            });
        }
    }
    let mut personas = Vec::new();
    let mut feasible = true;
    let mut total = 0.0;
    for p in &input.personas {
        match cheapest(p, per_workflow) {
            Some((cost, score, choice)) => {
                total += cost;
                personas.push(PersonaPlan {
                    persona: p.id.clone(),
                    assignment: choice
                        .iter()
                        .enumerate()
                        .map(|(w, &t)| WorkflowChoice {
                            workflow: p.workflows[w].id.clone(),
                            tool: p.tools[t].tool.clone(),
                            score: p.tools[t].cells[w].map(|c| c.score),
                            ci_low: p.tools[t].cells[w].map(|c| c.ci_low),
                            floor: p.workflows[w].floor,
                        })
                        .collect(),
                    monthly_cost_usd: Some(cost),
                    cost_per_seat_usd: Some(cost / f64::from(p.headcount.max(1))),
                    budget_per_seat_usd: p.budget_per_seat,
                    score: Some(score),
                    binding: Vec::new(),
                });
            }
            None => {
                feasible = false;
                personas.push(PersonaPlan {
                    persona: p.id.clone(),
                    assignment: Vec::new(),
                    monthly_cost_usd: None,
                    cost_per_seat_usd: None,
                    budget_per_seat_usd: p.budget_per_seat,
                    score: None,
                    binding: binding(p, per_workflow),
                });
            }
        }
    }
    Ok(Plan {
        granularity: if per_workflow { "workflow" } else { "persona" },
        personas,
        feasible,
        monthly_cost_usd: total,
        frontier: frontier(input, per_workflow),
        stale_evidence: stale_evidence(input),
        horizon_days: input.horizon_days,
    })
}

/// The Pareto frontier of whole-program assignments: monthly cost against the
/// headcount-weighted score. Personas without candidates are left out.
pub fn frontier(input: &PlanInput, per_workflow: bool) -> Vec<FrontierPoint> {
    let personas: Vec<&PersonaInput> = input
        .personas
        .iter()
        .filter(|p| !p.tools.is_empty())
        .collect();
    let heads: f64 = personas.iter().map(|p| f64::from(p.headcount)).sum();
    let weight = |p: &PersonaInput| {
        if heads > 0.0 {
            f64::from(p.headcount) / heads
        } else {
            1.0 / personas.len().max(1) as f64
        }
    };
    // Points carry, per persona so far, the index of its option.
    let mut merged: Vec<(f64, f64, Vec<usize>)> = vec![(0.0, 0.0, Vec::new())];
    let mut per_persona: Vec<Options> = Vec::new();
    for p in &personas {
        let opts = persona_options(p, per_workflow);
        let w = weight(p);
        let mut next = Vec::with_capacity(merged.len() * opts.len());
        for (c, s, picks) in &merged {
            for (i, (oc, os, _)) in opts.iter().enumerate() {
                let mut pk = picks.clone();
                pk.push(i);
                next.push((c + oc, s + w * os, pk));
            }
        }
        merged = pareto(next);
        per_persona.push(opts);
    }
    if personas.is_empty() {
        return Vec::new();
    }
    merged
        .into_iter()
        .map(|(cost, score, picks)| {
            let mut assignment = BTreeMap::new();
            let mut ok = true;
            for (k, p) in personas.iter().enumerate() {
                let choice = &per_persona[k][picks[k]].2;
                ok &= p.feasible(choice);
                assignment.insert(p.id.clone(), describe(p, choice));
            }
            FrontierPoint {
                monthly_cost_usd: cost,
                score,
                feasible: ok,
                assignment,
            }
        })
        .collect()
}

/// Tools whose evidence is older than the horizon (each run once).
pub fn stale_evidence(input: &PlanInput) -> Vec<StaleEvidence> {
    let mut seen = BTreeMap::new();
    for p in &input.personas {
        for t in &p.tools {
            let age = (input.now - t.run_started_at).num_days();
            if age > i64::from(input.horizon_days) {
                seen.entry((t.tool.clone(), t.run_id.clone()))
                    .or_insert(StaleEvidence {
                        tool: t.tool.clone(),
                        run_id: t.run_id.clone(),
                        started_at: t.run_started_at,
                        age_days: age,
                    });
            }
        }
    }
    seen.into_values().collect()
}

/// "What if persona P were standardised on tool T".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    pub persona: String,
    pub tool: String,
    /// Workflows whose interval's lower bound would fall below the floor.
    pub below_floor: Vec<WhatIfWorkflow>,
    /// Every workflow on the tool.
    pub workflows: Vec<WhatIfWorkflow>,
    pub monthly_cost_usd: f64,
    pub silent_rate: f64,
    pub results: u64,
    /// The planner's cheapest feasible single tool for the persona, compared against.
    pub compared_with: Option<Comparison>,
    /// Every other candidate tool, compared against.
    pub alternatives: Vec<Comparison>,
    /// The evidence of the tool is older than the horizon.
    pub stale: Option<StaleEvidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfWorkflow {
    pub workflow: String,
    pub score: Option<f64>,
    pub ci_low: Option<f64>,
    pub floor: f64,
    pub n: u64,
}

/// How standardising compares with another tool: positive `cost_change_usd` means
/// standardising costs more per month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub tool: String,
    pub monthly_cost_usd: f64,
    pub cost_change_usd: f64,
    pub silent_rate: f64,
    /// Standardised silent rate minus this tool's.
    pub silent_rate_change: f64,
    pub meets_floors: bool,
}

/// Standardise `persona` on `tool`.
pub fn what_if(input: &PlanInput, persona: &str, tool: &str) -> Result<WhatIf, PlanError> {
    let p = input
        .personas
        .iter()
        .find(|p| p.id == persona)
        .ok_or_else(|| PlanError::UnknownPersona(persona.to_owned()))?;
    let t = p
        .tools
        .iter()
        .position(|o| o.tool == tool)
        .ok_or_else(|| PlanError::NoEvidence {
            persona: persona.to_owned(),
            tool: tool.to_owned(),
        })?;
    let nw = p.workflows.len();
    let workflows: Vec<WhatIfWorkflow> = (0..nw)
        .map(|w| WhatIfWorkflow {
            workflow: p.workflows[w].id.clone(),
            score: p.tools[t].cells[w].map(|c| c.score),
            ci_low: p.tools[t].cells[w].map(|c| c.ci_low),
            floor: p.workflows[w].floor,
            n: p.tools[t].cells[w].map_or(0, |c| c.n),
        })
        .collect();
    let below_floor = (0..nw)
        .filter(|&w| !p.meets(t, w))
        .map(|w| workflows[w].clone())
        .collect();
    let (cost, _) = p.evaluate(&vec![t; nw]);
    let silent = p.tools[t].silent_rate;
    let compare = |o: usize| {
        let (c, _) = p.evaluate(&vec![o; nw]);
        Comparison {
            tool: p.tools[o].tool.clone(),
            monthly_cost_usd: c,
            cost_change_usd: cost - c,
            silent_rate: p.tools[o].silent_rate,
            silent_rate_change: silent - p.tools[o].silent_rate,
            meets_floors: (0..nw).all(|w| p.meets(o, w)),
        }
    };
    let compared_with = cheapest(p, false).map(|(_, _, choice)| compare(choice[0]));
    let alternatives = (0..p.tools.len())
        .filter(|&o| o != t)
        .map(compare)
        .collect();
    let age = (input.now - p.tools[t].run_started_at).num_days();
    Ok(WhatIf {
        persona: persona.to_owned(),
        tool: tool.to_owned(),
        below_floor,
        workflows,
        monthly_cost_usd: cost,
        silent_rate: silent,
        results: p.tools[t].results,
        compared_with,
        alternatives,
        stale: (age > i64::from(input.horizon_days)).then(|| StaleEvidence {
            tool: tool.to_owned(),
            run_id: p.tools[t].run_id.clone(),
            started_at: p.tools[t].run_started_at,
            age_days: age,
        }),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
