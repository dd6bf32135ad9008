//! `proximity worker`: claim and evaluate queued items from a shared store until stopped
//! (Ctrl-C or SIGTERM: finish the items in hand, claim no more) or, with
//! `--exit-when-done`, until no queued run has work left.

use std::time::Duration;

use proximity_eval::runner::Progress;
use proximity_eval::worker::{self, WorkerOptions};
use proximity_providers::ProviderError;
use proximity_store::ResultRecord;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::args::{GlobalArgs, WorkerArgs};
use crate::context::{load_program, open_store};
use crate::Outcome;

#[allow(clippy::print_stderr)]
pub async fn run(g: &GlobalArgs, a: &WorkerArgs) -> anyhow::Result<Outcome> {
    let program = load_program(g)?;
    let store = open_store(g, &program).await?;
    let mut options = WorkerOptions {
        concurrency: a.concurrency as usize,
        lease: Duration::from_secs(a.lease_secs),
        poll: Duration::from_millis(a.poll_ms),
        run_id: a.run.clone(),
        exit_when_done: a.exit_when_done,
        ..WorkerOptions::new()
    };
    if let Some(name) = &a.name {
        options.owner.clone_from(name);
    }
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        stop.cancel();
    });
    if !g.quiet {
        eprintln!(
            "worker {} on {} store: {} at once, lease {}s",
            options.owner,
            store.backend().as_str(),
            options.concurrency,
            a.lease_secs
        );
    }
    let log = Log { quiet: g.quiet };
    let summary = worker::work(&program, &store, &options, cancel, &log).await?;
    if !g.quiet {
        eprintln!(
            "worker {} stopped: {} results written, {} already written by another worker (this worker's lease had expired), {} items taken over from other workers, {} runs finished",
            options.owner,
            summary.results,
            summary.duplicates,
            summary.taken_over,
            summary.finished_runs.len()
        );
    }
    store.close().await;
    Ok(Outcome::Ok)
}

/// One line per result and notice on standard error (a worker is a service: no bar).
struct Log {
    quiet: bool,
}

#[allow(clippy::print_stderr)]
impl Progress for Log {
    fn start(&self, _: &str, _: u64, _: u64) {}

    fn result(&self, r: &ResultRecord, _: f64) {
        tracing::info!(
            run = %r.run_id, case = %r.case_id, tool = %r.tool_id, sample = r.sample,
            verdict = r.verdict.as_str(), cached = r.cached, "result"
        );
        if !self.quiet {
            eprintln!(
                "{} {}/{}#{} {}{}",
                r.run_id,
                r.case_id,
                r.tool_id,
                r.sample,
                r.verdict.as_str(),
                if r.cached { " (cached)" } else { "" }
            );
        }
    }

    fn retry(&self, tool: &str, case: &str, error: &ProviderError, wait: Duration) {
        tracing::warn!(tool, case, error = %error, wait_ms = wait.as_millis() as u64, "retrying");
    }

    fn notice(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}
