//! Distributed evaluation: [`enqueue`] writes a run's (case, tool, sample) items to the
//! store's work queue, and [`work`] — one `proximity worker` process — claims items under
//! a lease, evaluates them with the run API's item steps (`runner::item`), exactly as a
//! local run does (same request, cache key, assertions and verdict), and marks them done.
//!
//! Invariants, on top of the runner's:
//! - an item is leased to one worker at a time, until a time by the database's clock; the
//!   worker extends its leases every third of the lease while it works, so only a dead or
//!   stalled worker's items are taken over;
//! - every worker looks up the shared response cache before calling a provider, so an
//!   item taken over after its answer was paid for is judged from the cache;
//! - a worker whose program computes another request for an item than the enqueuing
//!   program did (a changed case or tool) gives the item back and stops, instead of
//!   writing a result for another question.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use proximity_program::fingerprint::config_fingerprint;
use proximity_program::Program;
use proximity_providers::RetryPolicy;
use proximity_store::{ClaimedItem, NewWorkItem, ResultRecord, RunStatus, Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::runner::item::{evaluate_item, request_and_key, ItemCtx, ProviderJudge};
use crate::runner::{
    build_providers, new_run, plan, used_tools, Budget, Progress, Providers, RunError, RunOptions,
};

/// A run put in the work queue.
#[derive(Debug, Clone)]
pub struct QueuedRun {
    pub run_id: String,
    pub planned: u64,
}

/// Create a run of `options` and enqueue its items for workers. Nothing is evaluated
/// here, and no provider is built (the enqueuing machine needs no model or key).
pub async fn enqueue(
    program: &Program,
    store: &Store,
    options: RunOptions,
) -> Result<QueuedRun, RunError> {
    let items = plan(program, &options)?;
    if items.is_empty() {
        return Err(RunError::Empty);
    }
    let mut queue = serde_json::Map::new();
    queue.insert("queue".into(), serde_json::Value::Bool(true));
    let run = new_run(program, &options, queue, items.len() as u64);
    let fingerprints: Vec<String> = program.tools.iter().map(config_fingerprint).collect();
    let queued: Vec<NewWorkItem> = items
        .iter()
        .map(|it| {
            let case = &program.cases[it.case];
            let tool = &program.tools[it.tool];
            let ctx = ItemCtx {
                program,
                store,
                run_id: &run.id,
                case,
                tool,
                config_fp: &fingerprints[it.tool],
                sample: it.sample,
                use_cache: options.use_cache,
                lookup: true,
                calls: None,
            };
            NewWorkItem {
                case_id: case.id.clone(),
                tool_id: tool.id.clone(),
                sample: it.sample,
                request_key: request_and_key(&ctx).1,
            }
        })
        .collect();
    store.create_run(&run).await?;
    store.enqueue(&run.id, &queued).await?;
    Ok(QueuedRun {
        run_id: run.id,
        planned: items.len() as u64,
    })
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name in leases (unique per process).
    pub owner: String,
    /// Items evaluated at once.
    pub concurrency: usize,
    /// How long a claimed item stays leased without being extended.
    pub lease: Duration,
    /// How often to look for work when there is none.
    pub poll: Duration,
    /// Work on this run only.
    pub run_id: Option<String>,
    /// Stop once no run has work left (instead of waiting for more).
    pub exit_when_done: bool,
}

impl WorkerOptions {
    /// Defaults with a lease owner named after the host and process.
    pub fn new() -> Self {
        Self {
            owner: default_owner(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            run_id: None,
            exit_when_done: false,
        }
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// `host-pid-xxxx`: unique per process, readable in the queue.
pub fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    let nanos = Utc::now().timestamp_subsec_nanos();
    format!("{host}-{}-{:04x}", std::process::id(), nanos & 0xffff)
}

/// What a worker did.
#[derive(Debug, Clone, Default)]
pub struct WorkerSummary {
    /// Results this worker wrote.
    pub results: u64,
    /// Results it produced that the store had already: another worker, whose lease on
    /// the item had expired, wrote it first. Not counted in `results`.
    pub duplicates: u64,
    /// Items it took over from a worker whose lease had expired.
    pub taken_over: u64,
    /// Runs it saw finish.
    pub finished_runs: Vec<String>,
}

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(
        "this worker's program differs from the one that enqueued run `{run}`: {what}; \
         run workers on the same program revision (the item was given back)"
    )]
    ProgramDiffers { run: String, what: String },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Consecutive failed claims after which a worker gives up.
const MAX_FAILED_CLAIMS: u32 = 30;

/// What the worker knows of a run it has items of.
struct RunState {
    options: RunOptions,
    budget: Mutex<Budget>,
}

enum ItemOutcome {
    Written {
        result: Box<ResultRecord>,
        inserted: bool,
    },
    /// Not sent: the run's budget would be passed.
    Budget,
}

struct Worker<'a> {
    program: &'a Program,
    store: &'a Store,
    options: &'a WorkerOptions,
    progress: &'a dyn Progress,
    fingerprints: HashMap<String, String>,
    cases: HashMap<&'a str, usize>,
    providers: Mutex<Providers>,
    runs: Mutex<HashMap<String, Arc<RunState>>>,
}

/// Claim and evaluate queued items until cancelled (finishing the items in hand), or,
/// with `exit_when_done`, until no run has work left.
pub async fn work(
    program: &Program,
    store: &Store,
    options: &WorkerOptions,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<WorkerSummary, WorkerError> {
    let w = Worker {
        program,
        store,
        options,
        progress,
        fingerprints: program
            .tools
            .iter()
            .map(|t| (t.id.clone(), config_fingerprint(t)))
            .collect(),
        cases: program
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect(),
        providers: Mutex::new(Providers::new()),
        runs: Mutex::new(HashMap::new()),
    };
    let concurrency = options.concurrency.max(1);
    let mut summary = WorkerSummary::default();
    let mut in_flight = FuturesUnordered::new();
    let mut heartbeat = tokio::time::interval(options.lease / 3);
    heartbeat.tick().await;
    let mut stopping = false;
    let mut fatal: Option<WorkerError> = None;
    let mut failed_claims = 0;
    loop {
        if !stopping && in_flight.len() < concurrency {
            let free = (concurrency - in_flight.len()) as u32;
            let claimed = match store
                .claim(
                    &options.owner,
                    options.lease,
                    free,
                    options.run_id.as_deref(),
                )
                .await
            {
                Ok(items) => {
                    failed_claims = 0;
                    items
                }
                // A lost connection or a busy database: try again at the next poll, and
                // give up only when it lasts.
                Err(e) if failed_claims < MAX_FAILED_CLAIMS => {
                    failed_claims += 1;
                    tracing::warn!(error = %e, failed_claims, "claim failed; retrying");
                    Vec::new()
                }
                Err(e) => return Err(e.into()),
            };
            for item in claimed {
                if item.claims > 1 {
                    summary.taken_over += 1;
                }
                in_flight.push(w.process(item));
            }
        }
        if in_flight.is_empty() {
            if stopping {
                break;
            }
            if options.exit_when_done && w.nothing_left().await? {
                break;
            }
        }
        tokio::select! {
            Some((item, outcome)) = in_flight.next(), if !in_flight.is_empty() => {
                // Store errors here are passing (a lost connection, a busy database): log
                // them and go on; whatever was left half-done is retaken when its lease
                // expires. Only a worker that cannot do the work at all stops.
                match outcome {
                    Ok(ItemOutcome::Written { result, inserted }) => {
                        if inserted {
                            summary.results += 1;
                        } else {
                            summary.duplicates += 1;
                        }
                        match w.after_result(&item).await {
                            Ok(Some(run)) => summary.finished_runs.push(run),
                            Ok(None) => {}
                            Err(e) => tracing::warn!(error = %e, run = %item.run_id, "could not check whether the run is finished"),
                        }
                        progress.result(&result, 0.0);
                    }
                    Ok(ItemOutcome::Budget) => {
                        give_back(store, &item, &options.owner, "budget reached").await;
                        if let Err(e) = w.budget_reached(&item.run_id).await {
                            tracing::warn!(error = %e, run = %item.run_id, "could not mark the run's budget reached");
                        }
                    }
                    Err(e) => {
                        give_back(store, &item, &options.owner, &e.to_string()).await;
                        match e {
                            WorkerError::Store(e) => {
                                tracing::warn!(error = %e, "item given back after a store error");
                            }
                            other => {
                                stopping = true;
                                fatal.get_or_insert(other);
                            }
                        }
                    }
                }
            }
            _ = heartbeat.tick() => {
                if let Err(e) = store.extend_leases(&options.owner, options.lease).await {
                    tracing::warn!(error = %e, "could not extend leases");
                }
            }
            _ = tokio::time::sleep(options.poll), if in_flight.len() < concurrency && !stopping => {}
            _ = cancel.cancelled(), if !stopping => {
                stopping = true;
                progress.notice("stopping: finishing the items in hand, claiming no more");
            }
        }
    }
    match fatal {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Give an item back to the queue; when even that fails, its lease expiry will.
async fn give_back(store: &Store, item: &ClaimedItem, owner: &str, why: &str) {
    if let Err(e) = store.release_item(item, owner, Some(why)).await {
        tracing::warn!(error = %e, case = %item.case_id, "could not give the item back; its lease will expire");
    }
}

impl Worker<'_> {
    async fn process(&self, item: ClaimedItem) -> (ClaimedItem, Result<ItemOutcome, WorkerError>) {
        let outcome = self.evaluate(&item).await;
        (item, outcome)
    }

    async fn evaluate(&self, item: &ClaimedItem) -> Result<ItemOutcome, WorkerError> {
        let differs = |what: String| WorkerError::ProgramDiffers {
            run: item.run_id.clone(),
            what,
        };
        let run = self.run_state(&item.run_id).await?;
        let case = self
            .cases
            .get(item.case_id.as_str())
            .map(|&i| &self.program.cases[i])
            .ok_or_else(|| differs(format!("it has no case `{}`", item.case_id)))?;
        let tool = self
            .program
            .tool(&item.tool_id)
            .ok_or_else(|| differs(format!("it has no tool `{}`", item.tool_id)))?;
        let config_fp = self
            .fingerprints
            .get(&tool.id)
            .map(String::as_str)
            .unwrap_or_default();
        let sample = u32::try_from(item.sample).unwrap_or(0);
        let ctx = ItemCtx {
            program: self.program,
            store: self.store,
            run_id: &item.run_id,
            case,
            tool,
            config_fp,
            sample,
            use_cache: run.options.use_cache,
            lookup: true,
            calls: None,
        };
        if request_and_key(&ctx).1 != item.request_key {
            return Err(differs(format!(
                "case `{}` on tool `{}` makes another request (its prompt, parameters or the \
                 tool's configuration changed)",
                case.id, tool.id
            )));
        }
        let providers = self.providers_for(&tool.id)?;
        let Some(provider) = providers.get(&tool.id).cloned() else {
            return Err(RunError::UnknownTool(tool.id.clone()).into());
        };
        if run.options.budget_usd.is_some() {
            // Other workers spend on this run too: start from what the store has.
            let spent = self.store.run_spend(&item.run_id).await?;
            if let Ok(mut b) = run.budget.lock() {
                b.spent = b.spent.max(spent);
            }
        }
        let judge = ProviderJudge {
            providers,
            policy: RetryPolicy::default(),
        };
        match evaluate_item(&ctx, provider.as_ref(), &judge, &run.budget, self.progress).await? {
            Some(done) => {
                self.store.complete_item(item, &self.options.owner).await?;
                Ok(ItemOutcome::Written {
                    result: Box::new(done.result),
                    inserted: done.inserted,
                })
            }
            None => Ok(ItemOutcome::Budget),
        }
    }

    /// The run's options and budget, read once per run.
    async fn run_state(&self, run_id: &str) -> Result<Arc<RunState>, WorkerError> {
        if let Some(r) = self.runs.lock().ok().and_then(|m| m.get(run_id).cloned()) {
            return Ok(r);
        }
        let run = self.store.run(run_id).await?;
        let options: RunOptions = serde_json::from_value(run.config.clone())
            .map_err(|e| StoreError::Corrupt(format!("run `{run_id}` options: {e}")))?;
        let spent = self.store.run_spend(run_id).await?;
        let state = Arc::new(RunState {
            budget: Mutex::new(Budget::new(options.budget_usd, spent)),
            options,
        });
        if let Ok(mut m) = self.runs.lock() {
            m.insert(run_id.to_owned(), state.clone());
        }
        Ok(state)
    }

    /// The providers built so far, with `tool_id`'s and the judges' built if missing.
    fn providers_for(&self, tool_id: &str) -> Result<Providers, WorkerError> {
        let mut map = self
            .providers
            .lock()
            .map_err(|_| StoreError::Write("provider table poisoned".into()))?;
        if !map.contains_key(tool_id) {
            let Some(ti) = self.program.tools.iter().position(|t| t.id == tool_id) else {
                return Err(RunError::UnknownTool(tool_id.to_owned()).into());
            };
            let item = crate::runner::WorkItem {
                case: 0,
                tool: ti,
                sample: 0,
            };
            let missing: Vec<String> = used_tools(self.program, &[item])
                .into_iter()
                .filter(|t| !map.contains_key(t))
                .collect();
            map.extend(build_providers(self.program, &missing)?);
        }
        Ok(map.clone())
    }

    /// After a result: mark the run finished when none of its items is left. Returns the
    /// run id when this call finished it.
    async fn after_result(&self, item: &ClaimedItem) -> Result<Option<String>, WorkerError> {
        let counts = self.store.queue_counts(&item.run_id).await?;
        if counts.queued + counts.leased > 0 {
            return Ok(None);
        }
        let run = self.store.run(&item.run_id).await?;
        if run.status != RunStatus::Running {
            return Ok(None);
        }
        self.store
            .set_run_status(&item.run_id, RunStatus::Finished, Some(Utc::now()))
            .await?;
        self.progress.notice(&format!(
            "run {} finished: {} results",
            item.run_id, counts.done
        ));
        Ok(Some(item.run_id.clone()))
    }

    async fn budget_reached(&self, run_id: &str) -> Result<(), WorkerError> {
        let run = self.store.run(run_id).await?;
        if run.status == RunStatus::Running {
            self.store
                .set_run_status(run_id, RunStatus::BudgetExhausted, None)
                .await?;
            self.progress.notice(&format!(
                "run {run_id}: budget reached; its remaining items stay queued (raise the \
                 budget and resume it to continue)"
            ));
        }
        Ok(())
    }

    /// Whether no run (or not the selected run) has items left to do.
    async fn nothing_left(&self) -> Result<bool, WorkerError> {
        let runs = self.store.runs_with_queued_work().await?;
        Ok(match &self.options.run_id {
            Some(r) => !runs.contains(r),
            None => runs.is_empty(),
        })
    }
}
