//! The arguments of `proximity capture`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::note::AssertArgs;
use super::ListFormat;

#[derive(Debug, Subcommand)]
pub enum CaptureCommand {
    /// List the requests and answers the gateway captured (redacted) for tiers with
    /// `capture: true`.
    List(ListArgs),
    /// Turn a capture into a case of the persona's suite file (appended; nothing else in
    /// the file changes).
    Promote(PromoteArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this persona.
    #[arg(long)]
    pub persona: Option<String>,
    /// Only this workflow (`unknown` for requests that named none).
    #[arg(long)]
    pub workflow: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The capture's id (`capture list` shows it).
    pub id: i64,
    /// The suite file to append to (default: the one holding the persona's cases).
    #[arg(long, value_name = "FILE")]
    pub suite: Option<PathBuf>,
    /// The new case's id (default `capture-<ID>`).
    #[arg(long = "case-id", value_name = "ID")]
    pub case_id: Option<String>,
    /// The workflow, when the request named none of the persona's.
    #[arg(long)]
    pub workflow: Option<String>,
    /// `routine` or `edge` (default `routine`).
    #[arg(long)]
    pub kind: Option<String>,
    #[command(flatten)]
    pub assert: AssertArgs,
}
