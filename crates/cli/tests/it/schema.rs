//! End-to-end: `proximity schema` prints schemas that accept the programs `check` accepts
//! (the example, `init`'s scaffold, the tests' own programs) and reject broken shapes,
//! and `init` points editors at them.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;

use crate::check::{BROKEN, BROKEN_SUITE};
use crate::common::*;

fn printed(file: &str) -> Value {
    let out = run(std::process::Command::new(bin()).args(["schema", file]));
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A YAML text as the YAML language server sees it: typed scalars, as JSON.
fn yaml_json(text: &str) -> Value {
    proximity_program::schema::yaml_as_json(text).unwrap()
}

fn errors(schema: &Value, text: &str) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    validator
        .iter_errors(&yaml_json(text))
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap()
}

#[test]
fn schemas_accept_the_programs_check_accepts() {
    let program = printed("program");
    let suite = printed("suite");

    let (_dir, acme) = acme();
    assert!(run(proximity(&acme).arg("check")).status.success());
    assert_eq!(
        errors(&program, &read(&acme.join("proximity.yaml"))),
        Vec::<String>::new()
    );
    for name in ["support.yaml", "finance.yaml", "engineering.yaml"] {
        let errs = errors(&suite, &read(&acme.join("suites").join(name)));
        assert!(errs.is_empty(), "{name}: {errs:#?}");
    }

    let p = openai_program(
        "http://127.0.0.1:9/v1",
        "",
        &[
            ("a", "hi", "contains: hi"),
            ("b", "2+2", "not: { regex: '5' }"),
        ],
    );
    assert!(run(proximity(p.path()).arg("check")).status.success());
    assert!(errors(&program, &read(&p.path().join("proximity.yaml"))).is_empty());
    assert!(errors(&suite, &read(&p.path().join("suites/s.yaml"))).is_empty());
}

#[test]
fn schemas_reject_the_broken_shapes_check_reports() {
    let program = printed("program");
    let suite = printed("suite");
    let errs = errors(&program, BROKEN).join("\n");
    // An unknown provider, a misspelt parameter, a floor above 1.
    for expected in [
        "/tools/0/provider",
        "temprature",
        "/personas/0/workflows/1/floor",
    ] {
        assert!(errs.contains(expected), "{expected} not in:\n{errs}");
    }
    let errs = errors(&suite, BROKEN_SUITE).join("\n");
    // A misspelt key of a case, an unknown assertion.
    for expected in ["'promt' was unexpected", "contians", "at /cases/1/assert"] {
        assert!(errs.contains(expected), "{expected} not in:\n{errs}");
    }
}

#[test]
fn init_writes_the_schemas_and_points_editors_at_them() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("prog");
    let out = run(std::process::Command::new(bin()).arg("init").arg(&target));
    assert!(out.status.success(), "{}", stderr(&out));
    let program_yaml = read(&target.join("proximity.yaml"));
    let suite_yaml = read(&target.join("suites/support.yaml"));
    assert!(
        program_yaml.starts_with("# yaml-language-server: $schema=schemas/program.schema.json\n")
    );
    assert!(
        suite_yaml.starts_with("# yaml-language-server: $schema=../schemas/suite.schema.json\n")
    );
    // The files the lines name exist, resolved as the language server does (relative to
    // the YAML file), and hold what `proximity schema` prints.
    let written: Value =
        serde_json::from_str(&read(&target.join("schemas/program.schema.json"))).unwrap();
    assert_eq!(written, printed("program"));
    let written: Value =
        serde_json::from_str(&read(&target.join("suites/../schemas/suite.schema.json"))).unwrap();
    assert_eq!(written, printed("suite"));
    assert!(errors(&written, &suite_yaml).is_empty());
    assert!(errors(&printed("program"), &program_yaml).is_empty());
}

#[test]
fn an_unknown_schema_is_a_usage_error() {
    let out = run(std::process::Command::new(bin()).args(["schema", "suites"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("possible values: program, suite"),
        "{}",
        stderr(&out)
    );
}
