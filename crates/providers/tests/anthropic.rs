//! The `anthropic` provider against a real HTTP server on 127.0.0.1: answers parsed, every
//! fault classified, retries end to end, and the API key kept out of errors.

// Helpers outside `#[test]` functions may unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use proximity_program::{Message, Price, ProviderKind, Role, Tool, ToolParams};
use proximity_providers::anthropic::Anthropic;
use proximity_providers::{
    complete_with_retries, ChatRequest, ErrorClass, Provider, ProviderError, RetryPolicy,
};
use serde_json::{json, Value};

mod common;

use common::{serve, Reply};

fn tool(base_url: &str, var: &str, key: &str, timeout_secs: Option<f64>) -> Tool {
    std::env::set_var(var, key);
    Tool {
        id: "claude".into(),
        provider: ProviderKind::Anthropic,
        model: Some("claude-test".into()),
        base_url: Some(base_url.to_owned()),
        api_key_env: Some(var.to_owned()),
        model_path: None,
        params: ToolParams {
            system: Some("Answer in one word.".into()),
            temperature: Some(0.0),
            timeout_secs,
            ..Default::default()
        },
        capabilities: vec![],
        context_window: None,
        price: Price::default(),
        description: None,
        fallback: None,
    }
}

fn request(tool: &Tool) -> ChatRequest {
    ChatRequest::for_tool(
        tool,
        &[Message {
            role: Role::User,
            content: "What is the capital of France?".into(),
        }],
    )
}

fn ok_body(text: &str, stop_reason: &str) -> Value {
    json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test-20250101",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": 20, "output_tokens": 3}
    })
}

fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

async fn fail_once(var: &str, mock_reply: Reply) -> ProviderError {
    let mock = serve("", move |_, _| mock_reply.clone()).await;
    let t = tool(&mock.base_url, var, "sk-ant-test", None);
    Anthropic::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn normal_answer_is_parsed_and_the_request_is_shaped_for_the_api() {
    let mock = serve("", |_, _| Reply::json(200, ok_body("Paris", "end_turn"))).await;
    let t = tool(&mock.base_url, "PROXIMITY_TEST_ANTH_OK", "sk-ant-ok", None);
    let r = Anthropic::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap();
    assert_eq!(r.text, "Paris");
    assert_eq!(r.usage.input_tokens, 20);
    assert_eq!(r.usage.output_tokens, 3);
    assert_eq!(r.model_version.as_deref(), Some("claude-test-20250101"));
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.logprobs, None);
    assert!(!r.refused);

    let seen = mock.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.headers.get("x-api-key").unwrap(), "sk-ant-ok");
    assert_eq!(seen.headers.get("anthropic-version").unwrap(), "2023-06-01");
    assert!(seen.headers.get("authorization").is_none());
    assert_eq!(seen.body["model"], "claude-test");
    assert_eq!(seen.body["system"], "Answer in one word.");
    assert_eq!(seen.body["max_tokens"], 1024);
    let messages = seen.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "user");
}

#[tokio::test]
async fn max_tokens_stop_is_length() {
    let mock = serve("", |_, _| Reply::json(200, ok_body("Par", "max_tokens"))).await;
    let t = tool(
        &format!("{}/", mock.base_url),
        "PROXIMITY_TEST_ANTH_LEN",
        "k",
        None,
    );
    let r = Anthropic::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap();
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert_eq!(mock.seen.lock().unwrap()[0].path, "/v1/messages");
}

#[test]
fn missing_key_is_a_config_error_naming_the_variable() {
    let mut t = tool(
        "https://api.anthropic.com",
        "PROXIMITY_TEST_ANTH_X",
        "",
        None,
    );
    t.api_key_env = Some("PROXIMITY_TEST_ANTH_MISSING".into());
    let e = Anthropic::new(&t).err().unwrap();
    assert_eq!(e.class, ErrorClass::Config);
    assert!(e.message.contains("PROXIMITY_TEST_ANTH_MISSING"), "{e}");
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_429",
        Reply::json(
            429,
            error_body(
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            ),
        )
        .header("retry-after", "2"),
    )
    .await;
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(e.status, Some(429));
}

#[tokio::test]
async fn server_error_and_overloaded_are_server() {
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_500",
        Reply::json(500, error_body("api_error", "Internal server error")),
    )
    .await;
    assert_eq!(e.class, ErrorClass::Server);
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_529",
        Reply::json(529, error_body("overloaded_error", "Overloaded")),
    )
    .await;
    assert_eq!(e.class, ErrorClass::Server);
    assert_eq!(e.status, Some(529));
    assert!(e.message.contains("Overloaded"), "{e}");
}

#[tokio::test]
async fn unauthorized_is_auth() {
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_401",
        Reply::json(401, error_body("authentication_error", "invalid x-api-key")),
    )
    .await;
    assert_eq!(e.class, ErrorClass::Auth);
    assert!(e.message.contains("PROXIMITY_TEST_ANTH_401"), "{e}");
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_403",
        Reply::json(403, error_body("permission_error", "no access")),
    )
    .await;
    assert_eq!(e.class, ErrorClass::Auth);
}

#[tokio::test]
async fn prompt_too_long_is_context_overflow() {
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_CTX",
        Reply::json(
            400,
            error_body(
                "invalid_request_error",
                "prompt is too long: 215000 tokens > 200000 maximum",
            ),
        ),
    )
    .await;
    assert_eq!(e.class, ErrorClass::ContextOverflow);
    assert_eq!(e.status, Some(400));
}

#[tokio::test]
async fn other_400_is_config() {
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_400",
        Reply::json(
            400,
            error_body("invalid_request_error", "model: claude-nope not found"),
        ),
    )
    .await;
    assert_eq!(e.class, ErrorClass::Config);
    assert!(e.message.contains("claude-nope"), "{e}");
}

#[tokio::test]
async fn malformed_json_is_malformed() {
    let mut reply = Reply::json(200, json!({}));
    reply.body = "{\"content\": [{\"type\": \"text\", \"te".into();
    let e = fail_once("PROXIMITY_TEST_ANTH_BAD", reply).await;
    assert_eq!(e.class, ErrorClass::Malformed);
    let e = fail_once(
        "PROXIMITY_TEST_ANTH_BAD2",
        Reply::json(200, json!({"type": "message"})),
    )
    .await;
    assert_eq!(e.class, ErrorClass::Malformed);
}

#[tokio::test]
async fn refusal_stop_reason_is_flagged() {
    let mock = serve("", |_, _| Reply::json(200, ok_body("", "refusal"))).await;
    let t = tool(&mock.base_url, "PROXIMITY_TEST_ANTH_REFUSE", "k", None);
    let r = Anthropic::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap();
    assert!(r.refused);
}

#[tokio::test]
async fn stall_past_the_timeout_is_timeout() {
    let mock = serve("", |_, _| {
        let mut r = Reply::json(200, ok_body("late", "end_turn"));
        r.delay = Duration::from_secs(3);
        r
    })
    .await;
    let t = tool(&mock.base_url, "PROXIMITY_TEST_ANTH_SLOW", "k", None);
    let provider = Anthropic::new(&t).unwrap();
    let policy = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let out = complete_with_retries(
        &provider,
        &request(&t),
        &policy,
        Duration::from_millis(200),
        |_, _, _| {},
    )
    .await;
    assert_eq!(out.attempts, 1);
    assert_eq!(out.result.unwrap_err().class, ErrorClass::Timeout);

    let t = tool(&mock.base_url, "PROXIMITY_TEST_ANTH_SLOW2", "k", Some(0.2));
    let e = Anthropic::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Timeout, "{e}");
}

#[tokio::test]
async fn connection_refused_is_network() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let t = tool(
        &format!("http://{addr}"),
        "PROXIMITY_TEST_ANTH_DEAD",
        "k",
        None,
    );
    let e = Anthropic::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Network, "{e}");
}

#[tokio::test]
async fn retries_through_429_and_500_to_the_answer() {
    let mock = serve("", |n, _| match n {
        0 => {
            Reply::json(429, error_body("rate_limit_error", "slow down")).header("retry-after", "0")
        }
        1 => Reply::json(500, error_body("api_error", "oops")),
        _ => Reply::json(200, ok_body("Paris", "end_turn")),
    })
    .await;
    let t = tool(&mock.base_url, "PROXIMITY_TEST_ANTH_RETRY", "k", None);
    let provider = Anthropic::new(&t).unwrap();
    let out = complete_with_retries(
        &provider,
        &request(&t),
        &RetryPolicy::default(),
        Duration::from_secs(10),
        |_, _, _| {},
    )
    .await;
    assert_eq!(out.result.unwrap().text, "Paris");
    assert_eq!(out.attempts, 3);
    assert_eq!(mock.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn api_key_never_appears_in_errors() {
    let key = "sk-ant-api03-SECRET-abcdef0123456789";
    // The server echoes the key header back in its error body.
    let mock = serve("", |_, seen| {
        let key = seen
            .headers
            .get("x-api-key")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Reply::json(
            400,
            error_body(
                "invalid_request_error",
                &format!("bad request; x-api-key was {key}"),
            ),
        )
    })
    .await;
    let t = tool(&mock.base_url, "PROXIMITY_TEST_ANTH_ECHO", key, None);
    let e = Anthropic::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Config);
    assert!(!e.to_string().contains("SECRET"), "{e}");
    assert!(!format!("{e:?}").contains(key), "{e:?}");
    assert!(e.to_string().contains("bad request"), "{e}");
}

fn sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

fn stream_reply(body: String) -> Reply {
    Reply {
        status: 200,
        headers: vec![("content-type", "text/event-stream".into())],
        body,
        delay: Duration::ZERO,
    }
}

#[tokio::test]
async fn a_typed_stream_comes_delta_by_delta_and_a_cut_off_one_is_an_error() {
    use futures::StreamExt;
    use proximity_providers::StreamEvent;
    let events = [
        json!({"type": "message_start", "message": {"model": "claude-test-20250101", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Pa"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ris"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        json!({"type": "message_stop"}),
    ];
    let whole = sse(&events);
    let cut = sse(&events[..4]);
    let mock = serve("", move |n, _| {
        stream_reply(if n == 0 { whole.clone() } else { cut.clone() })
    })
    .await;
    let t = tool(
        &mock.base_url,
        "PROXIMITY_TEST_ANTH_STREAM",
        "sk-ant-s",
        None,
    );
    let provider = Anthropic::new(&t).unwrap();
    let got: Vec<_> = provider
        .complete_stream(&request(&t))
        .await
        .unwrap()
        .collect()
        .await;
    let deltas: Vec<&str> = got
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Delta(d)) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["Pa", "ris"], "{got:?}");
    match got.last() {
        Some(Ok(StreamEvent::Done(end))) => {
            assert_eq!(end.finish_reason.as_deref(), Some("stop"));
            assert_eq!(
                end.usage.map(|u| (u.input_tokens, u.output_tokens)),
                Some((12, 2))
            );
            assert_eq!(end.model_version.as_deref(), Some("claude-test-20250101"));
        }
        other => panic!("the stream did not end with Done: {other:?}"),
    }
    let body = mock.seen.lock().unwrap()[0].body.clone();
    assert_eq!(body["stream"], true);
    assert_eq!(body["system"], "Answer in one word.");

    let got: Vec<_> = provider
        .complete_stream(&request(&t))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(
        !got.iter().any(|e| matches!(e, Ok(StreamEvent::Done(_)))),
        "a cut-off stream must not end as complete: {got:?}"
    );
    match got.last() {
        Some(Err(e)) => assert_eq!(e.class, ErrorClass::Malformed, "{e}"),
        other => panic!("a cut-off stream must end in an error: {other:?}"),
    }
}

#[tokio::test]
async fn a_typed_request_with_tools_is_translated_and_its_calls_come_back() {
    let mock = serve("", |_, _| {
        Reply::json(
            200,
            json!({
                "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-test-20250101",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {"order_id": "A-17"}}],
                "stop_reason": "tool_use", "usage": {"input_tokens": 30, "output_tokens": 9}
            }),
        )
    })
    .await;
    let t = tool(
        &mock.base_url,
        "PROXIMITY_TEST_ANTH_TOOLS",
        "sk-ant-t",
        None,
    );
    let provider = Anthropic::new(&t).unwrap();
    assert!(provider.supports_tools());
    let mut r = request(&t);
    r.tools = vec![json!({"type": "function", "function": {
        "name": "lookup_order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}
    }})];
    r.tool_choice = Some(json!("required"));
    let answer = provider.complete(&r).await.unwrap();
    assert_eq!(answer.tool_calls.len(), 1, "{answer:?}");
    assert_eq!(answer.tool_calls[0].name, "lookup_order");
    assert_eq!(answer.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(answer.usage.output_tokens, 9);

    let body = mock.seen.lock().unwrap()[0].body.clone();
    assert_eq!(body["tools"][0]["name"], "lookup_order");
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(body["tool_choice"]["type"], "any");
    assert_eq!(body["system"], "Answer in one word.");
    assert_eq!(body["max_tokens"], 1024);
}
