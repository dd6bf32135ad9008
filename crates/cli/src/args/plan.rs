//! The arguments of `proximity plan`.

use clap::Args;

use super::ListFormat;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// What if PERSONA were standardised on TOOL (repeatable): the workflows that would
    /// fall below their floor, and the cost and silent-failure rate changes.
    #[arg(long, value_name = "PERSONA=TOOL")]
    pub standardize: Vec<String>,
    /// Let each workflow of a persona use its own tool (seats are paid per tool used).
    #[arg(long)]
    pub per_workflow: bool,
    /// Store the plan so a decision can cite it (`--evidence plan:ID`).
    #[arg(long)]
    pub record: bool,
    /// At most this many frontier points in the table (all in JSON).
    #[arg(long, default_value_t = 15)]
    pub frontier_limit: usize,
    /// Plan from this evaluation run only (default: per persona and tool, the newest
    /// evaluation run with results for the pair; probe and drift runs never count).
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    #[command(flatten)]
    pub weights: super::mix::WeightsArgs,
}
