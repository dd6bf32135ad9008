//! Page load times with 100k results in the store, through the real server on a real
//! socket. A measurement, not a test: ignored by default; run it with
//! `cargo test -p proximity-web --test bench_pages -- --ignored --nocapture`.
//! Figures go to standard error and `target/test-artifacts/dashboard-bench.txt`.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use proximity_web::{app, AppState, Security};

const RESULTS: usize = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: seeds 100k results"]
async fn pages_with_100k_results() {
    let dir = tempfile::tempdir().unwrap();
    let program = common::acme();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let store = proximity_store::Store::connect(&url).await.unwrap();
    store
        .create_run(&common::run("big", "2026-03-01T10:00:00Z"))
        .await
        .unwrap();
    let seeding = Instant::now();
    let mut n = 0;
    let mut i = 0;
    'seed: loop {
        let case = &program.cases[i % program.cases.len()];
        for tool in program.tools_for_persona(&case.persona) {
            store
                .insert_result(&common::result_for(&program, "big", i, &tool.id, 0))
                .await
                .unwrap();
            n += 1;
            if n == RESULTS {
                break 'seed;
            }
        }
        i += 1;
    }
    eprintln!("seeded {n} results in {:.1?}", seeding.elapsed());
    let case0 = program.cases[0].id.clone();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(AppState::new(program, store, Security::new(addr, None)));
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    let client = reqwest::Client::new();
    let pages = [
        "/".to_owned(),
        "/runs".to_owned(),
        "/persona/support-agent".to_owned(),
        "/persona/finance-analyst".to_owned(),
        "/tool/acme-copilot".to_owned(),
        "/run/big".to_owned(),
        "/run/big?verdict=silent&kind=edge".to_owned(),
        "/run/big?page=1500".to_owned(),
        format!("/run/big/result/acme-copilot/{case0}/0"),
        "/field-log".to_owned(),
        "/decisions".to_owned(),
        "/usage".to_owned(),
    ];
    let mut report =
        format!("{n} results in one run; debug build; 7 loads per page after one warm-up\n");
    for p in &pages {
        let mut times: Vec<Duration> = Vec::new();
        let mut cold = Duration::ZERO;
        for k in 0..8 {
            let t = Instant::now();
            let res = client
                .get(format!("http://{addr}{p}"))
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{p}: {}", res.status());
            let body = res.text().await.unwrap();
            assert!(body.len() > 500);
            if k > 0 {
                times.push(t.elapsed());
            } else {
                cold = t.elapsed();
            }
        }
        times.sort();
        let line = format!(
            "{p:<48} cold {:>7.1} ms  median {:>7.1} ms  max {:>7.1} ms",
            cold.as_secs_f64() * 1e3,
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
        eprintln!("{line}");
        report.push_str(&line);
        report.push('\n');
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    fs_err::create_dir_all(&out).unwrap();
    fs_err::write(out.join("dashboard-bench.txt"), report).unwrap();
}
