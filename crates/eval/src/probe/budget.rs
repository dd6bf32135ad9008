//! The token budget of a probe (`--max-tokens-budget`): a probe whose estimate passes it
//! is refused before anything is sent ([`check`]), and a running probe stops cleanly once
//! the tokens really sent reach it ([`TokenBudget`], a [`Progress`] wrapper that cancels
//! the run; requests already in flight finish and are saved).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use proximity_providers::ProviderError;
use proximity_store::ResultRecord;
use tokio_util::sync::CancellationToken;

use super::ProbeError;
use crate::runner::Progress;

/// Refuse an estimate over the budget.
pub fn check(estimate: u64, budget: Option<u64>) -> Result<(), ProbeError> {
    match budget {
        Some(budget) if estimate > budget => Err(ProbeError::OverBudget { estimate, budget }),
        _ => Ok(()),
    }
}

/// Counts the tokens answers really cost (prompt + output, cached answers excluded) and
/// cancels `cancel` when they reach the limit.
pub struct TokenBudget<'a> {
    inner: &'a dyn Progress,
    limit: Option<u64>,
    used: AtomicU64,
    tripped: AtomicBool,
    cancel: CancellationToken,
}

impl<'a> TokenBudget<'a> {
    /// `cancel` must be the token the runner is given.
    pub fn new(inner: &'a dyn Progress, limit: Option<u64>, cancel: CancellationToken) -> Self {
        Self {
            inner,
            limit,
            used: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            cancel,
        }
    }

    /// Tokens sent and received so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Whether the limit was reached (and the run cancelled).
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    fn add(&self, tokens: u64) {
        let used = self.used.fetch_add(tokens, Ordering::SeqCst) + tokens;
        if let Some(limit) = self.limit {
            if used >= limit && !self.tripped.swap(true, Ordering::SeqCst) {
                self.cancel.cancel();
                self.inner.notice(&format!(
                    "token budget of {limit} reached ({used} tokens sent): stopping after the \
                     requests in flight"
                ));
            }
        }
    }
}

impl Progress for TokenBudget<'_> {
    fn start(&self, run_id: &str, total: u64, done: u64) {
        self.inner.start(run_id, total, done);
    }

    fn result(&self, result: &ResultRecord, spent: f64) {
        if !result.cached {
            self.add(result.input_tokens + result.output_tokens);
        }
        self.inner.result(result, spent);
    }

    fn retry(&self, tool: &str, case: &str, error: &ProviderError, wait: Duration) {
        self.inner.retry(tool, case, error, wait);
    }

    fn notice(&self, message: &str) {
        // The runner's hints name `eval --resume`; a probe is resumed by running it again
        // (answers already paid for come from the cache), which the caller says.
        if !message.contains("--resume") {
            self.inner.notice(message);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn an_estimate_over_the_budget_is_refused_with_the_estimate() {
        assert!(check(1000, None).is_ok());
        assert!(check(1000, Some(1000)).is_ok());
        let err = check(1001, Some(1000)).unwrap_err();
        assert!(matches!(
            err,
            ProbeError::OverBudget {
                estimate: 1001,
                budget: 1000
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("1001") && msg.contains("--max-tokens-budget 1000"),
            "{msg}"
        );
    }

    #[derive(Default)]
    struct Notices(Mutex<Vec<String>>);

    impl Progress for Notices {
        fn start(&self, _: &str, _: u64, _: u64) {}
        fn result(&self, _: &ResultRecord, _: f64) {}
        fn retry(&self, _: &str, _: &str, _: &ProviderError, _: Duration) {}
        fn notice(&self, m: &str) {
            self.0.lock().unwrap().push(m.to_owned());
        }
    }

    fn result(input: u64, output: u64, cached: bool) -> ResultRecord {
        ResultRecord {
            tool_calls: Vec::new(),
            run_id: "r".into(),
            case_id: "c".into(),
            tool_id: "t".into(),
            sample: 0,
            persona: "probe".into(),
            workflow: "context-fill".into(),
            kind: "routine".into(),
            source: "synthetic".into(),
            case_weight: 1.0,
            tool_fingerprint: String::new(),
            model_version: None,
            output: String::new(),
            error_class: None,
            error_message: None,
            input_tokens: input,
            output_tokens: output,
            cost_usd: 0.0,
            latency_ms: 0,
            attempts: 1,
            cached,
            verdict: proximity_store::Verdict::Pass,
            reason: String::new(),
            assertions: vec![],
            mean_logprob: None,
            hedged: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_run_is_cancelled_once_real_tokens_reach_the_budget() {
        let notices = Notices::default();
        let cancel = CancellationToken::new();
        let b = TokenBudget::new(&notices, Some(250), cancel.clone());
        b.result(&result(100, 10, false), 0.0);
        // Cached answers cost nothing.
        b.result(&result(500, 10, true), 0.0);
        assert!(!cancel.is_cancelled());
        assert_eq!(b.used(), 110);
        b.result(&result(130, 10, false), 0.0);
        assert!(cancel.is_cancelled() && b.tripped());
        b.result(&result(130, 10, false), 0.0);
        let n = notices.0.lock().unwrap();
        assert_eq!(n.len(), 1, "one notice: {n:?}");
        assert!(n[0].contains("token budget of 250"), "{}", n[0]);
    }

    #[test]
    fn no_budget_never_cancels_and_resume_hints_are_dropped() {
        let notices = Notices::default();
        let cancel = CancellationToken::new();
        let b = TokenBudget::new(&notices, None, cancel.clone());
        b.result(&result(1_000_000, 10, false), 0.0);
        assert!(!cancel.is_cancelled());
        b.notice("interrupted: resume with `proximity eval --resume X`");
        b.notice("something else");
        assert_eq!(
            *notices.0.lock().unwrap(),
            vec!["something else".to_owned()]
        );
    }
}
