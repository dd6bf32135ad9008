//! Criterion benchmark of the gateway's usage write path on SQLite: what the usage
//! journal's flusher hands the store after each 50 ms linger at 5,000 requests/s, 250
//! usage rows with their spend, as one `record_usages` batch (one job, one transaction,
//! 32-row statements prepared once: what it does since 2026-11-27) and as 250
//! `record_usage` calls joined (a job, a oneshot and a future a row, group-committed as the
//! writer task happens to find them: what it did before). The store keeps growing across
//! iterations, as a gateway's does. `cargo bench -p proximity-store --bench usage`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use proximity_store::{testing, Store, UsageEntry};

/// Rows a flush carries at 5,000 requests/s and a 50 ms linger.
const ROWS: usize = 250;

fn entry(id: usize) -> UsageEntry {
    UsageEntry {
        usage: testing::usage_record(&format!("{id:024x}"), 0.000013, Utc::now()),
        month: "2026-11".into(),
        scopes: vec!["key:k".into(), "persona:p".into()],
    }
}

fn usage(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(Store::connect(&url)).unwrap();
    let next = AtomicUsize::new(0);
    let batch = || -> Vec<UsageEntry> {
        let first = next.fetch_add(ROWS, Ordering::Relaxed);
        (first..first + ROWS).map(entry).collect()
    };
    let mut g = c.benchmark_group("usage");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    g.bench_function("250 rows as one batch", |b| {
        b.iter_batched(
            batch,
            |rows| rt.block_on(store.record_usages(Arc::new(rows))).unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("250 rows one call each, joined", |b| {
        b.iter_batched(
            batch,
            |rows| {
                rt.block_on(async {
                    let writes = rows
                        .iter()
                        .map(|e| store.record_usage(&e.usage, &e.month, &e.scopes));
                    for written in futures::future::join_all(writes).await {
                        written.unwrap();
                    }
                })
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, usage);
criterion_main!(benches);
