//! `scripted` rules that reply with function calls (`tool_calls`): their arguments typed
//! as JSON from the YAML, and their mistakes located.
#![allow(clippy::unwrap_used)]

use proximity_program::{load, LoadError, Program};

fn program(rules: &str) -> String {
    format!(
        r#"version: 1
name: d
tools:
  - id: a
    provider: scripted
    params:
      rules:
{rules}
tiers:
  - id: t
    tools: [a]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{{ id: w, share: 1, floor: 0.5 }}]
"#
    )
}

fn check(rules: &str) -> Result<Program, String> {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), program(rules)).unwrap();
    match load(dir.path()) {
        Ok(p) => Ok(p),
        Err(LoadError::Invalid(d)) => Err(d
            .to_string()
            .replace(&*dir.path().to_string_lossy(), "<dir>")),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn a_rule_calls_functions_with_typed_arguments() {
    let p = check(
        r#"        - when: weather
          tool_calls:
            - name: get_weather
              arguments: { city: Paris, days: 3, metric: true, note: "3" }
            - name: broken
              arguments: '{"city": '"#,
    )
    .unwrap();
    let calls = &p.tools[0].params.rules[0].tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].arguments,
        serde_json::json!({"city": "Paris", "days": 3, "metric": true, "note": "3"})
    );
    assert_eq!(calls[1].arguments_text(), r#"{"city": "#);
}

#[test]
fn a_call_without_a_name_or_with_a_list_of_arguments_is_located() {
    let err = check(
        r#"        - when: weather
          tool_calls:
            - name: ""
              arguments: [1, 2]"#,
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn an_unknown_key_in_a_call_is_located() {
    let err = check(
        r#"        - when: weather
          tool_calls:
            - name: f
              argumnets: { x: 1 }"#,
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}
