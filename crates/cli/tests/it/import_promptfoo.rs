//! End-to-end: `proximity import promptfoo` on a config written in promptfoo's documented
//! format (`fixtures/promptfoo/`: every mapped assertion type, unsupported ones, tests
//! inline and from a glob, JSON Lines and CSV, a `file://` var, `defaultTest`, a chat
//! prompt). The written suite passes `check`, `eval` on a scripted tool gives the
//! verdicts the assertions call for, an existing suite keeps its bytes, and a
//! 10,000-test config imports.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proximity_store::Store;

use crate::common::*;

const PROGRAM: &str = r#"version: 1
name: front-desk
judge_tool: grader
tools:
  - id: vendor
    provider: scripted
    params:
      rules:
        - when: policy say
          reply: Refunds are accepted within 14 days.
        - when: capital of france
          reply: Paris
        - when: refund window
          reply: Refunds within 14 days of purchase.
        - when: order as json
          reply: '{"id": 7, "total": 12.5}'
      default_reply: I don't know.
  - id: grader
    provider: scripted
    params:
      rules:
        - when: names the refund window
          reply: "PASS\nit does"
      default_reply: "FAIL\nit does not"
tiers:
  - id: basic
    tools: [vendor]
personas:
  - id: clerk
    name: Clerk
    headcount: 4
    tier: basic
    workflows:
      - { id: lookup, share: 0.6, floor: 0.5 }
      - { id: export, share: 0.4, floor: 0.5 }
"#;

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/promptfoo/promptfooconfig.yaml")
}

fn import(p: &TempProgram, extra: &[&str]) -> std::process::Output {
    run(proximity(p.path())
        .args(["import", "promptfoo"])
        .arg(config())
        .args(["--persona", "clerk", "--workflow", "lookup"])
        .args(extra))
}

/// The verdict of each case in the latest run.
fn verdicts(program: &Path) -> HashMap<String, String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::connect(&proximity_store::default_url(program))
            .await
            .unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        store
            .results(&run.id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.case_id, r.verdict.as_str().to_owned()))
            .collect()
    })
}

#[test]
fn a_promptfoo_config_becomes_cases_that_check_and_evaluate() {
    let p = TempProgram::new(PROGRAM, &[]);
    let out = import(&p, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!("import_promptfoo_summary", stdout(&out));

    let suite = fs_err::read_to_string(p.path().join("suites/promptfoo.yaml")).unwrap();
    assert!(suite.starts_with("# Imported from promptfoo"), "{suite}");
    assert!(
        suite.contains("  # From promptfoo promptfooconfig.yaml: test 1 (promptfooconfig.yaml:19:5), prompt 1 (promptfooconfig.yaml:10:5)\n  - id: capital-of-france-p1\n"),
        "{suite}"
    );
    assert!(
        suite.contains(
            "    messages:\n      - role: system\n        content: \"You answer in {{tone}} words.\"\n"
        ),
        "{suite}"
    );
    assert!(
        !suite.contains("scored-by-python"),
        "skipped by default: {suite}"
    );

    let check = run(proximity(p.path()).arg("check"));
    assert!(check.status.success(), "{}\n{suite}", stderr(&check));

    run(proximity(p.path()).args(["eval", "-q"]));
    let v = verdicts(p.path());
    for prompt in ["p1", "p2"] {
        let of = |id: &str| v[&format!("{id}-{prompt}")].clone();
        assert_eq!(of("capital-of-france"), "pass", "{v:?}");
        assert_eq!(of("refund-window"), "pass", "judge says PASS: {v:?}");
        assert_eq!(of("order-as-json"), "pass", "{v:?}");
        assert_eq!(of("capital-from-csv"), "pass", "{v:?}");
        assert_eq!(of("refund-from-csv"), "pass", "{v:?}");
        assert_eq!(of("capital-of-france-short"), "pass", "{v:?}");
        assert_ne!(of("test-4"), "pass", "Rome is not in the reply: {v:?}");
        assert_ne!(of("graded-from-csv"), "pass", "judge says FAIL: {v:?}");
        assert_ne!(of("test-9"), "pass", "the reply is JSON: {v:?}");
    }
    assert_eq!(v.len(), 18, "{v:?}");
}

#[test]
fn drop_assertion_keeps_cases_and_an_existing_suite_keeps_its_bytes() {
    let existing = "# hand-written\npersona: clerk\nworkflow: lookup\ncases:\n    - id: mine\n      prompt: hi\n      assert: { correct: [{ contains: hi }] }   # keep me\n";
    let p = TempProgram::new(PROGRAM, &[("promptfoo.yaml", existing)]);
    let out = import(&p, &["--unsupported", "drop-assertion"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(
        summary.starts_with(
            "26 cases written to suites/promptfoo.yaml, 0 skipped, 5 assertions unsupported"
        ),
        "{summary}"
    );
    let suite = fs_err::read_to_string(p.path().join("suites/promptfoo.yaml")).unwrap();
    assert!(suite.starts_with(existing), "existing bytes untouched");
    assert!(suite.contains("    # Dropped: assert python (promptfooconfig.yaml:77:9): runs Python\n    # Dropped: assert similar (promptfooconfig.yaml:79:9): needs embeddings\n    - id: scored-by-python-p1\n"), "{suite}");
    assert!(
        !suite[existing.len()..].contains("persona:"),
        "the header says it: {suite}"
    );
    assert!(
        suite.contains("What does this policy say about refunds?"),
        "a file:// var: {suite}"
    );
    let check = run(proximity(p.path()).arg("check"));
    assert!(check.status.success(), "{}\n{suite}", stderr(&check));

    // Again: the ids are taken, so new ones get a suffix and nothing collides.
    let again = import(&p, &["--unsupported", "drop-assertion"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let suite = fs_err::read_to_string(p.path().join("suites/promptfoo.yaml")).unwrap();
    assert!(suite.contains("- id: capital-of-france-p1-2\n"), "{suite}");
    assert!(run(proximity(p.path()).arg("check")).status.success());
}

#[test]
fn unknown_persona_or_workflow_is_refused_with_a_suggestion() {
    let p = TempProgram::new(PROGRAM, &[]);
    let out = run(proximity(p.path())
        .args(["import", "promptfoo"])
        .arg(config())
        .args(["--persona", "clerc"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean `clerk`?"),
        "{}",
        stderr(&out)
    );
    let out = run(proximity(p.path())
        .args(["import", "promptfoo"])
        .arg(config())
        .args(["--persona", "clerk"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "two workflows: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("one of: lookup, export"),
        "{}",
        stderr(&out)
    );
    assert!(!p.path().join("suites/promptfoo.yaml").exists());
}

#[test]
fn ten_thousand_tests_import() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = String::from("prompts:\n  - \"Q: {{q}}\"\ntests:\n");
    for i in 0..10_000 {
        cfg.push_str(&format!(
            "  - vars: {{ q: \"question {i}\" }}\n    assert:\n      - type: icontains\n        value: \"answer {i}\"\n"
        ));
    }
    let path = dir.path().join("promptfooconfig.yaml");
    fs_err::write(&path, cfg).unwrap();
    let p = TempProgram::new(PROGRAM, &[]);
    let start = std::time::Instant::now();
    let out = run(proximity(p.path())
        .args(["import", "promptfoo"])
        .arg(&path)
        .args(["--persona", "clerk", "--workflow", "export"]));
    println!("imported 10,000 tests in {:?}", start.elapsed());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("10000 cases written"),
        "{}",
        stdout(&out)
    );
    let suite = fs_err::read_to_string(p.path().join("suites/promptfoo.yaml")).unwrap();
    assert_eq!(suite.matches("\n  - id: test-").count(), 10_000);
    assert!(suite.contains("  - id: test-10000\n"));
}
