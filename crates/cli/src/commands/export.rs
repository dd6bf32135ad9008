//! `proximity export [--out FILE]`: the whole store as JSON Lines (`docs/store.md`), to
//! move it to another backend with `proximity import`. Rows go to standard output or the
//! file; rows per table to standard error.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use proximity_store::Store;

use crate::args::export::ExportArgs;
use crate::args::GlobalArgs;
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &ExportArgs) -> anyhow::Result<Outcome> {
    let url = context::target_url(g)?;
    let store = context::open_url(g, &url).await?;
    context::recover_usage(&store).await;
    let result = match &a.out {
        Some(path) => to_file(g, &store, path).await,
        None => {
            let mut out = BufWriter::new(std::io::stdout());
            export(g, &store, &mut out).await
        }
    };
    store.close().await;
    let rows = result
        .with_context(|| format!("cannot export the store at `{}`", context::redact_url(&url)))?;
    if !g.quiet {
        output::note(&format!(
            "exported {rows} rows from {}{}",
            context::redact_url(&url),
            a.out
                .as_ref()
                .map(|p| format!(" to {}", p.display()))
                .unwrap_or_default()
        ));
    }
    Ok(Outcome::Ok)
}

async fn to_file(g: &GlobalArgs, store: &Store, path: &Path) -> anyhow::Result<u64> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            fs_err::create_dir_all(parent)?;
        }
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = async {
        let mut out = BufWriter::new(fs_err::File::create(&partial)?);
        let rows = export(g, store, &mut out).await?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs_err::rename(&partial, path)?;
        anyhow::Ok(rows)
    }
    .await;
    if written.is_err() {
        let _ = fs_err::remove_file(&partial);
    }
    written
}

async fn export<W: std::io::Write>(
    g: &GlobalArgs,
    store: &Store,
    out: &mut W,
) -> anyhow::Result<u64> {
    let quiet = g.quiet;
    let counts = store
        .export_jsonl(out, &mut |table, rows| {
            if !quiet {
                output::note(&format!("  {table:<20} {rows:>10} rows"));
            }
        })
        .await?;
    out.flush()?;
    Ok(counts.iter().map(|(_, n)| n).sum())
}
