//! The scorecard from the store's aggregates (`scorecard_from_sums` over `score_cells`,
//! `pair_signals`, `top_silent` and `answer_rows`) is the scorecard over every result,
//! field for field, on every backend: the example program's cases, several samples,
//! every verdict, cached and errored results, demo cases, hedges and log-probabilities.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use proximity_analysis::scorecard::TOP_FAILURES;
use proximity_analysis::{scorecard, scorecard_from_sums, AgreementFold, Report, RunSums};
use proximity_program::Program;
use proximity_store::testing::{on, stores};
use proximity_store::{AssertionOutcome, ResultRecord, RunRecord, RunStatus, Store, Verdict};

fn acme() -> Program {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    proximity_program::load(&root).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn run(id: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        program: "Acme".into(),
        started_at: at("2026-03-01T10:00:00Z"),
        finished_at: Some(at("2026-03-01T11:00:00Z")),
        status: RunStatus::Finished,
        config: serde_json::json!({"samples": 3}),
        planned: 999,
    }
}

/// FNV-1a, to pick everything about a result from its key.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn result(program: &Program, run_id: &str, case: usize, tool: &str, sample: u32) -> ResultRecord {
    let c = &program.cases[case];
    let h = hash(&format!("{run_id}/{}/{tool}/{sample}", c.id));
    let verdict = match h % 10 {
        0..=4 => Verdict::Pass,
        5..=7 => Verdict::Silent,
        8 => Verdict::Structural,
        _ => Verdict::Loud,
    };
    let errored = verdict == Verdict::Loud && !h.is_multiple_of(3);
    ResultRecord {
        tool_calls: Vec::new(),
        run_id: run_id.into(),
        case_id: c.id.clone(),
        tool_id: tool.into(),
        sample,
        persona: c.persona.clone(),
        workflow: c.workflow.clone(),
        kind: c.kind.as_str().into(),
        source: c.source.as_str().into(),
        // Uneven weights, the same for a case's every result.
        case_weight: [1.0, 2.0, 0.5, 3.7][(hash(&c.id) % 4) as usize],
        tool_fingerprint: format!("fp-{tool}"),
        model_version: Some("m-1".into()),
        // Few distinct answers, so samples agree sometimes.
        output: if errored {
            String::new()
        } else {
            format!("Let me see.\nThe total is {}.", (h >> 8) % 3)
        },
        error_class: errored.then(|| "server".to_owned()),
        error_message: None,
        input_tokens: 100 + h % 50,
        output_tokens: 20 + h % 30,
        cost_usd: (h % 7) as f64 * 0.000_513 + (h % 11) as f64 * 0.000_001_7,
        latency_ms: 100 + (h >> 4) % 900,
        attempts: 1,
        cached: h.is_multiple_of(5),
        verdict,
        // Some results of every verdict carry a degenerate reason: only loud ones count.
        reason: match (h >> 3) % 6 {
            0 => "degenerate: repetition loop — \"1\" repeated 9 times".to_owned(),
            1 => "degenerate: cut off at max_tokens — no sentence was finished".to_owned(),
            2 => "degenerate: echo of the prompt — 90% of the output".to_owned(),
            3 => "degenerate: error object — a JSON object".to_owned(),
            _ => format!("{verdict} by fixture"),
        },
        assertions: vec![AssertionOutcome {
            group: "correct".into(),
            assertion: "contains \"42\"".into(),
            passed: verdict == Verdict::Pass,
            detail: "fixture".into(),
            judge_raw: None,
        }],
        mean_logprob: (!h.is_multiple_of(4)).then(|| -(((h >> 12) % 1000) as f64) / 997.0),
        hedged: match (h >> 16) % 3 {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        },
        created_at: at("2026-03-01T10:30:00Z"),
    }
}

/// Every case of the program on every tool of its persona's tier, `samples` times.
fn results(program: &Program, run_id: &str, samples: u32) -> Vec<ResultRecord> {
    let mut out = Vec::new();
    for (i, case) in program.cases.iter().enumerate() {
        for tool in program.tools_for_persona(&case.persona) {
            for s in 0..samples {
                out.push(result(program, run_id, i, &tool.id, s));
            }
        }
    }
    out
}

/// What `proximity eval` and `proximity report` do: the report from the aggregates.
async fn from_store(store: &Store, program: &Program, run: &RunRecord) -> Report {
    let mut agreement = AgreementFold::default();
    store
        .answer_rows(&run.id, |row| agreement.push_row(&row))
        .await
        .unwrap();
    let sums = RunSums {
        cells: store.score_cells(&run.id).await.unwrap(),
        pairs: store.pair_signals(&run.id).await.unwrap(),
        silent: store.top_silent(&run.id, TOP_FAILURES).await.unwrap(),
        agreement: agreement.finish(),
    };
    scorecard_from_sums(program, run, &sums)
}

async fn seed(store: &Store, program: &Program, id: &str, samples: u32) -> RunRecord {
    let r = run(id);
    store.create_run(&r).await.unwrap();
    for result in results(program, id, samples) {
        store.insert_result(&result).await.unwrap();
    }
    r
}

#[tokio::test]
async fn aggregates_give_the_scorecard_of_every_result() {
    let program = acme();
    for store in stores().await {
        on(&store);
        let r1 = seed(&store, &program, "r1", 3).await;
        // Another run in the same store stays out of r1's scorecard.
        seed(&store, &program, "r0", 1).await;

        let all = store.results("r1").await.unwrap();
        let expected = scorecard(&program, &r1, &all);
        let got = from_store(&store, &program, &r1).await;
        assert_eq!(
            serde_json::to_string_pretty(&got).unwrap(),
            serde_json::to_string_pretty(&expected).unwrap()
        );
        assert_eq!(got, expected);

        // The fixture exercises what the aggregates must carry.
        assert_eq!(got.completed, all.len() as u64);
        assert!(got.totals.cached > 0 && got.totals.spent_usd < got.totals.cost_usd);
        assert_eq!(got.silent_failures.len(), TOP_FAILURES);
        assert!(got.scorecard.len() >= 6, "every persona × tool");
        assert!(got.scorecard.iter().any(|row| row.demo_score.is_some()));
        assert!(got.scorecard.iter().any(|row| !row.below_floor.is_empty()));
        let anatomies: Vec<_> = got.scorecard.iter().map(|r| &r.failure_anatomy).collect();
        assert!(anatomies.iter().any(|a| a.confidence.agreement.is_some()));
        assert!(anatomies
            .iter()
            .any(|a| a.confidence.silent_agreement.is_some()));
        assert!(anatomies
            .iter()
            .any(|a| a.confidence.mean_logprob_silent.is_some()));
        assert!(anatomies.iter().any(|a| a.confidence.hedged > 0));
        // Degenerate counts come from the store's sums too, and only loud results count.
        assert!(anatomies.iter().any(|a| a.degenerate.cut_off > 0));
        assert!(anatomies
            .iter()
            .all(|a| a.degenerate.total() <= a.loud.count));
        assert!(anatomies
            .iter()
            .any(|a| !a.mostly_silent_workflows.is_empty()));
        let rows = &got.scorecard;
        assert!(rows.iter().any(|r| r.latency_ms.p95 > r.latency_ms.p50));
        assert!(rows.iter().any(|r| r
            .workflows
            .iter()
            .any(|w| w.edge.is_some() && w.routine.is_some())));

        // One sample: no self-consistency, and the same report still.
        let r0 = run("r0");
        let one = from_store(&store, &program, &r0).await;
        assert_eq!(
            one,
            scorecard(&program, &r0, &store.results("r0").await.unwrap())
        );
        assert!(one
            .scorecard
            .iter()
            .all(|row| row.failure_anatomy.confidence.agreement.is_none()));
    }
}

#[tokio::test]
async fn a_run_without_results_gives_an_empty_scorecard() {
    let program = acme();
    for store in stores().await {
        on(&store);
        let r = seed(&store, &program, "empty", 0).await;
        let got = from_store(&store, &program, &r).await;
        assert_eq!(got, scorecard(&program, &r, &[]));
        assert!(got.scorecard.is_empty() && got.silent_failures.is_empty());
        assert_eq!(got.totals.results, 0);
    }
}
