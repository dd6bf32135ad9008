//! Fuzz smokes of the program loader and the assertion parser, on the stable toolchain
//! (proptest): `proximity.yaml` and suite files of arbitrary bytes, and YAML built from the
//! program's own keys with arbitrary values, never panic: every input loads or is refused
//! with diagnostics, and every diagnostic of a refused program names a file, a line and a
//! column. Short (proptest's default 256 cases) so they run with every `cargo test`;
//! `PROPTEST_CASES=1000000` for a long run (`docs/fuzzing.md`).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use proptest::prelude::*;
use proximity_program::assertion::{parse_assertions, CHECK_KEYS};
use proximity_program::diagnostic::{Diagnostics, SourceMap};
use proximity_program::{load, LoadError};
use serde_json::{json, Value};

/// A program that loads, for suites to be fuzzed against.
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
    workflows: [{ id: w, share: 1, floor: 0.5 }]
"#;

/// Keys the program, its tools, personas, cases and assertions use: structure-aware
/// inputs draw their mapping keys from these (and sometimes from anywhere).
const KEYS: &[&str] = &[
    "version",
    "name",
    "tools",
    "tiers",
    "personas",
    "workflows",
    "suites",
    "judge_tool",
    "horizon_days",
    "id",
    "provider",
    "model",
    "base_url",
    "params",
    "rules",
    "when",
    "when_regex",
    "reply",
    "error",
    "tool_calls",
    "arguments",
    "default_reply",
    "price",
    "fallback",
    "headcount",
    "tier",
    "share",
    "floor",
    "cases",
    "persona",
    "workflow",
    "prompt",
    "messages",
    "role",
    "content",
    "assert",
    "contract",
    "correct",
    "safety",
    "kind",
    "source",
    "weight",
    "tags",
    "vars",
    "documents",
    "note",
    "tool_choice",
    "rate_limit",
    "capabilities",
    "context_window",
    "temperature",
    "max_tokens",
];

/// Scalars as YAML writes them: numbers, booleans, ids, odd text.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-10.0f64..10.0).prop_map(|f| json!(f)),
        prop::sample::select(KEYS).prop_map(|k| json!(k)),
        "[a-z]{1,6}".prop_map(Value::String),
        ".{0,16}".prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        2 => prop::sample::select(&CHECK_KEYS[..]).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// YAML-shaped values keyed by the program's own vocabulary.
fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Block-style YAML of a JSON tree (JSON itself is YAML too; both are tried).
fn block_yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                out.push_str(&format!("{pad}{}:", Value::String(k.clone())));
                nested(v, indent, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for v in a {
                out.push_str(&format!("{pad}-"));
                nested(v, indent, out);
            }
        }
        other => out.push_str(&format!("{pad}{other}\n")),
    }
}

fn nested(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block_yaml(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block_yaml(v, indent + 2, out);
        }
        other => out.push_str(&format!(" {other}\n")),
    }
}

/// Load a program of these files; panics only if the loader does. A refused program's
/// diagnostics each carry a location.
fn load_files(dir: &Path, program: &[u8], suite: Option<&[u8]>) {
    fs_err::write(dir.join("proximity.yaml"), program).unwrap();
    let suites = dir.join("suites");
    let _ = fs_err::remove_dir_all(&suites);
    if let Some(s) = suite {
        fs_err::create_dir_all(&suites).unwrap();
        fs_err::write(suites.join("s.yaml"), s).unwrap();
    }
    if let Err(LoadError::Invalid(d)) = load(dir) {
        let text = d.to_string();
        assert!(!text.is_empty());
        assert!(
            text.contains("-->"),
            "a diagnostic without a location: {text}"
        );
    }
}

thread_local! {
    static DIR: tempfile::TempDir = tempfile::tempdir().unwrap();
}

fn with_dir(f: impl FnOnce(&Path)) {
    DIR.with(|d| f(d.path()));
}

/// Parse `text` as an `assert:` node; panics only if the parser does.
fn parse_assert(text: &str) {
    let mut sources = SourceMap::default();
    let id = sources.add("case.yaml".into(), text.to_owned());
    if let Ok(node) = marked_yaml::parse_yaml(id, text) {
        let mut diags = Diagnostics::default();
        let parsed = parse_assertions(&sources, &node, &mut diags);
        let _ = parsed.len();
        let _ = diags.to_string();
    }
}

proptest! {
    #[test]
    fn program_files_of_arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        with_dir(|dir| {
            load_files(dir, &bytes, None);
            load_files(dir, PROGRAM.as_bytes(), Some(&bytes));
        });
    }

    #[test]
    fn structured_programs_never_panic(
        top in tree(),
        suite in tree(),
        block in any::<bool>(),
    ) {
        let render = |v: &Value| if block {
            let mut s = String::new();
            block_yaml(v, 0, &mut s);
            s
        } else {
            v.to_string()
        };
        with_dir(|dir| {
            load_files(dir, render(&top).as_bytes(), None);
            load_files(dir, PROGRAM.as_bytes(), Some(render(&suite).as_bytes()));
            // The program's own keys at the top, the generated tree as one case.
            let suite = json!({"persona": "p", "workflow": "w", "cases": [suite]});
            load_files(dir, PROGRAM.as_bytes(), Some(render(&suite).as_bytes()));
        });
    }

    #[test]
    fn assertions_never_panic(
        text in ".{0,200}",
        groups in prop::collection::btree_map(
            prop_oneof![
                3 => prop::sample::select(&["contract", "correct", "safety"][..]).prop_map(str::to_owned),
                1 => "[a-z]{0,8}",
            ],
            prop::collection::vec(
                prop_oneof![
                    4 => (prop::sample::select(&CHECK_KEYS[..]), tree())
                        .prop_map(|(k, v)| json!({ k: v })),
                    1 => tree(),
                ],
                0..5,
            ),
            0..4,
        ),
        block in any::<bool>(),
    ) {
        parse_assert(&text);
        let v = Value::Object(groups.into_iter().map(|(k, v)| (k, Value::Array(v))).collect());
        let rendered = if block {
            let mut s = String::new();
            block_yaml(&v, 0, &mut s);
            s
        } else {
            v.to_string()
        };
        parse_assert(&rendered);
    }
}
