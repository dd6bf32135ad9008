#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use schemars::SchemaGenerator;

use super::*;
use crate::assertion::CHECK_KEYS;
use crate::raw::{PROGRAM_KEYS, SUITE_KEYS};
use crate::schema_shapes::check_value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A YAML file as the YAML language server sees it: typed scalars, as JSON.
fn yaml_json(path: &Path) -> Value {
    yaml_as_json(&fs_err::read_to_string(path).unwrap()).unwrap()
}

fn errors(kind: SchemaKind, doc: &Value) -> Vec<String> {
    let schema = schema(kind);
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn properties(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn def<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["$defs"]
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` in the schema's $defs"))
}

#[test]
fn both_schemas_are_valid_json_schemas() {
    for kind in [SchemaKind::Program, SchemaKind::Suite] {
        let s = schema(kind);
        assert!(jsonschema::meta::is_valid(&s), "{}", kind.as_str());
        assert_eq!(
            s["$schema"],
            "https://json-schema.org/draft/2020-12/schema",
            "{}",
            kind.as_str()
        );
    }
}

#[test]
fn top_level_keys_are_the_loaders() {
    let program: BTreeSet<String> = PROGRAM_KEYS.iter().map(|k| k.to_string()).collect();
    assert_eq!(properties(&schema(SchemaKind::Program)), program);
    let suite: BTreeSet<String> = SUITE_KEYS.iter().map(|k| k.to_string()).collect();
    assert_eq!(properties(&schema(SchemaKind::Suite)), suite);
}

#[test]
fn every_check_key_has_a_value_shape() {
    let mut generator = SchemaGenerator::default();
    for key in CHECK_KEYS.iter().filter(|k| **k != "not") {
        let value = check_value(&mut generator, key).to_value();
        assert_ne!(value, Value::Bool(true), "assertion `{key}` has no schema");
        assert_ne!(
            value,
            serde_json::json!({}),
            "assertion `{key}` has no schema"
        );
    }
}

#[test]
fn examples_acme_validates() {
    let acme = repo().join("examples/acme");
    let errs = errors(
        SchemaKind::Program,
        &yaml_json(&acme.join("proximity.yaml")),
    );
    assert!(errs.is_empty(), "proximity.yaml: {errs:#?}");
    let mut suites = 0;
    for entry in fs_err::read_dir(acme.join("suites")).unwrap() {
        let path = entry.unwrap().path();
        let errs = errors(SchemaKind::Suite, &yaml_json(&path));
        assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
        suites += 1;
    }
    assert!(suites >= 3);
}

fn suite_with(assertion: &str) -> Value {
    let text = format!(
        "persona: p\ncases:\n  - id: a\n    prompt: hi\n    assert:\n      correct:\n        - {assertion}\n"
    );
    yaml_as_json(&text).unwrap()
}

#[test]
fn assertion_shapes_match_the_parser() {
    let good = [
        "contains: Paris",
        "contains: [a, b]",
        "contains: { any: [a, b] }",
        "icontains: 42",
        "equals: { value: x, ignore_case: true }",
        "not: { regex: '\\d' }",
        "not: { not: { is_json: true } }",
        "max_length: 200",
        "json_path: { path: $.a, equals: 3 }",
        "numeric: { value: 4, tolerance: 0.5 }",
        "judge: { rubric: polite, tool: judge }",
        "csv: { columns: [a], delimiter: ';' }",
        "markdown_table: [a, b]",
        "format: { currency: { symbol: €, decimals: 2, position: after }, path: $.x }",
        "format: { number: true }",
        "command: { argv: [python3, -c, x], timeout_secs: 5 }",
        "json_schema: { type: object }",
        "called: get_weather",
        "called: { name: get_weather, arguments: { city: Paris }, match: exact }",
        "not_called: delete_account",
        "no_tool_calls: true",
        "tool_calls: 2",
        "tool_calls: { min: 1, max: 3 }",
    ];
    for a in good {
        let errs = errors(SchemaKind::Suite, &suite_with(a));
        assert!(errs.is_empty(), "`{a}` rejected: {errs:#?}");
    }
    let bad = [
        "contians: x",
        "is_json: false",
        "max_length: many",
        "json_path: { path: $.a, equal: 3 }",
        "format: { date: '%Y', number: true }",
        "format: { currency: { symbol: €, position: middle } }",
        "command: 'rm -rf /'",
        "csv: { delimiter: ';;' }",
        "called: { name: get_weather, match: fuzzy }",
        "tool_calls: { least: 1 }",
    ];
    for a in bad {
        let errs = errors(SchemaKind::Suite, &suite_with(a));
        assert!(!errs.is_empty(), "`{a}` accepted");
    }
}

/// The first-column keys of each table under `heading` in `doc`, up to the next heading of
/// the same or a higher level.
fn doc_tables(doc: &str, heading: &str) -> Vec<BTreeSet<String>> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading).skip(1);
    let mut tables = Vec::new();
    let mut current: Option<BTreeSet<String>> = None;
    for line in lines.by_ref() {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && hashes <= level && line.chars().nth(hashes) == Some(' ') {
            break;
        }
        if let Some(rest) = line.strip_prefix("| `") {
            let key = rest.split('`').next().unwrap().to_owned();
            current.get_or_insert_with(BTreeSet::new).insert(key);
        } else if !line.starts_with('|') {
            if let Some(t) = current.take() {
                tables.push(t);
            }
        }
    }
    tables.extend(current);
    assert!(!tables.is_empty(), "no key table under `{heading}`");
    tables
}

#[test]
fn docs_program_md_tables_match_the_schema() {
    let doc = fs_err::read_to_string(repo().join("docs/program.md")).unwrap();
    let program = schema(SchemaKind::Program);
    let suite = schema(SchemaKind::Suite);
    let checks: [(&str, usize, &Value); 10] = [
        ("## `proximity.yaml`", 0, &program),
        ("## Tools", 0, def(&program, "Tool")),
        ("### `params`", 0, def(&program, "ToolParams")),
        ("### `params`", 1, def(&program, "ScriptRule")),
        ("### `price`", 0, def(&program, "Price")),
        ("## Tiers", 0, def(&program, "Tier")),
        ("## Personas and workflows", 0, def(&program, "Persona")),
        ("## Personas and workflows", 1, def(&program, "Workflow")),
        ("## Suite files", 0, &suite),
        ("## Cases", 0, def(&suite, "Case")),
    ];
    for (heading, index, schema) in checks {
        let tables = doc_tables(&doc, heading);
        let documented = tables
            .get(index)
            .unwrap_or_else(|| panic!("no table {index} under `{heading}`"));
        assert_eq!(
            documented,
            &properties(schema),
            "docs/program.md `{heading}` (table {index}) and the schema disagree"
        );
    }
}

#[test]
fn examples_acme_schemas_are_current() {
    // The example points editors at its own copies; they must say what the loader reads.
    let dir = repo().join("examples/acme/schemas");
    for kind in [SchemaKind::Program, SchemaKind::Suite] {
        let path = dir.join(kind.file_name());
        let written: Value = serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
        assert!(
            written == schema(kind),
            "{} is stale: run `proximity schema {} > examples/acme/schemas/{}`",
            path.display(),
            kind.as_str(),
            kind.file_name()
        );
    }
}
