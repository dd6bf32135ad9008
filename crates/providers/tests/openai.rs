//! The `openai` provider against a real HTTP server on 127.0.0.1: answers parsed, every
//! fault classified, retries end to end, and the API key kept out of errors.

// Helpers outside `#[test]` functions may unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use proximity_program::{Message, Price, ProviderKind, Role, Tool, ToolParams};
use proximity_providers::openai::OpenAi;
use proximity_providers::{
    complete_with_retries, ChatRequest, ErrorClass, Provider, ProviderError, RetryPolicy,
};
use serde_json::{json, Value};

mod common;

use common::{serve, Reply};

fn tool(base_url: &str, key_env: Option<&str>, timeout_secs: Option<f64>) -> Tool {
    Tool {
        id: "gpt".into(),
        provider: ProviderKind::Openai,
        model: Some("gpt-test".into()),
        base_url: Some(base_url.to_owned()),
        api_key_env: key_env.map(str::to_owned),
        model_path: None,
        params: ToolParams {
            temperature: Some(0.0),
            max_tokens: Some(16),
            seed: Some(42),
            timeout_secs,
            logprobs: true,
            ..Default::default()
        },
        capabilities: vec![],
        context_window: None,
        price: Price::default(),
        description: None,
        fallback: None,
    }
}

/// A tool whose key variable (unique to the test) holds `key`.
fn keyed_tool(base_url: &str, var: &str, key: &str) -> Tool {
    std::env::set_var(var, key);
    tool(base_url, Some(var), None)
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

fn ok_body(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-test-2024-08-06",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": {"content": [
                {"token": "Par", "logprob": -0.25, "bytes": [], "top_logprobs": []},
                {"token": "is", "logprob": -0.5, "bytes": [], "top_logprobs": []}
            ]},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
    })
}

async fn fail_once(mock_reply: Reply) -> ProviderError {
    let mock = serve("/v1", move |_, _| mock_reply.clone()).await;
    let t = tool(&mock.base_url, Some("PROXIMITY_TEST_OPENAI_UNSET"), None);
    OpenAi::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn normal_answer_is_parsed_with_usage_model_and_logprobs() {
    let mock = serve("/v1", |_, _| Reply::json(200, ok_body("Paris"))).await;
    let t = keyed_tool(&mock.base_url, "PROXIMITY_TEST_OPENAI_KEY_OK", "sk-test-ok");
    let r = OpenAi::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap();
    assert_eq!(r.text, "Paris");
    assert_eq!(r.usage.input_tokens, 12);
    assert_eq!(r.usage.output_tokens, 2);
    assert_eq!(r.model_version.as_deref(), Some("gpt-test-2024-08-06"));
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.logprobs, Some(vec![-0.25, -0.5]));
    assert!(!r.refused);

    let seen = mock.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.headers.get("authorization").unwrap(),
        "Bearer sk-test-ok"
    );
    assert_eq!(seen.body["model"], "gpt-test");
    assert_eq!(seen.body["messages"][0]["role"], "user");
    assert_eq!(seen.body["temperature"], 0.0);
    assert_eq!(seen.body["max_tokens"], 16);
    assert_eq!(seen.body["seed"], 42);
    assert_eq!(seen.body["logprobs"], true);
}

#[tokio::test]
async fn trailing_slash_and_missing_key_are_fine_for_local_servers() {
    let mock = serve("/v1", |_, _| Reply::json(200, ok_body("hi"))).await;
    let t = tool(
        &format!("{}/", mock.base_url),
        Some("PROXIMITY_TEST_OPENAI_NEVER_SET"),
        None,
    );
    let r = OpenAi::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap();
    assert_eq!(r.text, "hi");
    let seen = mock.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert!(seen.headers.get("authorization").is_none());
}

#[test]
fn missing_key_for_api_openai_com_is_a_config_error_naming_the_variable() {
    let mut t = tool(
        "https://api.openai.com/v1",
        Some("PROXIMITY_TEST_OPENAI_MISSING"),
        None,
    );
    let e = OpenAi::new(&t).err().unwrap();
    assert_eq!(e.class, ErrorClass::Config);
    assert!(e.message.contains("PROXIMITY_TEST_OPENAI_MISSING"), "{e}");
    // The default base_url is api.openai.com too.
    t.base_url = None;
    assert_eq!(OpenAi::new(&t).err().unwrap().class, ErrorClass::Config);
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let e = fail_once(
        Reply::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        )
        .header("retry-after", "2"),
    )
    .await;
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(e.status, Some(429));
    assert!(e.message.contains("Rate limit reached"), "{e}");
}

#[tokio::test]
async fn server_error_is_server() {
    let e = fail_once(Reply::json(500, json!({"error": {"message": "boom"}}))).await;
    assert_eq!(e.class, ErrorClass::Server);
    assert_eq!(e.status, Some(500));
}

#[tokio::test]
async fn unauthorized_is_auth() {
    let e = fail_once(Reply::json(
        401,
        json!({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
    ))
    .await;
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(401));
    assert!(!e.class.is_retryable());
}

#[tokio::test]
async fn context_length_400_is_context_overflow() {
    let e = fail_once(Reply::json(
        400,
        json!({"error": {
            "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"
        }}),
    ))
    .await;
    assert_eq!(e.class, ErrorClass::ContextOverflow);
    assert_eq!(e.status, Some(400));
}

#[tokio::test]
async fn other_400_is_config_with_the_providers_message() {
    let e = fail_once(Reply::json(
        400,
        json!({"error": {"message": "Invalid value for 'temperature'", "type": "invalid_request_error"}}),
    ))
    .await;
    assert_eq!(e.class, ErrorClass::Config);
    assert!(e.message.contains("Invalid value for 'temperature'"), "{e}");
}

#[tokio::test]
async fn malformed_json_is_malformed() {
    let mut reply = Reply::json(200, json!({}));
    reply.body = r#"{"choices":[{"message":{"content":"Par"#.into();
    let e = fail_once(reply).await;
    assert_eq!(e.class, ErrorClass::Malformed);
    assert_eq!(e.status, Some(200));

    let e = fail_once(Reply::json(200, json!({"object": "chat.completion"}))).await;
    assert_eq!(e.class, ErrorClass::Malformed);
}

#[tokio::test]
async fn refusal_is_flagged() {
    let mock = serve("/v1", |_, _| {
        Reply::json(
            200,
            json!({
                "model": "gpt-test",
                "choices": [{"message": {"role": "assistant", "content": null,
                    "refusal": "I'm sorry, I can't help with that."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 9}
            }),
        )
    })
    .await;
    let t = tool(&mock.base_url, None, None);
    let r = OpenAi::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap();
    assert!(r.refused);
    assert_eq!(r.text, "I'm sorry, I can't help with that.");
}

#[tokio::test]
async fn stall_past_the_timeout_is_timeout() {
    let mock = serve("/v1", |_, _| {
        let mut r = Reply::json(200, ok_body("late"));
        r.delay = Duration::from_secs(3);
        r
    })
    .await;
    let t = tool(&mock.base_url, None, None);
    let provider = OpenAi::new(&t).unwrap();
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

    // The transport's timeout from `timeout_secs` is a backstop on its own.
    let t = tool(&mock.base_url, None, Some(0.2));
    let e = OpenAi::new(&t)
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
    let t = tool(&format!("http://{addr}/v1"), None, None);
    let e = OpenAi::new(&t)
        .unwrap()
        .complete(&request(&t))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Network, "{e}");
    assert!(e.class.is_retryable());
    // The cause is named; the URL is not repeated.
    assert!(e.message.contains("connect"), "{e}");
    assert!(!e.message.contains("/v1"), "{e}");
}

#[tokio::test]
async fn retries_through_429_and_500_to_the_answer() {
    let mock = serve("/v1", |n, _| match n {
        0 => {
            Reply::json(429, json!({"error": {"message": "slow down"}})).header("retry-after", "0")
        }
        1 => Reply::json(500, json!({"error": {"message": "oops"}})),
        _ => Reply::json(200, ok_body("Paris")),
    })
    .await;
    let t = tool(&mock.base_url, None, None);
    let provider = OpenAi::new(&t).unwrap();
    let mut retried = Vec::new();
    let out = complete_with_retries(
        &provider,
        &request(&t),
        &RetryPolicy::default(),
        Duration::from_secs(10),
        |attempt, e, _| retried.push((attempt, e.class)),
    )
    .await;
    assert_eq!(out.result.unwrap().text, "Paris");
    assert_eq!(out.attempts, 3);
    assert_eq!(mock.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        retried,
        vec![(1, ErrorClass::RateLimited), (2, ErrorClass::Server)]
    );
}

#[tokio::test]
async fn api_key_never_appears_in_errors() {
    let key = "sk-proj-SECRET-0123456789abcdef";
    // The server echoes the Authorization header back in its error body.
    let mock = serve("/v1", |n, seen| {
        let auth = seen
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = if n == 0 { 400 } else { 401 };
        let bare = auth.trim_start_matches("Bearer ");
        let message = format!("bad request; you sent Authorization: {auth} (key {bare})");
        Reply::json(status, json!({"error": {"message": message}}))
    })
    .await;
    let t = keyed_tool(&mock.base_url, "PROXIMITY_TEST_OPENAI_KEY_ECHO", key);
    let provider = OpenAi::new(&t).unwrap();
    for expected in [ErrorClass::Config, ErrorClass::Auth] {
        let e = provider.complete(&request(&t)).await.unwrap_err();
        assert_eq!(e.class, expected);
        assert!(!e.to_string().contains(key), "{e}");
        assert!(!format!("{e:?}").contains(key), "{e:?}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(e.to_string().contains("bad request"), "{e}");
    }
}

#[tokio::test]
async fn a_stream_is_relayed_and_a_refused_stream_is_classified() {
    use futures::StreamExt;
    use proximity_providers::StreamEvent;
    let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"Par\"}}]}\n\n\
               data: {\"choices\":[{\"delta\":{\"content\":\"is\"},\"finish_reason\":\"stop\"}]}\n\n\
               data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n\
               data: [DONE]\n\n";
    let mock = serve("/v1", move |n, _| match n {
        0 => Reply {
            status: 200,
            headers: vec![("content-type", "text/event-stream".into())],
            body: sse.into(),
            delay: Duration::ZERO,
        },
        _ => {
            Reply::json(429, json!({"error": {"message": "slow down"}})).header("retry-after", "3")
        }
    })
    .await;
    let t = tool(&mock.base_url, None, None);
    let provider = OpenAi::new(&t).unwrap();
    let events: Vec<_> = provider
        .complete_stream(&request(&t))
        .await
        .unwrap()
        .collect()
        .await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Delta(d)) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Paris");
    match events.last() {
        Some(Ok(StreamEvent::Done(end))) => {
            assert_eq!(end.usage.map(|u| u.output_tokens), Some(2));
        }
        other => panic!("the stream did not end with Done: {other:?}"),
    }
    let body = mock.seen.lock().unwrap()[0].body.clone();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);

    let e = provider.complete_stream(&request(&t)).await.err().unwrap();
    assert_eq!(e.class, ErrorClass::RateLimited, "{e}");
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    assert!(e.message.contains("slow down"), "{e}");
}
