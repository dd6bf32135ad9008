//! Proximity's analysis: statistics ([`stats`]), the work-mix-weighted scorecard of a
//! run ([`mod@scorecard`]) and its renderings as a table, JSON, Markdown and JUnit XML
//! ([`render`]). Pure functions over the program and stored results: no I/O.

pub mod render;
pub mod scorecard;
pub mod stats;

#[cfg(test)]
mod fixture;

pub use scorecard::{
    any_below_floor, scorecard, top_failures, top_silent, BelowFloor, Estimate, Failure, Latency,
    Report, ScoreRow, Totals, VerdictCounts, WorkflowScore,
};
