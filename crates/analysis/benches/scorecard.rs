//! Criterion micro-benchmarks of report aggregation: the work-mix-weighted scorecard of a
//! run (`scorecard`) and its JSON rendering, over 2,000 and 20,000 results: what
//! `proximity eval` does once per run, after the last result. Reuses the unit tests'
//! synthetic program (`src/fixture.rs`). `cargo bench -p proximity-analysis --bench scorecard`.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../src/fixture.rs"]
mod fixture;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use proximity_store::{ResultRecord, Verdict};

/// `n` results on two tools and four workflows, one in three a structural failure.
fn results(n: usize) -> Vec<ResultRecord> {
    let cells = [
        ("analyst", "summarise"),
        ("analyst", "extract"),
        ("analyst", "forecast"),
        ("support", "reply"),
    ];
    (0..n)
        .map(|i| {
            let (persona, workflow) = cells[i % cells.len()];
            let tool = if i % 2 == 0 { "small" } else { "big" };
            let kind = if i % 5 == 0 { "edge" } else { "routine" };
            let verdict = if i % 3 == 0 {
                Verdict::Structural
            } else {
                Verdict::Pass
            };
            fixture::result(
                persona,
                tool,
                workflow,
                kind,
                &format!("c{}", i / 2),
                0,
                verdict,
            )
        })
        .collect()
}

fn scorecard(c: &mut Criterion) {
    let (program, _, _) = fixture::sample();
    let mut group = c.benchmark_group("scorecard");
    for n in [2_000usize, 20_000] {
        let rs = results(n);
        let run = fixture::run(n as u64);
        group.bench_with_input(BenchmarkId::new("scorecard", n), &rs, |b, rs| {
            b.iter(|| proximity_analysis::scorecard(&program, &run, black_box(rs)))
        });
        let report = proximity_analysis::scorecard(&program, &run, &rs);
        group.bench_with_input(BenchmarkId::new("json", n), &report, |b, report| {
            b.iter(|| serde_json::to_string(black_box(report)).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .sample_size(20);
    targets = scorecard
}
criterion_main!(benches);
