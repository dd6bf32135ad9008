//! Runs over suites too large to hold: the cases stay in their files.
//!
//! [`Suites::load`] reads the program once, validating every case as [`load`] does, and
//! keeps only what a run needs to know beforehand: how many cases each persona has and
//! which judge tools they call. [`start`] and [`resume`] then read the suites again on a
//! thread of their own as the run goes, a bounded number of cases ahead of the requests,
//! so a run's memory does not grow with its suites. Suites of at most [`HOLD`] cases are
//! the exception: their cases are kept from the first reading, which spares the run a
//! second parse for a bounded amount of memory. The results are exactly those of
//! [`runner::start`](crate::runner::start) over the loaded program: same items, same order,
//! same requests, cache keys and verdicts.
//!
//! [`load`]: proximity_program::load

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use proximity_program::load::{load_each, LoadError};
use proximity_program::{Case, Check, Program};
use proximity_store::{RunRecord, RunStatus, Store};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::runner::{
    build_providers, done_keys, execute, new_run, resumable, with_judges, CaseRef, Fresh, Planned,
    Progress, Providers, RunError, RunOptions, RunSummary, Selection, Work,
};

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
    per_persona: BTreeMap<String, u64>,
    /// Tools named by judge assertions, and whether a judge names none (it then uses
    /// the program's `judge_tool`).
    judge_named: BTreeSet<String>,
    judge_default: bool,
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
        let mut per_persona: BTreeMap<String, u64> = BTreeMap::new();
        let mut judge_named = BTreeSet::new();
        let mut judge_default = false;
        let mut held = (hold > 0).then(Vec::new);
        let program = load_each(root, &mut |case| {
            match per_persona.get_mut(&case.persona) {
                Some(n) => *n += 1,
                None => {
                    per_persona.insert(case.persona.clone(), 1);
                }
            }
            for a in case.assertions.iter() {
                if let Check::Judge { tool, .. } = &a.check {
                    match tool {
                        Some(t) => {
                            judge_named.insert(t.clone());
                        }
                        None => judge_default = true,
                    }
                }
            }
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
            per_persona,
            judge_named,
            judge_default,
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
        self.per_persona.values().sum()
    }

    /// How many items a selection runs.
    fn planned(&self, selection: &Selection<'_>) -> u64 {
        self.per_persona
            .iter()
            .map(|(p, n)| n * selection.tools_of(p).len() as u64 * u64::from(selection.samples()))
            .sum()
    }

    /// The tools a selection calls, judges included.
    fn used_tools(&self, selection: &Selection<'_>) -> Vec<String> {
        let mut tools: Vec<usize> = Vec::new();
        for p in self.per_persona.keys() {
            for t in selection.tools_of(p) {
                if !tools.contains(&t) {
                    tools.push(t);
                }
            }
        }
        let mut judges = self.judge_named.clone();
        if self.judge_default {
            judges.extend(self.program.judge_tool.clone());
        }
        with_judges(
            tools.into_iter().map(|t| self.program.tools[t].id.clone()),
            &judges,
        )
    }
}

/// Start a new run of `options` over `suites`.
pub async fn start(
    suites: &Suites,
    store: &Store,
    options: RunOptions,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let program = &suites.program;
    let selection = Selection::new(program, &options)?;
    let total = suites.planned(&selection);
    if total == 0 {
        return Err(RunError::Empty);
    }
    let run = new_run(program, &options, serde_json::Map::new(), total);
    let providers = build_providers(program, &suites.used_tools(&selection))?;
    store.create_run(&run).await?;
    let run = Started::new(&run, &options, &selection, total);
    run_over(suites, store, run, providers, Fresh(true), cancel, progress).await
}

/// Continue an interrupted run over `suites`: only the missing results are produced.
pub async fn resume(
    suites: &Suites,
    store: &Store,
    run_id: &str,
    concurrency: Option<usize>,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let (run, options) = resumable(store, run_id, concurrency).await?;
    let program = &suites.program;
    let selection = Selection::new(program, &options)?;
    let total = suites.planned(&selection);
    let providers = build_providers(program, &suites.used_tools(&selection))?;
    store
        .set_run_status(&run.id, RunStatus::Running, None)
        .await?;
    let run = Started::new(&run, &options, &selection, total);
    run_over(
        suites,
        store,
        run,
        providers,
        Fresh(false),
        cancel,
        progress,
    )
    .await
}

/// A run about to read its items from the suites.
struct Started<'r> {
    run: &'r RunRecord,
    options: &'r RunOptions,
    selection: &'r Selection<'r>,
    total: u64,
}

impl<'r> Started<'r> {
    fn new(
        run: &'r RunRecord,
        options: &'r RunOptions,
        selection: &'r Selection<'r>,
        total: u64,
    ) -> Self {
        Self {
            run,
            options,
            selection,
            total,
        }
    }
}

/// Evaluate the items of `started` that its run holds no result for, reading them from
/// the suites as it goes.
async fn run_over(
    suites: &Suites,
    store: &Store,
    started: Started<'_>,
    providers: Providers,
    fresh: Fresh,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let done = done_keys(store, &started.run.id, fresh).await?;
    let (work, read) = read_work(suites, started.selection, started.total, done)?;
    let summary = execute(
        &suites.program,
        store,
        started.run,
        started.options,
        work,
        providers,
        fresh,
        cancel,
        progress,
    )
    .await?;
    finish_reading(read, summary)
}

/// How reading the suites ended: `Err` when they no longer load (changed during the run).
type ReadOutcome = oneshot::Receiver<Result<(), LoadError>>;

/// The run's items: each case as the suites give it (kept, or read on a thread of their
/// own), its (tool, sample) items in the plan's order, less those in `done`.
fn read_work<'a>(
    suites: &'a Suites,
    selection: &Selection<'_>,
    total: u64,
    done: HashSet<(String, String, u32)>,
) -> Result<(Work<'a>, ReadOutcome), RunError> {
    let (cases, outcome) = match &suites.held {
        Some(held) => {
            let (outcome_tx, outcome_rx) = oneshot::channel();
            let _ = outcome_tx.send(Ok(()));
            let cases = futures::stream::iter(held.iter().map(CaseRef::Loaded)).boxed();
            (cases, outcome_rx)
        }
        None => read_cases(suites)?,
    };
    let tools: HashMap<String, Vec<usize>> = suites
        .program
        .personas
        .iter()
        .map(|p| (p.id.clone(), selection.tools_of(&p.id)))
        .collect();
    let tool_ids: Vec<String> = suites.program.tools.iter().map(|t| t.id.clone()).collect();
    let samples = selection.samples();
    let already = (done.len() as u64).min(total);
    let items = cases
        .flat_map(move |case: CaseRef<'a>| {
            let items: Vec<Planned<'a>> = tools
                .get(&case.persona)
                .into_iter()
                .flatten()
                .flat_map(|&tool| (0..samples).map(move |sample| (tool, sample)))
                .filter(|&(tool, sample)| {
                    done.is_empty()
                        || !done.contains(&(case.id.clone(), tool_ids[tool].clone(), sample))
                })
                .map(|(tool, sample)| Planned {
                    case: case.share(),
                    tool,
                    sample,
                })
                .collect();
            futures::stream::iter(items)
        })
        .boxed();
    Ok((
        Work {
            items,
            total,
            already,
        },
        outcome,
    ))
}

/// The cases of the suites, read again on a thread of their own, at most [`AHEAD`] ahead
/// of the run.
fn read_cases<'a>(
    suites: &Suites,
) -> Result<(futures::stream::BoxStream<'a, CaseRef<'a>>, ReadOutcome), RunError> {
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
fn finish_reading(mut read: ReadOutcome, summary: RunSummary) -> Result<RunSummary, RunError> {
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
