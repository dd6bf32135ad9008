//! Proximity's analysis: statistics ([`stats`]), the work-mix-weighted scorecard of a
//! run ([`mod@scorecard`]) from per-cell sums ([`cells`], [`sums`]: the store's aggregates
//! or results in memory), the failure anatomy and failure lists ([`anatomy`]) and their
//! renderings as a table, JSON, Markdown and JUnit XML ([`render`]). Pure functions over
//! the program and stored results or aggregates: no I/O.

pub mod anatomy;
pub mod cells;
pub mod context_fill;
pub mod coverage;
pub mod drift;
pub mod friction;
pub mod paired;
pub mod plan;
pub mod render;
pub mod scorecard;
pub mod staleness;
pub mod stats;
pub mod sums;

#[cfg(test)]
mod fixture;

pub use anatomy::{
    failures, set_effective_context, AgreementFold, Agreements, FailureAnatomy, FailureFilter,
    FailureList,
};
pub use scorecard::{
    any_below_floor, scorecard, top_failures, top_silent, BelowFloor, Estimate, Failure, Latency,
    Report, ScoreRow, Totals, VerdictCounts, WorkflowScore,
};
pub use sums::{scorecard_from_sums, RunSums};
