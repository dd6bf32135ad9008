//! `proximity probe context`: generate the context-fill cases of a tool, refuse them when
//! their estimate passes `--max-tokens-budget`, run them through the runner into a new
//! run (bisecting towards the knee unless `--no-refine`), and print the curve and the
//! effective context.

use anyhow::Context as _;
use proximity_analysis::context_fill;
use proximity_eval::probe::context::{self as probe, ContextProbe, Depth, Filler, Settings};
use proximity_eval::runner::RunOptions;
use proximity_providers::tokens;
use proximity_store::{ResultRecord, RunStatus, Store};
use tokio_util::sync::CancellationToken;

use crate::args::{DepthArg, GlobalArgs, ProbeCommand, ProbeContextArgs};
use crate::commands::output::{self, emit};
use crate::context::{load_program, open_store};
use crate::progress::Bar;
use crate::Outcome;

pub async fn run(g: &GlobalArgs, cmd: &ProbeCommand) -> anyhow::Result<Outcome> {
    match cmd {
        ProbeCommand::Context(a) => context(g, a).await,
        ProbeCommand::Risk(a) => crate::commands::probe_risk::run(g, a).await,
    }
}

fn depth(d: DepthArg) -> Depth {
    match d {
        DepthArg::Start => Depth::Start,
        DepthArg::Middle => Depth::Middle,
        DepthArg::End => Depth::End,
    }
}

/// A tool's latest effective context in tokens, from its newest context-fill probe run
/// in the store (`None` when it was never probed or no knee was found).
pub async fn latest_effective_context(store: &Store, tool: &str) -> anyhow::Result<Option<u64>> {
    let runs = store.runs().await?;
    let Some(run) = context_fill::latest_context_run(&runs, tool) else {
        return Ok(None);
    };
    let results = store.results(&run.id).await?;
    Ok(context_fill::curve(run, &results).and_then(|c| c.effective_context_tokens))
}

/// Fill each scorecard row's `failure_anatomy.effective_context_tokens` from the latest
/// context-fill probe of its tool (left `None` for tools never probed).
pub async fn fill_effective_context(
    store: &Store,
    report: &mut proximity_analysis::Report,
) -> anyhow::Result<()> {
    let mut tools: Vec<String> = report.scorecard.iter().map(|r| r.tool.clone()).collect();
    tools.sort();
    tools.dedup();
    let mut found = std::collections::HashMap::new();
    for tool in tools {
        if let Some(tokens) = latest_effective_context(store, &tool).await? {
            found.insert(tool, tokens);
        }
    }
    proximity_analysis::set_effective_context(report, |tool| found.get(tool).copied());
    Ok(())
}

#[allow(clippy::print_stderr)]
async fn context(g: &GlobalArgs, args: &ProbeContextArgs) -> anyhow::Result<Outcome> {
    let program = load_program(g)?;
    let tool_id = crate::context::tool_to_probe(&program, args.tool.as_deref())?;
    if let Some(p) = &args.persona {
        if program.persona(p).is_none() {
            anyhow::bail!("unknown persona `{p}`");
        }
    }
    let tool = program
        .tool(&tool_id)
        .cloned()
        .with_context(|| format!("unknown tool `{tool_id}`"))?;
    let counter = tokens::counter_for(&tool, &program.root)
        .with_context(|| format!("cannot count tokens for tool `{tool_id}`"))?;
    let window = tokens::context_window_of(&tool, &counter)?;
    let filler = Filler::for_tool(&program, &tool_id, args.persona.as_deref());
    let settings = Settings {
        fills: args.fills.clone(),
        depths: args.depths.iter().copied().map(depth).collect(),
        samples: args.samples,
        seed: args.seed,
        refine: !args.no_refine,
        max_tokens_budget: args.max_tokens_budget,
    };
    let planned = tokio::task::spawn_blocking(move || {
        ContextProbe::new(&tool, counter, window, filler, &settings)
    })
    .await
    .context("case generation stopped")??;
    let (planned, cases, estimate) = probe::prepare(planned).await?;
    let config = planned.config.clone();
    if !g.quiet {
        let refinement = if config.refine {
            format!(
                " + at most {} refinement steps of {} requests",
                config.refine_max_steps,
                planned.requests_per_fill()
            )
        } else {
            String::new()
        };
        eprintln!(
            "probe context `{tool_id}`: window {window} tokens ({} usable), fills {:?}%, {} requests{refinement}, up to about {estimate} tokens ({}); filler: {}",
            config.usable,
            config.fills,
            cases.len(),
            config.counting,
            config.filler,
        );
    }

    let store = open_store(g, &program).await?;
    let cancel = CancellationToken::new();
    spawn_interrupt_handler(cancel.clone());
    let bar = Bar::new(g.quiet);
    let options = RunOptions {
        tools: vec![tool_id.clone()],
        personas: Vec::new(),
        samples: 1,
        concurrency: args.concurrency as usize,
        budget_usd: None,
        use_cache: !args.no_cache,
    };
    let (resolution, min_tokens) = (config.resolution, config.resolution_min_tokens);
    let next = move |results: &[ResultRecord]| {
        let (good, above) = context_fill::knee_bracket(&context_fill::points(results))?;
        probe::next_refine(
            (good.fill.hundredths(), good.tokens),
            (above.fill.hundredths(), above.tokens),
            resolution,
            min_tokens,
        )
    };
    let outcome = probe::run(
        &program, &store, planned, cases, options, cancel, &bar, &next,
    )
    .await;
    bar.finish();
    let outcome = outcome?;
    let run = store.run(&outcome.summary.run_id).await?;
    let results = store.results(&run.id).await?;
    let curve = context_fill::curve(&run, &results)
        .with_context(|| format!("run {} holds no context-fill probe", run.id))?;
    emit(
        &output::render_curve(&curve, args.format.into())?,
        args.out.as_deref(),
    )?;
    store.close().await;
    let summary = &outcome.summary;
    if !g.quiet {
        eprintln!(
            "run {}: {} ({} results, {} tokens sent; estimated up to {estimate}; fills run {}%)",
            summary.run_id,
            summary.status.as_str(),
            summary.completed,
            outcome.tokens_used,
            outcome
                .fills
                .iter()
                .map(|&f| probe::fill_label(f))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    match summary.status {
        RunStatus::Finished => Ok(Outcome::Ok),
        RunStatus::BudgetExhausted if outcome.budget_reached => {
            eprintln!(
                "the token budget was reached: the curve above is partial; run the probe again \
                 with a larger `--max-tokens-budget` (answers already paid for come from the cache)"
            );
            Ok(Outcome::Ok)
        }
        status => anyhow::bail!(
            "probe run {} did not finish ({}); run the probe again to complete it (answers \
             already paid for come from the cache)",
            summary.run_id,
            status.as_str()
        ),
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
