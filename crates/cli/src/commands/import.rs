//! `proximity import FILE [--merge]`: load a `proximity export` (JSON Lines, `-` for
//! standard input) into the store, which must hold no rows unless `--merge`. Rows per
//! table go to standard error.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use proximity_store::transfer::ImportOptions;

use crate::args::GlobalArgs;
use crate::commands::export::note;
use crate::commands::migrate::target_url;
use crate::{context, Outcome};

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

pub async fn run(g: &GlobalArgs, a: &ImportArgs) -> anyhow::Result<Outcome> {
    let url = target_url(g)?;
    let stdin = a.file.as_os_str() == "-";
    let input: Box<dyn BufRead> = if stdin {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(fs_err::File::open(&a.file)?))
    };
    let store = context::open_url(g, &url).await?;
    let options = ImportOptions {
        merge: a.merge,
        ..ImportOptions::default()
    };
    let quiet = g.quiet;
    let result = store
        .import_jsonl(input, &options, &mut |table, rows| {
            if !quiet {
                note(&format!("  {table:<20} {rows:>10} rows"));
            }
        })
        .await;
    store.close().await;
    let source = if stdin {
        "standard input".to_owned()
    } else {
        a.file.display().to_string()
    };
    let counts = result.with_context(|| {
        format!(
            "cannot import {source} into the store at `{}`",
            context::redact_url(&url)
        )
    })?;
    if !quiet {
        let rows: u64 = counts.iter().map(|(_, n)| n).sum();
        note(&format!(
            "imported {rows} rows from {source} into {}",
            context::redact_url(&url)
        ));
    }
    Ok(Outcome::Ok)
}
