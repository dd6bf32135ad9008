//! Forwarding a client's OpenAI chat completions request as it was sent, for a gateway in
//! front of an OpenAI-compatible endpoint: every field the client set reaches the
//! upstream (`tools`, `response_format`, fields newer than this code…), and the answer
//! comes back as the upstream's JSON. Only what the gateway must own is rewritten:
//! `model` (the tool's), the output-token cap (the budget's bound), the tool's system
//! prompt and sampling parameters where the client set none, and for a stream
//! `stream: true` with usage asked for (the gateway bills by it).

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Stream;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ProviderError;

/// A client's request to forward.
#[derive(Debug, Clone)]
pub struct ForwardRequest {
    /// The request body's fields as the client sent them.
    pub fields: Arc<Map<String, Value>>,
    /// The tool's system prompt, put first when the conversation does not start with a
    /// system (or developer) message.
    pub system: Option<String>,
    /// The tool's own parameters, sent where the client did not set the field.
    pub defaults: Vec<(&'static str, Value)>,
    /// The output-token cap sent upstream (in the client's own field,
    /// `max_completion_tokens` or `max_tokens`).
    pub max_tokens: u32,
}

/// A stream of `chat.completion.chunk` objects as the upstream sent them. It ends after
/// the upstream's `data: [DONE]`; a stream cut off before it yields an `Err` last.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Value, ProviderError>> + Send>>;

/// A field of a client's request that a provider cannot honour: `param` names it as
/// OpenAI's error `param` does (a JSON path such as `messages[2].content[0]`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Unsupported {
    pub param: String,
    pub message: String,
}

/// A provider that can forward a client's request (see the module documentation).
#[async_trait]
pub trait Forward: Send + Sync {
    /// One attempt: the upstream's `chat.completion` object.
    async fn forward(&self, request: &ForwardRequest) -> Result<Value, ProviderError>;

    /// One streamed attempt. An `Err` before the stream is returned means nothing was
    /// produced (safe to retry).
    async fn forward_stream(&self, request: &ForwardRequest) -> Result<ChunkStream, ProviderError>;
}

/// Fields the gateway writes itself.
const OWNED: [&str; 5] = [
    "model",
    "max_tokens",
    "max_completion_tokens",
    "stream",
    "stream_options",
];

/// The JSON body sent upstream for `request` to `model`.
pub fn body(model: &str, request: &ForwardRequest, stream: bool) -> Vec<u8> {
    // Serializing a JSON tree into a vector cannot fail.
    serde_json::to_vec(&Body {
        model,
        request,
        stream,
    })
    .unwrap_or_default()
}

struct Body<'a> {
    model: &'a str,
    request: &'a ForwardRequest,
    stream: bool,
}

/// The client's messages, the tool's system prompt first where it goes.
struct Messages<'a> {
    system: Option<&'a str>,
    messages: &'a [Value],
}

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.messages.len() + 1))?;
        if let Some(system) = self.system {
            seq.serialize_element(&serde_json::json!({"role": "system", "content": system}))?;
        }
        for m in self.messages {
            seq.serialize_element(m)?;
        }
        seq.end()
    }
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = &*self.request.fields;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        for (k, v) in fields {
            if OWNED.contains(&k.as_str()) {
                continue;
            }
            match (k.as_str(), v) {
                ("messages", Value::Array(messages)) => {
                    let first = messages
                        .first()
                        .and_then(|m| m.get("role"))
                        .and_then(Value::as_str);
                    let system = self
                        .request
                        .system
                        .as_deref()
                        .filter(|_| !matches!(first, Some("system" | "developer")));
                    map.serialize_entry(k, &Messages { system, messages })?;
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        for (k, v) in &self.request.defaults {
            if fields.get(*k).is_none_or(Value::is_null) {
                map.serialize_entry(k, v)?;
            }
        }
        let cap = if fields.contains_key("max_completion_tokens") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        map.serialize_entry(cap, &self.request.max_tokens)?;
        if self.stream {
            map.serialize_entry("stream", &true)?;
            let mut options = fields
                .get("stream_options")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            options.insert("include_usage".into(), Value::Bool(true));
            map.serialize_entry("stream_options", &options)?;
        }
        map.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(fields: Value, system: Option<&str>) -> ForwardRequest {
        ForwardRequest {
            fields: Arc::new(fields.as_object().unwrap().clone()),
            system: system.map(str::to_owned),
            defaults: vec![("temperature", json!(0.5)), ("seed", json!(7))],
            max_tokens: 64,
        }
    }

    #[test]
    fn the_clients_fields_pass_and_the_gateways_are_rewritten() {
        let tool = json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}});
        let r = request(
            json!({"model": "tool-id", "messages": [{"role": "user", "content": "hi"}],
                "tools": [tool], "tool_choice": "required", "brand_new": {"x": [1, 2]},
                "temperature": 0.1, "max_completion_tokens": 1000, "stream": false,
                "stream_options": {"include_obfuscation": false}}),
            Some("be brief"),
        );
        let v: Value = serde_json::from_slice(&body("gpt-x", &r, true)).unwrap();
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["tools"][0], tool);
        assert_eq!(v["tool_choice"], "required");
        assert_eq!(v["brand_new"], json!({"x": [1, 2]}));
        assert_eq!(v["temperature"], 0.1, "the client's value wins");
        assert_eq!(v["seed"], 7, "the tool's fills in");
        assert_eq!(v["max_completion_tokens"], 64);
        assert!(v.get("max_tokens").is_none());
        assert_eq!(v["stream"], true);
        assert_eq!(
            v["stream_options"],
            json!({"include_obfuscation": false, "include_usage": true})
        );
        assert_eq!(
            v["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(v["messages"][1]["content"], "hi");

        let r = request(
            json!({"model": "m", "messages": [{"role": "developer", "content": "mine"}]}),
            Some("be brief"),
        );
        let v: Value = serde_json::from_slice(&body("gpt-x", &r, false)).unwrap();
        assert_eq!(v["messages"].as_array().unwrap().len(), 1);
        assert_eq!(v["max_tokens"], 64);
        assert!(v.get("stream").is_none());
    }
}
