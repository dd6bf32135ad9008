//! Fuzz smokes of the wire parsers, on the stable toolchain (proptest): the OpenAI and
//! Anthropic answer parsers and the SSE stream parser take arbitrary bytes and arbitrary
//! JSON in the shape they expect, and never panic; a stream always ends. Short (proptest's
//! default 256 cases) so they run with every `cargo test`; `PROPTEST_CASES=1000000` for a
//! long run.
#![allow(clippy::unwrap_used)]

use eventsource_stream::Eventsource;
use futures::StreamExt;
use proptest::prelude::*;
use proximity_providers::{anthropic, openai};
use serde_json::{json, Value};

/// Arbitrary JSON, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn openai_answers_never_panic(bytes in ".{0,200}", content in any_json(), finish in any_json(),
            usage in any_json(), logprobs in any_json(), refusal in any_json()) {
        let _ = openai::parse_response(&bytes);
        let body = json!({"model": "m", "choices": [{"message": {"content": content, "refusal": refusal},
            "finish_reason": finish, "logprobs": logprobs}], "usage": usage});
        let _ = openai::parse_response(&body.to_string());
    }

    #[test]
    fn anthropic_answers_never_panic(bytes in ".{0,200}", content in any_json(), stop in any_json(),
            usage in any_json()) {
        let _ = anthropic::parse_response(&bytes);
        let body = json!({"model": "m", "content": content, "stop_reason": stop, "usage": usage});
        let _ = anthropic::parse_response(&body.to_string());
        let body = json!({"model": "m", "content": [{"type": "text", "text": content}], "stop_reason": stop});
        let _ = anthropic::parse_response(&body.to_string());
    }

    #[test]
    fn sse_streams_never_panic_and_always_end(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
        events in prop::collection::vec(any_json(), 0..4),
        done in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            // Raw bytes, split anywhere.
            let raw = futures::stream::iter(
                chunks.into_iter().map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c))),
            );
            let out: Vec<_> = openai::sse_chunks(raw.eventsource(), None).collect().await;
            assert!(out.iter().filter(|r| r.is_err()).count() <= 1);
            // Well-framed events of arbitrary JSON, with or without `[DONE]`.
            let mut text = String::new();
            for e in &events {
                text.push_str(&format!("data: {e}\n\n"));
            }
            if done {
                text.push_str("data: [DONE]\n\n");
            }
            let framed = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(text))]);
            let out: Vec<_> = openai::sse_chunks(framed.eventsource(), None).collect().await;
            if !done {
                assert!(out.last().is_some_and(Result::is_err), "a stream without [DONE] is cut off");
            }
        });
    }
}
