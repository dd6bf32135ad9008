//! The run API, the one way an evaluation runs: tools × cases × samples, run concurrently,
//! each result written as it completes. [`start`] begins a run of a [`RunSpec`], [`resume`]
//! continues an interrupted one, [`extend`] adds cases to one (a probe refining its grid).
//! Where the cases come from is the spec's [`Cases`]: a program held in memory, or suites
//! read as the run goes ([`Suites`]); the items, their order, requests, cache keys and
//! verdicts are the same either way. `proximity eval`, `demo`, `drift` and the probes run
//! through it; a `proximity worker` evaluates queued items with the same steps
//! ([`item`]).
//!
//! Invariants:
//! - a result exists at most once per (run, case, tool, sample) (the store enforces it);
//! - a provider answer is put in the response cache before its result is judged and
//!   written, so a run killed at any point and resumed never pays for an answer twice;
//! - spend is reserved before a request is sent, from an estimate calibrated on the
//!   tool's earlier answers, so `--budget` is passed at most by the estimation error of
//!   requests sent before a tool's first answer.

mod budget;
mod cache;
mod execute;
mod failpoint;
pub(crate) mod item;
mod plan;
pub mod suites;

use std::borrow::Cow;
use std::time::Duration;

use chrono::Utc;
use futures::stream::BoxStream;
use futures::StreamExt;
use proximity_program::Program;
use proximity_providers::ProviderError;
use proximity_store::{ResultRecord, RunRecord, RunStatus, Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use budget::estimate_cost;
pub(crate) use budget::Budget;
pub(crate) use execute::CaseRef;
use execute::{done_keys, execute, Fresh, Work};
use plan::Selection;
pub use plan::{build_providers, plan, Providers, WorkItem};
pub(crate) use plan::{used_tools, Census};

use suites::{ReadOutcome, Suites};

/// What to evaluate and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunOptions {
    /// Only these tools (all of them run on every selected case, whatever the tier).
    /// Empty: each case runs on the tools of its persona's tier.
    pub tools: Vec<String>,
    /// Only cases of these personas (empty: all).
    pub personas: Vec<String>,
    pub samples: u32,
    pub concurrency: usize,
    /// Stop before the estimated spend of this run passes this many US dollars.
    pub budget_usd: Option<f64>,
    /// Read answers from the response cache.
    pub use_cache: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            tools: Vec::new(),
            personas: Vec::new(),
            samples: 1,
            concurrency: 4,
            budget_usd: None,
            use_cache: true,
        }
    }
}

/// Why a run could not start or continue.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    #[error("unknown persona `{0}`")]
    UnknownPersona(String),
    #[error("tool `{tool}` cannot be used: {source}")]
    Provider {
        tool: String,
        #[source]
        source: ProviderError,
    },
    #[error("run `{0}` has finished; nothing to resume")]
    AlreadyFinished(String),
    #[error("nothing to evaluate: no case matches the selection")]
    Empty,
    #[error(
        "run `{0}` is a probe run: run the probe again to continue it (answers already paid \
         for come from the cache)"
    )]
    ProbeRun(String),
    #[error("reading the suites during the run failed: {0}")]
    Suites(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Receives progress as the run goes (the CLI draws a progress bar from it).
pub trait Progress: Send + Sync {
    /// The run starts with `total` items, `done` of them already complete (resume).
    fn start(&self, run_id: &str, total: u64, done: u64);
    /// One result was written; `spent` is the run's spend so far.
    fn result(&self, result: &ResultRecord, spent: f64);
    /// A provider fault will be retried after `wait`.
    fn retry(&self, tool: &str, case: &str, error: &ProviderError, wait: Duration);
    /// A notice for the user (budget reached, interrupted).
    fn notice(&self, message: &str);
}

/// Progress that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: u64, _: u64) {}
    fn result(&self, _: &ResultRecord, _: f64) {}
    fn retry(&self, _: &str, _: &str, _: &ProviderError, _: Duration) {}
    fn notice(&self, _: &str) {}
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub status: RunStatus,
    pub planned: u64,
    pub completed: u64,
    pub spent_usd: f64,
}

/// Where a run's cases come from.
#[derive(Debug, Clone, Copy)]
pub enum Cases<'a> {
    /// A program whose cases are loaded (a demo, a probe's generated cases).
    Held(&'a Program),
    /// Suites whose cases stay in their files, read as the run goes (`proximity eval`).
    Streamed(&'a Suites),
}

impl<'a> Cases<'a> {
    /// The program the cases belong to.
    pub fn program(&self) -> &'a Program {
        match self {
            Cases::Held(p) => p,
            Cases::Streamed(s) => &s.program,
        }
    }

    /// How many cases each persona has and which judges they call.
    fn census(&self) -> Cow<'a, Census> {
        match self {
            Cases::Held(p) => Cow::Owned(Census::of(&p.cases)),
            Cases::Streamed(s) => Cow::Borrowed(s.census()),
        }
    }

    /// The cases in order, and, for suites read again, how their reading ended.
    fn read(&self) -> Result<(BoxStream<'a, CaseRef<'a>>, Option<ReadOutcome>), RunError> {
        match self {
            Cases::Held(p) => Ok((
                futures::stream::iter(p.cases.iter().map(CaseRef::Loaded)).boxed(),
                None,
            )),
            Cases::Streamed(s) => {
                let (cases, outcome) = s.read()?;
                Ok((cases, Some(outcome)))
            }
        }
    }
}

/// A run to start: its cases, its options and what its config keeps beside them.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    pub cases: Cases<'a>,
    pub options: RunOptions,
    /// Kept in the run's config beside the options.
    pub config: serde_json::Map<String, serde_json::Value>,
}

impl<'a> RunSpec<'a> {
    /// A run of `options` over `cases`.
    pub fn new(cases: Cases<'a>, options: RunOptions) -> Self {
        Self {
            cases,
            options,
            config: serde_json::Map::new(),
        }
    }

    /// Keep `value` under `key` in the run's config. A run whose config has `probe` (a
    /// probe's grid, a drift comparison) is not resumed by [`resume`]: its cases are
    /// generated, not the program's.
    pub fn with_config(mut self, key: &str, value: serde_json::Value) -> Self {
        self.config.insert(key.to_owned(), value);
        self
    }
}

/// Start a new run.
pub async fn start(
    store: &Store,
    spec: RunSpec<'_>,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let RunSpec {
        cases,
        options,
        config,
    } = spec;
    let program = cases.program();
    let census = cases.census();
    let selection = Selection::new(program, &options)?;
    let total = census.planned(&selection);
    if total == 0 {
        return Err(RunError::Empty);
    }
    let run = new_run(program, &options, config, total);
    let providers = build_providers(program, &census.used_tools(&selection))?;
    store.create_run(&run).await?;
    let into = Target {
        store,
        cases,
        census: &census,
        selection: &selection,
        run: &run,
        options: &options,
    };
    into.evaluate(providers, Fresh(true), cancel, progress)
        .await
}

/// Continue an interrupted run: only the missing results are produced. `concurrency`
/// overrides the run's own.
pub async fn resume(
    store: &Store,
    cases: Cases<'_>,
    run_id: &str,
    concurrency: Option<usize>,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let (run, options) = resumable(store, run_id, concurrency).await?;
    continue_run(store, cases, &run, &options, false, cancel, progress).await
}

/// Evaluate `cases` into the existing run `run_id`, producing only the results it does
/// not hold yet: a probe adds points to its own run as it refines its grid.
pub async fn extend(
    store: &Store,
    cases: Cases<'_>,
    run_id: &str,
    options: &RunOptions,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let run = store.run(run_id).await?;
    continue_run(store, cases, &run, options, true, cancel, progress).await
}

/// Mark `run` running again and evaluate what it lacks of `cases`.
#[allow(clippy::too_many_arguments)]
async fn continue_run(
    store: &Store,
    cases: Cases<'_>,
    run: &RunRecord,
    options: &RunOptions,
    refuse_empty: bool,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let program = cases.program();
    let census = cases.census();
    let selection = Selection::new(program, options)?;
    let total = census.planned(&selection);
    if refuse_empty && total == 0 {
        return Err(RunError::Empty);
    }
    let providers = build_providers(program, &census.used_tools(&selection))?;
    store
        .set_run_status(&run.id, RunStatus::Running, None)
        .await?;
    let into = Target {
        store,
        cases,
        census: &census,
        selection: &selection,
        run,
        options,
    };
    into.evaluate(providers, Fresh(false), cancel, progress)
        .await
}

/// A run about to evaluate its cases.
struct Target<'r, 'a> {
    store: &'r Store,
    cases: Cases<'a>,
    census: &'r Census,
    selection: &'r Selection<'r>,
    run: &'r RunRecord,
    options: &'r RunOptions,
}

impl Target<'_, '_> {
    /// Evaluate the items the run holds no result for, reading the cases as it goes.
    async fn evaluate(
        self,
        providers: Providers,
        fresh: Fresh,
        cancel: CancellationToken,
        progress: &dyn Progress,
    ) -> Result<RunSummary, RunError> {
        let program = self.cases.program();
        let done = done_keys(self.store, &self.run.id, fresh).await?;
        let (cases, read) = self.cases.read()?;
        let work = Work::of_cases(cases, self.census, program, self.selection, done);
        let summary = execute(
            program,
            self.store,
            self.run,
            self.options,
            work,
            providers,
            fresh,
            cancel,
            progress,
        )
        .await?;
        match read {
            Some(read) => suites::finish_reading(read, summary),
            None => Ok(summary),
        }
    }
}

pub(crate) fn new_run_id() -> String {
    let now = Utc::now();
    let suffix: u16 = rand_suffix();
    format!("{}-{suffix:04x}", now.format("%Y%m%d-%H%M%S"))
}

fn rand_suffix() -> u16 {
    let nanos = Utc::now().timestamp_subsec_nanos();
    let pid = std::process::id();
    ((nanos ^ pid.rotate_left(16)) & 0xffff) as u16
}

/// A new run record of `options` (and `extra` beside them in its config).
pub(crate) fn new_run(
    program: &Program,
    options: &RunOptions,
    extra: serde_json::Map<String, serde_json::Value>,
    planned: u64,
) -> RunRecord {
    let mut config = serde_json::to_value(options).unwrap_or_default();
    if let Some(map) = config.as_object_mut() {
        map.extend(extra);
    }
    RunRecord {
        id: new_run_id(),
        program: program.name.clone(),
        started_at: Utc::now(),
        finished_at: None,
        status: RunStatus::Running,
        config,
        planned,
    }
}

/// The run `run_id` and its options, if it may be resumed (`concurrency` overrides its
/// own).
pub(crate) async fn resumable(
    store: &Store,
    run_id: &str,
    concurrency: Option<usize>,
) -> Result<(RunRecord, RunOptions), RunError> {
    let run = store.run(run_id).await?;
    if run.config.get("probe").is_some() {
        return Err(RunError::ProbeRun(run_id.to_owned()));
    }
    if run.status == RunStatus::Finished {
        return Err(RunError::AlreadyFinished(run_id.to_owned()));
    }
    let mut options: RunOptions = serde_json::from_value(run.config.clone())
        .map_err(|e| StoreError::Corrupt(format!("run options: {e}")))?;
    if let Some(c) = concurrency {
        options.concurrency = c;
    }
    Ok((run, options))
}
