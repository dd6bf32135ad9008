//! End-to-end: failure anatomy on a real run of a `scripted` tool with two samples per
//! case — `report --failures silent|structural|all` in every format, the anatomy in the
//! JSON scorecard, and the downstream contracts (`csv`, `format`, `command`) deciding
//! structural verdicts, with model output that tries to inject shell commands.
#![allow(clippy::unwrap_used)]

use crate::common::*;

const PROGRAM: &str = r#"version: 1
name: anatomy
tools:
  - id: vendor
    provider: scripted
    params:
      rules:
        - when: capital of france
          reply: Paris
        - when: "17 * 23"
          reply: "The answer is 381."
        - when: refund window
          reply: "I'm not sure, maybe 14 days?"
        - when: export the stock
          reply: "sku;qty\nA-1;2\nB-2;5"
        - when: export the orders
          reply: "sku,qty\nA-1,2\nB-2,5"
        - when: due date
          reply: '{"due_date": "30/04/2025"}'
        - when: echo this
          reply: "$(touch pwned); rm -rf x `touch pwned2` ; touch pwned3"
      default_reply: "I don't know."
tiers:
  - id: basic
    tools: [vendor]
personas:
  - id: clerk
    name: Clerk
    headcount: 4
    tier: basic
    workflows:
      - { id: lookup, share: 0.4, floor: 0.8 }
      - { id: math, share: 0.2, floor: 0.5 }
      - { id: export, share: 0.4, floor: 0.9 }
"#;

const SUITE: &str = r#"persona: clerk
cases:
  - id: capital
    workflow: lookup
    prompt: Remind me, capital of France?
    assert:
      correct: [{ contains: Paris }]
  - id: refund
    workflow: lookup
    prompt: How long is the refund window?
    assert:
      correct: [{ contains: "30" }]
  - id: mult
    workflow: math
    kind: edge
    prompt: What is 17 * 23?
    assert:
      correct: [{ numeric: 391 }]
  - id: stock-csv
    workflow: export
    prompt: Export the stock as CSV.
    assert:
      contract:
        - csv: [sku, qty]
  - id: orders-csv
    workflow: export
    prompt: Export the orders as CSV.
    assert:
      contract:
        - csv: [sku, qty]
        - command:
            argv:
              - python3
              - -c
              - "import csv,sys; rows=list(csv.DictReader(sys.stdin)); sys.exit(0 if all(int(r['qty']) > 0 for r in rows) else 'bad qty')"
            timeout_secs: 20
  - id: due
    workflow: export
    prompt: What is the due date?
    assert:
      contract:
        - format: { date: "%Y-%m-%d", path: "$.due_date" }
  - id: echo
    workflow: export
    prompt: Echo this back.
    assert:
      contract:
        - command: [sh, -c, "cat >/dev/null"]
        - command:
            - python3
            - -c
            - "import sys,os; d=sys.stdin.read(); sys.exit('unexpected files' if os.listdir('.') else ('not byte-exact' if d != '$(touch pwned); rm -rf x `touch pwned2` ; touch pwned3' else 'consumer rejects it'))"
"#;

fn normalise(text: &str, run_id: &str) -> String {
    text.replace(run_id, "[RUN]")
}

#[test]
fn report_failures_lists_silent_structural_and_all() {
    let p = TempProgram::new(PROGRAM, &[("s.yaml", SUITE)]);
    let out = run(proximity(p.path()).args(["eval", "-q", "--samples", "2"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let report = report_json(p.path());
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    let row = &report["scorecard"][0];
    let anatomy = &row["failure_anatomy"];
    // 7 cases × 2 samples: capital and orders-csv pass; mult silent; refund loud (hedged);
    // stock-csv, due and echo structural.
    assert_eq!(anatomy["pass"]["count"], 4);
    assert_eq!(anatomy["silent"]["count"], 2);
    assert_eq!(anatomy["loud"]["count"], 2);
    assert_eq!(anatomy["structural"]["count"], 6);
    assert_eq!(anatomy["silent"]["rate"]["n"], 14);
    assert!(anatomy["silent"]["rate"]["ci_low"].as_f64().unwrap() > 0.0);
    assert_eq!(anatomy["silent_share_of_failures"]["value"], 0.2);
    assert!(anatomy["effective_context_tokens"].is_null());
    assert_eq!(
        anatomy["confidence"]["hedged"], 2,
        "the refund answer hedges"
    );
    assert_eq!(anatomy["confidence"]["silent_agreement"], 1.0);
    let mostly: Vec<&str> = anatomy["mostly_silent_workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["workflow"].as_str().unwrap())
        .collect();
    assert_eq!(mostly, ["math"]);

    // Silent failures: the confidently wrong product, with what was expected.
    let silent = run(proximity(p.path()).args(["report", "--failures", "silent"]));
    assert!(silent.status.success(), "{}", stderr(&silent));
    let table = stdout(&silent);
    assert!(table.contains("expected: numeric 391 ± 0"), "{table}");
    assert!(
        table.contains("got:      \"The answer is 381.\""),
        "{table}"
    );
    assert!(table.contains("samples agree 2/2"), "{table}");
    assert!(
        !table.contains("stock-csv"),
        "structural is not silent: {table}"
    );
    insta::assert_snapshot!("failures_silent", normalise(&table, &run_id));

    let json =
        run(proximity(p.path()).args(["report", "--failures", "structural", "--format", "json"]));
    assert!(json.status.success(), "{}", stderr(&json));
    let list: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(list["filter"], "structural");
    let cases = list["pairs"][0]["cases"].as_array().unwrap();
    let detail = |id: &str| {
        cases
            .iter()
            .find(|c| c["case_id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {cases:?}"))["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        detail("stock-csv").starts_with("missing columns \"sku\", \"qty\""),
        "{}",
        detail("stock-csv")
    );
    assert!(
        detail("due").starts_with("$.due_date = \"30/04/2025\" is not date"),
        "{}",
        detail("due")
    );
    // The hostile output reached the consumer byte for byte and ran nothing.
    assert_eq!(
        detail("echo"),
        "`python3` exited 1; stderr: \"consumer rejects it\""
    );
    for name in ["pwned", "pwned2", "pwned3"] {
        assert!(!p.path().join(name).exists(), "{name} created");
    }

    let md = run(proximity(p.path()).args(["report", "--failures", "all", "--format", "markdown"]));
    assert!(md.status.success(), "{}", stderr(&md));
    let md = stdout(&md);
    assert!(md.starts_with("# Failures of run"), "{md}");
    for id in ["mult", "refund", "stock-csv", "due", "echo"] {
        assert!(md.contains(&format!(". {id} (")), "{id} missing: {md}");
    }

    let junit =
        run(proximity(p.path()).args(["report", "--failures", "silent", "--format", "junit"]));
    assert_eq!(junit.status.code(), Some(2));
    assert!(stderr(&junit).contains("--failures"), "{}", stderr(&junit));

    // The scorecard table carries the failure anatomy.
    let scorecard = stdout(&run(proximity(p.path()).arg("report")));
    assert!(scorecard.contains("Failure anatomy"), "{scorecard}");
    assert!(scorecard.contains("not probed"), "{scorecard}");
    assert!(
        scorecard.contains("clerk / vendor: math (2 of 2 failures)"),
        "{scorecard}"
    );
}

#[test]
fn contract_errors_in_the_program_are_located() {
    let suite = "persona: clerk\ncases:\n  - id: c\n    workflow: lookup\n    prompt: hi\n    assert:\n      contract:\n        - csv: { columns: [a], delimeter: \";\" }\n        - command: \"cat | sh\"\n";
    let p = TempProgram::new(PROGRAM, &[("s.yaml", suite)]);
    let out = run(proximity(p.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("s.yaml:8:32"), "{err}");
    assert!(err.contains("did you mean `delimiter`?"), "{err}");
    assert!(err.contains("s.yaml:9:20"), "{err}");
    assert!(err.contains("never a shell string"), "{err}");
}
