//! Criterion benchmark of the eval runner's write path: 2,000 results (each after its
//! response-cache row, as the runner writes them) into a fresh SQLite store, awaited one
//! at a time (batches of one: a statement per write, the cost of every write before
//! group commit, plus the hop to the writer task) and from 16 concurrent writers (the
//! concurrency of bench/eval_vs_promptfoo.sh, group-committed by the store's writer task). `cargo bench -p proximity-store --bench results`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use proximity_store::{AssertionOutcome, ResultRecord, RunRecord, RunStatus, Store, Verdict};

const RESULTS: usize = 2_000;

fn result(run_id: &str, i: usize) -> ResultRecord {
    ResultRecord {
        tool_calls: Vec::new(),
        run_id: run_id.into(),
        case_id: format!("case-{i:05}"),
        tool_id: if i.is_multiple_of(2) { "a" } else { "b" }.into(),
        sample: 0,
        persona: "bench".into(),
        workflow: "w".into(),
        kind: "routine".into(),
        source: "real".into(),
        case_weight: 1.0,
        tool_fingerprint: "fp".into(),
        model_version: Some("m".into()),
        output: "ok".into(),
        error_class: None,
        error_message: None,
        input_tokens: 12,
        output_tokens: 1,
        cost_usd: 0.0,
        latency_ms: 1,
        attempts: 1,
        cached: false,
        verdict: Verdict::Pass,
        reason: String::new(),
        assertions: ["contains", "regex", "is_json"]
            .iter()
            .map(|a| AssertionOutcome {
                group: "correct".into(),
                assertion: (*a).into(),
                passed: true,
                detail: String::new(),
                judge_raw: None,
            })
            .collect(),
        mean_logprob: None,
        hedged: Some(false),
        created_at: Utc::now(),
    }
}

/// A fresh store with one run; the directory keeps it alive.
async fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url).await.unwrap();
    store
        .create_run(&RunRecord {
            id: "run".into(),
            program: "bench".into(),
            started_at: Utc::now(),
            finished_at: None,
            status: RunStatus::Running,
            config: serde_json::json!({}),
            planned: RESULTS as u64,
        })
        .await
        .unwrap();
    (dir, store)
}

async fn write(store: &Store, i: usize) {
    let key = format!("key-{i}");
    store
        .cache_put(&key, "fp", "{\"text\":\"ok\"}")
        .await
        .unwrap();
    assert!(store.insert_result(&result("run", i)).await.unwrap());
}

fn results(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("results");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("2000 one at a time", |b| {
        b.iter_batched(
            || rt.block_on(fresh()),
            |(_dir, store)| {
                rt.block_on(async {
                    for i in 0..RESULTS {
                        write(&store, i).await;
                    }
                })
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("2000 from 16 writers", |b| {
        b.iter_batched(
            || rt.block_on(fresh()),
            |(_dir, store)| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..16)
                        .map(|w| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                for i in (w..RESULTS).step_by(16) {
                                    write(&store, i).await;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, results);
criterion_main!(benches);
