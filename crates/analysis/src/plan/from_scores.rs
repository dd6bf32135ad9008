//! The planner's input from per-pair scores ([`crate::pair_scores`], computed from the
//! store's per-cell sums) instead of every result: what the dashboard plans from, so a
//! persona page never loads a run's rows. The same figures as [`super::inputs`] over the
//! same runs (a test holds the two equal on the example program).

use chrono::{DateTime, Utc};
use proximity_program::Program;
use proximity_store::RunRecord;

use super::{Cell, PersonaInput, PlanInput, ToolOption};
use crate::pair_scores::PairScore;

/// Per persona of the program, one candidate per tool: the first of `scores` (the
/// caller puts the run to plan from first, normally the newest) for that persona × tool.
pub fn inputs_from_scores(
    program: &Program,
    scores: &[(&RunRecord, PairScore)],
    now: DateTime<Utc>,
) -> PlanInput {
    let personas = program
        .personas
        .iter()
        .map(|p| {
            let mut tools: Vec<ToolOption> = Vec::new();
            for (run, s) in scores.iter().filter(|(_, s)| s.persona == p.id) {
                if tools.iter().any(|t| t.tool == s.tool) || s.verdicts.total() == 0 {
                    continue;
                }
                let cells = p
                    .workflows
                    .iter()
                    .map(|w| {
                        s.workflows
                            .iter()
                            .find(|x| x.workflow == w.id)
                            .map(|x| Cell {
                                score: x.score.value,
                                ci_low: x.score.ci_low,
                                n: x.score.n,
                                mean_cost_usd: x.mean_cost_usd,
                            })
                    })
                    .collect();
                tools.push(ToolOption {
                    tool: s.tool.clone(),
                    seat_per_month: program
                        .tool(&s.tool)
                        .map_or(0.0, |t| t.price.seat_per_month),
                    run_id: run.id.clone(),
                    run_started_at: run.started_at,
                    cells,
                    silent_rate: s.silent_failure_rate.value,
                    results: s.silent_failure_rate.n,
                });
            }
            PersonaInput::new(program, p, tools)
        })
        .collect();
    PlanInput {
        personas,
        horizon_days: program.horizon_days,
        now,
    }
}
