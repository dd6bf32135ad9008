//! The arguments of `proximity import`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export to read (`-`: standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Import into a store that already holds rows: rows whose key it has are skipped
    /// (existing rows win). For resuming an interrupted import of the same file.
    #[arg(long)]
    pub merge: bool,
}
