//! `proximity demo`: the whole loop on `examples/acme` and the embedded local model —
//! pull the model if absent, evaluate, print the scorecard and the most instructive silent
//! failures, and say what to run next.
//!
//! The example runs in place: its store goes to `examples/acme/.proximity/`, which git
//! ignores, so the repository stays clean. A second demo is served from the response
//! cache; `--fresh` asks the model again.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use proximity_eval::runner::{self, Cases, RunOptions, RunSpec};
use proximity_program::{Program, ProviderKind, Role, PROGRAM_FILE};
use tokio_util::sync::CancellationToken;

use crate::args::{DemoArgs, GlobalArgs};
use crate::context::open_store;
use crate::progress::Bar;
use crate::Outcome;

/// Where the example program is: `--program`, `./examples/acme`, or next to the binary's
/// repository (`target/<profile>/proximity` → `examples/acme`).
fn example_root(g: &GlobalArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &g.program {
        return Ok(p.clone());
    }
    let mut candidates = vec![PathBuf::from("examples/acme")];
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            candidates.push(up.join("examples/acme"));
        }
    }
    candidates
        .into_iter()
        .find(|c| c.join(PROGRAM_FILE).is_file())
        .context(
            "cannot find `examples/acme`: run from the repository root, or pass `--program DIR`",
        )
}

fn excerpt(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

fn ensure_model(program: &Program) -> anyhow::Result<()> {
    let needs_model = program
        .tools
        .iter()
        .filter(|t| t.provider == ProviderKind::Local)
        .any(|t| {
            proximity_local::models::resolve_model_path(t.model_path.as_deref(), &program.root)
                .is_err()
        });
    if needs_model {
        eprintln_line("the local model is not installed yet: pulling it (about 100 MB, once)");
        proximity_local::models::pull().context(
            "could not pull the local model; install it by hand with `proximity models pull`",
        )?;
    }
    Ok(())
}

#[allow(clippy::print_stderr)]
fn eprintln_line(text: &str) {
    eprintln!("{text}");
}

#[allow(clippy::print_stdout)]
pub async fn run(g: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<Outcome> {
    let root = example_root(g)?;
    let program = match proximity_program::load(&root) {
        Ok(p) => p,
        Err(proximity_program::LoadError::Invalid(d)) => return Err(d.into()),
        Err(e) => return Err(e.into()),
    };
    ensure_model(&program)?;
    let store = open_store(g, &program).await?;
    let started = std::time::Instant::now();
    let bar = Bar::new(g.quiet);
    let cancel = CancellationToken::new();
    let options = RunOptions {
        concurrency: args.concurrency as usize,
        use_cache: !args.fresh,
        ..RunOptions::default()
    };
    let spec = RunSpec::new(Cases::Held(&program), options);
    let summary = runner::start(&store, spec, cancel, &bar).await?;
    bar.finish();
    let run = store.run(&summary.run_id).await?;
    let results = store.results(&run.id).await?;
    let mut report = proximity_analysis::scorecard(&program, &run, &results);
    super::probe::fill_effective_context(&store, &mut report).await?;

    println!(
        "Proximity demo: program `{}` ({})",
        program.name,
        root.display()
    );
    println!();
    print!(
        "{}",
        proximity_analysis::render::table_within(&report, super::output::terminal_width())
    );
    println!();
    let silent = proximity_analysis::top_silent(&results, 3);
    if silent.is_empty() {
        println!("No silent failures in this run.");
    } else {
        println!(
            "The {} most instructive silent failures (confident, plausible, wrong):",
            silent.len()
        );
        for (i, r) in silent.iter().enumerate() {
            let question = program
                .cases
                .iter()
                .find(|c| c.id == r.case_id)
                .and_then(|c| c.messages.iter().rev().find(|m| m.role == Role::User))
                .map(|m| {
                    m.content
                        .rsplit("</document>")
                        .next()
                        .unwrap_or(&m.content)
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            println!();
            println!(
                "  {}. {} on `{}` ({} / {}, {})",
                i + 1,
                r.tool_id,
                r.case_id,
                r.persona,
                r.workflow,
                r.kind
            );
            println!("     asked:    {}", excerpt(&question, 140));
            println!("     answered: {}", excerpt(&r.output, 140));
            println!("     why:      {}", excerpt(&r.reason, 160));
        }
    }
    println!();
    println!(
        "Run {} finished in {:.0} s ({} results, ${:.4} spent).",
        summary.run_id,
        started.elapsed().as_secs_f64(),
        summary.completed,
        summary.spent_usd
    );
    println!("Next:");
    let p = shell_path(&root);
    // Name the binary as it was invoked (e.g. target/release/proximity), so the lines work
    // as printed whether or not it is on PATH.
    let bin = std::env::args()
        .next()
        .unwrap_or_else(|| "proximity".to_owned());
    println!(
        "  {bin} --program {p} report {} --format markdown   # the full scorecard",
        summary.run_id
    );
    println!("  {bin} --program {p} serve   # the dashboard, on http://127.0.0.1:7777");
    println!(
        "  {bin} --program {p} report {} --failures silent   # every silent failure, output beside expected",
        summary.run_id
    );
    println!("  {bin} --program {p} report --format json   # machine-readable");
    println!("  edit {p}/suites/*.yaml, then: {bin} --program {p} check");
    store.close().await;
    Ok(Outcome::Ok)
}

fn shell_path(p: &Path) -> String {
    p.display().to_string()
}
