//! `horizon_days` at the top of `proximity.yaml`, and `note:` on a case promoted from a
//! field note.
#![allow(clippy::unwrap_used)]

use proximity_program::{load, LoadError, Program, DEFAULT_HORIZON_DAYS};

fn check(top: &str) -> Result<Program, String> {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"version: 1
name: h
{top}
tools:
  - id: a
    provider: scripted
    params: {{ default_reply: a }}
tiers:
  - id: t
    tools: [a]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{{ id: w, share: 1.0, floor: 0.5 }}]
"#
    );
    fs_err::write(dir.path().join("proximity.yaml"), yaml).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(
        dir.path().join("suites/s.yaml"),
        "persona: p\nworkflow: w\ncases:\n  - id: plain\n    prompt: hi\n    assert: { correct: [contains: a] }\n  - id: from-note\n    source: field\n    note: \"12\"\n    prompt: hi\n    assert: { correct: [contains: a] }\n",
    )
    .unwrap();
    match load(dir.path()) {
        Ok(p) => Ok(p),
        Err(LoadError::Invalid(d)) => Err(d.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn horizon_defaults_to_ninety_days() {
    let p = check("").unwrap();
    assert_eq!(p.horizon_days, DEFAULT_HORIZON_DAYS);
    assert_eq!(DEFAULT_HORIZON_DAYS, 90);
}

#[test]
fn horizon_can_be_set() {
    assert_eq!(check("horizon_days: 30").unwrap().horizon_days, 30);
}

#[test]
fn a_horizon_that_is_not_a_positive_whole_number_is_located() {
    for bad in ["horizon_days: 0", "horizon_days: soon", "horizon_days: 1.5"] {
        let err = check(bad).unwrap_err();
        assert!(
            err.contains("`horizon_days` must be a positive whole number"),
            "{err}"
        );
        assert!(err.contains("proximity.yaml:3:"), "{err}");
    }
}

#[test]
fn a_case_keeps_the_note_it_was_promoted_from() {
    let p = check("").unwrap();
    let case = p.cases.iter().find(|c| c.id == "from-note").unwrap();
    assert_eq!(case.note.as_deref(), Some("12"));
    assert_eq!(case.source, proximity_program::CaseSource::Field);
    assert_eq!(p.cases.iter().find(|c| c.id == "plain").unwrap().note, None);
}
