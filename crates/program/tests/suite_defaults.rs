//! A suite file's `persona:` and `workflow:` apply to its cases wherever they are written,
//! before or after `cases:` (suites are read case by case; see `load`).
#![allow(clippy::unwrap_used)]

use proximity_program::{load, LoadError, Program};

const PROGRAM: &str = r#"version: 1
name: d
tools:
  - id: a
    provider: scripted
    params: { default_reply: a }
tiers:
  - id: t
    tools: [a]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 0.5, floor: 0.5 }, { id: v, share: 0.5, floor: 0.5 }]
"#;

const CASES: &str = "cases:
  - id: one
    prompt: hi
    assert: { correct: [contains: a] }
  - id: two
    workflow: v
    prompt: hello
    assert: { correct: [contains: b] }
";

fn check(suite: &str) -> Result<Program, String> {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(dir.path().join("suites/s.yaml"), suite).unwrap();
    match load(dir.path()) {
        Ok(p) => Ok(p),
        Err(LoadError::Invalid(d)) => Err(d.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Each case's id, persona, workflow, messages and assertions, with lines less `shift`.
fn summary(p: &Program, shift: usize) -> Vec<String> {
    p.cases
        .iter()
        .map(|c| {
            let assertions: Vec<String> = c
                .assertions
                .iter()
                .map(|a| {
                    let at = &a.location;
                    format!("{:?} {}:{}", a.check, at.line - shift, at.column)
                })
                .collect();
            format!(
                "{} {} {} {:?} {assertions:?} {}:{}",
                c.id,
                c.persona,
                c.workflow,
                c.messages,
                c.location.line - shift,
                c.location.column
            )
        })
        .collect()
}

#[test]
fn defaults_after_the_cases_load_as_defaults_before_them() {
    let before = check(&format!("persona: p\nworkflow: w\n{CASES}")).unwrap();
    let after = check(&format!("{CASES}persona: p\nworkflow: w\n")).unwrap();
    assert_eq!(summary(&after, 0), summary(&before, 2));
    let personas: Vec<(&str, &str)> = after
        .cases
        .iter()
        .map(|c| (c.persona.as_str(), c.workflow.as_str()))
        .collect();
    assert_eq!(personas, [("p", "w"), ("p", "v")]);
}

#[test]
fn a_missing_default_is_reported_at_the_case_wherever_the_defaults_are() {
    let err = check(&format!("{CASES}workflow: w\n")).unwrap_err();
    assert!(
        err.contains("case `one` has no persona or workflow") && err.contains("s.yaml:2:"),
        "{err}"
    );
    assert!(err.contains("2 errors"), "{err}");
}
