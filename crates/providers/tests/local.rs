//! The `local` provider end to end on the real model, through the `Provider` trait. Without a
//! model these print a skip note and pass, unless `PROXIMITY_REQUIRE_MODEL=1` (CI).
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proximity_program::{Message, ProviderKind, Role, Tool, ToolParams};
use proximity_providers::local::Local;
use proximity_providers::{ChatRequest, ErrorClass, Provider};

fn tool(params: ToolParams, context_window: Option<u32>) -> Tool {
    Tool {
        id: "smol".into(),
        provider: ProviderKind::Local,
        model: None,
        base_url: None,
        api_key_env: None,
        model_path: None,
        params,
        capabilities: vec![],
        context_window,
        price: Default::default(),
        description: None,
        fallback: None,
    }
}

fn greedy() -> ToolParams {
    ToolParams {
        temperature: Some(0.0),
        max_tokens: Some(32),
        ..Default::default()
    }
}

/// The provider, or `None` (after a skip note) when no model is installed.
fn local(tool: &Tool) -> Option<Local> {
    match Local::new(tool, Path::new(".")) {
        Ok(l) => Some(l),
        Err(e) if e.class == ErrorClass::Config => {
            if std::env::var("PROXIMITY_REQUIRE_MODEL").as_deref() == Ok("1") {
                panic!("PROXIMITY_REQUIRE_MODEL=1 but the local model is missing: {e}");
            }
            eprintln!("skipping: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn user(tool: &Tool, text: &str) -> ChatRequest {
    ChatRequest::for_tool(
        tool,
        &[Message {
            role: Role::User,
            content: text.into(),
        }],
    )
}

#[tokio::test]
async fn answers_with_usage_version_and_logprobs() {
    let t = tool(
        ToolParams {
            logprobs: true,
            ..greedy()
        },
        None,
    );
    let Some(p) = local(&t) else { return };
    let r = p
        .complete(&user(
            &t,
            "What is the capital of France? Answer in one word.",
        ))
        .await
        .unwrap();
    assert!(r.text.contains("Paris"), "{:?}", r.text);
    assert!(r.usage.input_tokens > 5 && r.usage.output_tokens > 0);
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    let version = r.model_version.unwrap();
    assert!(version.contains("sha256:"), "{version}");
    let lp = r.logprobs.unwrap();
    assert_eq!(lp.len() as u64, r.usage.output_tokens);
    assert!(lp.iter().all(|l| *l <= 0.0));
    assert!(p.context_window() >= 2048);
}

#[tokio::test]
async fn logprobs_only_when_asked() {
    let t = tool(greedy(), None);
    let Some(p) = local(&t) else { return };
    let r = p.complete(&user(&t, "Say hi.")).await.unwrap();
    assert_eq!(r.logprobs, None);
}

#[tokio::test]
async fn prompt_over_the_tool_window_is_context_overflow() {
    let t = tool(greedy(), Some(256));
    let Some(p) = local(&t) else { return };
    assert_eq!(p.context_window(), 256);
    let long = "Every pallet must be checked before loading. ".repeat(80);
    let err = p.complete(&user(&t, &long)).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::ContextOverflow, "{err}");
    assert!(!err.class.is_retryable());
}

#[tokio::test]
async fn json_grammar_param_gives_json() {
    let t = tool(
        ToolParams {
            grammar: Some("json".into()),
            max_tokens: Some(96),
            ..greedy()
        },
        None,
    );
    let Some(p) = local(&t) else { return };
    let r = p
        .complete(&user(
            &t,
            "Describe a cat as a JSON object with name and age.",
        ))
        .await
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&r.text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.text));
}

/// `grammar: json_schema` constrains the answer to the case's schema: the keys it requires
/// (including one the schema names only under `required`) with the types it declares.
#[tokio::test]
async fn json_schema_grammar_gives_the_schemas_keys_and_types() {
    let t = tool(
        ToolParams {
            grammar: Some("json_schema".into()),
            max_tokens: Some(96),
            ..greedy()
        },
        None,
    );
    let Some(p) = local(&t) else { return };
    let schema = serde_json::json!({
        "type": "object",
        "required": ["vendor", "total", "paid"],
        "properties": {
            "total": {"type": "number"},
            "paid": {"type": "boolean"}
        }
    });
    let mut request = user(
        &t,
        "Invoice from Northwind BV, total 1,536.70 EUR, not paid yet. Extract it as JSON.",
    );
    request.json_schema = Some(schema);
    let r = p.complete(&request).await.unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&r.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.text));
    assert!(v["vendor"].is_string(), "{v}");
    assert!(v["total"].is_number(), "{v}");
    assert!(v["paid"].is_boolean(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_model_and_all_succeed() {
    let t = tool(greedy(), None);
    let Some(first) = local(&t) else { return };
    let first = Arc::new(first);
    // A second provider for the same file shares the loaded model.
    let second = Arc::new(local(&t).unwrap());
    let mut set = tokio::task::JoinSet::new();
    for (i, country) in ["France", "Italy", "Japan", "Spain", "Egypt", "Peru"]
        .into_iter()
        .enumerate()
    {
        let p = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let q = user(&t, &format!("What is the capital of {country}?"));
        set.spawn(async move { p.complete(&q).await });
    }
    // Runs alongside the requests; it would stall if inference blocked the runtime.
    let begun = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ticked = begun.elapsed();
    assert!(
        ticked < Duration::from_millis(1000),
        "runtime blocked: {ticked:?}"
    );
    let mut done = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap().unwrap();
        assert!(r.usage.output_tokens > 0);
        done += 1;
    }
    assert_eq!(done, 6);
}

#[tokio::test]
async fn timed_out_request_does_not_break_the_next_one() {
    let t = tool(
        ToolParams {
            max_tokens: Some(200),
            ..greedy()
        },
        None,
    );
    let Some(p) = local(&t) else { return };
    let long = user(&t, "Write a long story about a lighthouse keeper.");
    let timed_out = tokio::time::timeout(Duration::from_millis(30), p.complete(&long)).await;
    assert!(
        timed_out.is_err(),
        "expected the story to take longer than 30 ms"
    );
    let r = p
        .complete(&user(&t, "What is the capital of France?"))
        .await
        .unwrap();
    assert!(r.text.contains("Paris"), "{:?}", r.text);
}
