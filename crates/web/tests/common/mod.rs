//! Test fixtures: the example program and a store seeded with deterministic results of
//! its cases (verdicts, weights and costs picked by a hash of the key), plus results
//! whose outputs are script-injection attempts.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use proximity_program::Program;
use proximity_store::{AssertionOutcome, ResultRecord, RunRecord, RunStatus, Store, Verdict};

pub const XSS_SCRIPT: &str = "<script>alert(1)</script>";
pub const XSS_ATTR: &str = "\"><img src=x onerror=alert(1)>";

pub fn acme() -> Program {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    proximity_program::load(&root).unwrap()
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn run(id: &str, started: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        program: "Acme".into(),
        started_at: at(started),
        finished_at: Some(at(started)),
        status: RunStatus::Finished,
        config: serde_json::json!({"samples": 1}),
        planned: 0,
    }
}

/// A small, stable hash (FNV-1a) to pick verdicts deterministically.
pub fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One result of `case` on `tool`, its verdict picked by the hash of the key.
pub fn result_for(
    program: &Program,
    run_id: &str,
    case_idx: usize,
    tool: &str,
    sample: u32,
) -> ResultRecord {
    let case = &program.cases[case_idx % program.cases.len()];
    let case_id = if case_idx < program.cases.len() {
        case.id.clone()
    } else {
        format!("{}-x{}", case.id, case_idx / program.cases.len())
    };
    let h = hash(&format!("{run_id}/{case_id}/{tool}/{sample}"));
    let verdict = match h % 10 {
        0..=5 => Verdict::Pass,
        6 | 7 => Verdict::Silent,
        8 => Verdict::Structural,
        _ => Verdict::Loud,
    };
    ResultRecord {
        tool_calls: Vec::new(),
        run_id: run_id.into(),
        case_id,
        tool_id: tool.into(),
        sample,
        persona: case.persona.clone(),
        workflow: case.workflow.clone(),
        kind: case.kind.as_str().into(),
        source: case.source.as_str().into(),
        case_weight: case.weight,
        tool_fingerprint: format!("fp-{tool}"),
        model_version: Some("m-1".into()),
        output: format!("answer {}", h % 1000),
        error_class: (verdict == Verdict::Loud).then(|| "server".to_owned()),
        error_message: None,
        input_tokens: 100,
        output_tokens: 20,
        cost_usd: (h % 7) as f64 * 0.0005,
        latency_ms: 100 + h % 400,
        attempts: 1,
        cached: h.is_multiple_of(5),
        verdict,
        reason: format!("{verdict} by fixture"),
        assertions: vec![AssertionOutcome {
            group: "correct".into(),
            assertion: "contains \"42\"".into(),
            passed: verdict == Verdict::Pass,
            detail: if verdict == Verdict::Pass {
                "found"
            } else {
                "not found"
            }
            .into(),
            judge_raw: None,
        }],
        mean_logprob: None,
        hedged: Some(false),
        created_at: at("2026-03-01T10:00:00Z"),
    }
}

/// Every case of the program on every tool of its persona's tier, `samples` times.
pub fn results(program: &Program, run_id: &str, samples: u32) -> Vec<ResultRecord> {
    let mut out = Vec::new();
    for (i, case) in program.cases.iter().enumerate() {
        for tool in program.tools_for_persona(&case.persona) {
            for s in 0..samples {
                out.push(result_for(program, run_id, i, &tool.id, s));
            }
        }
    }
    out
}

/// A store (in a temp dir) with run `r1`: every case × tool once, and two silent
/// failures whose outputs (and assertion details) are injection attempts.
pub async fn seeded(dir: &std::path::Path) -> (Program, Store) {
    let program = acme();
    let url = format!("sqlite://{}", dir.join("p.db").display());
    let store = Store::connect(&url).await.unwrap();
    store
        .create_run(&run("r1", "2026-03-01T10:00:00Z"))
        .await
        .unwrap();
    for r in results(&program, "r1", 1) {
        store.insert_result(&r).await.unwrap();
    }
    for (i, evil) in [XSS_SCRIPT, XSS_ATTR].iter().enumerate() {
        let mut r = result_for(&program, "r1", 0, "acme-copilot", 10 + i as u32);
        r.verdict = Verdict::Silent;
        r.output = format!("Sure! {evil}");
        r.reason = format!("wrong: {evil}");
        r.assertions[0].detail = (*evil).to_owned();
        r.assertions[0].passed = false;
        store.insert_result(&r).await.unwrap();
    }
    (program, store)
}
