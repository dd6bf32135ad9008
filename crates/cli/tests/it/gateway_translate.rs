//! OpenAI requests the gateway translates for tools that do not speak OpenAI's format,
//! through the real binary: an `anthropic` tool in front of a fake messages API on
//! loopback (which checks the translated request and answers `tool_use`, streamed and
//! not, and structured output), the 400s naming what a tool cannot honour, and the
//! embedded `local` model constrained by a `response_format` JSON schema.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::gateway_support::*;

/// The fake messages API: every request body it got.
#[derive(Default)]
struct Messages {
    bodies: Mutex<Vec<Value>>,
}

/// What the fake answers: structured output as text, a forced tool's input, a
/// `weather` call when tools are offered, else text.
fn blocks_for(body: &Value) -> (Vec<Value>, &'static str) {
    if body.get("output_config").is_some() {
        return (
            vec![json!({"type": "text", "text": "{\"total\": 42}"})],
            "end_turn",
        );
    }
    let forced = body
        .pointer("/tool_choice/type")
        .and_then(Value::as_str)
        .filter(|t| *t == "tool")
        .and(body.pointer("/tool_choice/name"))
        .and_then(Value::as_str);
    match (forced, body.get("tools")) {
        (Some(name), _) if name != "weather" => (
            vec![json!({"type": "tool_use", "id": "toolu_a", "name": name, "input": {"total": 7}})],
            "tool_use",
        ),
        (_, Some(_)) => (
            vec![
                json!({"type": "text", "text": "Let me check."}),
                json!({"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}),
            ],
            "tool_use",
        ),
        _ => (vec![json!({"type": "text", "text": "hello"})], "end_turn"),
    }
}

fn sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

async fn messages(State(s): State<Arc<Messages>>, Json(body): Json<Value>) -> Response {
    s.bodies.lock().unwrap().push(body.clone());
    let (blocks, stop) = blocks_for(&body);
    if body["stream"] != true {
        return Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test-2026",
            "content": blocks, "stop_reason": stop,
            "usage": {"input_tokens": 11, "output_tokens": 6},
        }))
        .into_response();
    }
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-test-2026",
        "content": [], "usage": {"input_tokens": 11, "output_tokens": 1}}}),
    ];
    for (i, b) in blocks.iter().enumerate() {
        if b["type"] == "text" {
            events.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}));
            // The text in two deltas, as the API sends it piece by piece.
            let text: Vec<char> = b["text"].as_str().unwrap_or_default().chars().collect();
            let (head, tail) = text.split_at(text.len() / 2);
            for piece in [head, tail] {
                let piece: String = piece.iter().collect();
                events.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}}));
            }
        } else {
            let mut start = b.clone();
            start["input"] = json!({});
            events.push(json!({"type": "content_block_start", "index": i, "content_block": start}));
            // The input in two pieces, as the API sends it.
            let input = b["input"].to_string();
            let (head, tail) = input.split_at(input.len() / 2);
            for piece in [head, tail] {
                events.push(json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}));
            }
        }
        events.push(json!({"type": "content_block_stop", "index": i}));
    }
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 6}}));
    events.push(json!({"type": "message_stop"}));
    ([("content-type", "text/event-stream")], sse(&events)).into_response()
}

async fn start_messages_api() -> (String, Arc<Messages>) {
    let state = Arc::new(Messages::default());
    let app = Router::new()
        .route("/v1/messages", post(messages))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state)
}

fn program(base: &str) -> String {
    format!(
        r#"version: 1
name: gw-translate
tools:
  - id: claude
    provider: anthropic
    model: claude-test
    base_url: {base}
    api_key_env: PROXIMITY_GW_ANTHROPIC_KEY
    params: {{ max_tokens: 50 }}
  - id: bot
    provider: scripted
    params:
      default_reply: ok
      rules: [{{ when: weather, tool_calls: [{{ name: weather, arguments: {{ city: Paris }} }}] }}]
tiers:
  - id: a
    tools: [claude, bot]
personas:
  - id: pa
    headcount: 1
    tier: a
    workflows: [{{ id: w, share: 1.0, floor: 0.5 }}]
"#
    )
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "weather", "description": "today's weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

fn with(extra: Value) -> Value {
    let mut b =
        json!({"model": "claude", "messages": [{"role": "user", "content": "weather in Paris?"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_tool_speaks_tools_and_structured_output_in_openai_shapes() {
    let (base, api) = start_messages_api().await;
    let setup = Setup::new(&program(&base));
    let key = setup.key("pa", &[]);
    let gw = setup.start_gateway_with_env(&[], &[("PROXIMITY_GW_ANTHROPIC_KEY", "sk-ant-test")]);
    let c = reqwest::Client::new();
    let last_sent = || api.bodies.lock().unwrap().last().cloned().unwrap();
    let sent_count = || api.bodies.lock().unwrap().len();

    // Tools, translated there; a tool_use answer, as OpenAI tool_calls here.
    let body = with(json!({"tools": [weather_tool()], "tool_choice": "required",
        "parallel_tool_calls": false, "user": "u-7", "stop": ["END"]}));
    let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = last_sent();
    assert_eq!(sent["model"], "claude-test");
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["tools"][0]["name"], "weather");
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(sent["metadata"], json!({"user_id": "u-7"}));
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "claude");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Let me check.");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(
        (call["id"].as_str(), call["type"].as_str()),
        (Some("toolu_1"), Some("function"))
    );
    assert_eq!(call["function"]["name"], "weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(v["usage"]["prompt_tokens"], 11);

    // A request with only the typed fields, streamed: relayed delta by delta, as sent.
    let body = with(json!({"stream": true}));
    let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(last_sent()["stream"], true);
    let deltas: Vec<String> = r
        .events()
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            let c: Value = serde_json::from_str(e).unwrap();
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(deltas, ["he", "llo"], "{}", r.body);

    // The same, streamed: tool-call deltas with index, id, name, then argument pieces.
    let mut body = with(json!({"tools": [weather_tool()], "stream": true,
        "stream_options": {"include_usage": true}}));
    body["tool_choice"] = json!({"type": "function", "function": {"name": "weather"}});
    let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        last_sent()["tool_choice"],
        json!({"type": "tool", "name": "weather"})
    );
    assert_eq!(last_sent()["stream"], true);
    let events = r.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let mut content = String::new();
    let mut args = String::new();
    let mut named = None;
    for ch in &chunks {
        assert_eq!(ch["object"], "chat.completion.chunk");
        let Some(d) = ch.pointer("/choices/0/delta") else {
            continue;
        };
        content.push_str(d["content"].as_str().unwrap_or(""));
        if let Some(tc) = d.pointer("/tool_calls/0") {
            assert_eq!(tc["index"], 0);
            if let Some(name) = tc.pointer("/function/name") {
                named = Some((tc["id"].clone(), name.clone()));
            }
            args.push_str(
                tc.pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
        }
    }
    assert_eq!(content, "Let me check.");
    assert_eq!(named, Some((json!("toolu_1"), json!("weather"))));
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/finish_reason")
                .filter(|f| !f.is_null())
        })
        .collect();
    assert_eq!(finish, vec![&json!("tool_calls")]);
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 6);

    // A conversation carrying the call and its result: tool_use and tool_result blocks.
    let body = with(json!({"tools": [weather_tool()], "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_1", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny, 21°C"}]}));
    let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = last_sent();
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}})
    );
    assert_eq!(sent["messages"][2]["role"], "user");
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 21°C"})
    );

    // Structured output: strict through output_config, the rest through a forced tool.
    let schema = json!({"type": "object", "properties": {"total": {"type": "integer"}},
        "required": ["total"], "additionalProperties": false});
    let body = with(json!({"response_format": {"type": "json_schema",
        "json_schema": {"name": "invoice", "strict": true, "schema": schema}}}));
    let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        last_sent()["output_config"]["format"],
        json!({"type": "json_schema", "schema": schema})
    );
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        serde_json::from_str::<Value>(&content).unwrap(),
        json!({"total": 42})
    );
    for stream in [false, true] {
        let mut body = with(json!({"response_format": {"type": "json_schema",
            "json_schema": {"name": "invoice", "schema": schema}}}));
        body["stream"] = json!(stream);
        let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let sent = last_sent();
        assert_eq!(sent["tools"][0]["input_schema"], schema);
        assert_eq!(
            sent["tool_choice"],
            json!({"type": "tool", "name": "invoice"})
        );
        let (content, finish) = if stream {
            let chunks: Vec<Value> = r
                .events()
                .iter()
                .filter(|e| *e != "[DONE]")
                .map(|e| serde_json::from_str(e).unwrap())
                .collect();
            let text: String = chunks
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert!(chunks
                .iter()
                .all(|c| c.pointer("/choices/0/delta/tool_calls").is_none()));
            let finish = chunks.iter().find_map(|c| {
                c.pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            (text, finish)
        } else {
            let v = r.json();
            assert!(v["choices"][0]["message"].get("tool_calls").is_none());
            (
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                v["choices"][0]["finish_reason"].as_str().map(str::to_owned),
            )
        };
        assert_eq!(
            serde_json::from_str::<Value>(&content).unwrap(),
            json!({"total": 7}),
            "{stream}"
        );
        assert_eq!(finish.as_deref(), Some("stop"));
    }

    // What Anthropic has no equivalent for: a 400 naming it, nothing sent.
    let before = sent_count();
    for (extra, param) in [
        (json!({"seed": 3}), "seed"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"frequency_penalty": 0.5}), "frequency_penalty"),
        (json!({"temperature": 1.7}), "temperature"),
        (
            json!({"tools": [weather_tool()], "response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (
            json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
            "messages[0].content[0]",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi", "name": "ann"}]}),
            "messages[0].name",
        ),
    ] {
        let r = post_chat(&c, &gw.url, &key, &with(extra), None)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{param}: {}", r.body);
        let e = r.json()["error"].clone();
        assert_eq!(e["param"], param, "{e}");
        assert_eq!(e["type"], "invalid_request_error");
        assert!(e["message"].as_str().unwrap().contains("claude"), "{e}");
    }
    assert_eq!(sent_count(), before, "nothing refused reached the upstream");

    // A `scripted` tool's rules answer offered functions with calls, streamed or not,
    // and with no functions offered too (its rules decide alone).
    for extra in [
        json!({"tools": [weather_tool()], "tool_choice": "required"}),
        json!({"tools": [weather_tool()], "stream": true}),
        json!({}),
    ] {
        let mut body = with(extra.clone());
        body["model"] = json!("bot");
        let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
        assert_eq!(r.status, 200, "{extra}: {}", r.body);
        let (name, args) = if extra["stream"] == true {
            let chunks: Vec<Value> = r
                .events()
                .iter()
                .filter(|e| *e != "[DONE]")
                .map(|e| serde_json::from_str(e).unwrap())
                .collect();
            let name = chunks.iter().find_map(|c| {
                c.pointer("/choices/0/delta/tool_calls/0/function/name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            let args: String = chunks
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                        .and_then(Value::as_str)
                })
                .collect();
            (name, args)
        } else {
            let v = r.json();
            assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
            let call = &v["choices"][0]["message"]["tool_calls"][0];
            (
                call["function"]["name"].as_str().map(str::to_owned),
                call["function"]["arguments"].as_str().unwrap().to_owned(),
            )
        };
        assert_eq!(name.as_deref(), Some("weather"), "{extra}: {}", r.body);
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap(),
            json!({"city": "Paris"}),
            "{extra}"
        );
    }

    // What its rules cannot answer is refused by name.
    for (extra, param) in [
        (
            json!({"response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (json!({"logprobs": true}), "logprobs"),
        (
            json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "weather?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
            "messages[0].content[1]",
        ),
    ] {
        let mut body = with(extra);
        body["model"] = json!("bot");
        let r = post_chat(&c, &gw.url, &key, &body, None).await.unwrap();
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()["error"]["param"], param);
    }
}

fn local_program() -> &'static str {
    r#"version: 1
name: gw-local-json
tools:
  - id: local
    provider: local
    params: { temperature: 0, max_tokens: 120 }
tiers:
  - id: t
    tools: [local]
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#
}

/// Whether `v` satisfies the invoice schema of the test below.
fn is_invoice(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    o.len() == 2
        && o.get("vendor").is_some_and(Value::is_string)
        && o.get("paid").is_some_and(Value::is_boolean)
}

/// The embedded model constrained by a `response_format` schema. Needs `proximity models
/// pull`; skipped with a note without it unless `PROXIMITY_REQUIRE_MODEL=1`. The refusals
/// need no model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)]
async fn a_local_tool_constrains_its_answer_to_the_response_format() {
    let setup = Setup::new(local_program());
    let key = setup.key("p", &[]);
    let gw = setup.start_gateway();
    let c = reqwest::Client::new();
    let ask = |format: Value| {
        json!({"model": "local", "response_format": format, "messages": [
            {"role": "user", "content": "Invoice from ACME Corp, already paid. Give vendor and paid."}]})
    };

    // What the grammar cannot enforce, and tools, are refused by name.
    let not_enforced = json!({"type": "json_schema", "json_schema": {"name": "x", "schema":
        {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}}}});
    let r = post_chat(&c, &gw.url, &key, &ask(not_enforced), None)
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    let e = r.json()["error"].clone();
    assert_eq!(e["param"], "response_format.json_schema.schema");
    assert!(
        e["message"].as_str().unwrap().contains("uniqueItems"),
        "{e}"
    );
    let mut with_tools = ask(json!({"type": "text"}));
    with_tools["tools"] = json!([weather_tool()]);
    let r = post_chat(&c, &gw.url, &key, &with_tools, None)
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["param"], "tools");

    let found =
        proximity_local::models::resolve_model_path(None, std::path::Path::new(".")).is_ok();
    if !found {
        assert!(
            std::env::var("PROXIMITY_REQUIRE_MODEL").as_deref() != Ok("1"),
            "PROXIMITY_REQUIRE_MODEL=1 but the local model is missing"
        );
        eprintln!("skipping: the local model is not installed (run `proximity models pull`)");
        return;
    }
    let schema = json!({"type": "object", "properties": {"vendor": {"type": "string", "maxLength": 30},
        "paid": {"type": "boolean"}}, "required": ["vendor", "paid"], "additionalProperties": false});
    let format = json!({"type": "json_schema", "json_schema": {"name": "invoice", "strict": true, "schema": schema}});
    let r = post_chat(&c, &gw.url, &key, &ask(format), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let v: Value = serde_json::from_str(&content).unwrap_or_else(|e| panic!("{e}: {content}"));
    assert!(is_invoice(&v), "{content}");

    let r = post_chat(
        &c,
        &gw.url,
        &key,
        &ask(json!({"type": "json_object"})),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let v: Value = serde_json::from_str(&content).unwrap_or_else(|e| panic!("{e}: {content}"));
    assert!(v.is_object(), "{content}");
}
