//! Command-line arguments (clap). Only argument structs live here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::models::ModelsCommand;

/// Keep an organisation's AI decisions close to how its AI tools actually behave.
#[derive(Debug, Parser)]
#[command(name = "proximity", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The program directory (default: the nearest directory holding `proximity.yaml`,
    /// from the current directory upwards).
    #[arg(long, global = true, env = "PROXIMITY_PROGRAM", value_name = "DIR")]
    pub program: Option<PathBuf>,
    /// Where results are stored (default: sqlite://<program>/.proximity/proximity.db).
    #[arg(
        long,
        global = true,
        env = "PROXIMITY_DATABASE_URL",
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// More logging (-v info, -vv debug); `PROXIMITY_LOG` takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole loop on `examples/acme` and the embedded local model.
    Demo(DemoArgs),
    /// Create a program: `proximity.yaml` and a suite, ready for `check` and `eval`.
    Init(InitArgs),
    /// Validate the program; exit 2 with located errors when it is invalid.
    Check(CheckArgs),
    /// Evaluate tools on the program's cases.
    Eval(EvalArgs),
    /// Print the scorecard of a run.
    Report(ReportArgs),
    /// Manage the embedded local model.
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Debug, Args)]
pub struct CheckArgs {}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the program.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Ask the model again instead of reusing cached answers from an earlier demo.
    #[arg(long)]
    pub fresh: bool,
}

/// Output formats of a scorecard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Junit,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Only cases of this persona (repeatable).
    #[arg(long, value_name = "PERSONA")]
    pub persona: Vec<String>,
    /// Only this tool, on every selected case whatever the tier (repeatable). Default:
    /// each case runs on the tools of its persona's tier.
    #[arg(long, value_name = "TOOL")]
    pub tool: Vec<String>,
    /// Samples per case and tool.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Stop before the estimated spend of the run passes this many US dollars.
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Ask the providers again instead of reusing cached answers.
    #[arg(long)]
    pub no_cache: bool,
    /// Continue an interrupted run: only missing results are produced, none paid twice.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// How to print the scorecard of the run.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the scorecard to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run (default: the latest).
    pub run: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}
