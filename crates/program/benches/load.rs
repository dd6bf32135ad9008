//! Criterion benchmark of reading a suite: 5,000 cases like bench/eval_vs_promptfoo.sh's
//! (a prompt, `contains` and `regex`, every third with `is_json`), loaded whole (`load`,
//! what every command but `eval` does) and handed out one at a time (`load_each`, what
//! `proximity eval` does twice: once to check the program, once as the run goes). It is on
//! the eval's critical path before the first request. `cargo bench -p proximity-program
//! --bench load`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

const CASES: usize = 5_000;

const PROGRAM: &str = r#"version: 1
name: bench
tools:
  - id: a
    provider: scripted
    params: { default_reply: ok }
tiers:
  - id: t
    tools: [a]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;

fn program() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    let mut suite = String::from("persona: p\nworkflow: w\ncases:\n");
    for i in 0..CASES {
        suite.push_str(&format!(
            "  - id: c{i:06}\n    prompt: \"Case {i}: reply with the word ok.\"\n    assert:\n"
        ));
        if i % 3 == 0 {
            suite.push_str("      contract: [{ is_json: true }]\n");
        }
        suite.push_str("      correct:\n        - contains: ok\n        - regex: \"^o\\\\w$\"\n");
    }
    fs_err::write(dir.path().join("suites/bench.yaml"), suite).unwrap();
    dir
}

fn load(c: &mut Criterion) {
    let dir = program();
    let mut g = c.benchmark_group("load 5000 cases");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("load (kept)", |b| {
        b.iter(|| black_box(proximity_program::load(dir.path()).unwrap().cases.len()))
    });
    g.bench_function("load_each (handed out)", |b| {
        b.iter(|| {
            let mut n = 0_usize;
            proximity_program::load::load_each(dir.path(), &mut |case| {
                n += black_box(case).messages.len();
                ControlFlow::Continue(())
            })
            .unwrap();
            assert_eq!(n, CASES);
        })
    });
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
