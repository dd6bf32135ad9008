//! Wiring of the `proximity` command line: argument structs in [`args`], one module per
//! subcommand in [`commands`]. No domain logic lives here.

pub mod args;
pub mod commands;
pub mod context;
pub mod hint;
pub mod memory;
pub mod progress;
pub mod telemetry;

use std::process::ExitCode;

use args::{Cli, Command};

/// What a command found, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report.
    Ok,
    /// A finding the caller asked about (a workflow below its floor, drift).
    Finding,
}

/// The multi-threaded runtime, without its LIFO slot. That slot runs the task a worker
/// has just woken next on the same worker, and no other worker may take it from there
/// (tokio#4941); a request relayed through the gateway wakes several tasks in turn. With
/// the slot off, the gateway served 20,600-21,100 requests/s against 14,000-16,600 with
/// it, at 61-65 µs of CPU a request against 79-93 (closed loop, 64 connections, two
/// cores; measured 2026-11-26, `b3cab22`). The option needs
/// `--cfg tokio_unstable` (`.cargo/config.toml`); a build without it keeps the slot.
fn multi_thread() -> tokio::runtime::Builder {
    #[allow(unused_mut)]
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder
}

/// Run a parsed command line and return the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // Dropped last: the spans of the whole command are flushed.
    let _telemetry = telemetry::init(
        cli.global.verbose,
        &telemetry::Endpoint::of(&cli.command, |name| std::env::var(name).ok()),
    );
    // An eval is a fan-out of requests with a little work between waits: on one thread,
    // with no wake-ups across threads, it ran ~10% faster with a third less system time
    // (measured 2026-11-26, `02fa70c`). What is slow runs on threads of its own anyway
    // (SQLite's writer, the local model). The servers and everything else get a worker
    // thread per core.
    let mut builder = match cli.command {
        Command::Eval(_) => tokio::runtime::Builder::new_current_thread(),
        _ => multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&anyhow::anyhow!(e).context("cannot start the async runtime"));
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Finding) => ExitCode::from(1),
        Err(e) => {
            report_error(&e);
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    let g = &cli.global;
    match &cli.command {
        Command::Demo(a) => commands::demo::run(g, a).await,
        Command::Init(a) => commands::init::run(a),
        Command::Check(a) => commands::check::run(g, a),
        Command::Schema(a) => commands::schema::run(a),
        Command::Eval(a) => commands::eval::run(g, a).await,
        Command::Report(a) => commands::report::run(g, a).await,
        Command::Serve(a) => commands::serve::run(g, a).await,
        Command::Probe(a) => commands::probe::run(g, a).await,
        Command::Models(a) => commands::models::run(a).map(|()| Outcome::Ok),
        Command::Gateway(a) => commands::gateway::run(g, a).await,
        Command::Keys(a) => commands::keys::run(g, a).await,
        Command::Usage(a) => commands::usage::run(g, a).await,
        Command::Mix(a) => commands::mix::run(g, a).await,
        Command::Baseline(a) => commands::baseline::run(g, a).await,
        Command::Drift(a) => commands::drift::run(g, a).await,
        Command::Note(a) => commands::note::run(g, a).await,
        Command::Capture(a) => commands::capture::run(g, a).await,
        Command::Plan(a) => commands::plan::run(g, a).await,
        Command::Friction(a) => commands::friction::run(g, a).await,
        Command::Decide(a) => commands::decide::run(g, a).await,
        Command::Coverage(a) => commands::coverage::run(g, a).await,
        Command::Migrate(a) => commands::migrate::run(g, a).await,
        Command::Export(a) => commands::export::run(g, a).await,
        Command::Import(a) => match &a.from {
            Some(args::import::ImportFrom::Promptfoo(p)) => commands::import_promptfoo::run(g, p),
            None => commands::import::run(g, a).await,
        },
        Command::Worker(a) => commands::worker::run(g, a).await,
    }
}

#[allow(clippy::print_stderr)]
fn report_error(e: &anyhow::Error) {
    if let Some(diags) = e.downcast_ref::<proximity_program::Diagnostics>() {
        eprintln!("{diags}");
        return;
    }
    eprint!("{}", hint::render(e));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    /// A task spawned by a worker that then stays busy runs on the other worker: with
    /// the LIFO slot it would wait for the busy one (5 s here, then fail). This fails
    /// when the build lost `--cfg tokio_unstable` (say, a RUSTFLAGS that replaces
    /// `.cargo/config.toml`'s flags).
    #[test]
    fn a_task_woken_by_a_busy_worker_runs_on_another() {
        let runtime = super::multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ran = runtime.block_on(async {
            tokio::spawn(async {
                let (tx, rx) = std::sync::mpsc::channel();
                tokio::spawn(async move { tx.send(()).unwrap() });
                // This worker does not return to its scheduler until the task has run.
                rx.recv_timeout(Duration::from_secs(5)).is_ok()
            })
            .await
            .unwrap()
        });
        assert!(
            ran,
            "the task waited for the busy worker: the LIFO slot is on"
        );
    }
}
