//! The arguments of `proximity drift`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// How to print the drift report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The baseline to compare with (default: the most recently accepted).
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Only this tool (repeatable; default: every tool of the baseline).
    #[arg(long, value_name = "TOOL")]
    pub tool: Vec<String>,
    /// Compare with this stored run instead of re-running the cases.
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Samples per case when re-running (default: the baseline run's). Samples are
    /// aggregated per case (strict majority) before the paired test.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: Option<u32>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Stop re-running before the estimated spend passes this many US dollars.
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// POST the drift summary as JSON to this webhook URL (default: the program's
    /// `notify:`).
    #[arg(long, value_name = "URL")]
    pub notify: Option<String>,
    #[arg(long, value_enum, default_value_t = DriftFormat::Table)]
    pub format: DriftFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}
