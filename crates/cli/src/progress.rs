//! The progress bar of a run (indicatif, on standard error): done/total, failures, spend
//! so far, ETA. Hidden with `--quiet` or when standard error is not a terminal, in which
//! case retries and notices are still logged as plain lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use proximity_eval::runner::Progress;
use proximity_providers::ProviderError;
use proximity_store::{ResultRecord, Verdict};

/// A progress bar for `proximity eval`.
pub struct Bar {
    bar: ProgressBar,
    failures: AtomicU64,
    retries: AtomicU64,
    quiet: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if quiet {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg} (ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self {
            bar,
            failures: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            quiet,
        }
    }

    fn update_message(&self, spent: f64) {
        let failures = self.failures.load(Ordering::Relaxed);
        let retries = self.retries.load(Ordering::Relaxed);
        let mut msg = format!("· {failures} failed · ${spent:.4} spent");
        if retries > 0 {
            msg.push_str(&format!(" · {retries} retries"));
        }
        self.bar.set_message(msg);
    }

    /// Set how many items are done (when following a run others evaluate).
    pub fn set_done(&self, done: u64) {
        self.bar.set_position(done);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    #[allow(clippy::print_stderr)]
    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

impl Progress for Bar {
    fn start(&self, run_id: &str, total: u64, done: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.update_message(0.0);
        if done > 0 {
            self.line(&format!(
                "run {run_id}: resuming, {done} of {total} results already saved"
            ));
        } else {
            self.line(&format!("run {run_id}: {total} evaluations"));
        }
    }

    fn result(&self, result: &ResultRecord, spent: f64) {
        if result.verdict != Verdict::Pass {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.bar.inc(1);
        self.update_message(spent);
    }

    fn retry(&self, tool: &str, case: &str, error: &ProviderError, wait: Duration) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        tracing::info!(tool, case, class = %error.class, wait_ms = wait.as_millis() as u64, "retrying");
    }

    fn notice(&self, message: &str) {
        self.line(message);
    }
}
