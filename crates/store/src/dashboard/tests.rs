//! The dashboard's queries over a seeded store, on each backend: score cells, pair signals,
//! silent failures, answer rows, result lines, fingerprints and tallies.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::runs::{AssertionOutcome, RunRecord, RunStatus};
use chrono::{DateTime, Utc};

fn run(id: &str, at: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        program: "acme".into(),
        started_at: DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc),
        finished_at: None,
        status: RunStatus::Finished,
        config: serde_json::json!({}),
        planned: 4,
    }
}

fn result(run_id: &str, case: &str, sample: u32, verdict: Verdict, w: f64) -> ResultRecord {
    ResultRecord {
        tool_calls: Vec::new(),
        run_id: run_id.into(),
        case_id: case.into(),
        tool_id: "t".into(),
        sample,
        persona: "p".into(),
        workflow: if case.starts_with('a') { "wa" } else { "wb" }.into(),
        kind: "routine".into(),
        source: if case == "demo" { "demo" } else { "field" }.into(),
        case_weight: w,
        tool_fingerprint: format!("fp-{run_id}"),
        model_version: Some("m".into()),
        output: "x".repeat(500),
        error_class: None,
        error_message: None,
        input_tokens: 1,
        output_tokens: 1,
        cost_usd: 0.25,
        latency_ms: 5,
        attempts: 1,
        cached: sample == 1,
        verdict,
        reason: "r".into(),
        assertions: vec![AssertionOutcome {
            group: "correct".into(),
            assertion: "contains \"y\"".into(),
            passed: verdict == Verdict::Pass,
            detail: String::new(),
            judge_raw: None,
        }],
        mean_logprob: None,
        hedged: None,
        created_at: Utc::now(),
    }
}

async fn seeded() -> Vec<crate::testing::TestStore> {
    let mut out = Vec::new();
    for store in crate::testing::stores().await {
        store
            .create_run(&run("r1", "2026-01-01T00:00:00Z"))
            .await
            .unwrap();
        store
            .create_run(&run("r2", "2026-02-01T00:00:00Z"))
            .await
            .unwrap();
        for r in [
            result("r1", "a1", 0, Verdict::Pass, 2.0),
            result("r1", "a1", 1, Verdict::Silent, 2.0),
            result("r1", "b1", 0, Verdict::Loud, 1.0),
            result("r1", "demo", 0, Verdict::Pass, 1.0),
            result("r2", "a1", 0, Verdict::Pass, 1.0),
        ] {
            store.insert_result(&r).await.unwrap();
        }
        out.push(store);
    }
    out
}

#[tokio::test]
async fn score_cells_sum_weights_by_cell() {
    for store in seeded().await {
        crate::testing::on(&store);
        let cells = store.score_cells("r1").await.unwrap();
        assert_eq!(cells.len(), 3, "{cells:?}");
        let wa = cells.iter().find(|c| c.workflow == "wa").unwrap();
        assert_eq!((wa.n, wa.pass, wa.silent), (2, 1, 1));
        assert_eq!((wa.sum_w, wa.sum_w2, wa.sum_w_pass), (4.0, 8.0, 2.0));
        assert_eq!((wa.cost_usd, wa.spent_usd), (0.5, 0.25));
        assert_eq!(wa.cached, 1);
        assert!(cells.iter().any(|c| c.demo && c.pass == 1));
    }
}

#[test]
fn nearest_rank_matches_the_percentile_definition() {
    assert_eq!(nearest_rank(0, 50.0), None);
    assert_eq!(nearest_rank(1, 95.0), Some(0));
    assert_eq!(nearest_rank(4, 50.0), Some(1));
    assert_eq!(nearest_rank(4, 95.0), Some(3));
    assert_eq!(nearest_rank(20, 95.0), Some(18));
}

#[tokio::test]
async fn pair_signals_sum_hedges_logprobs_and_pick_latency_percentiles() {
    for store in crate::testing::stores().await {
        crate::testing::on(&store);
        store
            .create_run(&run("r1", "2026-01-01T00:00:00Z"))
            .await
            .unwrap();
        let mut rows = Vec::new();
        for (i, ms) in [400, 100, 300, 200].into_iter().enumerate() {
            let mut r = result("r1", &format!("a{i}"), 0, Verdict::Pass, 1.0);
            r.latency_ms = ms;
            r.mean_logprob = Some(-0.5 * i as f64);
            r.hedged = Some(i == 0);
            rows.push(r);
        }
        let mut timeout = result("r1", "a9", 0, Verdict::Loud, 1.0);
        timeout.error_class = Some("timeout".into());
        timeout.latency_ms = 60_000;
        rows.push(timeout);
        let mut silent = result("r1", "a8", 0, Verdict::Silent, 1.0);
        silent.mean_logprob = Some(-0.25);
        silent.latency_ms = 250;
        rows.push(silent);
        for r in &rows {
            store.insert_result(r).await.unwrap();
        }
        let signals = store.pair_signals("r1").await.unwrap();
        assert_eq!(signals.len(), 1);
        let s = &signals[0];
        assert_eq!((s.results, s.answered), (6, 5));
        assert_eq!((s.hedged, s.hedge_recorded), (1, 4));
        assert_eq!((s.logprob_pass_sum, s.logprob_pass_n), (-3.0, 4));
        assert_eq!((s.logprob_silent_sum, s.logprob_silent_n), (-0.25, 1));
        // Answered latencies 100 200 250 300 400: the timeout is left out.
        assert_eq!((s.latency_p50, s.latency_p95), (250, 400));
        assert!(store.pair_signals("nope").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn top_silent_keeps_the_report_order_and_whole_records() {
    for store in crate::testing::stores().await {
        crate::testing::on(&store);
        store
            .create_run(&run("r1", "2026-01-01T00:00:00Z"))
            .await
            .unwrap();
        // (case, sample, kind, weight): edge first, then heavier, then case and sample.
        let spec = [
            ("c", 0, "routine", 1.0),
            ("b", 1, "routine", 5.0),
            ("b", 0, "routine", 5.0),
            ("z", 0, "edge", 0.5),
            ("a", 0, "routine", 1.0),
            ("y", 0, "edge", 0.5),
            ("x", 0, "routine", 0.1),
        ];
        for (case, sample, kind, w) in spec {
            let mut r = result("r1", case, sample, Verdict::Silent, w);
            r.kind = kind.into();
            store.insert_result(&r).await.unwrap();
        }
        store
            .insert_result(&result("r1", "a", 1, Verdict::Loud, 9.0))
            .await
            .unwrap();
        let keys = |v: Vec<ResultRecord>| {
            v.into_iter()
                .map(|r| format!("{}/{}", r.case_id, r.sample))
                .collect::<Vec<_>>()
        };
        let all = store.top_silent("r1", 10).await.unwrap();
        assert_eq!(all[0].output.len(), 500, "whole records");
        assert_eq!(keys(all), ["y/0", "z/0", "b/0", "b/1", "a/0", "c/0", "x/0"]);
        // Fewer than the run has: the best three, though more than 2 × 3 were read.
        assert_eq!(
            keys(store.top_silent("r1", 3).await.unwrap()),
            ["y/0", "z/0", "b/0"]
        );
        assert!(store.top_silent("r1", 0).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn answer_rows_bring_a_case_samples_together_and_skip_single_samples() {
    for store in seeded().await {
        crate::testing::on(&store);
        let mut rows = Vec::new();
        store.answer_rows("r1", |r| rows.push(r)).await.unwrap();
        let keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.case_id.as_str(), r.verdict.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("a1", "pass"),
                ("a1", "silent"),
                ("b1", "loud"),
                ("demo", "pass")
            ]
        );
        assert!(rows.iter().all(|r| r.output.is_some()));
        // r2 has one sample per case: nothing to compare.
        let mut none = 0;
        store.answer_rows("r2", |_| none += 1).await.unwrap();
        assert_eq!(none, 0);
    }
}

#[tokio::test]
async fn result_lines_filter_order_and_cut_output() {
    for store in seeded().await {
        crate::testing::on(&store);
        let all = ResultFilter::default();
        assert_eq!(store.count_results("r1", &all).await.unwrap(), 4);
        let lines = store.result_lines("r1", &all, 10, 0).await.unwrap();
        assert_eq!(lines[0].verdict, "silent", "failures first");
        assert_eq!(
            lines[0].output_head.chars().count() as i64,
            LINE_OUTPUT_CHARS
        );
        let loud = ResultFilter {
            verdict: Some(Verdict::Loud),
            ..ResultFilter::default()
        };
        assert_eq!(store.count_results("r1", &loud).await.unwrap(), 1);
        let wb = ResultFilter {
            workflow: Some("wb' OR 1=1 --".into()),
            ..ResultFilter::default()
        };
        assert_eq!(store.count_results("r1", &wb).await.unwrap(), 0);
        let page = store.result_lines("r1", &all, 2, 2).await.unwrap();
        assert_eq!(page.len(), 2);
        let values = store.filter_values("r1").await.unwrap();
        assert_eq!(values.workflows, vec!["wa", "wb"]);
        let one = store.result("r1", "b1", "t", 0).await.unwrap().unwrap();
        assert_eq!(one.verdict, Verdict::Loud);
        assert!(store.result("r1", "b1", "t", 9).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn fingerprints_and_tallies_per_run() {
    for store in seeded().await {
        crate::testing::on(&store);
        let history = store.fingerprint_history("t").await.unwrap();
        let fps: Vec<&str> = history
            .iter()
            .map(|h| h.tool_fingerprint.as_str())
            .collect();
        assert_eq!(fps, vec!["fp-r1", "fp-r2"]);
        let tallies = store.run_tallies().await.unwrap();
        let r1 = tallies.iter().find(|t| t.run_id == "r1").unwrap();
        assert_eq!((r1.results, r1.pass, r1.loud, r1.silent), (4, 2, 1, 1));
        assert!(store
            .usage_days(None, UsageSeries::Persona)
            .await
            .unwrap()
            .is_empty());
    }
}
