//! The arguments of `proximity decide`.

use clap::{Args, Subcommand};

use super::ListFormat;

#[derive(Debug, Subcommand)]
pub enum DecideCommand {
    /// Record a decision and the evidence it rests on.
    Add(AddArgs),
    /// List decisions.
    List(ListArgs),
    /// List stale decisions (old evidence, changed tools, drift, contradicting notes);
    /// exit 1 when any is stale.
    Review(ListArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A short name for the decision, as lists show it.
    #[arg(long)]
    pub title: String,
    /// What was decided, in a sentence or two.
    #[arg(long)]
    pub statement: String,
    /// Who decided (default: none recorded).
    #[arg(long)]
    pub author: Option<String>,
    /// A persona it covers (repeatable).
    #[arg(long)]
    pub persona: Vec<String>,
    /// A tool it covers (repeatable).
    #[arg(long)]
    pub tool: Vec<String>,
    /// A tier it covers (repeatable).
    #[arg(long)]
    pub tier: Vec<String>,
    /// Evidence it rests on: `run:ID`, `baseline:NAME`, `note:ID` or `plan:ID`
    /// (repeatable).
    #[arg(long, value_name = "KIND:REF")]
    pub evidence: Vec<String>,
    /// Review when the evidence is older than this many days (default: the program's
    /// `horizon_days`).
    #[arg(long, value_name = "DAYS")]
    pub horizon_days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}
