//! The arguments of `proximity import`: a store export (`import FILE`), or another
//! tool's suite (`import promptfoo CONFIG`).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: Option<ImportFrom>,
    /// The export to read (`-`: standard input).
    #[arg(value_name = "FILE", required = true)]
    pub file: Option<PathBuf>,
    /// Import into a store that already holds rows: rows whose key it has are skipped
    /// (existing rows win). For resuming an interrupted import of the same file.
    #[arg(long)]
    pub merge: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportFrom {
    /// Turn a promptfoo config (promptfooconfig.yaml) into cases of a suite file
    /// (appended; existing bytes untouched). See docs/import.md.
    Promptfoo(PromptfooArgs),
}

#[derive(Debug, Args)]
pub struct PromptfooArgs {
    /// The promptfoo config.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// The persona of the cases (default: the suite's, else the program's only persona).
    #[arg(long)]
    pub persona: Option<String>,
    /// The workflow of the cases (default: the suite's, else the persona's only workflow).
    #[arg(long)]
    pub workflow: Option<String>,
    /// The suite file to append to, relative to the program or absolute (created when
    /// absent).
    #[arg(long, value_name = "FILE", default_value = "suites/promptfoo.yaml")]
    pub suite: PathBuf,
    /// What to do with a test that has an assertion Proximity cannot express: leave its
    /// cases out, or keep them without it (a comment on the case says so).
    #[arg(long, value_enum, default_value_t = Unsupported::Skip)]
    pub unsupported: Unsupported,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Unsupported {
    Skip,
    DropAssertion,
}
