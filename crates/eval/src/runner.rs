//! The evaluation runner: tools × cases × samples, run concurrently, each result written
//! as it completes.
//!
//! Invariants:
//! - a result exists at most once per (run, case, tool, sample) (the store enforces it);
//! - a provider answer is put in the response cache before its result is judged and
//!   written, so a run killed at any point and resumed never pays for an answer twice;
//! - spend is reserved before a request is sent, from an estimate calibrated on the
//!   tool's earlier answers, so `--budget` is passed at most by the estimation error of
//!   requests sent before a tool's first answer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt;
use proximity_program::fingerprint::{config_fingerprint, version_fingerprint};
use proximity_program::{Case, Check, Program, Tool};
use proximity_providers::{
    complete_with_retries, ChatRequest, ChatResponse, ErrorClass, Provider, ProviderError,
    RetryPolicy,
};
use proximity_store::{ResultRecord, RunRecord, RunStatus, Store, StoreError, Verdict};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::assertions::{evaluate_all, Context, Judge};
use crate::verdict::{classify, Observed};

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

/// The providers of a program's tools, built once.
pub type Providers = HashMap<String, Arc<dyn Provider>>;

/// Build the providers for `tool_ids`; a tool that cannot be used is an error.
pub fn build_providers(program: &Program, tool_ids: &[String]) -> Result<Providers, RunError> {
    let mut out = Providers::new();
    for id in tool_ids {
        let tool = program
            .tool(id)
            .ok_or_else(|| RunError::UnknownTool(id.clone()))?;
        let p = proximity_providers::build(tool, &program.root).map_err(|source| {
            RunError::Provider {
                tool: id.clone(),
                source,
            }
        })?;
        out.insert(id.clone(), p);
    }
    Ok(out)
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkItem {
    pub case: usize,
    pub tool: usize,
    pub sample: u32,
}

/// The work a selection implies, in a stable order (case, tool, sample).
pub fn plan(program: &Program, options: &RunOptions) -> Result<Vec<WorkItem>, RunError> {
    let selection = Selection::new(program, options)?;
    let mut items = Vec::new();
    for (ci, case) in program.cases.iter().enumerate() {
        for (tool, sample) in selection.items_of(&case.persona) {
            items.push(WorkItem {
                case: ci,
                tool,
                sample,
            });
        }
    }
    Ok(items)
}

/// Which (tool, sample) pairs a selection runs on a case of each persona.
pub(crate) struct Selection<'p> {
    program: &'p Program,
    options: &'p RunOptions,
    tool_index: HashMap<&'p str, usize>,
}

impl<'p> Selection<'p> {
    /// The selection of `options`; unknown tools or personas are an error.
    pub(crate) fn new(program: &'p Program, options: &'p RunOptions) -> Result<Self, RunError> {
        for t in &options.tools {
            if program.tool(t).is_none() {
                return Err(RunError::UnknownTool(t.clone()));
            }
        }
        for p in &options.personas {
            if program.persona(p).is_none() {
                return Err(RunError::UnknownPersona(p.clone()));
            }
        }
        let tool_index = program
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.as_str(), i))
            .collect();
        Ok(Self {
            program,
            options,
            tool_index,
        })
    }

    /// The tools (indexes into the program's) a case of `persona` runs on, in order.
    pub(crate) fn tools_of(&self, persona: &str) -> Vec<usize> {
        if !self.options.personas.is_empty() && !self.options.personas.iter().any(|p| p == persona)
        {
            return Vec::new();
        }
        let ids: Vec<&str> = if self.options.tools.is_empty() {
            self.program
                .tools_for_persona(persona)
                .into_iter()
                .map(|t| t.id.as_str())
                .collect()
        } else {
            self.options.tools.iter().map(String::as_str).collect()
        };
        ids.into_iter()
            .filter_map(|t| self.tool_index.get(t).copied())
            .collect()
    }

    pub(crate) fn samples(&self) -> u32 {
        self.options.samples.max(1)
    }

    /// The (tool, sample) items of a case of `persona`, in the plan's order.
    pub(crate) fn items_of(&self, persona: &str) -> impl Iterator<Item = (usize, u32)> {
        let samples = self.samples();
        self.tools_of(persona)
            .into_iter()
            .flat_map(move |t| (0..samples).map(move |s| (t, s)))
    }
}

/// A failpoint for the end-to-end tests of crash recovery: with
/// `PROXIMITY_FAILPOINT_KILL_AFTER_CACHE_PUTS=N` in its environment, the process sends
/// itself SIGKILL right after writing its N-th answer to the response cache — the worst
/// moment to die (the answer is paid for, its result not written). Unset, it costs one
/// relaxed atomic load per answer.
mod failpoint {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    const ENV: &str = "PROXIMITY_FAILPOINT_KILL_AFTER_CACHE_PUTS";

    pub(super) fn after_cache_put() {
        static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
        static PUTS: AtomicU64 = AtomicU64::new(0);
        let Some(limit) = *LIMIT.get_or_init(|| std::env::var(ENV).ok()?.parse().ok()) else {
            return;
        };
        if PUTS.fetch_add(1, Ordering::SeqCst) + 1 == limit {
            tracing::warn!("{ENV}={limit} reached: killing this process");
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
    }
}

/// A cached provider answer with the latency it took when it was paid for.
#[derive(Serialize, Deserialize)]
struct CachedAnswer {
    response: ChatResponse,
    latency_ms: u64,
    attempts: u32,
}

/// The cache key of a request: tool configuration, request and sample, plus the run id
/// when the cache is bypassed (so a resumed `--no-cache` run still never pays twice).
fn cache_key(config_fp: &str, request: &ChatRequest, sample: u32, scope: &str) -> String {
    let mut h = Sha256::new();
    h.update(config_fp.as_bytes());
    h.update(b"\n");
    h.update(
        serde_json::to_string(request)
            .unwrap_or_default()
            .as_bytes(),
    );
    h.update(format!("\n{sample}\n{scope}").as_bytes());
    hex::encode(h.finalize())
}

/// A judge backed by the program's providers.
pub(crate) struct ProviderJudge {
    pub(crate) providers: Providers,
    pub(crate) policy: RetryPolicy,
}

#[async_trait]
impl Judge for ProviderJudge {
    async fn complete(
        &self,
        tool_id: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let Some(p) = self.providers.get(tool_id) else {
            return Err(ProviderError::new(
                ErrorClass::Config,
                format!("judge tool `{tool_id}` is not available"),
            ));
        };
        complete_with_retries(
            p.as_ref(),
            request,
            &self.policy,
            Duration::from_secs(120),
            |_, _, _| {},
        )
        .await
        .result
    }
}

/// Money reserved for requests in flight and spent on answered ones.
///
/// Estimates are calibrated per tool: once a tool has answered, its estimates are scaled by
/// the largest ratio of real to estimated cost seen so far, so only the requests sent
/// before a tool's first answer can be under-estimated.
pub(crate) struct Budget {
    pub(crate) limit: Option<f64>,
    pub(crate) spent: f64,
    pub(crate) reserved: f64,
    pub(crate) exhausted: bool,
    pub(crate) calibration: HashMap<String, f64>,
}

impl Budget {
    /// Reserve the calibrated estimate of a request; `None` when it would pass the limit.
    fn reserve(&mut self, tool: &str, raw_estimate: f64) -> Option<f64> {
        let factor = self.calibration.get(tool).copied().unwrap_or(1.0);
        let estimate = raw_estimate * factor;
        if let Some(limit) = self.limit {
            if self.spent + self.reserved + estimate > limit {
                self.exhausted = true;
                return None;
            }
        }
        self.reserved += estimate;
        Some(estimate)
    }

    fn settle(&mut self, tool: &str, raw_estimate: f64, reserved: f64, actual: f64) {
        self.reserved = (self.reserved - reserved).max(0.0);
        self.spent += actual;
        if raw_estimate > 0.0 && actual > 0.0 {
            let ratio = actual / raw_estimate;
            let factor = self.calibration.entry(tool.to_owned()).or_insert(1.0);
            *factor = factor.max(ratio);
        }
    }
}

/// Estimated cost of a request before sending it: prompt tokens (4 characters a token,
/// plus 4 a message and 3 a request for the chat template) and `max_tokens` of output
/// (256 when unset).
pub fn estimate_cost(tool: &Tool, request: &ChatRequest) -> f64 {
    let chars: usize = request.messages.iter().map(|m| m.content.len()).sum();
    let input = (chars as u64).div_ceil(4) + 4 * request.messages.len() as u64 + 3;
    let output = u64::from(request.max_tokens.unwrap_or(256));
    tool.price.cost(input, output)
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

/// Start a new run.
pub async fn start(
    program: &Program,
    store: &Store,
    options: RunOptions,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    start_with_config(
        program,
        store,
        options,
        serde_json::Map::new(),
        cancel,
        progress,
    )
    .await
}

/// Start a new run whose `config` holds `extra` beside the options (a probe keeps its
/// grid there under `probe`; such runs are not resumed by [`resume`]).
pub async fn start_with_config(
    program: &Program,
    store: &Store,
    options: RunOptions,
    extra: serde_json::Map<String, serde_json::Value>,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let items = plan(program, &options)?;
    if items.is_empty() {
        return Err(RunError::Empty);
    }
    let run = new_run(program, &options, extra, items.len() as u64);
    let providers = build_providers(program, &used_tools(program, &items))?;
    store.create_run(&run).await?;
    let work = loaded_work(program, store, &run, items, Fresh(true)).await?;
    execute(
        program,
        store,
        &run,
        &options,
        work,
        providers,
        Fresh(true),
        cancel,
        progress,
    )
    .await
}

/// Continue an interrupted run: only the missing results are produced.
pub async fn resume(
    program: &Program,
    store: &Store,
    run_id: &str,
    concurrency: Option<usize>,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let (run, options) = resumable(store, run_id, concurrency).await?;
    let items = plan(program, &options)?;
    let providers = build_providers(program, &used_tools(program, &items))?;
    store
        .set_run_status(&run.id, RunStatus::Running, None)
        .await?;
    let work = loaded_work(program, store, &run, items, Fresh(false)).await?;
    execute(
        program,
        store,
        &run,
        &options,
        work,
        providers,
        Fresh(false),
        cancel,
        progress,
    )
    .await
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

/// Evaluate `program`'s cases into the existing run `run_id`, producing only the results
/// it does not hold yet: a probe adds points to its own run as it refines its grid.
pub async fn extend(
    program: &Program,
    store: &Store,
    run_id: &str,
    options: &RunOptions,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let run = store.run(run_id).await?;
    let items = plan(program, options)?;
    if items.is_empty() {
        return Err(RunError::Empty);
    }
    let providers = build_providers(program, &used_tools(program, &items))?;
    store
        .set_run_status(&run.id, RunStatus::Running, None)
        .await?;
    let work = loaded_work(program, store, &run, items, Fresh(false)).await?;
    execute(
        program,
        store,
        &run,
        options,
        work,
        providers,
        Fresh(false),
        cancel,
        progress,
    )
    .await
}

pub(crate) fn used_tools(program: &Program, items: &[WorkItem]) -> Vec<String> {
    let mut seen = HashSet::new();
    let tools = items
        .iter()
        .filter(|it| seen.insert(it.tool))
        .map(|it| program.tools[it.tool].id.clone());
    with_judges(tools, &judge_tools(program, &program.cases))
}

/// `tools`, then the judge tools not among them.
pub(crate) fn with_judges(
    tools: impl IntoIterator<Item = String>,
    judges: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let mut ids: Vec<String> = tools.into_iter().collect();
    for j in judges {
        if !ids.contains(j) {
            ids.push(j.clone());
        }
    }
    ids
}

/// The tools `cases`' judge assertions call (a judge naming none uses the program's
/// `judge_tool`).
pub(crate) fn judge_tools<'c>(
    program: &Program,
    cases: impl IntoIterator<Item = &'c Case>,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for case in cases {
        for a in case.assertions.iter() {
            if let Check::Judge { tool, .. } = &a.check {
                if let Some(t) = tool.as_deref().or(program.judge_tool.as_deref()) {
                    if !out.contains(t) {
                        out.insert(t.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// Whether the run was just created: nothing of it can be in the store yet.
#[derive(Clone, Copy)]
pub(crate) struct Fresh(pub(crate) bool);

/// One item to evaluate: its case, its tool (an index into the program's tools) and
/// sample.
pub(crate) struct Planned<'a> {
    pub(crate) case: CaseRef<'a>,
    pub(crate) tool: usize,
    pub(crate) sample: u32,
}

/// A case of a loaded program, or one read from the suites as the run goes.
pub(crate) enum CaseRef<'a> {
    Loaded(&'a Case),
    Read(Arc<Case>),
}

impl<'a> CaseRef<'a> {
    /// Another reference to the same case.
    pub(crate) fn share(&self) -> CaseRef<'a> {
        match self {
            CaseRef::Loaded(c) => CaseRef::Loaded(c),
            CaseRef::Read(c) => CaseRef::Read(Arc::clone(c)),
        }
    }
}

impl std::ops::Deref for CaseRef<'_> {
    type Target = Case;

    fn deref(&self) -> &Case {
        match self {
            CaseRef::Loaded(c) => c,
            CaseRef::Read(c) => c,
        }
    }
}

/// The items of a run still to evaluate, in order, and how many the run has in all.
pub(crate) struct Work<'a> {
    pub(crate) items: futures::stream::BoxStream<'a, Planned<'a>>,
    pub(crate) total: u64,
    pub(crate) already: u64,
}

/// The (case, tool, sample) keys a run holds results for (none when it was just
/// created).
pub(crate) async fn done_keys(
    store: &Store,
    run_id: &str,
    fresh: Fresh,
) -> Result<HashSet<(String, String, u32)>, StoreError> {
    if fresh.0 {
        return Ok(HashSet::new());
    }
    Ok(store.completed_keys(run_id).await?.into_iter().collect())
}

/// The planned items of a loaded program that `run` holds no result for yet.
async fn loaded_work<'a>(
    program: &'a Program,
    store: &Store,
    run: &RunRecord,
    items: Vec<WorkItem>,
    fresh: Fresh,
) -> Result<Work<'a>, StoreError> {
    let done = done_keys(store, &run.id, fresh).await?;
    let total = items.len() as u64;
    let todo: Vec<Planned<'a>> = items
        .into_iter()
        .filter(|it| {
            done.is_empty()
                || !done.contains(&(
                    program.cases[it.case].id.clone(),
                    program.tools[it.tool].id.clone(),
                    it.sample,
                ))
        })
        .map(|it| Planned {
            case: CaseRef::Loaded(&program.cases[it.case]),
            tool: it.tool,
            sample: it.sample,
        })
        .collect();
    let already = total - todo.len() as u64;
    Ok(Work {
        items: futures::stream::iter(todo).boxed(),
        total,
        already,
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute(
    program: &Program,
    store: &Store,
    run: &RunRecord,
    options: &RunOptions,
    work: Work<'_>,
    providers: Providers,
    fresh: Fresh,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Result<RunSummary, RunError> {
    let Work {
        items,
        total,
        already,
    } = work;
    progress.start(&run.id, total, already);

    let spent = store.run_spend(&run.id).await?;
    let budget = Mutex::new(Budget {
        limit: options.budget_usd,
        spent,
        reserved: 0.0,
        exhausted: false,
        calibration: HashMap::new(),
    });
    let fingerprints: Vec<String> = program.tools.iter().map(config_fingerprint).collect();
    let judge = ProviderJudge {
        providers: providers.clone(),
        policy: RetryPolicy::default(),
    };
    let stop = cancel.child_token();
    let first_error: Mutex<Option<StoreError>> = Mutex::new(None);
    // `concurrency` items call providers at once; a full batch statement's worth more may
    // be waiting for their results' commit meanwhile (a commit need not hold up the next
    // request). When the writer is the slower side (an instant upstream), its batches
    // fill up, and each row costs less: with only `concurrency` more waiting, a
    // 10,000-case run took 30% longer (measured 2026-11-26, `f5faf5d`). With real
    // providers the writer keeps up and few wait. Without the cache (`--no-cache`) an
    // answer waiting for its commit is lost to a kill, and asked again on resume.
    let in_flight = options.concurrency.max(1) + proximity_store::RESULTS_PER_BATCH;
    let calls = tokio::sync::Semaphore::new(options.concurrency.max(1));
    let calls = &calls;

    items
        .take_until(stop.clone().cancelled_owned())
        .for_each_concurrent(in_flight, |item| {
            let tool = &program.tools[item.tool];
            let provider = providers.get(&tool.id).cloned();
            let fp = &fingerprints[item.tool];
            let budget = &budget;
            let judge = &judge;
            let stop = &stop;
            let first_error = &first_error;
            async move {
                if stop.is_cancelled() {
                    return;
                }
                let Some(provider) = provider else {
                    return;
                };
                let ctx = ItemCtx {
                    program,
                    store,
                    run_id: &run.id,
                    case: &item.case,
                    tool,
                    config_fp: fp,
                    sample: item.sample,
                    use_cache: options.use_cache,
                    // Without the shared cache, keys are scoped to the run: a new run has
                    // nothing to find, so skip the lookup. A resumed run must look (an answer
                    // paid for before a kill is cached before its result is written).
                    lookup: options.use_cache || !fresh.0,
                    calls: Some((calls, stop)),
                };
                match evaluate_item(&ctx, provider.as_ref(), judge, budget, progress).await {
                    // Reported to the progress by `evaluate_item`, before its commit.
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        // Budget reached: stop dispatching more work.
                        stop.cancel();
                    }
                    Err(e) => {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        stop.cancel();
                    }
                }
            }
        })
        .await;

    if let Some(e) = first_error.lock().ok().and_then(|mut s| s.take()) {
        store
            .set_run_status(&run.id, RunStatus::Interrupted, None)
            .await?;
        return Err(e.into());
    }
    let completed = store.result_count(&run.id).await?;
    let exhausted = budget.lock().map(|b| b.exhausted).unwrap_or(false);
    let status = if completed >= total {
        RunStatus::Finished
    } else if exhausted {
        progress.notice(&format!(
            "budget of ${:.4} reached: stopped before the estimated spend would pass it; \
             resume with `proximity eval --resume {}` and a larger --budget",
            options.budget_usd.unwrap_or(0.0),
            run.id
        ));
        RunStatus::BudgetExhausted
    } else {
        progress.notice(&format!(
            "interrupted: {completed} of {total} results saved; resume with `proximity eval --resume {}`",
            run.id
        ));
        RunStatus::Interrupted
    };
    let finished_at = (status == RunStatus::Finished).then(Utc::now);
    store.set_run_status(&run.id, status, finished_at).await?;
    let spent_usd = store.run_spend(&run.id).await?;
    Ok(RunSummary {
        run_id: run.id.clone(),
        status,
        planned: total,
        completed,
        spent_usd,
    })
}

pub(crate) struct ItemCtx<'a> {
    pub(crate) program: &'a Program,
    pub(crate) store: &'a Store,
    pub(crate) run_id: &'a str,
    pub(crate) case: &'a Case,
    pub(crate) tool: &'a Tool,
    pub(crate) config_fp: &'a str,
    pub(crate) sample: u32,
    pub(crate) use_cache: bool,
    /// Look the answer up in the response cache before calling the provider.
    pub(crate) lookup: bool,
    /// Held from the start of an item until its result is ready to write, so that the
    /// run's `concurrency` bounds the items calling providers, not those waiting for
    /// their result's commit. The result is reported to the progress (whose budget
    /// checks may stop the run) before the slot is handed on, and an item that gets a
    /// slot after the run was stopped sends nothing. `None`: the caller bounds items
    /// and reports results itself.
    pub(crate) calls: Option<(&'a tokio::sync::Semaphore, &'a CancellationToken)>,
}

/// The JSON schema a case's `contract` group requires of the answer, if any: providers that
/// can constrain their output to it (`grammar: json_schema`) do.
fn output_schema(case: &Case) -> Option<serde_json::Value> {
    case.assertions
        .contract
        .iter()
        .find_map(|a| match &a.check {
            Check::JsonSchema { schema } if !a.negate => Some(schema.clone()),
            _ => None,
        })
}

/// An item's request and its response-cache key.
pub(crate) fn request_and_key(ctx: &ItemCtx<'_>) -> (ChatRequest, String) {
    let request = request_of(ctx);
    let key = key_of(ctx, &request);
    (request, key)
}

/// An item's request.
fn request_of(ctx: &ItemCtx<'_>) -> ChatRequest {
    let mut request = ChatRequest::for_tool(ctx.tool, &ctx.case.messages);
    request.json_schema = output_schema(ctx.case);
    request
}

/// The response-cache key of an item's request.
fn key_of(ctx: &ItemCtx<'_>, request: &ChatRequest) -> String {
    let scope = if ctx.use_cache { "" } else { ctx.run_id };
    cache_key(ctx.config_fp, request, ctx.sample, scope)
}

/// Whether a paid answer is written to the response cache before its result: when the
/// cache is shared (later runs and other workers look answers up), and when judging the
/// answer calls a provider (a slow step a kill could interrupt, after which the resumed
/// run finds the answer instead of paying for it again). Otherwise the result row, one
/// commit, is the only record of the answer: evaluating it takes microseconds, so a
/// kill loses no more than it would between the answer and its cache row.
fn answer_kept_apart(ctx: &ItemCtx<'_>) -> bool {
    ctx.use_cache
        || ctx
            .case
            .assertions
            .iter()
            .any(|a| matches!(a.check, Check::Judge { .. }))
}

/// One result produced and written by [`evaluate_item`].
pub(crate) struct Evaluated {
    pub(crate) result: ResultRecord,
    /// Whether this call's write inserted it (`false`: the store had it already, written
    /// by a worker that held the item before its lease expired).
    pub(crate) inserted: bool,
}

/// Produce and write one result. `Ok(None)`: not sent, the budget would be passed.
pub(crate) async fn evaluate_item(
    ctx: &ItemCtx<'_>,
    provider: &dyn Provider,
    judge: &ProviderJudge,
    budget: &Mutex<Budget>,
    progress: &dyn Progress,
) -> Result<Option<Evaluated>, StoreError> {
    let calling = match ctx.calls {
        Some((slots, stop)) => {
            let slot = slots.acquire().await.ok();
            if stop.is_cancelled() {
                return Ok(None);
            }
            slot
        }
        None => None,
    };
    let request = request_of(ctx);
    // The key costs a serialisation and a hash: only made when the cache is read or
    // written.
    let keep_apart = answer_kept_apart(ctx);
    let key = (ctx.lookup || keep_apart).then(|| key_of(ctx, &request));

    let cached = match &key {
        Some(key) if ctx.lookup => match ctx.store.cache_get(key).await? {
            Some(json) => serde_json::from_str::<CachedAnswer>(&json).ok(),
            None => None,
        },
        _ => None,
    };
    let (answer, was_cached): (Result<CachedAnswer, ProviderError>, bool) = match cached {
        Some(c) => (Ok(c), true),
        None => {
            let estimate = estimate_cost(ctx.tool, &request);
            let reserved = budget
                .lock()
                .ok()
                .and_then(|mut b| b.reserve(&ctx.tool.id, estimate));
            let Some(reserved) = reserved else {
                return Ok(None);
            };
            let policy = RetryPolicy {
                max_attempts: ctx.tool.params.max_attempts.unwrap_or(4).max(1),
                ..RetryPolicy::default()
            };
            let timeout = Duration::from_secs_f64(ctx.tool.params.timeout_secs.unwrap_or(60.0));
            let started = Instant::now();
            let attempted =
                complete_with_retries(provider, &request, &policy, timeout, |_, e, wait| {
                    progress.retry(&ctx.tool.id, &ctx.case.id, e, wait)
                })
                .await;
            let latency_ms = started.elapsed().as_millis() as u64;
            let answer = attempted.result.map(|response| CachedAnswer {
                response,
                latency_ms,
                attempts: attempted.attempts,
            });
            let actual = match &answer {
                Ok(a) => ctx.tool.price.cost(
                    a.response.usage.input_tokens,
                    a.response.usage.output_tokens,
                ),
                Err(_) => 0.0,
            };
            if let Ok(mut b) = budget.lock() {
                b.settle(&ctx.tool.id, estimate, reserved, actual);
            }
            if let (Ok(a), Some(key)) = (&answer, &key) {
                if keep_apart {
                    let json = serde_json::to_string(a).unwrap_or_default();
                    ctx.store.cache_put(key, ctx.config_fp, &json).await?;
                    failpoint::after_cache_put();
                }
            }
            (answer, false)
        }
    };

    let result = match answer {
        Ok(a) => {
            let judge_ref: &dyn Judge = judge;
            let jctx = Context {
                case: ctx.case,
                judge: Some(judge_ref),
                default_judge_tool: ctx.program.judge_tool.as_deref(),
                provider_refused: a.response.refused,
            };
            let outcomes = evaluate_all(&a.response.text, &jctx).await;
            let (verdict, reason) = classify(&Observed {
                case: ctx.case,
                output: &a.response.text,
                error: None,
                provider_refused: a.response.refused,
                outcomes: &outcomes,
            });
            let usage = a.response.usage;
            let hedged = crate::detect::is_hedge(&a.response.text);
            let mean_logprob = a
                .response
                .logprobs
                .as_ref()
                .filter(|l| !l.is_empty())
                .map(|l| l.iter().sum::<f64>() / l.len() as f64);
            record(
                ctx,
                RecordParts {
                    tool_fingerprint: version_fingerprint(
                        ctx.config_fp,
                        a.response.model_version.as_deref(),
                    ),
                    model_version: a.response.model_version.clone(),
                    output: a.response.text,
                    error: None,
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    latency_ms: a.latency_ms,
                    attempts: a.attempts,
                    cached: was_cached,
                    verdict,
                    reason,
                    outcomes,
                    mean_logprob,
                    hedged: Some(hedged),
                },
            )
        }
        Err(e) => {
            let (verdict, reason) = classify(&Observed {
                case: ctx.case,
                output: "",
                error: Some(&e),
                provider_refused: false,
                outcomes: &[],
            });
            record(
                ctx,
                RecordParts {
                    tool_fingerprint: version_fingerprint(ctx.config_fp, None),
                    model_version: None,
                    output: String::new(),
                    error: Some(e),
                    input_tokens: 0,
                    output_tokens: 0,
                    latency_ms: 0,
                    attempts: 0,
                    cached: false,
                    verdict,
                    reason,
                    outcomes: Vec::new(),
                    mean_logprob: None,
                    hedged: None,
                },
            )
        }
    };
    if ctx.calls.is_some() {
        let spent = budget.lock().map(|b| b.spent).unwrap_or(0.0);
        progress.result(&result, spent);
    }
    drop(calling);
    let inserted = ctx.store.insert_result(&result).await?;
    Ok(Some(Evaluated { result, inserted }))
}

struct RecordParts {
    tool_fingerprint: String,
    model_version: Option<String>,
    output: String,
    error: Option<ProviderError>,
    input_tokens: u64,
    output_tokens: u64,
    latency_ms: u64,
    attempts: u32,
    cached: bool,
    verdict: Verdict,
    reason: String,
    outcomes: Vec<proximity_store::AssertionOutcome>,
    mean_logprob: Option<f64>,
    hedged: Option<bool>,
}

fn record(ctx: &ItemCtx<'_>, p: RecordParts) -> ResultRecord {
    ResultRecord {
        run_id: ctx.run_id.to_owned(),
        case_id: ctx.case.id.clone(),
        tool_id: ctx.tool.id.clone(),
        sample: ctx.sample,
        persona: ctx.case.persona.clone(),
        workflow: ctx.case.workflow.clone(),
        kind: ctx.case.kind.as_str().to_owned(),
        source: ctx.case.source.as_str().to_owned(),
        case_weight: ctx.case.weight,
        tool_fingerprint: p.tool_fingerprint,
        model_version: p.model_version,
        output: p.output,
        error_class: p.error.as_ref().map(|e| e.class.as_str().to_owned()),
        error_message: p.error.as_ref().map(|e| e.message.clone()),
        input_tokens: p.input_tokens,
        output_tokens: p.output_tokens,
        cost_usd: ctx.tool.price.cost(p.input_tokens, p.output_tokens),
        latency_ms: p.latency_ms,
        attempts: p.attempts,
        cached: p.cached,
        verdict: p.verdict,
        reason: p.reason,
        assertions: p.outcomes,
        mean_logprob: p.mean_logprob,
        hedged: p.hedged,
        created_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_what_would_pass_the_limit() {
        let mut b = Budget {
            limit: Some(1.0),
            spent: 0.0,
            reserved: 0.0,
            exhausted: false,
            calibration: HashMap::new(),
        };
        let r = b.reserve("t", 0.6).unwrap();
        assert!(b.reserve("t", 0.6).is_none());
        assert!(b.exhausted);
        b.settle("t", 0.6, r, 0.3);
        assert!((b.spent - 0.3).abs() < 1e-12);
        assert_eq!(b.reserved, 0.0);
    }

    #[test]
    fn budget_calibrates_estimates_upwards() {
        let mut b = Budget {
            limit: Some(10.0),
            spent: 0.0,
            reserved: 0.0,
            exhausted: false,
            calibration: HashMap::new(),
        };
        let r = b.reserve("t", 1.0).unwrap();
        b.settle("t", 1.0, r, 2.0);
        // The next estimate of the same tool is doubled: 2.0 spent + 2 × 4.0 reserved.
        let r2 = b.reserve("t", 4.0).unwrap();
        assert!((r2 - 8.0).abs() < 1e-12);
        assert!(b.reserve("t", 0.1).is_none());
        // Another tool is not affected.
        assert!(b.reserve("u", 0.0).is_some());
    }
}
