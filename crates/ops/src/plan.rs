//! The planner's input (per persona × tool, the latest run with results for the pair)
//! and the what-if of standardising a persona on one tool. `proximity plan`,
//! `proximity friction` and the persona page come here.

use chrono::{DateTime, Utc};
use proximity_analysis::plan::evidence::{self, Loaded};
use proximity_analysis::plan::{self, PlanInput, WhatIf};
use proximity_program::Program;
use proximity_store::Store;

use crate::{ids, OpsError};

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

/// [`input`], or an error saying to evaluate first when there is nothing to plan from.
pub async fn require_input(
    store: &Store,
    program: &Program,
    now: DateTime<Utc>,
) -> Result<(PlanInput, Loaded), OpsError> {
    let (input, loaded) = input(store, program, now).await?;
    if loaded.runs.is_empty() {
        return Err(OpsError::invalid("no results yet").with_hint("run `proximity eval` first"));
    }
    Ok((input, loaded))
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
