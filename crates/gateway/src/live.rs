//! Live checks: after a keyed request's answer is complete, a sampled share of it
//! (`live_sample`) is handed to a bounded queue ([`LiveChecks::offer`], `try_send`: the
//! client never waits), and one background task applies the workflow's `live:` checks
//! with the evaluator's own assertions and verdict rules (`proximity_eval`), then adds
//! the verdict counts per day × persona × tool × workflow to the store. A full queue
//! skips the check and counts it (on `/metrics` and in the store). The answer lives only
//! in the queued job and is dropped once checked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use proximity_eval::{classify, evaluate_all, Context, Judge, Observed};
use proximity_program::{Case, CaseKind, CaseSource, Location, ToolCall};
use proximity_providers::{
    complete_with_retries, ChatRequest, ChatResponse, ErrorClass, ProviderError, RetryPolicy,
};
use proximity_store::{LiveCheckRow, Store};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use crate::metrics::LiveMetrics;
use crate::usage::Draft;
use crate::Loaded;

/// The default capacity of the check queue (`--live-queue`).
pub const DEFAULT_QUEUE: usize = 1024;

/// How often counts are written while checks keep coming.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How long a closing gateway waits for the checks in its queue.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// (day, persona, tool, workflow).
type Key = (String, String, String, String);

/// One answer to check.
struct Job {
    loaded: Arc<Loaded>,
    key: Key,
    answer: String,
    tool_calls: Vec<ToolCall>,
}

/// The queue and its worker.
pub struct LiveChecks {
    tx: mpsc::Sender<Job>,
    /// Skips not yet in the store.
    skipped: Arc<Mutex<HashMap<Key, i64>>>,
    /// Jobs queued or being checked, plus counts not yet in the store.
    pending: Arc<AtomicU64>,
    metrics: LiveMetrics,
    close: Arc<Notify>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl LiveChecks {
    /// A queue of `capacity` jobs (at least 1) served by a worker task on the current
    /// runtime, writing to `store`.
    pub fn start(store: Store, metrics: LiveMetrics, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let skipped = Arc::new(Mutex::new(HashMap::new()));
        let pending = Arc::new(AtomicU64::new(0));
        let close = Arc::new(Notify::new());
        let worker = Worker {
            store,
            metrics: metrics.clone(),
            skipped: skipped.clone(),
            pending: pending.clone(),
            counts: HashMap::new(),
        };
        let handle = tokio::spawn(worker.run(rx, close.clone()));
        Self {
            tx,
            skipped,
            pending,
            metrics,
            close,
            worker: Mutex::new(Some(handle)),
        }
    }

    /// Offer a finished answer of `draft` for checking: when its persona's workflow has
    /// `live:` checks and the sample draws it, `answer` (called only then) is queued, or
    /// the skip counted when the queue is full. Never waits.
    pub fn offer(
        &self,
        loaded: &Arc<Loaded>,
        draft: &Draft,
        answer: impl FnOnce() -> (String, Vec<ToolCall>),
    ) {
        let Some(persona) = draft.persona.as_deref() else {
            return;
        };
        let Some(workflow) = loaded
            .program
            .persona(persona)
            .and_then(|p| p.workflow(&draft.workflow))
        else {
            return;
        };
        if workflow.live.is_empty() || !drawn(workflow.live_sample) {
            return;
        }
        let tool = draft.served_by.as_deref().unwrap_or(&draft.tool_id);
        let key = (
            draft.created_at.format("%Y-%m-%d").to_string(),
            persona.to_owned(),
            tool.to_owned(),
            workflow.id.clone(),
        );
        let (answer, tool_calls) = answer();
        let job = Job {
            loaded: loaded.clone(),
            key,
            answer,
            tool_calls,
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => {
                let (_, persona, tool, workflow) = &job.key;
                self.metrics
                    .skipped
                    .with_label_values(&[tool.as_str(), persona.as_str(), workflow.as_str()])
                    .inc();
                let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
                *skipped.entry(job.key).or_default() += 1;
                // Still pending: the skip is stored with the next write.
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Checks queued or running, and counts not yet stored (`/healthz`'s
    /// `live_pending`).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Check what is queued, store every count and stop the worker (waiting at most
    /// [`CLOSE_WAIT`]).
    pub async fn close(&self) {
        let handle = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            self.close.notify_one();
            if tokio::time::timeout(CLOSE_WAIT, handle).await.is_err() {
                tracing::warn!("live checks still running at shutdown: their counts are lost");
            }
        }
    }
}

/// Whether an answer is drawn into a sample of share `sample`.
fn drawn(sample: f64) -> bool {
    sample >= 1.0 || (sample > 0.0 && rand::random::<f64>() < sample)
}

struct Worker {
    store: Store,
    metrics: LiveMetrics,
    skipped: Arc<Mutex<HashMap<Key, i64>>>,
    pending: Arc<AtomicU64>,
    /// Verdicts not yet in the store.
    counts: HashMap<Key, LiveCheckRow>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>, close: Arc<Notify>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => self.check(job).await,
                    None => break,
                },
                _ = tick.tick() => {}
                () = close.notified() => {
                    rx.close();
                    while let Some(job) = rx.recv().await {
                        self.check(job).await;
                    }
                    break;
                }
            }
            // Write when the queue is drained, or on the tick while it never is.
            if rx.is_empty() || self.counts.len() >= 256 {
                self.flush().await;
            }
        }
        self.flush().await;
    }

    async fn check(&mut self, job: Job) {
        // The reason quotes the answer: never logged.
        let (verdict, _reason) = verdict_of(&job).await;
        let (_, persona, tool, workflow) = &job.key;
        tracing::debug!(%persona, %tool, %workflow, verdict = %verdict, "live check");
        self.metrics
            .checks
            .with_label_values(&[
                tool.as_str(),
                persona.as_str(),
                workflow.as_str(),
                verdict.as_str(),
            ])
            .inc();
        let (day, ..) = &job.key;
        self.counts
            .entry(job.key.clone())
            .or_insert_with(|| LiveCheckRow::new(day, persona, tool, workflow))
            .add(verdict);
    }

    /// Store the verdicts and skips counted so far; kept for the next try when the store
    /// refuses.
    async fn flush(&mut self) {
        let skipped = std::mem::take(&mut *self.skipped.lock().unwrap_or_else(|e| e.into_inner()));
        if self.counts.is_empty() && skipped.is_empty() {
            return;
        }
        let mut rows = std::mem::take(&mut self.counts);
        for (key, n) in skipped {
            let (day, persona, tool, workflow) = &key;
            rows.entry(key.clone())
                .or_insert_with(|| LiveCheckRow::new(day, persona, tool, workflow))
                .skipped += n;
        }
        let stored: u64 = rows
            .values()
            .map(|r| (r.checked() + r.skipped) as u64)
            .sum();
        let list: Vec<LiveCheckRow> = rows.values().cloned().collect();
        match self.store.add_live_checks(&list).await {
            Ok(()) => {
                self.pending.fetch_sub(stored, Ordering::SeqCst);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot store live-check counts; retrying later");
                let mut back = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
                for (key, mut row) in rows {
                    *back.entry(key.clone()).or_default() += row.skipped;
                    row.skipped = 0;
                    if row.checked() > 0 {
                        self.counts.insert(key, row);
                    }
                }
            }
        }
    }
}

/// The verdict of one answer under its workflow's `live:` checks, by the evaluator's own
/// assertions and rules (the answer as a case with no prompt).
async fn verdict_of(job: &Job) -> (proximity_store::Verdict, String) {
    let (_, persona, _, workflow) = &job.key;
    let program = &job.loaded.program;
    let live = program
        .persona(persona)
        .and_then(|p| p.workflow(workflow))
        .map(|w| w.live.clone())
        .unwrap_or_default();
    let case = Case {
        id: format!("live:{persona}:{workflow}"),
        persona: persona.clone(),
        workflow: workflow.clone(),
        kind: CaseKind::Routine,
        source: CaseSource::Field,
        description: None,
        messages: Vec::new(),
        vars: Default::default(),
        documents: Vec::new(),
        assertions: live,
        weight: 1.0,
        tags: Vec::new(),
        note: None,
        tools: Vec::new(),
        tool_choice: None,
        location: Location::default(),
    };
    let judge = ProgramJudge(job.loaded.clone());
    let ctx = Context::new(&case)
        .with_tool_calls(&job.tool_calls)
        .with_judge(&judge, program.judge_tool.as_deref());
    let outcomes = evaluate_all(&job.answer, &ctx).await;
    classify(&Observed {
        case: &case,
        output: &job.answer,
        error: None,
        provider_refused: false,
        finish_reason: None,
        outcomes: &outcomes,
        tool_calls: &job.tool_calls,
    })
}

/// `judge` checks graded by the program's tools, as the evaluator grades them.
struct ProgramJudge(Arc<Loaded>);

#[async_trait]
impl Judge for ProgramJudge {
    async fn complete(
        &self,
        tool_id: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let Some(tool) = self.0.program.tool(tool_id) else {
            return Err(ProviderError::new(
                ErrorClass::Config,
                format!("judge tool `{tool_id}` is not in the program"),
            ));
        };
        let provider = self.0.provider(tool)?;
        complete_with_retries(
            provider.as_ref(),
            request,
            &RetryPolicy::default(),
            proximity_providers::http::timeout_of(tool),
            |_, _, _| {},
        )
        .await
        .result
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_draws_all_none_or_about_its_share() {
        assert!((0..1000).all(|_| drawn(1.0)));
        assert!((0..1000).all(|_| !drawn(0.0)));
        let n = (0..20_000).filter(|_| drawn(0.1)).count();
        // 2,000 expected; 5 standard deviations (~212) either side.
        assert!((1_700..2_300).contains(&n), "{n}");
    }
}
