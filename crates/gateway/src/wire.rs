//! The OpenAI chat completions wire format as the gateway speaks it: parsing a request as
//! the OpenAI SDKs send it, and building `chat.completion` answers, `chat.completion.chunk`
//! stream events and the `/v1/models` list.

use proximity_program::{Message, ProviderKind, Role, Tool};
use proximity_providers::forward::{ForwardRequest, Unsupported};
use proximity_providers::{ChatRequest, ChatResponse, Usage};
use std::sync::Arc;

use serde_json::{json, Map, Value};

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
    /// The first field (as OpenAI's `param`) that only a provider forwarding the client's
    /// request as sent can honour: `tools`, `response_format`, a `tool` message, an image
    /// part, a field the gateway does not know… `None` when the parsed fields above are
    /// the whole request.
    pub passthrough: Option<String>,
    /// `response_format` when it asks for JSON (`json_object` or `json_schema`): kept out
    /// of [`Incoming::passthrough`], since a `local` tool honours it through its grammar
    /// ([`Incoming::grammar_for_local`]); any other typed provider refuses it by name.
    pub response_format: Option<Value>,
    /// The body's fields, kept when it has any beyond those parsed above (even ones a
    /// provider may drop, such as `user`): a forwarding provider (`openai`) sends them
    /// as the client set them.
    pub forward: Option<Arc<Map<String, Value>>>,
}

fn bad(param: impl Into<String>, msg: impl Into<String>) -> ApiError {
    ApiError::bad_param(param, msg)
}

/// Fields the gateway reads itself ([`Incoming`]'s).
const PARSED: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "stop",
];

fn number_in(v: &Value, key: &str, lo: f64, hi: f64) -> Result<Option<f64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            _ => Err(bad(key, format!("`{key}` must be between {lo} and {hi}"))),
        },
        Some(_) => Err(bad(key, format!("`{key}` must be a number"))),
    }
}

fn integer_in(v: &Value, key: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            Some(_) if hi == i64::MAX => Err(bad(
                key,
                format!("`{key}` must be an integer of at least {lo}"),
            )),
            Some(_) => Err(bad(
                key,
                format!("`{key}` must be an integer from {lo} to {hi}"),
            )),
            None if n.as_u64().is_some() && hi == i64::MAX => Ok(Some(i64::MAX)),
            None => Err(bad(key, format!("`{key}` must be an integer"))),
        },
        Some(_) => Err(bad(key, format!("`{key}` must be an integer"))),
    }
}

fn boolean(v: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(key, format!("`{key}` must be a boolean"))),
    }
}

/// Check the types and ranges of the fields the gateway does not read itself but knows,
/// so a request wrong by OpenAI's rules is a 400 whichever provider would serve it.
fn check_known(v: &Value) -> Result<(), ApiError> {
    number_in(v, "presence_penalty", -2.0, 2.0)?;
    number_in(v, "frequency_penalty", -2.0, 2.0)?;
    boolean(v, "logprobs")?;
    integer_in(v, "top_logprobs", 0, 20)?;
    boolean(v, "parallel_tool_calls")?;
    match v.get("user") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err(bad("user", "`user` must be a string")),
    }
    match v.get("logit_bias") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(_) => return Err(bad("logit_bias", "`logit_bias` must be an object")),
    }
    match v.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tools)) => {
            for (i, t) in tools.iter().enumerate() {
                let name = t.pointer("/function/name").and_then(Value::as_str);
                let kind = t.get("type").and_then(Value::as_str);
                if kind != Some("function") && kind != Some("custom") {
                    return Err(bad(
                        format!("tools[{i}].type"),
                        "each tool needs `type: \"function\"`",
                    ));
                }
                if kind == Some("function") && name.is_none_or(str::is_empty) {
                    return Err(bad(
                        format!("tools[{i}].function.name"),
                        "each function tool needs `function.name`",
                    ));
                }
            }
        }
        Some(_) => return Err(bad("tools", "`tools` must be an array")),
    }
    match v.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if matches!(s.as_str(), "none" | "auto" | "required") => {}
        Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(bad(
                "tool_choice",
                "`tool_choice` must be `none`, `auto`, `required` or an object naming a function",
            ))
        }
    }
    match v.get("response_format") {
        None | Some(Value::Null) => {}
        Some(Value::Object(f)) => match f.get("type").and_then(Value::as_str) {
            Some("text" | "json_object") => {}
            Some("json_schema") => {
                if !f.get("json_schema").is_some_and(Value::is_object) {
                    return Err(bad(
                        "response_format.json_schema",
                        "`response_format.json_schema` must be an object with `name` and `schema`",
                    ));
                }
            }
            _ => {
                return Err(bad(
                    "response_format.type",
                    "`response_format.type` must be `text`, `json_object` or `json_schema`",
                ))
            }
        },
        Some(_) => {
            return Err(bad(
                "response_format",
                "`response_format` must be an object",
            ))
        }
    }
    Ok(())
}

/// Whether a field the gateway does not read itself changes nothing when dropped: absent,
/// `null`, or its default value.
fn is_inert(key: &str, value: &Value) -> bool {
    match (key, value) {
        (_, Value::Null) => true,
        ("response_format", f) => f.get("type").and_then(Value::as_str) == Some("text"),
        ("logprobs" | "store", Value::Bool(b)) => !*b,
        // Whether tools may be called in parallel says nothing without `tools`.
        ("parallel_tool_calls", Value::Bool(_)) => true,
        ("tools", Value::Array(a)) => a.is_empty(),
        ("tool_choice", Value::String(s)) => s == "none" || s == "auto",
        ("presence_penalty" | "frequency_penalty", n) => n.as_f64() == Some(0.0),
        // An end-user id for the upstream's abuse monitoring: the usage row records the
        // key, which is what the gateway accounts by.
        ("user" | "metadata", _) => true,
        _ => false,
    }
}

/// What a `scripted` tool honours of a forwarded request: the typed fields, function
/// tools and the turns that carry their calls (its rules choose the answer, calls
/// included). The first other field that would change the answer is named, messages
/// first (as [`parse_request`] names them).
pub fn check_scripted(fields: &Map<String, Value>) -> Result<(), Unsupported> {
    const HONOURED: [&str; 14] = [
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "stop",
        "n",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    ];
    let refuse = |param: String| Unsupported {
        message: format!("a `scripted` tool answers from its rules and cannot honour `{param}`"),
        param,
    };
    let messages = fields.get("messages").and_then(Value::as_array);
    for (i, m) in messages.into_iter().flatten().enumerate() {
        let Some(m) = m.as_object() else { continue };
        if let Some((k, _)) = m.iter().find(|(k, v)| {
            !matches!(
                k.as_str(),
                "role" | "content" | "tool_calls" | "tool_call_id"
            ) && !v.is_null()
        }) {
            return Err(refuse(format!("messages[{i}].{k}")));
        }
        if let Some(Value::Array(parts)) = m.get("content") {
            if let Some(j) = parts
                .iter()
                .position(|p| p.get("type").and_then(Value::as_str) != Some("text"))
            {
                return Err(refuse(format!("messages[{i}].content[{j}]")));
            }
        }
    }
    if let Some((k, _)) = fields
        .iter()
        .find(|(k, v)| !HONOURED.contains(&k.as_str()) && !is_inert(k, v))
    {
        return Err(refuse(k.clone()));
    }
    Ok(())
}

/// Parse a request body, checking every field's type and range (a 400 naming the field
/// otherwise).
pub fn parse_request(body: &[u8]) -> Result<Incoming, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the body is not valid JSON: {e}")))?;
    let Some(fields) = v.as_object() else {
        return Err(ApiError::bad("the body must be a JSON object"));
    };
    let model = match v.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => {
            return Err(bad(
                "model",
                "`model` is required: the id of a tool your tier allows",
            ))
        }
    };
    let raw = v
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("messages", "`messages` must be a non-empty array"))?;
    let mut passthrough = None;
    let mut messages = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        if !m.is_object() {
            return Err(bad(
                format!("messages[{i}]"),
                "each message must be an object",
            ));
        }
        let role = match m.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("tool" | "function") => {
                passthrough.get_or_insert_with(|| format!("messages[{i}].role"));
                continue;
            }
            Some(other) => {
                return Err(bad(
                    format!("messages[{i}].role"),
                    format!("`messages[{i}].role` `{other}` is not a chat role (system, developer, user, assistant, tool)"),
                ))
            }
            None => {
                return Err(bad(
                    format!("messages[{i}].role"),
                    format!("`messages[{i}].role` is required"),
                ))
            }
        };
        if let Some(object) = m.as_object() {
            for (k, value) in object {
                if k != "role" && k != "content" && !value.is_null() {
                    passthrough.get_or_insert_with(|| format!("messages[{i}].{k}"));
                }
            }
        }
        let content = match m.get("content") {
            None | Some(Value::Null) if role == Role::Assistant => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for (j, p) in parts.iter().enumerate() {
                    match (p.get("type").and_then(Value::as_str), p.get("text")) {
                        (Some("text"), Some(Value::String(t))) => text.push_str(t),
                        (Some("text"), _) => {
                            return Err(bad(
                                format!("messages[{i}].content[{j}].text"),
                                "a text part needs a string `text`",
                            ))
                        }
                        (Some(_), _) => {
                            passthrough
                                .get_or_insert_with(|| format!("messages[{i}].content[{j}]"));
                        }
                        (None, _) => {
                            return Err(bad(
                                format!("messages[{i}].content[{j}].type"),
                                "each content part needs a `type`",
                            ))
                        }
                    }
                }
                text
            }
            _ => {
                return Err(bad(
                    format!("messages[{i}].content"),
                    format!("`messages[{i}].content` must be a string or an array of parts"),
                ))
            }
        };
        messages.push(Message { role, content });
    }
    match integer_in(&v, "n", 1, i64::MAX)? {
        None | Some(1) => {}
        Some(_) => return Err(bad("n", "`n` other than 1 is not supported")),
    }
    let stop = match v.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.len() <= 4 => a
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("stop", "`stop` must be a string or up to 4 strings"))?,
        Some(_) => return Err(bad("stop", "`stop` must be a string or up to 4 strings")),
    };
    let positive = |k: &str| {
        integer_in(&v, k, 1, i64::MAX).map(|n| n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    };
    let max_tokens = match positive("max_completion_tokens")? {
        Some(n) => Some(n),
        None => positive("max_tokens")?,
    };
    let stream = boolean(&v, "stream")?.unwrap_or(false);
    let include_usage = match v.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(o @ Value::Object(_)) => boolean(o, "include_usage")
            .map_err(|_| {
                bad(
                    "stream_options.include_usage",
                    "`stream_options.include_usage` must be a boolean",
                )
            })?
            .unwrap_or(false),
        Some(_) => return Err(bad("stream_options", "`stream_options` must be an object")),
    };
    let seed = match v.get("seed") {
        None | Some(Value::Null) => None,
        // Negative seeds are seeds too: the same bits, read as unsigned.
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .or_else(|| n.as_i64().map(|i| i as u64))
                .ok_or_else(|| bad("seed", "`seed` must be an integer"))?,
        ),
        Some(_) => return Err(bad("seed", "`seed` must be an integer")),
    };
    check_known(&v)?;
    if passthrough.is_none() {
        passthrough = fields
            .iter()
            .find(|(k, value)| {
                !PARSED.contains(&k.as_str()) && *k != "response_format" && !is_inert(k, value)
            })
            .map(|(k, _)| k.clone());
    }
    let response_format = fields
        .get("response_format")
        .filter(|f| !is_inert("response_format", f))
        .cloned();
    let extra = passthrough.is_some()
        || response_format.is_some()
        || fields
            .iter()
            .any(|(k, value)| !PARSED.contains(&k.as_str()) && !value.is_null());
    let temperature = number_in(&v, "temperature", 0.0, 2.0)?;
    let top_p = number_in(&v, "top_p", 0.0, 1.0)?;
    let forward = match v {
        Value::Object(map) if extra => Some(Arc::new(map)),
        _ => None,
    };
    Ok(Incoming {
        model,
        messages,
        stream,
        include_usage,
        temperature,
        top_p,
        max_tokens,
        seed,
        stop,
        passthrough,
        response_format,
        forward,
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
        r.max_tokens = Some(max_tokens_for(self.max_tokens, tool));
        if tool.provider == ProviderKind::Local {
            if let Some(f) = self.grammar_for_local() {
                r.grammar = Some(f.grammar.to_owned());
                r.json_schema = f.schema;
            }
        }
        r
    }
}

/// The grammar a `local` tool constrains its answer with for a `response_format`: the
/// tool's `grammar` parameter and the JSON schema that goes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalFormat {
    pub grammar: &'static str,
    pub schema: Option<Value>,
}

impl Incoming {
    /// What `response_format` asks of a `local` tool's grammar: `json_object` any JSON
    /// object, `json_schema` its schema (compiled by llama.cpp's converter). `None` when
    /// the request sets no JSON format.
    pub fn grammar_for_local(&self) -> Option<LocalFormat> {
        let f = self.response_format.as_ref()?;
        match f.get("type").and_then(Value::as_str) {
            Some("json_schema") => Some(LocalFormat {
                grammar: "json_schema",
                schema: Some(
                    f.pointer("/json_schema/schema")
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object"})),
                ),
            }),
            Some("json_object") => Some(LocalFormat {
                grammar: "json_object",
                schema: None,
            }),
            _ => None,
        }
    }

    /// The client's request as `tool` forwards it (when it can: [`Incoming::forward`]):
    /// the tool's system prompt and parameters where the client set none, and the same
    /// output-token cap as [`Incoming::to_chat_request`].
    pub fn to_forward_request(&self, tool: &Tool) -> Option<ForwardRequest> {
        let fields = self.forward.clone()?;
        let p = &tool.params;
        let mut defaults = Vec::new();
        if let Some(t) = p.temperature {
            defaults.push(("temperature", json!(t)));
        }
        if let Some(t) = p.top_p {
            defaults.push(("top_p", json!(t)));
        }
        if let Some(seed) = p.seed {
            defaults.push(("seed", json!(seed)));
        }
        if !p.stop.is_empty() {
            defaults.push(("stop", json!(p.stop)));
        }
        if p.logprobs {
            defaults.push(("logprobs", json!(true)));
        }
        Some(ForwardRequest {
            fields,
            system: p.system.clone(),
            defaults,
            max_tokens: max_tokens_for(self.max_tokens, tool),
        })
    }
}

fn max_tokens_for(asked: Option<u32>, tool: &Tool) -> u32 {
    match (asked, tool.params.max_tokens) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => DEFAULT_MAX_TOKENS,
    }
}

/// Usage as a `chat.completion` (or its last chunk) reports it.
pub fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        output_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

/// The answer text of a forwarded `chat.completion` or chunk (content, refusal and
/// tool-call arguments), appended to `out` (for counting and content logs).
pub fn text_of(v: &Value, out: &mut String) {
    let Some(choices) = v.get("choices").and_then(Value::as_array) else {
        return;
    };
    for c in choices {
        let Some(m) = c.get("message").or_else(|| c.get("delta")) else {
            continue;
        };
        for k in ["content", "refusal"] {
            if let Some(t) = m.get(k).and_then(Value::as_str) {
                out.push_str(t);
            }
        }
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                if let Some(f) = call.get("function") {
                    for k in ["name", "arguments"] {
                        if let Some(t) = f.get(k).and_then(Value::as_str) {
                            out.push_str(t);
                        }
                    }
                }
            }
        }
    }
}

/// A forwarded `chat.completion` or chunk as the gateway answers it: its id, `model`
/// (the tool id the client asked for) and fingerprint are the gateway's.
pub fn rebrand(v: &mut Value, id: &str, created: i64, model: &str, fingerprint: &str) {
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), Value::String(format!("chatcmpl-{id}")));
        o.insert("created".into(), json!(created));
        o.insert("model".into(), Value::String(model.to_owned()));
        o.insert(
            "system_fingerprint".into(),
            Value::String(fingerprint.to_owned()),
        );
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
    } else if r.text.is_empty() && !r.tool_calls.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (json!(r.text), Value::Null)
    };
    let mut message = json!({"role": "assistant", "content": content, "refusal": refusal});
    if !r.tool_calls.is_empty() {
        message["tool_calls"] = r
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
    }
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{
            "index": 0,
            "message": message,
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

/// One `/v1/models` entry.
pub fn model(t: &Tool) -> Value {
    json!({
        "id": t.id,
        "object": "model",
        "created": 0,
        "owned_by": format!("proximity:{}", t.provider),
    })
}

/// The `/v1/models` list of `tools`.
pub fn models(tools: &[&Tool]) -> Value {
    let data: Vec<Value> = tools.iter().map(|t| model(t)).collect();
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
            br#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#,
            br#"{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}"#,
            br#"{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}"#,
            b"not json",
        ] {
            assert!(matches!(
                parse_request(body),
                Err(ApiError::BadRequest { .. })
            ));
        }
    }

    #[test]
    fn fields_only_a_forwarder_honours_are_kept_and_named() {
        for (body, param) in [
            (
                &br#"{"model":"m","messages":[{"role":"tool","content":"x","tool_call_id":"c"}]}"#
                    [..],
                "messages[0].role",
            ),
            (
                br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
                "messages[0].content[0]",
            ),
            (
                br#"{"model":"m","messages":[{"role":"user","content":"x"}],"new_thing":1}"#,
                "new_thing",
            ),
        ] {
            let r = parse_request(body).unwrap();
            assert_eq!(r.passthrough.as_deref(), Some(param));
            assert!(r.forward.is_some());
        }
        // Only typed fields: nothing kept, nothing to forward.
        let r = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1}"#,
        )
        .unwrap();
        assert!(r.forward.is_none() && r.passthrough.is_none());
        // A JSON response format: kept for a forwarder and a local grammar, not named.
        let r = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],
                "response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}}}"#,
        )
        .unwrap();
        assert!(r.forward.is_some() && r.passthrough.is_none());
        let f = r.grammar_for_local().unwrap();
        assert_eq!(f.grammar, "json_schema");
        assert_eq!(f.schema, Some(json!({"type": "object"})));
        let r = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}"#,
        )
        .unwrap();
        assert_eq!(r.grammar_for_local().unwrap().grammar, "json_object");
        let r = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}}"#,
        )
        .unwrap();
        assert!(r.response_format.is_none() && r.grammar_for_local().is_none());
        // Fields a provider may drop: kept for a forwarder, not named.
        let r = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"user":"u"}"#,
        )
        .unwrap();
        assert!(r.forward.is_some() && r.passthrough.is_none());
    }
}
