//! The dashboard computes the scorecard from the store's per-cell sums; these tests hold
//! it to `proximity_analysis::scorecard` over every result, on the example program.
#![allow(clippy::unwrap_used)]

mod common;

use proximity_web::scores::pairs;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn cell_sums_give_the_same_scorecard_as_every_result() {
    let dir = tempfile::tempdir().unwrap();
    let program = common::acme();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let store = proximity_store::Store::connect(&url).await.unwrap();
    let run = common::run("r1", "2026-03-01T10:00:00Z");
    store.create_run(&run).await.unwrap();
    // Three samples: distinct verdicts per sample, so intervals are non-trivial.
    for r in common::results(&program, "r1", 3) {
        store.insert_result(&r).await.unwrap();
    }
    let results = store.results("r1").await.unwrap();
    let report = proximity_analysis::scorecard(&program, &run, &results);
    let mine = pairs(&program, &store.score_cells("r1").await.unwrap());

    assert_eq!(mine.len(), report.scorecard.len());
    assert!(mine.len() >= 6, "every persona × tool of the example");
    for (m, r) in mine.iter().zip(&report.scorecard) {
        let what = format!("{} × {}", r.persona, r.tool);
        assert_eq!((&m.persona, &m.tool), (&r.persona, &r.tool));
        match (&m.real_work, &r.real_work_score) {
            (Some(a), Some(b)) => {
                assert!(close(a.value, b.value), "{what}: {a:?} vs {b:?}");
                assert!(close(a.low, b.ci_low), "{what}: {a:?} vs {b:?}");
                assert!(close(a.high, b.ci_high), "{what}: {a:?} vs {b:?}");
                assert!(close(a.n_eff, b.n_eff), "{what}: {a:?} vs {b:?}");
            }
            (None, None) => {}
            other => panic!("{what}: {other:?}"),
        }
        match (&m.demo, &r.demo_score) {
            (Some(a), Some(b)) => assert!(close(a.value, b.value) && close(a.low, b.ci_low)),
            (None, None) => {}
            other => panic!("{what}: {other:?}"),
        }
        assert!(
            close(m.silent_rate.value, r.silent_failure_rate.value),
            "{what}"
        );
        assert!(
            close(m.silent_rate.high, r.silent_failure_rate.ci_high),
            "{what}"
        );
        assert_eq!(m.verdicts.total(), r.verdicts.total(), "{what}");
        assert!(close(m.coverage, r.coverage), "{what}");
        assert_eq!(m.uncovered, r.uncovered_workflows, "{what}");
        match (m.monthly_cost_usd, r.monthly_cost_usd) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-6, "{what}: {a} vs {b}"),
            (None, None) => {}
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(m.workflows.len(), r.workflows.len(), "{what}");
        for (a, b) in m.workflows.iter().zip(&r.workflows) {
            assert_eq!(a.workflow, b.workflow);
            assert!(close(a.score.value, b.score.value), "{what} {}", a.workflow);
            assert!(close(a.score.low, b.score.ci_low), "{what} {}", a.workflow);
            assert_eq!(
                a.below_floor(),
                r.below_floor.iter().any(|f| f.workflow == a.workflow)
            );
        }
    }
}

/// The persona page plans from cell sums ([`inputs_from_scores`]); `proximity plan`
/// from every result ([`proximity_analysis::plan::inputs`]): the same input either way.
#[tokio::test]
async fn planning_from_cell_sums_gives_the_planners_input() {
    use proximity_analysis::pair_scores::pair_scores;
    use proximity_analysis::plan::from_scores::inputs_from_scores;
    use proximity_analysis::plan::{inputs, ToolEvidence};

    let dir = tempfile::tempdir().unwrap();
    let program = common::acme();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let store = proximity_store::Store::connect(&url).await.unwrap();
    let run = common::run("r1", "2026-03-01T10:00:00Z");
    store.create_run(&run).await.unwrap();
    for r in common::results(&program, "r1", 3) {
        store.insert_result(&r).await.unwrap();
    }
    let results = store.results("r1").await.unwrap();
    let now = chrono::Utc::now();
    let evidence: Vec<ToolEvidence<'_>> = program
        .tools
        .iter()
        .map(|t| ToolEvidence {
            persona: None,
            tool: &t.id,
            run: &run,
            results: &results,
        })
        .collect();
    let want = inputs(&program, &evidence, now);
    let scores: Vec<_> = pair_scores(&program, &store.score_cells("r1").await.unwrap())
        .into_iter()
        .map(|s| (&run, s))
        .collect();
    let got = inputs_from_scores(&program, &scores, now);
    assert!(want.personas.iter().all(|p| !p.tools.is_empty()));
    assert_eq!(got.personas.len(), want.personas.len());
    for (g, w) in got.personas.iter().zip(&want.personas) {
        assert_eq!(g.tools.len(), w.tools.len(), "{}", w.id);
        for (a, b) in g.tools.iter().zip(&w.tools) {
            assert_eq!((&a.tool, a.results), (&b.tool, b.results), "{}", w.id);
            assert!(close(a.silent_rate, b.silent_rate));
            for (x, y) in a.cells.iter().zip(&b.cells) {
                match (x, y) {
                    (Some(x), Some(y)) => {
                        assert!(close(x.score, y.score) && close(x.ci_low, y.ci_low));
                        assert!(close(x.mean_cost_usd, y.mean_cost_usd) && x.n == y.n);
                    }
                    (None, None) => {}
                    other => panic!("{}: {other:?}", w.id),
                }
            }
        }
        assert_eq!(g.workflows, w.workflows);
    }
}
