//! Fuzz smoke of the gateway's request parser on the stable toolchain (proptest): arbitrary
//! bytes and arbitrary JSON in the shape of a chat request never panic, and whatever is
//! accepted satisfies the checks the rest of the gateway relies on. Short (proptest's
//! default 256 cases); `PROPTEST_CASES=1000000` for a long run.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proximity_gateway::wire::parse_request;
use serde_json::{json, Value};

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
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 14] = [
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stream",
    "stream_options",
    "n",
    "seed",
    "stop",
    "tools",
    "tool_choice",
    "response_format",
    "logprobs",
    "top_logprobs",
];

proptest! {
    #[test]
    fn requests_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_request(&bytes);
    }

    #[test]
    fn accepted_requests_hold_their_checks(
        role in prop_oneof![
            Just("user".to_owned()),
            Just("system".to_owned()),
            Just("assistant".to_owned()),
            Just("tool".to_owned()),
            ".{0,6}",
        ],
        content in any_json(),
        picks in prop::collection::vec((0..FIELDS.len(), any_json()), 0..5),
    ) {
        let mut body = json!({"model": "m", "messages": [{"role": role, "content": content}]});
        for (i, v) in picks {
            body[FIELDS[i]] = v;
        }
        if let Ok(r) = parse_request(body.to_string().as_bytes()) {
            prop_assert!(!r.model.is_empty());
            prop_assert!(r.temperature.is_none_or(|t| (0.0..=2.0).contains(&t)));
            prop_assert!(r.top_p.is_none_or(|t| (0.0..=1.0).contains(&t)));
            prop_assert!(r.max_tokens.is_none_or(|n| n >= 1));
            prop_assert!(r.stop.len() <= 4);
            prop_assert_eq!(r.stream, body["stream"] == true);
        }
    }
}
