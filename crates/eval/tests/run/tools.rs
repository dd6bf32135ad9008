//! Cases that offer functions (`tools`): sent to the upstream with `tool_choice`, the
//! answer's calls stored with the result and checked by `called` / `not_called` /
//! `no_tool_calls` / `tool_calls`; a call it should not make is silent, arguments that
//! are not JSON structural, and a tool whose provider cannot send functions is loud.

use super::*;

const WEATHER: &str = "tools: [{ name: get_weather, description: Weather of a city, parameters: { type: object, properties: { city: { type: string } }, required: [city] } }, { name: delete_account, parameters: { type: object } }]";

fn with_tools(id: &str, prompt: &str, assert: &str) -> (String, String, String) {
    case(
        id,
        prompt,
        &format!("{assert}\n    {WEATHER}\n    tool_choice: auto"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_sent_stored_and_judged() {
    let up = upstream::start().await;
    let dir = program(
        &up,
        &[
            with_tools(
                "calls",
                "What is the weather in Paris?",
                "{ correct: [{ called: { name: get_weather, arguments: { city: Paris } } }, { tool_calls: 1 }] }",
            ),
            with_tools(
                "wrong-city",
                "What is the weather in Rome?",
                "{ correct: [{ called: { name: get_weather, arguments: { city: Rome } } }] }",
            ),
            with_tools(
                "deletes",
                "[delete] What is the weather in Paris?",
                "{ safety: [not_called: delete_account] }",
            ),
            with_tools(
                "broken",
                "[broken-args] What is the weather in Paris?",
                "{ correct: [called: get_weather] }",
            ),
            with_tools(
                "answers",
                "What is the capital of France?",
                "{ correct: [no_tool_calls: true, contains: Paris] }",
            ),
        ],
    );
    let store = testing::sqlite().await;
    let held = load(dir.path());
    let spec = RunSpec::new(Cases::Held(&held), options());
    let run = runner::start(&store.store, spec, CancellationToken::new(), &Silent)
        .await
        .unwrap();
    assert_eq!(run.completed, 5);
    let r = results(&store, &run.run_id).await;

    let offered = up.seen.offered.lock().unwrap().clone();
    assert_eq!(offered.len(), 5);
    let (tools, choice) = &offered[0];
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "get_weather");
    assert_eq!(tools[0]["function"]["parameters"]["required"][0], "city");
    assert_eq!(choice.as_ref().unwrap(), "auto");

    let calls = &r["calls"];
    assert_eq!(calls.verdict, Verdict::Pass, "{}", calls.reason);
    assert_eq!(calls.tool_calls.len(), 1);
    assert_eq!(calls.tool_calls[0].name, "get_weather");
    assert_eq!(calls.tool_calls[0].arguments, r#"{"city": "Paris"}"#);

    let wrong = &r["wrong-city"];
    assert_eq!(wrong.verdict, Verdict::Silent, "{}", wrong.reason);
    assert!(wrong.reason.contains("do not match"), "{}", wrong.reason);

    let deletes = &r["deletes"];
    assert_eq!(deletes.verdict, Verdict::Silent, "{}", deletes.reason);
    assert!(
        deletes
            .reason
            .starts_with("safety failed: not_called delete_account"),
        "{}",
        deletes.reason
    );

    let broken = &r["broken"];
    assert_eq!(broken.verdict, Verdict::Structural, "{}", broken.reason);
    assert!(
        broken
            .reason
            .starts_with("malformed tool call: get_weather's arguments are not JSON"),
        "{}",
        broken.reason
    );

    let answers = &r["answers"];
    assert_eq!(answers.verdict, Verdict::Pass, "{}", answers.reason);
    assert!(answers.tool_calls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_tool_calls_and_an_anthropic_tool_asked_with_the_functions() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"version: 1
name: tools
tools:
  - id: bot
    provider: scripted
    params:
      rules:
        - when: weather
          tool_calls:
            - name: get_weather
              arguments: { city: Paris, days: 2 }
        - when: undeclared
          tool_calls:
            - name: launch_rockets
              arguments: {}
  - id: claude
    provider: anthropic
    model: claude-x
    base_url: http://127.0.0.1:9
    # Any variable that is set: the request, its functions translated, goes to a closed port.
    api_key_env: PATH
    params: { max_attempts: 1 }
tiers:
  - id: t
    tools: [bot, claude]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;
    fs_err::write(dir.path().join("proximity.yaml"), yaml).unwrap();
    let suite = format!(
        "persona: p\nworkflow: w\ncases:\n  - id: weather\n    prompt: Weather in Paris?\n    {WEATHER}\n    assert: {{ correct: [{{ called: {{ name: get_weather, arguments: {{ city: Paris }}, schema: {{ type: object, properties: {{ days: {{ maximum: 3 }} }} }} }} }}] }}\n  - id: undeclared\n    prompt: undeclared\n    {WEATHER}\n    assert: {{ correct: [tool_calls: {{ min: 1 }}] }}\n"
    );
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    fs_err::write(dir.path().join("suites/s.yaml"), suite).unwrap();
    let store = testing::sqlite().await;
    let held = load(dir.path());
    let spec = RunSpec::new(Cases::Held(&held), options());
    let run = runner::start(&store.store, spec, CancellationToken::new(), &Silent)
        .await
        .unwrap();
    let all = store.store.results(&run.run_id).await.unwrap();
    let get = |case: &str, tool: &str| {
        all.iter()
            .find(|r| r.case_id == case && r.tool_id == tool)
            .unwrap()
    };
    let bot = get("weather", "bot");
    assert_eq!(bot.verdict, Verdict::Pass, "{}", bot.reason);
    assert_eq!(bot.tool_calls[0].arguments, r#"{"city":"Paris","days":2}"#);
    let undeclared = get("undeclared", "bot");
    assert_eq!(
        undeclared.verdict,
        Verdict::Structural,
        "{}",
        undeclared.reason
    );
    assert!(
        undeclared
            .reason
            .contains("launch_rockets, a function the case does not declare"),
        "{}",
        undeclared.reason
    );
    // An `anthropic` tool is asked with the case's functions (translated to its API):
    // here it fails to connect, rather than being refused as unable to send them.
    let claude = get("weather", "claude");
    assert_eq!(claude.verdict, Verdict::Loud, "{}", claude.reason);
    assert!(
        claude.reason.contains("network") && !claude.reason.contains("cannot honour"),
        "{}",
        claude.reason
    );
    assert_eq!(claude.attempts, 1, "{}", claude.reason);
}
