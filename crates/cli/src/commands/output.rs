//! Rendering a run's scorecard in the chosen format, to standard output or a file.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use proximity_analysis::context_fill::{self, Curve};
use proximity_analysis::results_csv::ResultsCsv;
use proximity_analysis::Report;
use proximity_store::{ResultRecord, Store};

use crate::args::Format;

/// The width a table on standard output must fit: `COLUMNS` when set to a number (as a
/// shell or a script sets it), else the terminal's when standard output is one; `None`
/// (as wide as the content) when it goes to a pipe or a file.
pub fn terminal_width() -> Option<u16> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|c| *c > 0)
    {
        return Some(c.max(40));
    }
    let term = dialoguer::console::Term::stdout();
    if !term.is_term() {
        return None;
    }
    term.size_checked().map(|(_, cols)| cols).filter(|c| *c > 0)
}

pub fn render(report: &Report, results: &[ResultRecord], format: Format) -> String {
    match format {
        Format::Table => proximity_analysis::render::table_within(report, terminal_width()),
        Format::Json => proximity_analysis::render::json(report),
        Format::Markdown => proximity_analysis::render::markdown(report),
        Format::Junit => proximity_analysis::render::junit(report, results),
        // A site, not a page: `report --format html --out DIR` writes it (crates/web).
        Format::Html => proximity_analysis::render::markdown(report),
        Format::Csv => {
            let mut out = Vec::new();
            // Writing to memory fails only on a bug in the csv crate.
            let written = ResultsCsv::new(&mut out).and_then(|mut w| {
                results.iter().try_for_each(|r| w.push(r))?;
                w.finish()
            });
            match written {
                Ok(_) => String::from_utf8_lossy(&out).into_owned(),
                Err(e) => format!("cannot render CSV: {e}"),
            }
        }
    }
}

/// Run `run_id`'s results as CSV, one row per result, streamed from the store to `out`
/// or standard output.
pub async fn emit_results_csv(
    store: &Store,
    run_id: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let sink: Box<dyn std::io::Write + Send> = match out {
        Some(path) => {
            if let Some(parent) = path.parent() {
                if !parent.as_os_str().is_empty() {
                    fs_err::create_dir_all(parent)?;
                }
            }
            Box::new(fs_err::File::create(path)?)
        }
        None => Box::new(std::io::stdout()),
    };
    let mut csv = ResultsCsv::new(std::io::BufWriter::new(sink))?;
    store
        .each_result(run_id, |r| {
            csv.push(&r).map_err(|e| std::io::Error::other(e).into())
        })
        .await
        .with_context(|| match out {
            Some(path) => format!("cannot write the results to {}", path.display()),
            None => "cannot write the results".to_owned(),
        })?;
    let rows = csv.finish()?;
    if let Some(path) = out {
        note(&format!("wrote {rows} results to {}", path.display()));
    }
    Ok(())
}

/// Write `text` to `out`, or to standard output.
pub fn emit(text: &str, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            if let Some(parent) = path.parent() {
                if !parent.as_os_str().is_empty() {
                    fs_err::create_dir_all(parent)?;
                }
            }
            fs_err::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                stdout.write_all(b"\n")?;
            }
            Ok(())
        }
    }
}

/// The curve in the format asked for (`junit` has no meaning for a curve).
pub fn render_curve(curve: &Curve, format: Format) -> anyhow::Result<String> {
    match format {
        Format::Table => Ok(context_fill::table(curve)),
        Format::Json => Ok(context_fill::json(curve)),
        Format::Markdown => Ok(context_fill::markdown(curve)),
        #[allow(unreachable_patterns)]
        _ => anyhow::bail!(
            "a context-fill probe run prints as `table`, `json` or `markdown`, not {format:?}"
        ),
    }
}

/// A line for the person at the terminal, on standard error (standard output carries
/// what a script reads).
#[allow(clippy::print_stderr)]
pub fn note(text: &str) {
    eprintln!("{text}");
}
