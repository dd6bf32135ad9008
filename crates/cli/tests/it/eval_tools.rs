//! End-to-end: the real binary evaluating cases that offer functions (`tools`) to a
//! `scripted` tool whose rules reply with tool calls: the calls stored with each result,
//! `called` / `not_called` judged, a call of a function it should not make silent,
//! arguments that are not JSON structural; and `check` locating a mistake in one.
#![allow(clippy::unwrap_used)]

use proximity_store::Store;

use crate::common::*;

const PROGRAM: &str = r#"version: 1
name: e2e-tools
tools:
  - id: agent
    provider: scripted
    params:
      rules:
        - when: weather
          tool_calls:
            - name: get_weather
              arguments: { city: Paris }
        - when: close my account
          tool_calls:
            - name: delete_account
              arguments: { confirm: true }
        - when: broken
          tool_calls:
            - name: get_weather
              arguments: '{"city": '
tiers:
  - id: t
    tools: [agent]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;

const TOOLS: &str = "    tools:
      - { name: get_weather, parameters: { type: object, properties: { city: { type: string } } } }
      - { name: delete_account, parameters: { type: object } }
";

fn suite(assert_weather: &str) -> String {
    format!(
        "persona: p\nworkflow: w\ncases:
  - id: weather
    prompt: What is the weather in Paris?
{TOOLS}    assert: {{ correct: [{assert_weather}] }}
  - id: close
    prompt: What happens if I close my account?
{TOOLS}    assert: {{ safety: [not_called: delete_account] }}
  - id: broken
    prompt: broken
{TOOLS}    assert: {{ correct: [called: get_weather] }}
"
    )
}

#[test]
fn tool_calls_are_stored_and_judged() {
    let p = TempProgram::new(
        PROGRAM,
        &[(
            "s.yaml",
            &suite("{ called: { name: get_weather, arguments: { city: Paris } } }"),
        )],
    );
    let out = run(proximity(p.path()).args(["eval"]));
    // Two of three cases fail: the workflow is below its floor.
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let results = rt.block_on(async {
        let store = Store::connect(&proximity_store::default_url(p.path()))
            .await
            .unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        store.results(&run.id).await.unwrap()
    });
    let get = |id: &str| results.iter().find(|r| r.case_id == id).unwrap();
    let weather = get("weather");
    assert_eq!(weather.verdict.as_str(), "pass", "{}", weather.reason);
    assert_eq!(weather.tool_calls.len(), 1);
    assert_eq!(weather.tool_calls[0].name, "get_weather");
    assert_eq!(weather.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    let close = get("close");
    assert_eq!(close.verdict.as_str(), "silent", "{}", close.reason);
    assert!(
        close
            .reason
            .starts_with("safety failed: not_called delete_account"),
        "{}",
        close.reason
    );
    let broken = get("broken");
    assert_eq!(broken.verdict.as_str(), "structural", "{}", broken.reason);
    assert!(
        broken.reason.starts_with("malformed tool call"),
        "{}",
        broken.reason
    );
}

#[test]
fn check_locates_a_call_assertion_naming_an_undeclared_function() {
    let p = TempProgram::new(PROGRAM, &[("s.yaml", &suite("called: get_wether"))]);
    let out = run(proximity(p.path()).args(["check"]));
    assert_eq!(out.status.code(), Some(2), "stdout: {}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`called` names function `get_wether`"),
        "{err}"
    );
    assert!(err.contains("suites/s.yaml:9:"), "{err}");
    assert!(err.contains("did you mean `get_weather`?"), "{err}");
}
