//! The OpenAI chat completions wire format as the gateway speaks it: parsing a request as
//! the OpenAI SDKs send it, and building `chat.completion` answers, `chat.completion.chunk`
//! stream events and the `/v1/models` list.

use proximity_program::{Message, Role, Tool};
use proximity_providers::{ChatRequest, ChatResponse, Usage};
use serde_json::{json, Value};

use crate::budget::DEFAULT_MAX_TOKENS;
use crate::error::ApiError;

/// A parsed chat completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The tool id.
    pub model: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Parse a request body.
pub fn parse_request(body: &[u8]) -> Result<Incoming, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("`model` is required: the id of a tool your tier allows"))?
        .to_owned();
    let raw = v
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("`messages` must be a non-empty array"))?;
    let mut messages = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        let role = match m.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(other) => {
                return Err(bad(format!(
                    "`messages[{i}].role` `{other}` is not supported by the gateway (system, developer, user, assistant)"
                )))
            }
            None => return Err(bad(format!("`messages[{i}].role` is required"))),
        };
        let content = match m.get("content") {
            None | Some(Value::Null) if role == Role::Assistant => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for p in parts {
                    match (p.get("type").and_then(Value::as_str), p.get("text")) {
                        (Some("text"), Some(Value::String(t))) => text.push_str(t),
                        _ => {
                            return Err(bad(format!(
                                "`messages[{i}].content`: only text parts are supported"
                            )))
                        }
                    }
                }
                text
            }
            _ => return Err(bad(format!("`messages[{i}].content` must be a string"))),
        };
        messages.push(Message { role, content });
    }
    if v.get("n").and_then(Value::as_u64).is_some_and(|n| n != 1) {
        return Err(bad("`n` other than 1 is not supported"));
    }
    let stop = match v.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("`stop` must be a string or an array of strings"))?,
        Some(_) => return Err(bad("`stop` must be a string or an array of strings")),
    };
    let num = |k: &str| v.get(k).and_then(Value::as_f64);
    let max_tokens = v
        .get("max_completion_tokens")
        .or_else(|| v.get("max_tokens"))
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(Incoming {
        model,
        messages,
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: v
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        temperature: num("temperature"),
        top_p: num("top_p"),
        max_tokens,
        seed: v.get("seed").and_then(Value::as_u64),
        stop,
    })
}

impl Incoming {
    /// The request sent to `tool`: the tool's system prompt and parameters, the client's
    /// sampling parameters where it set them, and `max_tokens` the smaller of the two
    /// (or [`DEFAULT_MAX_TOKENS`]), so every request's cost is bounded.
    pub fn to_chat_request(&self, tool: &Tool) -> ChatRequest {
        let mut r = ChatRequest::for_tool(tool, &self.messages);
        if self.temperature.is_some() {
            r.temperature = self.temperature;
        }
        if self.top_p.is_some() {
            r.top_p = self.top_p;
        }
        if self.seed.is_some() {
            r.seed = self.seed;
        }
        if !self.stop.is_empty() {
            r.stop = self.stop.clone();
        }
        r.max_tokens = Some(match (self.max_tokens, tool.params.max_tokens) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => DEFAULT_MAX_TOKENS,
        });
        r
    }
}

fn usage_json(u: Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    })
}

/// A `chat.completion` answer.
pub fn completion(
    id: &str,
    created: i64,
    model: &str,
    fingerprint: &str,
    r: &ChatResponse,
    usage: Usage,
) -> Value {
    let (content, refusal) = if r.refused {
        (Value::Null, json!(r.text))
    } else {
        (json!(r.text), Value::Null)
    };
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "logprobs": null,
            "finish_reason": r.finish_reason.as_deref().unwrap_or("stop"),
        }],
        "usage": usage_json(usage),
    })
}

/// A `chat.completion.chunk` carrying `delta` (and `finish_reason` when the answer ends).
pub fn chunk(
    id: &str,
    created: i64,
    model: &str,
    fingerprint: &str,
    delta: Value,
    finish_reason: Option<&str>,
) -> Value {
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    })
}

/// The last chunk of a stream asked for with `include_usage`: no choices, the usage.
pub fn usage_chunk(id: &str, created: i64, model: &str, fingerprint: &str, u: Usage) -> Value {
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [],
        "usage": usage_json(u),
    })
}

/// One SSE event carrying `data`.
pub fn sse(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// The `/v1/models` list of `tools`.
pub fn models(tools: &[&Tool]) -> Value {
    let data: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "object": "model",
                "created": 0,
                "owned_by": format!("proximity:{}", t.provider),
            })
        })
        .collect();
    json!({"object": "list", "data": data})
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sdk_shaped_requests_parse() {
        let body = br#"{"model":"gpt","messages":[{"role":"developer","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
            "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":5,
            "stop":"\n","temperature":0.2}"#;
        let r = parse_request(body).unwrap();
        assert_eq!(r.model, "gpt");
        assert_eq!(r.messages[0].role, Role::System);
        assert_eq!(r.messages[1].content, "hi there");
        assert!(r.stream && r.include_usage);
        assert_eq!(r.max_tokens, Some(5));
        assert_eq!(r.stop, vec!["\n".to_owned()]);
    }

    #[test]
    fn unsupported_shapes_are_bad_requests() {
        for body in [
            &br#"{"messages":[{"role":"user","content":"x"}]}"#[..],
            br#"{"model":"m","messages":[]}"#,
            br#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
            br#"{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}"#,
            b"not json",
        ] {
            assert!(matches!(parse_request(body), Err(ApiError::BadRequest(_))));
        }
    }
}
