//! End-to-end: `proximity check` on valid and broken programs; the messages a person
//! reads are snapshot-tested.
#![allow(clippy::unwrap_used)]

use crate::common::*;

pub(crate) const BROKEN: &str = r#"version: 1
name: broken
tools:
  - id: bot
    provider: scriptd
    params:
      default_reply: hi
  - id: gpt
    provider: openai
    model: gpt-4o-mini
    temprature: 0.2
  - id: bot
    provider: scripted
    params: { default_reply: again }
tiers:
  - id: basic
    tools: [bot, gtp]
personas:
  - id: agent
    headcount: 10
    tier: basik
    workflows:
      - { id: lookup, share: 0.5, floor: 0.8 }
      - { id: math, share: 0.4, floor: 1.5 }
"#;

pub(crate) const BROKEN_SUITE: &str = r#"persona: agent
cases:
  - id: one
    workflow: lookup
    promt: What is the capital of France?
    assert:
      correct:
        - contains: Paris
  - id: two
    workflow: lokup
    prompt: hi
    documents: [documents/missing.md]
    assert:
      correct:
        - contians: x
  - id: two
    workflow: math
    prompt: "2 + 2"
  - id: three
    persona: agnet
    workflow: math
    prompt: "{{ undefined_var }}"
    assert:
      correct:
        - equals: "4"
"#;

fn normalise(text: &str, dir: &std::path::Path) -> String {
    text.replace(&dir.display().to_string(), "[PROGRAM]")
}

#[test]
fn broken_program_reports_every_error_with_location() {
    let p = TempProgram::new(BROKEN, &[("cases.yaml", BROKEN_SUITE)]);
    let out = run(proximity(p.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    insta::assert_snapshot!("broken_program", normalise(&stderr(&out), p.path()));
}

#[test]
fn invalid_yaml_is_located() {
    let p = TempProgram::new("version: 1\ntools: [\n  - id: x\n", &[]);
    let out = run(proximity(p.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("invalid_yaml", normalise(&stderr(&out), p.path()));
}

const ONE_MISTAKE: &str = r#"version: 1
name: one-mistake
tools:
  - id: bot
    provider: scripted
    params: { default_reply: hi }
    temprature: 0.2
tiers:
  - id: basic
    tools: [bot]
    budget_per_seat_month: lots
personas:
  - id: adjuster
    headcount: many
    tier: basic
    workflows:
      - { id: claims, share: 1.0, floor: 0.8 }
"#;

/// One mistake, one error: a tool, a tier and a persona whose entries fail to load are
/// still known by their ids, so the tier naming the tool, the persona naming the tier and
/// the eight cases naming the persona add no "unknown …" errors.
#[test]
fn each_mistake_is_reported_once() {
    let cases: String = (1..=8)
        .map(|i| {
            format!(
                "  - id: c{i}\n    prompt: hi\n    assert:\n      correct: [{{ contains: hi }}]\n"
            )
        })
        .collect();
    let suite = format!("persona: adjuster\nworkflow: claims\ncases:\n{cases}");
    let p = TempProgram::new(ONE_MISTAKE, &[("cases.yaml", &suite)]);
    let out = run(proximity(p.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    let err = normalise(&stderr(&out), p.path());
    for false_error in ["unknown tool", "unknown tier", "unknown persona"] {
        assert!(!err.contains(false_error), "{err}");
    }
    assert!(err.contains("3 errors found"), "{err}");
    insta::assert_snapshot!("one_error_per_mistake", err);
}

/// A file that is not UTF-8 is reported at the line, column and byte of its first bad
/// byte.
#[test]
fn a_file_that_is_not_utf8_is_located_to_the_byte() {
    let p = openai_program("http://127.0.0.1:9/v1", "", &[("a", "hi", "contains: hi")]);
    let mut bytes = b"persona: p\ncases:\n  - id: one\n    workflow: w\n    prompt: caf".to_vec();
    bytes.extend_from_slice(&[0xe9, b'\n']);
    fs_err::write(p.path().join("suites/latin1.yaml"), bytes).unwrap();
    let out = run(proximity(p.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    let err = normalise(&stderr(&out), p.path());
    assert!(err.contains("latin1.yaml:5:"), "{err}");
    insta::assert_snapshot!("not_utf8", err);
}

/// A suite of `- - - … x` 50,000 deep aborted `check` and `eval` with a stack overflow
/// (exit 134); the nesting is now capped with a located error.
#[test]
fn yaml_nested_50000_deep_is_a_located_error_not_a_crash() {
    let deep = format!(
        "persona: agent\ncases:\n  - id: one\n    workflow: lookup\n    prompt: hi\n    vars:\n      v:\n        {}x\n",
        "- ".repeat(50_000)
    );
    let p = TempProgram::new(
        BROKEN.replace("scriptd", "scripted").as_str(),
        &[("cases.yaml", &deep)],
    );
    for verb in ["check", "eval"] {
        let out = run(proximity(p.path()).arg(verb));
        assert_eq!(out.status.code(), Some(2), "{verb}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("the YAML nests deeper than 100 levels") && err.contains("cases.yaml:8:"),
            "{verb}: {err}"
        );
    }
}

#[test]
fn missing_program_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(proximity(dir.path()).arg("check"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("proximity init"), "{}", stderr(&out));
}

#[test]
fn valid_program_summarised() {
    let p = openai_program("http://127.0.0.1:9/v1", "", &[("a", "hi", "contains: hi")]);
    let out = run(proximity(p.path()).arg("check"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "ok: program `e2e`: 1 tools, 1 tiers, 1 personas (1 workflows), 1 cases (0% edge, 0 demo)"
    );
}

#[test]
fn init_scaffolds_a_valid_program_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("prog");
    let out = run(std::process::Command::new(bin()).arg("init").arg(&target));
    assert!(out.status.success(), "{}", stderr(&out));
    let check = run(proximity(&target).arg("check"));
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stdout(&check).contains("2 cases"), "{}", stdout(&check));
    let again = run(std::process::Command::new(bin()).arg("init").arg(&target));
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}
