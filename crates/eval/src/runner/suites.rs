//! Suites too large to hold, as a source of cases for a run
//! ([`Cases::Streamed`](crate::runner::Cases::Streamed)): the cases stay in their files.
//!
//! [`Suites::load`] reads the program once, validating every case as [`load`] does, and
//! keeps only what a run needs to know beforehand: how many cases each persona has and
//! which judge tools they call. A run then reads the suites again on a thread of their
//! own as it goes, a bounded number of cases ahead of the requests, so its memory does
//! not grow with its suites. Suites of at most [`HOLD`] cases are the exception: their
//! cases are kept from the first reading, which spares the run a second parse for a
//! bounded amount of memory. The results are exactly those of a run over the loaded
//! program ([`Cases::Held`](crate::runner::Cases::Held)): same items, same order, same
//! requests, cache keys and verdicts.
//!
//! [`load`]: proximity_program::load

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use proximity_program::load::{load_each, LoadError};
use proximity_program::{Case, Program};
use tokio::sync::{mpsc, oneshot};

use super::{CaseRef, Census, RunError, RunSummary};

/// Cases read ahead of the requests.
const AHEAD: usize = 256;

/// Suites of at most this many cases keep them from their first reading instead of being
/// read again by the run: at most ~3.5 MiB for short prompts (+3.4 MiB peak RSS at 2,000
/// cases), to spare a second parse of ~10 µs of CPU per case.
pub const HOLD: usize = 1 << 11;

/// A validated program whose cases stay in its suite files.
#[derive(Debug)]
pub struct Suites {
    /// The program, without its cases.
    pub program: Program,
    census: Census,
    /// Every case, when the suites hold at most the number asked to keep.
    held: Option<Vec<Case>>,
}

impl Suites {
    /// Read and validate the program in `root`, keeping its cases only when there are at
    /// most [`HOLD`].
    pub fn load(root: &Path) -> Result<Self, LoadError> {
        Self::load_holding(root, HOLD)
    }

    /// [`Suites::load`], keeping the cases when there are at most `hold` (0: never).
    pub fn load_holding(root: &Path, hold: usize) -> Result<Self, LoadError> {
        let mut census = Census::default();
        let mut held = (hold > 0).then(Vec::new);
        let program = load_each(root, &mut |case| {
            census.count(&case);
            if let Some(cases) = &mut held {
                if cases.len() < hold {
                    cases.push(case);
                } else {
                    held = None;
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok(Self {
            program,
            census,
            held,
        })
    }

    /// Whether the cases were kept from the first reading (the run does not read the
    /// suites again).
    pub fn holds_cases(&self) -> bool {
        self.held.is_some()
    }

    /// How many cases the suites hold.
    pub fn cases(&self) -> u64 {
        self.census.cases()
    }

    /// How many cases each persona has and which judges they call.
    pub(crate) fn census(&self) -> &Census {
        &self.census
    }

    /// The cases in order: kept, or read again on a thread of their own.
    pub(crate) fn read(&self) -> Result<(BoxStream<'_, CaseRef<'_>>, ReadOutcome), RunError> {
        match &self.held {
            Some(held) => {
                let (outcome_tx, outcome_rx) = oneshot::channel();
                let _ = outcome_tx.send(Ok(()));
                let cases = futures::stream::iter(held.iter().map(CaseRef::Loaded)).boxed();
                Ok((cases, outcome_rx))
            }
            None => read_cases(self),
        }
    }
}

/// How reading the suites ended: `Err` when they no longer load (changed during the run).
pub(crate) type ReadOutcome = oneshot::Receiver<Result<(), LoadError>>;

/// The cases of the suites, read again on a thread of their own, at most [`AHEAD`] ahead
/// of the run.
fn read_cases<'a>(suites: &Suites) -> Result<(BoxStream<'a, CaseRef<'a>>, ReadOutcome), RunError> {
    let (cases_tx, mut cases_rx) = mpsc::channel::<Case>(AHEAD);
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let root = suites.program.root.clone();
    std::thread::Builder::new()
        .name("proximity-suites".into())
        .spawn(move || {
            let outcome = load_each(&root, &mut |case| {
                if cases_tx.blocking_send(case).is_ok() {
                    ControlFlow::Continue(())
                } else {
                    // The run stopped taking items.
                    ControlFlow::Break(())
                }
            })
            .map(drop);
            // Sent before the cases' channel closes, so the run sees it once it has
            // read every case.
            let _ = outcome_tx.send(outcome);
            drop(cases_tx);
        })
        .map_err(|e| RunError::Suites(format!("cannot start the reader thread: {e}")))?;
    let cases = futures::stream::poll_fn(move |cx| cases_rx.poll_recv(cx))
        .map(|case| CaseRef::Read(Arc::new(case)))
        .boxed();
    Ok((cases, outcome_rx))
}

/// The run's summary, unless the suites stopped loading while it read them.
pub(crate) fn finish_reading(
    mut read: ReadOutcome,
    summary: RunSummary,
) -> Result<RunSummary, RunError> {
    match read.try_recv() {
        Ok(Err(LoadError::Invalid(d))) => Err(RunError::Suites(format!(
            "the program changed during run {} and no longer loads; {} of {} results \
             are saved: fix it, then `proximity eval --resume {}`\n{d}",
            summary.run_id, summary.completed, summary.planned, summary.run_id
        ))),
        Ok(Err(e)) => Err(RunError::Suites(e.to_string())),
        // Read to the end, or the run stopped before (a budget, an interrupt).
        Ok(Ok(())) | Err(_) => Ok(summary),
    }
}

#[cfg(test)]
mod tests;
