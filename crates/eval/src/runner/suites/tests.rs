//! A run over suites read as it goes produces exactly the results of a run over the
//! loaded program, and resumes the same way.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use proximity_store::{ResultRecord, Store};

use super::*;
use proximity_store::RunStatus;
use tokio_util::sync::CancellationToken;

use crate::runner::{self, Cases, Progress, RunError, RunOptions, RunSpec, Silent};

const PROGRAM: &str = r#"version: 1
name: streamed
tools:
  - id: a
    provider: scripted
    params: { default_reply: "ok from a" }
  - id: b
    provider: scripted
    params: { default_reply: "nope" }
tiers:
  - id: both
    tools: [a, b]
  - id: one
    tools: [b]
personas:
  - id: p
    headcount: 1
    tier: both
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
  - id: q
    headcount: 1
    tier: one
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;

/// A program of `n` cases of persona `p` in one suite and `n / 2` of `q` in another.
fn program_dir(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    for (file, persona, count) in [("1.yaml", "p", n), ("2.yaml", "q", n / 2)] {
        let mut text = format!("persona: {persona}\nworkflow: w\ncases:\n");
        for i in 0..count {
            text.push_str(&format!(
                "  - id: {persona}{i}\n    prompt: \"case {i}\"\n    assert: {{ correct: [contains: ok] }}\n"
            ));
        }
        fs_err::write(dir.path().join("suites").join(file), text).unwrap();
    }
    dir
}

async fn store() -> Store {
    Store::connect("sqlite::memory:").await.unwrap()
}

/// What a result says, without the run it belongs to or its timing.
fn keyed(results: &[ResultRecord]) -> BTreeSet<(String, String, u32, String, String, String)> {
    results
        .iter()
        .map(|r| {
            (
                r.case_id.clone(),
                r.tool_id.clone(),
                r.sample,
                r.persona.clone(),
                r.output.clone(),
                format!("{:?}", r.verdict),
            )
        })
        .collect()
}

fn options(samples: u32) -> RunOptions {
    RunOptions {
        samples,
        concurrency: 3,
        use_cache: false,
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn a_streamed_run_gives_the_results_of_a_loaded_run() {
    let dir = program_dir(40);
    let loaded = proximity_program::load(dir.path()).unwrap();
    // Read again by the run, and kept from the first reading.
    for hold in [0, 59, 60, HOLD] {
        let suites = Suites::load_holding(dir.path(), hold).unwrap();
        assert!(suites.program.cases.is_empty());
        assert_eq!(suites.cases(), 60);
        assert_eq!(suites.holds_cases(), hold >= 60, "hold {hold}");
        same_results_as_loaded(&loaded, &suites).await;
    }
}

async fn same_results_as_loaded(loaded: &Program, suites: &Suites) {
    for opts in [
        options(2),
        RunOptions {
            personas: vec!["q".into()],
            ..options(1)
        },
        RunOptions {
            tools: vec!["a".into()],
            ..options(1)
        },
    ] {
        let s1 = store().await;
        let spec = RunSpec::new(Cases::Held(loaded), opts.clone());
        let a = runner::start(&s1, spec, CancellationToken::new(), &Silent)
            .await
            .unwrap();
        let s2 = store().await;
        let spec = RunSpec::new(Cases::Streamed(suites), opts.clone());
        let b = runner::start(&s2, spec, CancellationToken::new(), &Silent)
            .await
            .unwrap();
        assert_eq!(a.planned, b.planned, "{opts:?}");
        assert_eq!(b.completed, b.planned, "{opts:?}");
        assert_eq!(b.status, RunStatus::Finished);
        let ra = s1.results(&a.run_id).await.unwrap();
        let rb = s2.results(&b.run_id).await.unwrap();
        assert_eq!(rb.len() as u64, b.planned);
        assert_eq!(keyed(&ra), keyed(&rb), "{opts:?}");
    }
}

/// Stops the run after `after` results.
struct StopAfter {
    after: u64,
    seen: AtomicU64,
    cancel: CancellationToken,
}

impl Progress for StopAfter {
    fn start(&self, _: &str, _: u64, _: u64) {}
    fn result(&self, _: &ResultRecord, _: f64) {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.cancel.cancel();
        }
    }
    fn retry(
        &self,
        _: &str,
        _: &str,
        _: &proximity_providers::ProviderError,
        _: std::time::Duration,
    ) {
    }
    fn notice(&self, _: &str) {}
}

#[tokio::test]
async fn an_interrupted_streamed_run_resumes_with_only_the_missing_results() {
    // Enough cases that the reader is still ahead of the run when it stops.
    let dir = program_dir(2000);
    for hold in [0, 3000] {
        let suites = Suites::load_holding(dir.path(), hold).unwrap();
        assert_eq!(suites.holds_cases(), hold > 0);
        interrupt_and_resume(&suites).await;
    }
}

async fn interrupt_and_resume(suites: &Suites) {
    let s = store().await;
    let cancel = CancellationToken::new();
    let stop = StopAfter {
        after: 50,
        seen: AtomicU64::new(0),
        cancel: cancel.clone(),
    };
    let spec = RunSpec::new(Cases::Streamed(suites), options(1));
    let first = runner::start(&s, spec, cancel, &stop).await.unwrap();
    assert_eq!(first.status, RunStatus::Interrupted);
    assert!(
        first.completed >= 50 && first.completed < first.planned,
        "{first:?}"
    );

    let done = runner::resume(
        &s,
        Cases::Streamed(suites),
        &first.run_id,
        None,
        CancellationToken::new(),
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(done.status, RunStatus::Finished);
    assert_eq!(done.completed, first.planned);
    let results = s.results(&first.run_id).await.unwrap();
    assert_eq!(results.len() as u64, first.planned);
    let keys: BTreeSet<_> = results
        .iter()
        .map(|r| (r.case_id.clone(), r.tool_id.clone(), r.sample))
        .collect();
    assert_eq!(keys.len(), results.len(), "a result written twice");
}

#[tokio::test]
async fn an_unknown_persona_is_refused_before_a_run_exists() {
    let dir = program_dir(4);
    let suites = Suites::load(dir.path()).unwrap();
    let s = store().await;
    let opts = RunOptions {
        personas: vec!["nobody".into()],
        ..options(1)
    };
    let spec = RunSpec::new(Cases::Streamed(&suites), opts);
    let err = runner::start(&s, spec, CancellationToken::new(), &Silent)
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::UnknownPersona(_)), "{err}");
}
