//! `proximity eval`: run tools × cases × samples, then print the scorecard. Exit 1 when a
//! workflow is below its floor (a CI gate).

use std::sync::Arc;

use proximity_eval::runner::{self, Cases, RunOptions, RunSpec};
use proximity_store::RunStatus;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::args::{EvalArgs, Format, GlobalArgs};
use crate::commands::output::{self, emit, emit_results_csv};
use crate::context::{load_program, load_suites, open_store};
use crate::progress::Bar;
use crate::Outcome;

#[allow(clippy::print_stderr)]
pub async fn run(g: &GlobalArgs, args: &EvalArgs) -> anyhow::Result<Outcome> {
    args.check()?;
    super::mix::check_format(&args.weights, args.format)?;
    if args.queue {
        let program = load_program(g)?;
        let store = open_store(g, &program).await?;
        return queue(g, args, &program, &store).await;
    }
    // The cases stay in their files: read once to validate, again as the run goes.
    let suites = load_suites(g)?;
    let store = open_store(g, &suites.program).await?;
    let weighted = super::mix::weigh(&store, &suites.program, &args.weights).await?;
    let cancel = CancellationToken::new();
    spawn_interrupt_handler(cancel.clone());
    let bar = Arc::new(Bar::new(g.quiet));
    // The run is one trace when traces are exported: its items' spans are children of
    // this one. Only the run: a span still current when the store closes would be held
    // by SQLite's worker threads (sqlx keeps each command's span) past the export's flush.
    let evaluated = async {
        let summary = match &args.resume {
            Some(run_id) => {
                runner::resume(
                    &store,
                    Cases::Streamed(&suites),
                    run_id,
                    Some(args.concurrency as usize),
                    cancel,
                    bar.as_ref(),
                )
                .await?
            }
            None => {
                let spec = RunSpec::new(Cases::Streamed(&suites), run_options(args));
                runner::start(&store, spec, cancel, bar.as_ref()).await?
            }
        };
        anyhow::Ok(summary)
    };
    let summary = evaluated.instrument(crate::telemetry::eval_span()).await?;
    bar.finish();
    // What the run freed (its requests, answers, batches) is not what the report needs.
    crate::memory::release_freed();
    let run = store.run(&summary.run_id).await?;
    let (mut report, results) =
        super::report::scorecard_for(&store, &weighted.program, &run, args.format).await?;
    super::probe::fill_effective_context(&store, &mut report).await?;
    if args.format == Format::Csv {
        emit_results_csv(&store, &run.id, args.out.as_deref()).await?;
    } else {
        let text = super::mix::render_weighted(&report, &results, args.format, &weighted.weights)?;
        emit(&text, args.out.as_deref())?;
    }
    if !g.quiet {
        eprintln!(
            "run {}: {} ({} of {} results, ${:.4} spent)",
            summary.run_id,
            summary.status.as_str(),
            summary.completed,
            summary.planned,
            summary.spent_usd
        );
    }
    store.close().await;
    if summary.status != RunStatus::Finished {
        anyhow::bail!(
            "run {} did not finish ({}); resume it with `proximity eval --resume {}`",
            summary.run_id,
            summary.status.as_str(),
            summary.run_id
        );
    }
    Ok(if proximity_analysis::any_below_floor(&report) {
        Outcome::Finding
    } else {
        Outcome::Ok
    })
}

/// `eval --queue`: create the run and enqueue its items for `proximity worker`; with
/// `--wait`, follow it to the end and print its scorecard.
#[allow(clippy::print_stderr)]
async fn queue(
    g: &GlobalArgs,
    args: &EvalArgs,
    program: &proximity_program::Program,
    store: &proximity_store::Store,
) -> anyhow::Result<Outcome> {
    let queued = proximity_eval::worker::enqueue(program, store, run_options(args)).await?;
    if store.backend() == proximity_store::Backend::Sqlite && g.database_url.is_none() && !g.quiet {
        eprintln!(
            "note: the queue is in this program's SQLite store; workers on other machines \
             need a shared store (`--database-url postgres://…`)"
        );
    }
    if !args.wait {
        output::emit(&queued.run_id, None)?;
        if !g.quiet {
            eprintln!(
                "run {}: {} items queued; start workers with `proximity worker`, then \
                 `proximity report --run {}`",
                queued.run_id, queued.planned, queued.run_id
            );
        }
        return Ok(Outcome::Ok);
    }
    let bar = Bar::new(g.quiet);
    runner::Progress::start(&bar, &queued.run_id, queued.planned, 0);
    let status = loop {
        let run = store.run(&queued.run_id).await?;
        let counts = store.queue_counts(&queued.run_id).await?;
        bar.set_done(counts.done);
        if run.status != RunStatus::Running {
            break run.status;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            _ = tokio::signal::ctrl_c() => {
                bar.finish();
                eprintln!(
                    "stopped following run {}; its items stay queued for the workers",
                    queued.run_id
                );
                return Ok(Outcome::Ok);
            }
        }
    };
    bar.finish();
    let run = store.run(&queued.run_id).await?;
    let weighted = super::mix::weigh(store, program, &args.weights).await?;
    let (mut report, results) =
        super::report::scorecard_for(store, &weighted.program, &run, args.format).await?;
    super::probe::fill_effective_context(store, &mut report).await?;
    if args.format == Format::Csv {
        emit_results_csv(store, &run.id, args.out.as_deref()).await?;
    } else {
        let text = super::mix::render_weighted(&report, &results, args.format, &weighted.weights)?;
        emit(&text, args.out.as_deref())?;
    }
    if status != RunStatus::Finished {
        anyhow::bail!("run {} ended {}", run.id, status.as_str());
    }
    Ok(if proximity_analysis::any_below_floor(&report) {
        Outcome::Finding
    } else {
        Outcome::Ok
    })
}

/// The run options of `eval`'s arguments (a local run and a queued one alike).
fn run_options(args: &EvalArgs) -> RunOptions {
    RunOptions {
        tools: args.tool.clone(),
        personas: args.persona.clone(),
        samples: args.samples,
        concurrency: args.concurrency as usize,
        budget_usd: args.budget,
        use_cache: !args.no_cache,
    }
}

/// First Ctrl-C: stop dispatching, let requests in flight finish and be saved.
/// Second Ctrl-C: exit at once (what was saved stays saved).
#[allow(clippy::print_stderr)]
fn spawn_interrupt_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupt: finishing requests in flight (Ctrl-C again to quit now)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}
