//! Rendering a run's scorecard in the chosen format, to standard output or a file.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use proximity_analysis::context_fill::{self, Curve};
use proximity_analysis::Report;
use proximity_store::ResultRecord;

use crate::args::Format;

pub fn render(report: &Report, results: &[ResultRecord], format: Format) -> String {
    match format {
        Format::Table => proximity_analysis::render::table(report),
        Format::Json => proximity_analysis::render::json(report),
        Format::Markdown => proximity_analysis::render::markdown(report),
        Format::Junit => proximity_analysis::render::junit(report, results),
        // A site, not a page: `report --format html --out DIR` writes it (crates/web).
        Format::Html => proximity_analysis::render::markdown(report),
    }
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
