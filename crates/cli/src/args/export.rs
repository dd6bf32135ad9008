//! The arguments of `proximity export`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the export to this file instead of standard output (written beside it and
    /// renamed once complete: a failed export leaves no partial file).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
