//! `proximity report [RUN]`: the scorecard of a stored run, or with `--failures` its
//! failing cases (silent, structural, loud or all) beside what was expected; and the
//! scorecard from the store's aggregates that `proximity eval` prints too, ending with the
//! production failure rates of the gateway's live checks where the store has any.

use anyhow::Context as _;
use proximity_analysis::scorecard::TOP_FAILURES;
use proximity_analysis::{AgreementFold, FailureFilter, Report, RunSums};
use proximity_program::Program;
use proximity_store::{ResultRecord, RunRecord, Store};

use crate::args::{FailuresArg, Format, GlobalArgs, ReportArgs};
use crate::commands::output::{emit, emit_results_csv};
use crate::context::{load_program, open_store};
use crate::hint::hinted;
use crate::Outcome;

pub async fn run(g: &GlobalArgs, args: &ReportArgs) -> anyhow::Result<Outcome> {
    if args.failures.is_some() && args.format == Format::Junit {
        return Err(hinted(
            "`--failures` prints a table, json or markdown, not junit",
            "drop `--failures` for the JUnit report of every result",
        ));
    }
    if args.failures.is_some() && args.format == Format::Csv {
        return Err(hinted(
            "`--failures` prints a table, json or markdown, not csv",
            "drop `--failures` for every result as CSV, with its verdict and reason, and \
             filter the `verdict` column",
        ));
    }
    super::mix::check_format(&args.weights, args.format)?;
    let declared = load_program(g)?;
    let store = open_store(g, &declared).await?;
    let weighted = super::mix::weigh(&store, &declared, &args.weights).await?;
    let program: &Program = &weighted.program;
    let run = match &args.run {
        Some(id) => store.run(id).await?,
        None => store
            .latest_run()
            .await?
            .context("no runs yet: run `proximity eval` first")?,
    };
    if args.format == Format::Html {
        return html(program, &store, &run.id, args).await;
    }
    if args.format == Format::Csv {
        // One row per result, of any kind of run, streamed: no scorecard needed.
        emit_results_csv(&store, &run.id, args.out.as_deref()).await?;
        store.close().await;
        return Ok(Outcome::Ok);
    }
    let probe = proximity_analysis::context_fill::is_context_probe(&run);
    if args.failures.is_none() && !probe {
        let (mut report, results) = scorecard_for(&store, program, &run, args.format).await?;
        super::probe::fill_effective_context(&store, &mut report).await?;
        let text = super::mix::render_weighted(&report, &results, args.format, &weighted.weights)?;
        let text = super::production::append(&store, &report, args.format, text).await?;
        emit(&text, args.out.as_deref())?;
        store.close().await;
        return Ok(Outcome::Ok);
    }
    // A probe's curve and the failure lists read every result.
    let results = store.results(&run.id).await?;
    // A context-fill probe run prints its curve, not a scorecard.
    if let (None, Some(curve)) = (
        args.failures,
        proximity_analysis::context_fill::curve(&run, &results),
    ) {
        let text = crate::commands::output::render_curve(&curve, args.format)?;
        emit(&text, args.out.as_deref())?;
        store.close().await;
        return Ok(Outcome::Ok);
    }
    let mut report = proximity_analysis::scorecard(program, &run, &results);
    super::probe::fill_effective_context(&store, &mut report).await?;
    let text = match args.failures {
        None => {
            let text =
                super::mix::render_weighted(&report, &results, args.format, &weighted.weights)?;
            super::production::append(&store, &report, args.format, text).await?
        }
        Some(kind) => {
            let filter = match kind {
                FailuresArg::Silent => FailureFilter::Silent,
                FailuresArg::Structural => FailureFilter::Structural,
                FailuresArg::Loud => FailureFilter::Loud,
                FailuresArg::All => FailureFilter::All,
            };
            let list = proximity_analysis::failures(&report, &results, filter, args.limit as usize);
            match args.format {
                Format::Json => proximity_analysis::render::failures_json(&list),
                Format::Markdown => proximity_analysis::render::failures_markdown(&list),
                Format::Table | Format::Junit | Format::Html | Format::Csv => {
                    proximity_analysis::render::failures_table(&list)
                }
            }
        }
    };
    emit(&text, args.out.as_deref())?;
    store.close().await;
    Ok(Outcome::Ok)
}

/// The scorecard of `run` and the results `format` needs beside it: for JUnit (a test case
/// per result) every result, otherwise none: the scorecard then comes from the store's
/// aggregates ([`scorecard`]).
pub(crate) async fn scorecard_for(
    store: &Store,
    program: &Program,
    run: &RunRecord,
    format: Format,
) -> anyhow::Result<(Report, Vec<ResultRecord>)> {
    if format == Format::Junit {
        let results = store.results(&run.id).await?;
        let report = proximity_analysis::scorecard(program, run, &results);
        return Ok((report, results));
    }
    Ok((scorecard(store, program, run).await?, Vec::new()))
}

/// The scorecard of `run` from the store's aggregates: sums per cell and per pair, the
/// top silent failures, and the samples' answers streamed a case at a time for
/// self-consistency. The same report as over every result, without holding them.
pub(crate) async fn scorecard(
    store: &Store,
    program: &Program,
    run: &RunRecord,
) -> anyhow::Result<Report> {
    let mut agreement = AgreementFold::default();
    store
        .answer_rows(&run.id, |row| agreement.push_row(&row))
        .await?;
    let sums = RunSums {
        cells: store.score_cells(&run.id).await?,
        pairs: store.pair_signals(&run.id).await?,
        silent: store.top_silent(&run.id, TOP_FAILURES).await?,
        agreement: agreement.finish(),
    };
    Ok(proximity_analysis::scorecard_from_sums(program, run, &sums))
}

/// `--format html`: the dashboard's views of the run as a static site in `--out DIR`.
async fn html(
    program: &Program,
    store: &Store,
    run_id: &str,
    args: &ReportArgs,
) -> anyhow::Result<Outcome> {
    if args.failures.is_some() {
        return Err(hinted(
            "`--failures` prints a table, json or markdown, not html",
            "the html report's run page lists every failure",
        ));
    }
    let Some(dir) = args.out.as_deref() else {
        return Err(hinted(
            "`--format html` writes a directory of pages",
            "add `--out DIR`",
        ));
    };
    let files = proximity_web::render_static_site(program, store, run_id, dir)
        .await
        .with_context(|| format!("cannot write the HTML report to {}", dir.display()))?;
    store.close().await;
    emit(
        &format!(
            "wrote {} pages; open {}",
            files.len(),
            dir.join("index.html").display()
        ),
        None,
    )?;
    Ok(Outcome::Ok)
}
