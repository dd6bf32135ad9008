//! The arguments of `proximity baseline`.

use clap::{Args, Subcommand};

use super::ListFormat;

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Pin a finished run's results under a name (immutable: a name is accepted once).
    Accept(AcceptArgs),
    /// List baselines with their date, tool fingerprints and who accepted them.
    List(BaselineListArgs),
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The run to pin (as `proximity report` names it).
    pub run: String,
    /// The baseline's name, e.g. `security-review-2026-11`.
    #[arg(long)]
    pub name: String,
    /// Why it was accepted.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Who accepts it (default: `$USER`, else `git config user.name`).
    #[arg(long, value_name = "WHO")]
    pub by: Option<String>,
}

#[derive(Debug, Args)]
pub struct BaselineListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}
