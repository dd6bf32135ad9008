//! `proximity import FILE [--merge]`: load a `proximity export` (JSON Lines, `-` for
//! standard input) into the store, which must hold no rows unless `--merge`. Rows per
//! table go to standard error.

use std::io::{BufRead, BufReader};

use anyhow::Context as _;
use proximity_store::transfer::ImportOptions;

use crate::args::import::ImportArgs;
use crate::args::GlobalArgs;
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &ImportArgs) -> anyhow::Result<Outcome> {
    let file = a.file.as_deref().context("give the export to read")?;
    let url = context::target_url(g)?;
    let stdin = file.as_os_str() == "-";
    let input: Box<dyn BufRead> = if stdin {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(fs_err::File::open(file)?))
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
                output::note(&format!("  {table:<20} {rows:>10} rows"));
            }
        })
        .await;
    store.close().await;
    let source = if stdin {
        "standard input".to_owned()
    } else {
        file.display().to_string()
    };
    let counts = result.with_context(|| {
        format!(
            "cannot import {source} into the store at `{}`",
            context::redact_url(&url)
        )
    })?;
    if !quiet {
        let rows: u64 = counts.iter().map(|(_, n)| n).sum();
        output::note(&format!(
            "imported {rows} rows from {source} into {}",
            context::redact_url(&url)
        ));
    }
    Ok(Outcome::Ok)
}
