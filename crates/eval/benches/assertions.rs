//! Criterion micro-benchmarks of assertion evaluation, the per-result hot path of
//! `proximity eval` once the provider has answered: `contains`, `regex` and `is_json` on a
//! short answer (what bench/eval_vs_promptfoo.sh runs 20,000 times per 10,000 cases), and
//! the verdict that follows. `cargo bench -p proximity-eval --bench assertions`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use proximity_eval::assertions::{check, Context};
use proximity_eval::evaluate_all;
use proximity_program::diagnostic::{Diagnostics, SourceMap};
use proximity_program::Check;
use proximity_program::{Case, CaseKind, CaseSource, Location, Message, Role};

/// A case with the assertions of `assert_yaml` (the YAML of a suite's `assert:` block).
fn case(assert_yaml: &str) -> Case {
    let mut sources = SourceMap::default();
    let id = sources.add(PathBuf::from("suite.yaml"), assert_yaml.to_owned());
    let node = marked_yaml::parse_yaml(id, assert_yaml).unwrap();
    let mut diags = Diagnostics::default();
    let assertions = proximity_program::assertion::parse_assertions(&sources, &node, &mut diags);
    assert!(diags.is_empty(), "bad bench assertions: {diags}");
    Case {
        id: "c1".into(),
        persona: "bench".into(),
        workflow: "w".into(),
        kind: CaseKind::Routine,
        source: CaseSource::Synthetic,
        description: None,
        messages: vec![Message {
            role: Role::User,
            content: "Reply with the word ok.".into(),
        }],
        vars: Default::default(),
        documents: vec![],
        assertions,
        weight: 1.0,
        tags: vec![],
        note: None,
        tools: Vec::new(),
        tool_choice: None,
        location: Location {
            file: PathBuf::from("suite.yaml"),
            line: 1,
            column: 1,
        },
    }
}

fn assertions(c: &mut Criterion) {
    let bench_case =
        case("contract: [{ is_json: true }]\ncorrect:\n  - contains: ok\n  - regex: '^o\\w$'\n");
    let ctx = Context::new(&bench_case);
    let mut group = c.benchmark_group("assertions");
    group.bench_function("evaluate_all contains+regex+is_json", |b| {
        b.iter(|| futures::executor::block_on(evaluate_all(black_box("ok"), &ctx)))
    });
    for (name, chk) in [
        (
            "contains",
            Check::Contains {
                values: vec!["ok".into()],
                mode: proximity_program::Match::All,
                ignore_case: false,
            },
        ),
        (
            "regex",
            Check::Regex {
                pattern: r"^o\w$".into(),
            },
        ),
        ("is_json", Check::IsJson),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| futures::executor::block_on(check(&chk, black_box("ok"), &ctx)))
        });
    }
    // What `regex` cost before compiled patterns were cached: compile, then match.
    group.bench_function("regex compiled per call (before the cache)", |b| {
        b.iter(|| {
            regex::Regex::new(black_box(r"^o\w$"))
                .unwrap()
                .is_match(black_box("ok"))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .sample_size(20);
    targets = assertions
}
criterion_main!(benches);
