//! Capture: a sampled share of the keyed requests of a tier with `capture: true`, kept
//! with their answers after redaction ([`proximity_program::redact`]) so that
//! `proximity capture promote` can turn one into a case.
//!
//! The request path only decides ([`Capturer::plan`]: the tier's switch and sample) and,
//! once the answer is complete and its usage row durable, hands the capture to a
//! bounded queue ([`Capturer::answered`]) without waiting. A background writer redacts
//! and stores captures in batches. When the queue is full, the capture is skipped and
//! counted (`proximity_gateway_captures_total{result="skipped_full"}`), never queued
//! without limit, and the answer never waits. Nothing of a request is kept, in memory
//! or in the store, unless its tier turns capture on.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{IntCounterVec, Opts};
use proximity_program::redact::Redactor;
use proximity_program::{Message, Program, Role, Tier};
use proximity_store::{CapturedMessage, NewCapture, Store};
use tokio::sync::{mpsc, oneshot};

/// Captures waiting for the writer, at most; past it they are skipped and counted.
pub const QUEUE: usize = 1024;
/// Captures the writer stores in one transaction, at most.
const BATCH: usize = 64;

/// The redactor of `program`: its `canaries:` beside the built-in kinds.
pub fn redactor(program: &Program) -> Redactor {
    Redactor::new(proximity_program::canaries(&program.root))
}

/// A request chosen for capture, before its answer: what it asked, unredacted until the
/// writer takes it (its `Debug` shows none of the content, so no log line can).
pub struct Pending {
    created_at: DateTime<Utc>,
    persona: String,
    tier: String,
    workflow: String,
    messages: Vec<Message>,
    redactor: Arc<Redactor>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("persona", &self.persona)
            .field("tier", &self.tier)
            .field("workflow", &self.workflow)
            .field("messages", &self.messages.len())
            .finish_non_exhaustive()
    }
}

enum Job {
    Capture(Arc<Pending>, String, String, String),
    Flush(oneshot::Sender<()>),
}

/// The capture queue and its counters.
pub struct Capturer {
    tx: mpsc::Sender<Job>,
    counts: IntCounterVec,
}

impl Capturer {
    /// Start the background writer on `store` (inside a Tokio runtime); its counters
    /// are registered in `registry`.
    pub fn start(store: Store, registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        Self::with_capacity(store, registry, QUEUE)
    }

    fn with_capacity(
        store: Store,
        registry: &prometheus::Registry,
        capacity: usize,
    ) -> Result<Self, prometheus::Error> {
        let counts = IntCounterVec::new(
            Opts::new(
                "proximity_gateway_captures_total",
                "Captured requests: written, skipped because the queue was full, failed to write.",
            ),
            &["result"],
        )?;
        registry.register(Box::new(counts.clone()))?;
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(write(store, rx, counts.clone()));
        Ok(Self { tx, counts })
    }

    /// Whether to capture this request: its tier turns capture on and the draw falls in
    /// its sample. Only then are its messages kept.
    pub fn plan(
        tier: &Tier,
        persona: &str,
        workflow: &str,
        created_at: DateTime<Utc>,
        messages: &[Message],
        redactor: &Arc<Redactor>,
    ) -> Option<Arc<Pending>> {
        let sample = tier.capture_sample?;
        if sample <= 0.0 || rand::random::<f64>() >= sample {
            return None;
        }
        Some(Arc::new(Pending {
            created_at,
            persona: persona.to_owned(),
            tier: tier.id.clone(),
            workflow: workflow.to_owned(),
            messages: messages.to_vec(),
            redactor: redactor.clone(),
        }))
    }

    /// The answer to request `request_id`, served by `tool`, is complete and
    /// acknowledged: when the request was chosen for capture (`pending`), queue it for
    /// the writer, or skip and count it when the queue is full. Never waits.
    pub fn answered(
        &self,
        pending: Option<&Arc<Pending>>,
        request_id: &str,
        tool: &str,
        answer: &str,
    ) {
        let Some(pending) = pending else {
            return;
        };
        let job = Job::Capture(
            pending.clone(),
            request_id.to_owned(),
            tool.to_owned(),
            answer.to_owned(),
        );
        if self.tx.try_send(job).is_err() {
            self.counts.with_label_values(&["skipped_full"]).inc();
        }
    }

    /// Wait (at most `limit`) until every capture queued so far is written.
    pub async fn flush(&self, limit: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(limit, wait).await;
        }
    }

    /// Captures counted under `result` (`written`, `skipped_full`, `failed`).
    pub fn count(&self, result: &str) -> u64 {
        self.counts.with_label_values(&[result]).get()
    }
}

/// The writer: takes what is queued (up to [`BATCH`] at a time), redacts and stores it.
async fn write(store: Store, mut rx: mpsc::Receiver<Job>, counts: IntCounterVec) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Capture(p, request_id, tool, answer) => {
                    batch.push(redacted(&p, request_id, tool, &answer));
                }
                Job::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            match store.insert_captures(&batch).await {
                Ok(n) => counts.with_label_values(&["written"]).inc_by(n as u64),
                Err(e) => {
                    tracing::warn!(error = %e, captures = batch.len(), "cannot store captures");
                    counts
                        .with_label_values(&["failed"])
                        .inc_by(batch.len() as u64);
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// A chat role as the wire spells it.
pub(crate) fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// A capture as stored: every message and the answer redacted.
fn redacted(p: &Pending, request_id: String, tool: String, answer: &str) -> NewCapture {
    NewCapture {
        created_at: p.created_at,
        request_id,
        persona: p.persona.clone(),
        tier: p.tier.clone(),
        tool,
        workflow: p.workflow.clone(),
        messages: p
            .messages
            .iter()
            .map(|m| CapturedMessage {
                role: role(m.role).to_owned(),
                content: p.redactor.redact(&m.content),
            })
            .collect(),
        answer: p.redactor.redact(answer),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proximity_store::CaptureFilter;

    use super::*;

    fn tier(sample: Option<f64>) -> Tier {
        Tier {
            id: "t".into(),
            tools: vec!["a".into()],
            budget_per_seat_month: None,
            rate_limit: None,
            data_classes: vec![],
            capture_sample: sample,
        }
    }

    fn plan(sample: Option<f64>, r: &Arc<Redactor>) -> Option<Arc<Pending>> {
        Capturer::plan(&tier(sample), "p", "w", Utc::now(), &messages(), r)
    }

    fn messages() -> Vec<Message> {
        vec![Message {
            role: Role::User,
            content: "I am jane@example.com, key sk-abcdefghijklmnop, ref ACME-7731".into(),
        }]
    }

    #[test]
    fn nothing_is_planned_with_capture_off_or_a_zero_sample() {
        let r = Arc::new(Redactor::default());
        for _ in 0..100 {
            assert!(plan(None, &r).is_none());
            assert!(plan(Some(0.0), &r).is_none());
            assert!(plan(Some(1.0), &r).is_some());
        }
        let half = (0..2000).filter(|_| plan(Some(0.5), &r).is_some()).count();
        assert!((800..1200).contains(&half), "{half} of 2000 at 0.5");
    }

    #[tokio::test]
    async fn captures_are_stored_redacted() {
        let store = proximity_store::testing::sqlite().await;
        let registry = prometheus::Registry::new();
        let c = Capturer::start(store.store.clone(), &registry).unwrap();
        let r = Arc::new(Redactor::new(["ACME-7731"]));
        let on = plan(Some(1.0), &r);
        c.answered(
            on.as_ref(),
            "r1",
            "a",
            "Sure, jane@example.com: call +49 30 1234567.",
        );
        // A request of a tier without capture leaves nothing.
        let off = plan(None, &r);
        c.answered(off.as_ref(), "r2", "a", "not kept");
        c.flush(Duration::from_secs(5)).await;
        let all = store.captures(&CaptureFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1);
        let got = &all[0].capture;
        assert_eq!(
            got.messages[0].content,
            "I am [EMAIL], key [SECRET], ref [CANARY]"
        );
        assert_eq!(got.answer, "Sure, [EMAIL]: call [PHONE].");
        assert_eq!((got.persona.as_str(), got.tier.as_str()), ("p", "t"));
        assert_eq!((got.tool.as_str(), got.workflow.as_str()), ("a", "w"));
        assert_eq!(c.count("written"), 1);
    }

    #[tokio::test]
    async fn a_full_queue_skips_and_counts_without_waiting() {
        let store = proximity_store::testing::sqlite().await;
        let registry = prometheus::Registry::new();
        // A queue of one, with a writer that cannot run (the test holds the thread).
        let c = Capturer::with_capacity(store.store.clone(), &registry, 1).unwrap();
        let r = Arc::new(Redactor::default());
        let on = plan(Some(1.0), &r);
        let t = std::time::Instant::now();
        for _ in 0..10 {
            c.answered(on.as_ref(), "r1", "a", "answer");
        }
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(c.count("skipped_full"), 9);
    }
}
