//! Proximity's analysis: statistics ([`stats`], [`estimate`]), the work-mix-weighted
//! scorecard of a run ([`mod@scorecard`], a [`Report`] of [`report`]'s types) from
//! per-cell sums ([`pair_scores`]: the store's aggregates or results in memory), the
//! failure anatomy ([`anatomy`], with the samples' self-consistency in [`agreement`]), the
//! failure lists ([`mod@failures`]) and their renderings as a table, JSON, Markdown and
//! JUnit XML ([`render`]), and a run's results as CSV ([`results_csv`]). Pure functions over the program and stored results or
//! aggregates: no I/O.
//!
//! Inside the crate the dependencies point one way: each of `stats`, `estimate`,
//! `agreement`, `anatomy`, `report`, `pair_scores`, `scorecard`, `failures`, `render` uses
//! only those before it (`scripts/module-cycles` checks there is no cycle).

pub mod agreement;
pub mod anatomy;
pub mod context_fill;
pub mod coverage;
pub mod drift;
pub mod estimate;
pub mod failures;
pub mod friction;
pub mod live;
pub mod pair_scores;
pub mod paired;
pub mod plan;
pub mod render;
pub mod report;
pub mod results_csv;
pub mod scorecard;
pub mod staleness;
pub mod stats;

#[cfg(test)]
mod fixture;

pub use agreement::{AgreementFold, Agreements};
pub use anatomy::{FailureAnatomy, VerdictCounts};
pub use estimate::Estimate;
pub use failures::{failures, FailureFilter, FailureList};
pub use report::{
    any_below_floor, set_effective_context, top_failures, top_silent, BelowFloor, Failure, Latency,
    Report, ScoreRow, Totals, WorkflowScore,
};
pub use scorecard::{scorecard, scorecard_from_sums, RunSums};
