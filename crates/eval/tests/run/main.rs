//! The run API (`runner::start`, `runner::resume`) end to end, against an OpenAI-compatible
//! upstream served over HTTP on loopback and a real store: the response cache, resuming
//! a cancelled run, the budget, retries and the verdicts of real answers.
#![allow(clippy::unwrap_used)]

mod tools;
mod upstream;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use proximity_eval::runner::suites::Suites;
use proximity_eval::runner::{self, Cases, Progress, RunOptions, RunSpec, Silent};
use proximity_providers::ProviderError;
use proximity_store::testing::{self, TestStore};
use proximity_store::{ResultRecord, RunStatus, Verdict};
use tokio_util::sync::CancellationToken;
use upstream::Upstream;

/// What one answer of the upstream costs: 100 prompt tokens at $10/M, 10 completion
/// tokens at $30/M.
const ANSWER_COST: f64 = (100.0 * 10.0 + 10.0 * 30.0) / 1e6;

/// A program of one `openai` tool on `upstream` and one suite of `cases` (id, prompt,
/// assertions as YAML flow).
fn program(upstream: &Upstream, cases: &[(String, String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"version: 1
name: run-api
tools:
  - id: gpt
    provider: openai
    model: fake-model
    base_url: {}
    api_key_env: PROXIMITY_RUN_TEST_KEY_UNSET
    price: {{ input_per_mtok: 10, output_per_mtok: 30 }}
    params:
      max_tokens: 20
      max_attempts: 2
      timeout_secs: 10
tiers:
  - id: t
    tools: [gpt]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{{ id: w, share: 1.0, floor: 0.5 }}]
"#,
        upstream.base_url()
    );
    fs_err::write(dir.path().join("proximity.yaml"), yaml).unwrap();
    let mut suite = String::from("persona: p\nworkflow: w\ncases:\n");
    for (id, prompt, assert) in cases {
        suite.push_str(&format!(
            "  - id: {id}\n    prompt: {prompt:?}\n    assert: {assert}\n"
        ));
    }
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(dir.path().join("suites/s.yaml"), suite).unwrap();
    dir
}

/// `n` questions the upstream answers right.
fn capitals(n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("c{i}"),
                format!("Question {i}: what is the capital of France?"),
                "{ correct: [contains: Paris] }".to_owned(),
            )
        })
        .collect()
}

fn case(id: &str, prompt: &str, assert: &str) -> (String, String, String) {
    (id.to_owned(), prompt.to_owned(), assert.to_owned())
}

fn options() -> RunOptions {
    RunOptions {
        concurrency: 3,
        ..RunOptions::default()
    }
}

fn load(dir: &Path) -> proximity_program::Program {
    proximity_program::load(dir).unwrap()
}

async fn results(store: &TestStore, run_id: &str) -> HashMap<String, ResultRecord> {
    store
        .store
        .results(run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.case_id.clone(), r))
        .collect()
}

/// Records what a run reports, and cancels it after `cancel_after` results.
#[derive(Default)]
struct Recorder {
    started: Mutex<Option<(u64, u64)>>,
    results: AtomicU64,
    retries: Mutex<Vec<(String, String, Duration)>>,
    notices: Mutex<Vec<String>>,
    cancel_after: Option<(u64, CancellationToken)>,
}

impl Recorder {
    fn cancelling_after(n: u64, cancel: CancellationToken) -> Self {
        Self {
            cancel_after: Some((n, cancel)),
            ..Self::default()
        }
    }

    fn notices(&self) -> String {
        self.notices.lock().unwrap().join("\n")
    }
}

impl Progress for Recorder {
    fn start(&self, _: &str, total: u64, done: u64) {
        *self.started.lock().unwrap() = Some((total, done));
    }
    fn result(&self, _: &ResultRecord, _: f64) {
        let n = self.results.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((after, cancel)) = &self.cancel_after {
            if n >= *after {
                cancel.cancel();
            }
        }
    }
    fn retry(&self, tool: &str, case: &str, _: &ProviderError, wait: Duration) {
        self.retries
            .lock()
            .unwrap()
            .push((tool.to_owned(), case.to_owned(), wait));
    }
    fn notice(&self, message: &str) {
        self.notices.lock().unwrap().push(message.to_owned());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_pays_nothing_its_answers_come_from_the_cache() {
    let up = upstream::start().await;
    let dir = program(&up, &capitals(6));
    let store = testing::sqlite().await;
    let held = load(dir.path());
    let spec = RunSpec::new(Cases::Held(&held), options());
    let first = runner::start(&store.store, spec, CancellationToken::new(), &Silent)
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Finished);
    assert_eq!((first.planned, first.completed), (6, 6));
    assert!((first.spent_usd - 6.0 * ANSWER_COST).abs() < 1e-12);
    assert_eq!(up.seen.total(), 6);

    // The same cases read from the suites as the run goes: the same requests, so the
    // same cache keys.
    let suites = Suites::load(dir.path()).unwrap();
    let spec = RunSpec::new(Cases::Streamed(&suites), options());
    let second = runner::start(&store.store, spec, CancellationToken::new(), &Silent)
        .await
        .unwrap();
    assert_eq!(second.status, RunStatus::Finished);
    assert_eq!(second.completed, 6);
    assert_eq!(second.spent_usd, 0.0, "cached answers cost nothing");
    assert_eq!(up.seen.total(), 6, "no request sent");
    let a = results(&store, &first.run_id).await;
    let b = results(&store, &second.run_id).await;
    for (id, r) in &b {
        assert!(r.cached, "{id}");
        assert!(!a[id].cached, "{id}");
        assert_eq!(r.output, a[id].output);
        assert_eq!(r.verdict, Verdict::Pass);
        assert_eq!(r.tool_fingerprint, a[id].tool_fingerprint);
    }

    // Without the cache, the providers are asked again.
    let spec = RunSpec::new(
        Cases::Streamed(&suites),
        RunOptions {
            use_cache: false,
            ..options()
        },
    );
    let third = runner::start(&store.store, spec, CancellationToken::new(), &Silent)
        .await
        .unwrap();
    assert_eq!(third.completed, 6);
    assert_eq!(up.seen.total(), 12);
    assert!(results(&store, &third.run_id)
        .await
        .values()
        .all(|r| !r.cached));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_half_way_resumes_with_nothing_lost_or_duplicated() {
    for use_cache in [true, false] {
        let up = upstream::start().await;
        let dir = program(&up, &capitals(12));
        let store = testing::sqlite().await;
        let suites = Suites::load(dir.path()).unwrap();
        let opts = RunOptions {
            concurrency: 2,
            use_cache,
            ..options()
        };
        let cancel = CancellationToken::new();
        let rec = Recorder::cancelling_after(4, cancel.clone());
        let spec = RunSpec::new(Cases::Streamed(&suites), opts);
        let first = runner::start(&store.store, spec, cancel, &rec)
            .await
            .unwrap();
        assert_eq!(first.status, RunStatus::Interrupted, "cache {use_cache}");
        assert!(
            first.completed >= 4 && first.completed < 12,
            "cache {use_cache}: {first:?}"
        );
        assert!(rec.notices().contains("interrupted"), "{}", rec.notices());
        // Requests in flight when it stopped were answered and saved, none dropped.
        assert_eq!(up.seen.total(), first.completed, "cache {use_cache}");

        let rec = Recorder::default();
        let done = runner::resume(
            &store.store,
            Cases::Streamed(&suites),
            &first.run_id,
            None,
            CancellationToken::new(),
            &rec,
        )
        .await
        .unwrap();
        assert_eq!(done.run_id, first.run_id);
        assert_eq!(done.status, RunStatus::Finished, "cache {use_cache}");
        assert_eq!((done.planned, done.completed), (12, 12));
        assert_eq!(*rec.started.lock().unwrap(), Some((12, first.completed)));
        assert_eq!(rec.results.load(Ordering::SeqCst), 12 - first.completed);
        let rows = store.store.results(&first.run_id).await.unwrap();
        let keys: BTreeSet<_> = rows.iter().map(|r| r.case_id.clone()).collect();
        assert_eq!((rows.len(), keys.len()), (12, 12), "cache {use_cache}");
        assert_eq!(
            up.seen.total(),
            12,
            "nothing asked twice (cache {use_cache})"
        );
        assert!(up.seen.calls.lock().unwrap().values().all(|&n| n == 1));
        assert!((done.spent_usd - 12.0 * ANSWER_COST).abs() < 1e-12);

        // A finished run is not resumed.
        let again = runner::resume(
            &store.store,
            Cases::Streamed(&suites),
            &first.run_id,
            None,
            CancellationToken::new(),
            &Silent,
        )
        .await;
        assert!(matches!(again, Err(runner::RunError::AlreadyFinished(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_is_never_passed_and_the_run_stops_budget_exhausted() {
    let up = upstream::start().await;
    let dir = program(&up, &capitals(10));
    let store = testing::sqlite().await;
    let held = load(dir.path());
    // Room for three answers, not four.
    let budget = 0.0045;
    let opts = RunOptions {
        concurrency: 1,
        budget_usd: Some(budget),
        ..options()
    };
    let rec = Recorder::default();
    let spec = RunSpec::new(Cases::Held(&held), opts);
    let first = runner::start(&store.store, spec, CancellationToken::new(), &rec)
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::BudgetExhausted);
    assert!(first.spent_usd <= budget, "{first:?}");
    assert_eq!(first.completed, 3, "{first:?}");
    assert_eq!(up.seen.total(), 3, "every answer paid for has its result");
    assert!(
        rec.notices().contains("budget of $0.0045 reached"),
        "{}",
        rec.notices()
    );
    let run = store.store.run(&first.run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::BudgetExhausted);

    // Resumed under the same budget, it sends nothing more.
    let again = runner::resume(
        &store.store,
        Cases::Held(&held),
        &first.run_id,
        None,
        CancellationToken::new(),
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(again.status, RunStatus::BudgetExhausted);
    assert_eq!(again.completed, 3);
    assert_eq!(up.seen.total(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out_then_answered() {
    let up = upstream::start().await;
    let prompt = "What is the capital of France? [rate-limit-once]";
    let dir = program(
        &up,
        &[case("limited", prompt, "{ correct: [contains: Paris] }")],
    );
    let store = testing::sqlite().await;
    let held = load(dir.path());
    let rec = Recorder::default();
    let spec = RunSpec::new(Cases::Held(&held), options());
    let summary = runner::start(&store.store, spec, CancellationToken::new(), &rec)
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Finished);
    let r = &results(&store, &summary.run_id).await["limited"];
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.reason);
    assert_eq!(r.attempts, 2, "429 then 200");
    assert_eq!(r.output, "Paris");
    assert_eq!(up.seen.calls_of(prompt), 2);
    let retries = rec.retries.lock().unwrap();
    assert_eq!(retries.len(), 1);
    let (tool, case, wait) = &retries[0];
    assert_eq!((tool.as_str(), case.as_str()), ("gpt", "limited"));
    assert_eq!(*wait, Duration::from_secs(1), "Retry-After honoured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_until_the_attempts_run_out_give_a_loud_verdict_with_the_error_class() {
    let up = upstream::start().await;
    let prompt = "Anything at all [fail-always]";
    let dir = program(&up, &[case("down", prompt, "{ correct: [contains: x] }")]);
    let store = testing::sqlite().await;
    let held = load(dir.path());
    let rec = Recorder::default();
    let spec = RunSpec::new(Cases::Held(&held), options());
    let summary = runner::start(&store.store, spec, CancellationToken::new(), &rec)
        .await
        .unwrap();
    // A failed request is a result too: the run finishes.
    assert_eq!(summary.status, RunStatus::Finished);
    assert_eq!(summary.spent_usd, 0.0);
    let r = &results(&store, &summary.run_id).await["down"];
    assert_eq!(r.verdict, Verdict::Loud);
    assert_eq!(r.error_class.as_deref(), Some("server"));
    assert!(
        r.reason.starts_with("provider error: server"),
        "{}",
        r.reason
    );
    assert!(r.output.is_empty());
    assert_eq!(up.seen.calls_of(prompt), 2, "max_attempts: 2");
    assert_eq!(rec.retries.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_come_from_the_upstreams_answers() {
    let up = upstream::start().await;
    let dir = program(
        &up,
        &[
            case(
                "right",
                "What is the capital of France?",
                "{ correct: [contains: Paris] }",
            ),
            case(
                "json",
                "Give the total as JSON",
                "{ contract: [is_json: true], correct: [contains: \"391\"] }",
            ),
            case("wrong", "Lyon is where?", "{ correct: [contains: Paris] }"),
            case(
                "unparsable",
                "Reply with plain words",
                "{ contract: [is_json: true] }",
            ),
            case(
                "down",
                "Anything at all [fail-always]",
                "{ correct: [contains: Paris] }",
            ),
        ],
    );
    let store = testing::sqlite().await;
    let suites = Suites::load(dir.path()).unwrap();
    let spec = RunSpec::new(Cases::Streamed(&suites), options());
    let summary = runner::start(&store.store, spec, CancellationToken::new(), &Silent)
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Finished);
    let r = results(&store, &summary.run_id).await;
    let verdict = |id: &str| (r[id].verdict, r[id].reason.clone());
    assert_eq!(verdict("right").0, Verdict::Pass, "{:?}", verdict("right"));
    assert_eq!(verdict("json").0, Verdict::Pass, "{:?}", verdict("json"));
    assert_eq!(
        verdict("wrong").0,
        Verdict::Silent,
        "{:?}",
        verdict("wrong")
    );
    assert!(verdict("wrong").1.starts_with("plausible and wrong"));
    assert_eq!(
        verdict("unparsable").0,
        Verdict::Structural,
        "{:?}",
        verdict("unparsable")
    );
    assert_eq!(verdict("down").0, Verdict::Loud, "{:?}", verdict("down"));
    assert_eq!(
        r["right"].model_version.as_deref(),
        Some("fake-model-2026-01")
    );
    assert!((r["right"].cost_usd - ANSWER_COST).abs() < 1e-12);
}
