//! The arguments of `proximity probe risk`.

use std::path::PathBuf;

use clap::Args;

use super::ListFormat;

#[derive(Debug, Args)]
pub struct ProbeRiskArgs {
    /// The tool to probe (default: the program's only tool).
    #[arg(long, value_name = "TOOL")]
    pub tool: Option<String>,
    /// Only these families (repeatable): injection, canary, pii, unsafe, tool_overreach,
    /// or a family of the program's `risk:<family>` cases.
    #[arg(long, value_name = "FAMILY")]
    pub family: Vec<String>,
    /// Samples per probe.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Write the summary to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}
