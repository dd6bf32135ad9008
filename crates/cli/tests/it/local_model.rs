//! End-to-end on the real embedded model (SmolLM2-135M-Instruct through llama.cpp): a fact
//! answered right, an arithmetic answer that is confidently wrong (`silent`), a
//! grammar-constrained JSON answer that parses, and a prompt over the window classified
//! as an error (`loud`, `context_overflow`).
//!
//! Needs the model (`proximity models pull`). Without it the test prints a note and
//! passes, unless `PROXIMITY_REQUIRE_MODEL=1` (as in CI), where its absence fails.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::HashMap;

use crate::common::*;

fn model_available() -> bool {
    let found =
        proximity_local::models::resolve_model_path(None, std::path::Path::new(".")).is_ok();
    if !found {
        assert!(
            std::env::var("PROXIMITY_REQUIRE_MODEL").as_deref() != Ok("1"),
            "PROXIMITY_REQUIRE_MODEL=1 but the local model is missing: run `proximity models pull`"
        );
        eprintln!("skipping: the local model is not installed (run `proximity models pull`)");
    }
    found
}

const PROGRAM: &str = r#"version: 1
name: local-e2e
tools:
  - id: local
    provider: local
    params: { temperature: 0, max_tokens: 32 }
  - id: local-json
    provider: local
    params:
      temperature: 0
      max_tokens: 48
      grammar: json
      system: Answer with a JSON object only.
  - id: local-small
    provider: local
    context_window: 256
    params: { temperature: 0, max_tokens: 16 }
tiers:
  - id: t
    tools: [local, local-json, local-small]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows:
      - { id: facts, share: 0.5, floor: 0.5 }
      - { id: extract, share: 0.5, floor: 0.5 }
"#;

fn suite() -> String {
    let long = "The quarterly ledger lists many entries. ".repeat(80);
    format!(
        r#"persona: p
cases:
  - id: capital
    workflow: facts
    prompt: What is the capital of France? Answer in one word.
    assert:
      correct: [{{ icontains: Paris }}]
  - id: multiply
    workflow: facts
    kind: edge
    prompt: What is 347 multiplied by 29? Reply with the number only.
    assert:
      correct: [{{ numeric: 10063 }}]
  - id: json
    workflow: extract
    prompt: "Give the customer's name and city as JSON: Maria Lopez lives in Madrid."
    assert:
      contract: [{{ is_json: true }}]
  - id: too-long
    workflow: extract
    kind: edge
    prompt: "{long} How many entries are there?"
    assert:
      correct: [{{ contains: entries }}]
"#
    )
}

#[test]
fn real_model_fact_silent_arithmetic_json_and_overflow() {
    if !model_available() {
        return;
    }
    let p = TempProgram::new(PROGRAM, &[("s.yaml", &suite())]);
    let out = run(proximity(p.path())
        .args(["eval", "-q", "--concurrency", "2"])
        .args([
            "--tool",
            "local",
            "--tool",
            "local-json",
            "--tool",
            "local-small",
        ]));
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "stderr: {}",
        stderr(&out)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let results = rt.block_on(async {
        let store = proximity_store::Store::connect(&proximity_store::default_url(p.path()))
            .await
            .unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        store.results(&run.id).await.unwrap()
    });
    let r: HashMap<(String, String), _> = results
        .iter()
        .map(|r| ((r.case_id.clone(), r.tool_id.clone()), r))
        .collect();
    let get = |case: &str, tool: &str| r[&(case.to_owned(), tool.to_owned())];

    let capital = get("capital", "local");
    assert_eq!(
        capital.verdict.as_str(),
        "pass",
        "output: {:?}",
        capital.output
    );
    assert!(capital.input_tokens > 0 && capital.output_tokens > 0);
    assert!(capital.model_version.is_some());

    let multiply = get("multiply", "local");
    assert_eq!(
        multiply.verdict.as_str(),
        "silent",
        "the 135M model answers arithmetic confidently and wrongly: {:?} ({})",
        multiply.output,
        multiply.reason
    );

    let json = get("json", "local-json");
    assert_eq!(
        json.verdict.as_str(),
        "pass",
        "output: {:?} ({})",
        json.output,
        json.reason
    );
    serde_json::from_str::<serde_json::Value>(json.output.trim()).expect("grammar output parses");

    let overflow = get("too-long", "local-small");
    assert_eq!(overflow.verdict.as_str(), "loud");
    assert_eq!(overflow.error_class.as_deref(), Some("context_overflow"));
}
