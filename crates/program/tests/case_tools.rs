//! A case's `tools` and `tool_choice`, and the assertions on the functions an answer
//! calls (`called`, `not_called`, `no_tool_calls`, `tool_calls`): what loads, and every
//! mistake located with what was expected.
#![allow(clippy::unwrap_used)]

use proximity_program::{load, Check, LoadError, Program};
use serde_json::json;

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

fn check(case: &str) -> Result<Program, String> {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    let suite = format!("persona: p\nworkflow: w\ncases:\n  - id: c\n    prompt: hi\n{case}");
    fs_err::write(dir.path().join("suites/s.yaml"), suite).unwrap();
    match load(dir.path()) {
        Ok(p) => Ok(p),
        Err(LoadError::Invalid(d)) => Err(d
            .to_string()
            .replace(&*dir.path().to_string_lossy(), "<dir>")),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn tools_tool_choice_and_call_assertions_load() {
    let p = check(
        r#"    tools:
      - name: get_weather
        description: The weather of a city
        parameters: { type: object, properties: { city: { type: string } }, required: [city] }
      - type: function
        function: { name: delete_account, strict: true }
    tool_choice: { name: get_weather }
    assert:
      contract:
        - tool_calls: { min: 1, max: 2 }
      correct:
        - called: { name: get_weather, arguments: { city: Paris, days: 3 }, match: exact }
        - called: { name: get_weather, schema: { type: object, required: [city] } }
      safety:
        - not_called: delete_account
        - not: { no_tool_calls: true }
"#,
    )
    .unwrap();
    let c = &p.cases[0];
    assert_eq!(c.tools.len(), 2);
    assert_eq!(c.tools[0]["type"], "function");
    assert_eq!(
        c.tools[0]["function"]["parameters"]["required"],
        json!(["city"])
    );
    assert_eq!(
        c.tools[1]["function"],
        json!({"name": "delete_account", "strict": true})
    );
    assert_eq!(
        c.tool_choice,
        Some(json!({"type": "function", "function": {"name": "get_weather"}}))
    );
    assert_eq!(
        c.assertions.contract[0].check,
        Check::ToolCallCount {
            min: 1,
            max: Some(2)
        }
    );
    assert_eq!(
        c.assertions.correct[0].check,
        Check::Called {
            name: "get_weather".into(),
            arguments: Some(json!({"city": "Paris", "days": 3})),
            exact: true,
            schema: None
        }
    );
    assert_eq!(
        c.assertions.correct[0].to_string(),
        r#"called get_weather with exactly {"city":"Paris","days":3}"#
    );
    assert_eq!(
        c.assertions.safety[0].to_string(),
        "not_called delete_account"
    );
    assert_eq!(c.assertions.safety[1].to_string(), "not no_tool_calls");
}

#[test]
fn mistakes_in_tools_are_located() {
    let err = check(
        r#"    tools:
      - name: get weather
      - { name: f, paramters: { type: object } }
      - { name: g, parameters: { type: 12 } }
      - { name: g }
      - { name: g }
    tool_choice: requird
    assert: { correct: [contains: a] }
"#,
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn mistakes_in_call_assertions_are_located() {
    let err = check(
        r#"    tools: [{ name: get_weather }]
    tool_choice: { name: get_wether }
    assert:
      correct:
        - calld: get_weather
        - called: get_wether
        - called: { name: get_weather, match: exactly, arguments: { city: Paris } }
        - called: { name: get_weather, arguments: Paris }
        - called: { name: get_weather, argumnets: { city: Paris } }
        - not_called: delete_account
        - no_tool_calls: false
        - tool_calls: { min: 3, max: 1 }
        - tool_calls: { mni: 1 }
"#,
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn tool_choice_needs_tools() {
    let err = check("    tool_choice: auto\n    assert: { correct: [called: f] }\n").unwrap_err();
    insta::assert_snapshot!(err);
}
