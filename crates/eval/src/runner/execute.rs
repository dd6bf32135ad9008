//! Running a run's items: the stream of (case, tool, sample) items still to evaluate, made
//! from a stream of cases, and [`execute`], which evaluates them concurrently within the
//! run's slots and budget and records how the run ended.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::stream::BoxStream;
use futures::StreamExt;
use proximity_program::fingerprint::config_fingerprint;
use proximity_program::{Case, Program};
use proximity_providers::RetryPolicy;
use proximity_store::{RunRecord, RunStatus, Store, StoreError};
use tokio_util::sync::CancellationToken;

use super::budget::Budget;
use super::item::{evaluate_item, ItemCtx, ProviderJudge};
use super::plan::{Census, Providers, Selection};
use super::{Progress, RunError, RunOptions, RunSummary};

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

/// The (case, tool, sample) keys of results.
pub(crate) type DoneKeys = HashSet<(String, String, u32)>;

/// The items of a run still to evaluate, in order, and how many the run has in all.
pub(crate) struct Work<'a> {
    pub(crate) items: BoxStream<'a, Planned<'a>>,
    pub(crate) total: u64,
    pub(crate) already: u64,
}

impl<'a> Work<'a> {
    /// The items of `cases` (of the personas of `census`) under `selection`, in the
    /// plan's order (case, tool, sample), less those in `done`.
    pub(crate) fn of_cases(
        cases: BoxStream<'a, CaseRef<'a>>,
        census: &Census,
        program: &Program,
        selection: &Selection<'_>,
        done: DoneKeys,
    ) -> Self {
        let total = census.planned(selection);
        let tools: std::collections::HashMap<String, Vec<usize>> = census
            .personas()
            .map(|p| (p.to_owned(), selection.tools_of(p)))
            .collect();
        let tool_ids: Vec<String> = program.tools.iter().map(|t| t.id.clone()).collect();
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
        Self {
            items,
            total,
            already,
        }
    }
}

/// The (case, tool, sample) keys a run holds results for (none when it was just
/// created).
pub(crate) async fn done_keys(
    store: &Store,
    run_id: &str,
    fresh: Fresh,
) -> Result<DoneKeys, StoreError> {
    if fresh.0 {
        return Ok(HashSet::new());
    }
    Ok(store.completed_keys(run_id).await?.into_iter().collect())
}

/// Evaluate `work` into `run`, then record and return how the run ended.
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
    let budget = Mutex::new(Budget::new(options.budget_usd, spent));
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
