//! Suites read case by case load exactly as suites read whole: the same program, or the
//! same diagnostics in the same order.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use super::*;

const PROGRAM: &str = r#"version: 1
name: diff
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
  - id: q
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;

/// `load` with every suite streamed, and with every suite read whole.
fn both_ways(root: &Path) -> (Result<Program, LoadError>, Result<Program, LoadError>) {
    let streamed = load(root);
    let whole = load_with(
        Loader {
            whole_files: true,
            ..Loader::default()
        },
        root,
    );
    (streamed, whole)
}

fn program_dir(suites: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join(PROGRAM_FILE), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(dir.path().join("doc.md"), "a document").unwrap();
    for (name, text) in suites {
        fs_err::write(dir.path().join("suites").join(name), text).unwrap();
    }
    dir
}

/// Streamed and whole loads agree; the streamed result.
fn same_both_ways(suites: &[(&str, &str)]) -> Result<Program, Diagnostics> {
    let dir = program_dir(suites);
    let (streamed, whole) = both_ways(dir.path());
    match (streamed, whole) {
        (Ok(s), Ok(w)) => {
            assert_eq!(format!("{s:?}"), format!("{w:?}"), "{suites:?}");
            Ok(s)
        }
        (Err(LoadError::Invalid(s)), Err(LoadError::Invalid(w))) => {
            assert_eq!(s, w, "{suites:?}");
            assert_eq!(s.to_string(), w.to_string());
            Err(s)
        }
        (s, w) => panic!("{suites:?}: streamed {s:?}, whole {w:?}"),
    }
}

const CASE: &str = "prompt: hi\n    assert: { correct: [contains: a] }";

fn case(id: &str, extra: &str) -> String {
    format!("  - id: {id}\n    {extra}{CASE}\n")
}

/// A case whose body is written out in full.
fn case_with(id: &str, body: &str) -> String {
    format!("  - id: {id}\n    {body}\n")
}

#[test]
fn defaults_before_or_after_the_cases_load_the_same() {
    let cases = format!("{}{}", case("one", ""), case("two", "workflow: v\n    "));
    let first = format!("persona: p\nworkflow: w\ncases:\n{cases}");
    let last = format!("cases:\n{cases}persona: p\nworkflow: w\n");
    let split = format!("workflow: w\ncases:\n{cases}persona: p\n");
    for text in [&first, &last, &split] {
        let p = same_both_ways(&[("s.yaml", text)]).unwrap();
        let got: Vec<(&str, &str, &str)> = p
            .cases
            .iter()
            .map(|c| (c.id.as_str(), c.persona.as_str(), c.workflow.as_str()))
            .collect();
        assert_eq!(got, [("one", "p", "w"), ("two", "p", "v")], "{text}");
    }
}

#[test]
fn cases_keep_their_order_when_some_wait_for_a_later_default() {
    let text = format!(
        "cases:\n{}{}{}{}persona: p\nworkflow: w\n",
        case("own", "persona: q\n    workflow: w\n    "),
        case("needs-default", ""),
        case("own-again", "persona: q\n    workflow: w\n    "),
        case("own", "persona: q\n    workflow: w\n    "),
    );
    let d = same_both_ways(&[("s.yaml", &text)]).unwrap_err();
    assert_eq!(d.len(), 1, "{d}");
    assert!(d.to_string().contains("duplicate case id `own`"), "{d}");
    let text = text.replace("  - id: own\n    persona: q\n    workflow: w\n    prompt: hi\n    assert: { correct: [contains: a] }\npersona", "persona");
    let p = same_both_ways(&[("s.yaml", &text)]).unwrap();
    let ids: Vec<&str> = p.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["own", "needs-default", "own-again"]);
}

#[test]
fn errors_in_cases_are_reported_the_same_in_the_same_order() {
    let suite = format!(
        "persona: p\nbogus: 1\ncases:\n{}{}{}{}{}{}{}{}{}{}  - not a case\n  - id: no-assert\n    prompt: hi\nworkflow: w\nalso_bogus: 2\n",
        case("unknown-key", "promt: x\n    "),
        case("bad-persona", "persona: nobody\n    "),
        case("bad-workflow", "workflow: nowhere\n    "),
        case("bad-kind", "kind: strange\n    source: somewhere\n    "),
        case("missing-doc", "documents: [nope.md, doc.md]\n    "),
        case_with("judge", "prompt: hi\n    assert: { correct: [judge: { rubric: r }] }"),
        case("dup", ""),
        case("dup", ""),
        case("both", "messages: [{ role: user, content: hi }]\n    "),
        case_with(
            "undefined-var",
            "vars: { a: b }\n    prompt: \"{{ c }}\"\n    assert: { correct: [contains: a] }"
        ),
    );
    let other = format!(
        "cases:\n{}",
        case("dup", "persona: p\n    workflow: w\n    ")
    );
    let d = same_both_ways(&[("a.yaml", &suite), ("b.yaml", &other)]).unwrap_err();
    assert!(d.len() >= 12, "{d}");
    let d = same_both_ways(&[
        ("a.yaml", &suite.replace("persona: p\n", "")),
        ("b.yaml", &other),
    ])
    .unwrap_err();
    assert!(d.to_string().contains("has no persona or workflow"), "{d}");
}

#[test]
fn suites_without_a_list_of_cases_are_reported_the_same() {
    for text in [
        "",
        "# only a comment\n",
        "persona: p\n",
        "cases: {id: a}\n",
        "cases: nope\npersona: p\n",
        "cases:\n",
        "cases: []\n",
    ] {
        let r = same_both_ways(&[("s.yaml", text)]);
        if text != "cases: []\n" {
            assert!(r.is_err(), "{text:?}");
        }
    }
}

/// A file marked-yaml rejects after some of its cases were checked is undone and read
/// whole: none of its cases (or their ids) stay, only marked-yaml's error.
#[test]
fn a_file_that_turns_out_invalid_is_undone() {
    let cases = format!(
        "{}{}{}",
        case("x", "persona: p\n    workflow: w\n    "),
        case("bad", "persona: nobody\n    workflow: w\n    "),
        case("y", "persona: p\n    workflow: w\n    "),
    );
    let later = format!("cases:\n{}", case("x", "persona: p\n    workflow: w\n    "));
    for tail in [
        "persona: \"unclosed\n",
        "persona: p\npersona: q\n",
        "persona: &a p\n",
        "workflow: !!str w\n",
        "cases: []\n",
        "? [a]\n: b\n",
    ] {
        let broken = format!("cases:\n{cases}{tail}");
        let d = same_both_ways(&[("a.yaml", &broken), ("b.yaml", &later)]).unwrap_err();
        assert_eq!(d.len(), 1, "{tail}: {d}");
        assert!(d.0[0].file.ends_with("a.yaml"), "{d}");
    }
    let broken_case = format!(
        "cases:\n{}  - id: z\n    id: z\n",
        case("x", "persona: p\n    workflow: w\n    ")
    );
    let d = same_both_ways(&[("a.yaml", &broken_case)]).unwrap_err();
    assert!(d.to_string().contains("duplicate key `id`"), "{d}");
}

#[test]
fn the_example_program_loads_the_same() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    let (streamed, whole) = both_ways(&root);
    let (s, w) = (streamed.unwrap(), whole.unwrap());
    assert!(s.cases.len() > 10);
    assert_eq!(format!("{s:?}"), format!("{w:?}"));
}

#[test]
fn a_generated_suite_loads_the_same() {
    let mut text = String::from("cases:\n");
    for i in 0..200 {
        let workflow = if i % 2 == 0 { "w" } else { "v" };
        text.push_str(&format!(
            "  - id: c{i:04}\n    workflow: {workflow}\n    prompt: \"Case {i}\"\n    assert:\n      correct:\n        - contains: ok\n        - regex: \"^o\\\\w$\"\n"
        ));
    }
    let before = format!("persona: p\n{text}");
    let after = format!("{text}persona: p\n");
    let a = same_both_ways(&[("s.yaml", &before)]).unwrap();
    let b = same_both_ways(&[("s.yaml", &after)]).unwrap();
    assert_eq!(a.cases.len(), 200);
    assert_eq!(b.cases.len(), 200);
}

/// An empty case is located where the next key starts: the file's own problem is still
/// reported first, as when the file is read whole.
#[test]
fn problems_at_the_same_place_keep_their_order() {
    let d = same_both_ways(&[("s.yaml", "cases:\n-\nbogus: 1\n")]).unwrap_err();
    let at: Vec<(usize, usize, &str)> = d
        .iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(at.len(), 2, "{d}");
    assert_eq!((at[0].0, at[0].1), (at[1].0, at[1].1), "{d}");
    assert!(at[0].2.starts_with("unknown key `bogus`"), "{d}");
}

#[test]
fn load_each_hands_out_the_cases_load_keeps_in_order_and_can_stop() {
    let a = format!(
        "persona: p\nworkflow: w\ncases:\n{}{}",
        case("a1", ""),
        case("a2", "workflow: v\n    ")
    );
    let b = format!("cases:\n{}persona: q\nworkflow: w\n", case("b1", ""));
    let dir = program_dir(&[("a.yaml", &a), ("b.yaml", &b)]);
    let kept = load(dir.path()).unwrap();
    let mut handed = Vec::new();
    let lean = load_each(dir.path(), &mut |c| {
        handed.push(c);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(lean.cases.is_empty());
    assert_eq!(format!("{:?}", kept.cases), format!("{handed:?}"));
    assert_eq!(lean.tools.len(), kept.tools.len());

    let mut n = 0;
    load_each(dir.path(), &mut |_| {
        n += 1;
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(n, 1, "nothing is handed out after a stop");
}

#[test]
fn a_suite_that_is_not_utf8_is_reported_as_before() {
    let good = case("ok", "");
    let text =
        format!("persona: p\nworkflow: w\ncases:\n{good}  - id: bad\n    prompt: \"caf\u{e9}\"\n");
    let mut bytes = text.into_bytes();
    let at = bytes.iter().position(|&b| b == 0xc3).unwrap();
    bytes[at] = 0xff;
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join(PROGRAM_FILE), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(dir.path().join("suites/s.yaml"), &bytes).unwrap();
    let Err(LoadError::Invalid(d)) = load(dir.path()) else {
        panic!("a suite that is not UTF-8 loaded");
    };
    assert_eq!(d.len(), 1, "{d}");
    let message = d.to_string();
    assert!(
        message.contains("cannot read") && message.contains("UTF-8"),
        "{message}"
    );
    assert!(message.contains("s.yaml"), "{message}");
    // Located at the bad byte: its line, column and offset.
    let line = text_before_line(&bytes, at);
    assert_eq!((d.0[0].line, d.0[0].column), (line, 17), "{message}");
    assert!(
        message.contains(&format!("byte 0xff at byte offset {at}")),
        "{message}"
    );
}

/// The 1-based line of byte `at`.
fn text_before_line(bytes: &[u8], at: usize) -> usize {
    bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

#[test]
fn an_unclosed_flow_sequence_is_reported_on_its_own_line() {
    let good = case("ok", "");
    let text = format!(
        "persona: p\nworkflow: w\ncases:\n{good}  - id: bad\n    kind: [edge\n    prompt: hi\n"
    );
    let line = text.lines().position(|l| l.contains("[edge")).unwrap() + 1;
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join(PROGRAM_FILE), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(dir.path().join("suites/s.yaml"), text).unwrap();
    let Err(LoadError::Invalid(d)) = load(dir.path()) else {
        panic!("a suite with an unclosed `[` loaded");
    };
    assert_eq!(d.len(), 1, "{d}");
    assert_eq!((d.0[0].line, d.0[0].column), (line, 11), "{d}");
    assert!(d.to_string().contains("`[` is never closed"), "{d}");
    // A `[` closed on its line does not take the blame for a later mistake.
    assert_eq!(
        super::yaml_errors::unclosed_flow_before("a: [1]\nb: c: d\n", 2),
        None
    );
    assert_eq!(
        super::yaml_errors::unclosed_flow_before("a: \"[\"\n", 2),
        None
    );
    assert_eq!(
        super::yaml_errors::unclosed_flow_before("a: [1 # ]\n", 2),
        Some((1, 4))
    );
}

#[test]
fn a_persona_that_fails_to_load_adds_one_error_not_one_per_case() {
    let program = PROGRAM.replace(
        "  - id: q\n    headcount: 1\n",
        "  - id: q\n    headcount: many\n",
    );
    let cases: String = (1..=3).map(|i| case(&format!("c{i}"), "")).collect();
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join(PROGRAM_FILE), program).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    let suite = format!("persona: q\nworkflow: w\ncases:\n{cases}");
    fs_err::write(dir.path().join("suites/s.yaml"), suite).unwrap();
    let Err(LoadError::Invalid(d)) = load(dir.path()) else {
        panic!("a persona with `headcount: many` loaded");
    };
    let text = d.to_string();
    assert_eq!(d.len(), 1, "{text}");
    assert!(text.contains("headcount"), "{text}");
    assert!(!text.contains("unknown persona"), "{text}");
    // A persona that is truly missing is still reported.
    let suite = format!("persona: nobody\nworkflow: w\ncases:\n{}", case("c9", ""));
    fs_err::write(dir.path().join("suites/s.yaml"), suite).unwrap();
    let Err(LoadError::Invalid(d)) = load(dir.path()) else {
        panic!("a case of an unknown persona loaded");
    };
    assert!(d.to_string().contains("unknown persona `nobody`"), "{d}");
}

/// `proximity.yaml` with `tier_extra` added to tier `t` and `top_extra` at the top.
fn with_capture(
    tier_extra: &str,
    top_extra: &str,
) -> (tempfile::TempDir, Result<Program, LoadError>) {
    let dir = tempfile::tempdir().unwrap();
    let text = PROGRAM.replace("    tools: [a]\n", &format!("    tools: [a]\n{tier_extra}"));
    fs_err::write(dir.path().join(PROGRAM_FILE), format!("{text}{top_extra}")).unwrap();
    let loaded = load(dir.path());
    (dir, loaded)
}

#[test]
fn capture_is_off_by_default_and_sampled_at_the_default_when_on() {
    let (_d, p) = with_capture("", "");
    assert_eq!(p.unwrap().tiers[0].capture_sample, None);
    let (_d, p) = with_capture("    capture: true\n", "");
    assert_eq!(
        p.unwrap().tiers[0].capture_sample,
        Some(crate::model::DEFAULT_CAPTURE_SAMPLE)
    );
    let (_d, p) = with_capture("    capture: true\n    capture_sample: 0.25\n", "");
    assert_eq!(p.unwrap().tiers[0].capture_sample, Some(0.25));
    let (_d, p) = with_capture("    capture: false\n", "");
    assert_eq!(p.unwrap().tiers[0].capture_sample, None);
}

#[test]
fn bad_capture_settings_and_canaries_are_located_errors() {
    let cases = [
        (
            "    capture: true\n    capture_sample: 1.5\n",
            "",
            "capture_sample 1.5 is out of range",
            11,
        ),
        (
            "    capture_sample: 0.5\n",
            "",
            "sets capture_sample without `capture: true`",
            10,
        ),
        (
            "    capture: maybe\n",
            "",
            "`capture` in tier is not a boolean",
            10,
        ),
        ("", "canaries: ACME\n", "`canaries` must be a list", 19),
        (
            "",
            "canaries: [ok, \"\"]\n",
            "a canary must be a non-empty string",
            19,
        ),
    ];
    for (tier_extra, top_extra, message, line) in cases {
        let (_d, p) = with_capture(tier_extra, top_extra);
        let Err(LoadError::Invalid(d)) = p else {
            panic!("{tier_extra}{top_extra} loaded");
        };
        let text = d.to_string();
        assert!(text.contains(message), "{text}");
        assert!(
            text.contains(&format!("proximity.yaml:{line}:")),
            "{tier_extra}{top_extra}: {text}"
        );
    }
}

#[test]
fn canaries_are_read_from_the_program() {
    let (d, p) = with_capture("", "canaries: [ACME-7731, \"  \", STAFF-100]\n");
    assert!(p.is_err(), "a blank canary is refused");
    assert_eq!(canaries(d.path()), ["ACME-7731", "STAFF-100"]);
    let (d, p) = with_capture("", "");
    assert!(p.is_ok());
    assert!(canaries(d.path()).is_empty());
}
