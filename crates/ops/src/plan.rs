//! The planner's input and the what-if of standardising a persona on one tool.
//! `proximity plan` and the persona page plan from per-run sums ([`scored_input`]: per
//! persona × tool, the newest evaluation run with results for the pair, never a probe or
//! drift run, never a run's every row); `proximity friction` from results ([`input`]).

use chrono::{DateTime, Utc};
use proximity_analysis::pair_scores::{pair_scores, PairScore};
use proximity_analysis::plan::evidence::{self, Loaded};
use proximity_analysis::plan::from_scores::inputs_from_scores;
use proximity_analysis::plan::{self, PlanInput, WhatIf};
use proximity_program::Program;
use proximity_store::{RunRecord, Store};

use crate::{ids, runs, OpsError};

pub use proximity_analysis::pair_scores::Cells;

/// The planner's input from per-run sums, and the evaluation runs it rests on (newest
/// first).
#[derive(Debug)]
pub struct Scored {
    pub input: PlanInput,
    pub runs: Vec<RunRecord>,
}

impl Scored {
    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.runs.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids
    }
}

/// The planner's input from the runs' score cells: from evaluation run `run` alone when
/// named (an error when it is a probe or drift run), else per persona × tool from the
/// newest evaluation run with results for the pair. `None` when nothing was evaluated.
/// `proximity plan` and the persona page's "if standardised" both come here.
pub async fn scored_input(
    store: &Store,
    program: &Program,
    run: Option<&str>,
    cells: &impl Cells,
    now: DateTime<Utc>,
) -> Result<Option<Scored>, OpsError> {
    let candidates = match run {
        Some(id) => vec![runs::eval_run(store, id).await?],
        None => runs::eval_runs(store).await?,
    };
    let wanted: usize = program
        .personas
        .iter()
        .map(|p| program.tools_for_persona(&p.id).len())
        .sum();
    let mut scores: Vec<(usize, PairScore)> = Vec::new();
    for (i, r) in candidates.iter().enumerate() {
        let cells = cells.cells(r).await?;
        for s in pair_scores(program, &cells) {
            if s.verdicts.total() > 0
                && !scores
                    .iter()
                    .any(|(_, x)| x.persona == s.persona && x.tool == s.tool)
            {
                scores.push((i, s));
            }
        }
        if scores.len() >= wanted {
            break;
        }
    }
    if scores.is_empty() {
        return Ok(None);
    }
    let by_run: Vec<(&RunRecord, PairScore)> = scores
        .iter()
        .map(|(i, s)| (&candidates[*i], s.clone()))
        .collect();
    let input = inputs_from_scores(program, &by_run, now);
    let mut used: Vec<usize> = scores.iter().map(|(i, _)| *i).collect();
    used.sort_unstable();
    used.dedup();
    let runs = used.into_iter().map(|i| candidates[i].clone()).collect();
    Ok(Some(Scored { input, runs }))
}

/// [`scored_input`], or an error saying to evaluate first when there is nothing to plan
/// from.
pub async fn require_scored_input(
    store: &Store,
    program: &Program,
    run: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Scored, OpsError> {
    scored_input(store, program, run, store, now)
        .await?
        .ok_or_else(|| {
            let what = match run {
                Some(id) => format!("run `{id}` has no results for the program's personas"),
                None => "no evaluation results yet".to_owned(),
            };
            OpsError::invalid(what).with_hint("run `proximity eval` first")
        })
}

/// What the planner works from, and the runs it rests on (none when nothing has been
/// evaluated yet: then every pair has no evidence).
pub async fn input(
    store: &Store,
    program: &Program,
    now: DateTime<Utc>,
) -> Result<(PlanInput, Loaded), OpsError> {
    let loaded = evidence::load(program, store).await?;
    Ok((plan::inputs(program, &loaded.evidence(), now), loaded))
}

/// `PERSONA=TOOL` as a checked pair.
pub fn standardise_pair<'a>(
    program: &Program,
    text: &'a str,
) -> Result<(&'a str, &'a str), OpsError> {
    let (persona, tool) = text.split_once('=').ok_or_else(|| {
        OpsError::invalid(format!("`{text}` is not PERSONA=TOOL"))
            .with_hint("e.g. `--standardize support-agent=acme-copilot`")
    })?;
    ids::persona(program, persona)?;
    ids::tool(program, tool)?;
    Ok((persona, tool))
}

/// What standardising `persona` on `tool` would do ([`plan::what_if`]).
pub fn what_if(
    program: &Program,
    input: &PlanInput,
    persona: &str,
    tool: &str,
) -> Result<WhatIf, OpsError> {
    ids::persona(program, persona)?;
    ids::tool(program, tool)?;
    plan::what_if(input, persona, tool).map_err(|e| OpsError::invalid(e.to_string()))
}
