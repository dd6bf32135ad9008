//! Translation between a client's OpenAI chat completions request and Anthropic's messages
//! API, both ways, for a gateway in front of an `anthropic` tool: the request
//! ([`translate_request`]: messages, tool calls and results, images, `tools`,
//! `tool_choice`, `response_format`, sampling fields), the answer
//! ([`translate_response`]) and the stream ([`StreamTranslator`], Anthropic's events to
//! `chat.completion.chunk`s). A field Anthropic has no equivalent for is refused
//! ([`Unsupported`], naming it as OpenAI's `param`), never dropped.
//!
//! Structured output: a strict `json_schema` goes to Anthropic's `output_config.format`
//! (constrained decoding, the answer's text is the JSON); `json_object` and a non-strict
//! `json_schema` become a forced tool whose input schema is the schema, and the tool's
//! input comes back as the message content.

use serde_json::{json, Map, Value};

use crate::forward::{ForwardRequest, Unsupported};

/// The forced tool a `json_object` (or non-strict `json_schema`) answer is asked through,
/// when the schema has no name of its own.
pub const ANSWER_TOOL: &str = "json_answer";

/// A translated request: the messages API body, and the name of the forced tool whose
/// input is the answer's content (structured output), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub body: Value,
    pub answer_tool: Option<String>,
}

fn refuse(param: impl Into<String>, message: impl Into<String>) -> Unsupported {
    Unsupported {
        param: param.into(),
        message: message.into(),
    }
}

fn no_equivalent(param: &str) -> Unsupported {
    refuse(
        param,
        format!("`{param}` has no equivalent in Anthropic's messages API"),
    )
}

/// Fields translated below; any other field set to a non-default value is refused.
const TRANSLATED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stream",
    "stream_options",
    "n",
    "temperature",
    "top_p",
    "stop",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
];

/// Whether an untranslated field is at its default (so nothing is lost without it).
fn is_default(key: &str, v: &Value) -> bool {
    match (key, v) {
        (_, Value::Null) => true,
        ("logprobs" | "store", Value::Bool(b)) => !*b,
        ("presence_penalty" | "frequency_penalty", n) => n.as_f64() == Some(0.0),
        ("logit_bias" | "metadata", Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// The messages API body for `request` to `model` (see the module documentation).
pub fn translate_request(
    model: &str,
    request: &ForwardRequest,
    stream: bool,
) -> Result<Translated, Unsupported> {
    let f = &*request.fields;
    if let Some((k, _)) = f
        .iter()
        .find(|(k, v)| !TRANSLATED.contains(&k.as_str()) && !is_default(k, v))
    {
        return Err(no_equivalent(k));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(request.max_tokens));
    let (system, messages) = messages(f.get("messages"))?;
    let system = match system {
        Some(s) => Some(s),
        None => request.system.clone(),
    };
    if let Some(s) = system {
        body.insert("system".into(), json!(s));
    }
    body.insert("messages".into(), Value::Array(messages));
    let field = |k: &str| {
        f.get(k).filter(|v| !v.is_null()).or_else(|| {
            request
                .defaults
                .iter()
                .find(|(d, _)| *d == k)
                .map(|(_, v)| v)
        })
    };
    if let Some(t) = field("temperature") {
        if t.as_f64().is_some_and(|t| t > 1.0) {
            return Err(refuse(
                "temperature",
                "`temperature` above 1 has no equivalent in Anthropic's messages API (its range is 0 to 1)",
            ));
        }
        body.insert("temperature".into(), t.clone());
    }
    if let Some(p) = field("top_p") {
        body.insert("top_p".into(), p.clone());
    }
    match field("stop") {
        Some(Value::String(s)) => {
            body.insert("stop_sequences".into(), json!([s]));
        }
        Some(a @ Value::Array(_)) => {
            body.insert("stop_sequences".into(), a.clone());
        }
        _ => {}
    }
    if let Some(Value::String(u)) = f.get("user") {
        body.insert("metadata".into(), json!({ "user_id": u }));
    }
    let tools = tools(f)?;
    let has_tools = !tools.is_empty();
    if has_tools {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = tool_choice(f, has_tools)? {
        body.insert("tool_choice".into(), choice);
    }
    let answer_tool = response_format(f.get("response_format"), has_tools, &mut body)?;
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Translated {
        body: Value::Object(body),
        answer_tool,
    })
}

/// The text of an OpenAI message `content` (a string or text parts) for `param`.
fn text_only(content: Option<&Value>, param: &str) -> Result<String, Unsupported> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(p.get("text").and_then(Value::as_str).unwrap_or(""))
                    }
                    Some("refusal") => {
                        text.push_str(p.get("refusal").and_then(Value::as_str).unwrap_or(""));
                    }
                    _ => {
                        return Err(refuse(
                            format!("{param}[{j}]"),
                            format!("only text parts can go in `{param}` for Anthropic"),
                        ))
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(refuse(
            param,
            format!("`{param}` must be a string or parts"),
        )),
    }
}

/// A user message's content as Anthropic content blocks (text and images).
fn user_blocks(content: Option<&Value>, param: &str) -> Result<Vec<Value>, Unsupported> {
    match content {
        Some(Value::String(s)) => Ok(vec![json!({"type": "text", "text": s})]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match p.get("type").and_then(Value::as_str) {
                Some("text") => {
                    Ok(json!({"type": "text", "text": p.get("text").cloned().unwrap_or(json!(""))}))
                }
                Some("image_url") => image(p, &format!("{param}[{j}]")),
                _ => Err(refuse(
                    format!("{param}[{j}]"),
                    format!(
                        "`{param}[{j}]`: Anthropic's messages API takes text and image parts only"
                    ),
                )),
            })
            .collect(),
        _ => Err(refuse(
            param,
            format!("`{param}` must be a string or parts"),
        )),
    }
}

/// An `image_url` part as an Anthropic image block: a `data:` URL as base64, any other
/// URL by reference.
fn image(part: &Value, param: &str) -> Result<Value, Unsupported> {
    let url = part
        .pointer("/image_url/url")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            refuse(
                format!("{param}.image_url.url"),
                "an image part needs `image_url.url`",
            )
        })?;
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((media_type, data)) = rest.split_once(";base64,") else {
            return Err(refuse(
                format!("{param}.image_url.url"),
                "a `data:` image URL must be base64 (`data:<type>;base64,<data>`)",
            ));
        };
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(refuse(
        format!("{param}.image_url.url"),
        "an image URL must be `https://…` or `data:<type>;base64,…`",
    ))
}

/// Append `blocks` to the conversation as a turn of `role`, joining it to the previous
/// turn when that has the same role (Anthropic's turns alternate).
fn push_turn(out: &mut Vec<Value>, role: &str, mut blocks: Vec<Value>) {
    if let Some(last) = out.last_mut() {
        if last["role"] == role {
            if let Some(content) = last["content"].as_array_mut() {
                content.append(&mut blocks);
                return;
            }
        }
    }
    out.push(json!({"role": role, "content": blocks}));
}

/// The system text and the Anthropic turns of an OpenAI `messages` array.
fn messages(raw: Option<&Value>) -> Result<(Option<String>, Vec<Value>), Unsupported> {
    let raw = raw
        .and_then(Value::as_array)
        .ok_or_else(|| refuse("messages", "`messages` must be an array"))?;
    let mut system: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let known: &[&str] = match role {
            "assistant" => &["role", "content", "tool_calls", "refusal"],
            "tool" => &["role", "content", "tool_call_id"],
            _ => &["role", "content"],
        };
        if let Some((k, _)) = m
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, v)| !known.contains(&k.as_str()) && !v.is_null())
        {
            return Err(no_equivalent(&format!("messages[{i}].{k}")));
        }
        let param = format!("messages[{i}].content");
        match role {
            "system" | "developer" => system.push(text_only(m.get("content"), &param)?),
            "user" => {
                let blocks = user_blocks(m.get("content"), &param)?;
                push_turn(&mut out, "user", blocks);
            }
            "assistant" => {
                let mut blocks = Vec::new();
                let text = text_only(m.get("content"), &param)?;
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for (k, call) in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    blocks.push(tool_use(call, &format!("messages[{i}].tool_calls[{k}]"))?);
                }
                if blocks.is_empty() {
                    // An empty assistant turn says nothing; Anthropic refuses empty content.
                    continue;
                }
                push_turn(&mut out, "assistant", blocks);
            }
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        refuse(
                            format!("messages[{i}].tool_call_id"),
                            "a `tool` message needs `tool_call_id`",
                        )
                    })?;
                let text = text_only(m.get("content"), &param)?;
                let block = json!({"type": "tool_result", "tool_use_id": id, "content": text});
                push_turn(&mut out, "user", vec![block]);
            }
            _ => return Err(no_equivalent(&format!("messages[{i}].role"))),
        }
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok((system, out))
}

/// An assistant's OpenAI tool call as an Anthropic `tool_use` block.
fn tool_use(call: &Value, param: &str) -> Result<Value, Unsupported> {
    if call
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("function")
        != "function"
    {
        return Err(refuse(
            format!("{param}.type"),
            "only function tool calls translate",
        ));
    }
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse(format!("{param}.id"), "a tool call needs an `id`"))?;
    let name = call
        .pointer("/function/name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            refuse(
                format!("{param}.function.name"),
                "a tool call needs `function.name`",
            )
        })?;
    let arguments = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .unwrap_or("{}");
    let input: Value = serde_json::from_str(if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    })
    .ok()
    .filter(Value::is_object)
    .ok_or_else(|| {
        refuse(
            format!("{param}.function.arguments"),
            "tool call arguments must be a JSON object (Anthropic's `tool_use.input`)",
        )
    })?;
    Ok(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
}

/// OpenAI `tools` as Anthropic tools.
fn tools(f: &Map<String, Value>) -> Result<Vec<Value>, Unsupported> {
    let Some(list) = f.get("tools").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            if t.get("type").and_then(Value::as_str) != Some("function") {
                return Err(refuse(
                    format!("tools[{i}].type"),
                    "only `function` tools translate to Anthropic",
                ));
            }
            let func = t.get("function").cloned().unwrap_or_default();
            let mut tool = Map::new();
            tool.insert("name".into(), func.get("name").cloned().unwrap_or_default());
            if let Some(d) = func.get("description").filter(|d| !d.is_null()) {
                tool.insert("description".into(), d.clone());
            }
            let schema = func
                .get("parameters")
                .filter(|p| !p.is_null())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            tool.insert("input_schema".into(), schema);
            if func.get("strict") == Some(&Value::Bool(true)) {
                tool.insert("strict".into(), json!(true));
            }
            Ok(Value::Object(tool))
        })
        .collect()
}

/// OpenAI `tool_choice` and `parallel_tool_calls` as Anthropic's `tool_choice`.
fn tool_choice(f: &Map<String, Value>, has_tools: bool) -> Result<Option<Value>, Unsupported> {
    let serial = f.get("parallel_tool_calls") == Some(&Value::Bool(false));
    let mut choice = match f.get("tool_choice") {
        None | Some(Value::Null) => json!({"type": "auto"}),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "none" => json!({"type": "none"}),
            "required" => json!({"type": "any"}),
            _ => return Err(refuse("tool_choice", "`tool_choice` must be none, auto, required or a function")),
        },
        Some(o) => match o.pointer("/function/name").and_then(Value::as_str) {
            Some(name) if o.get("type").and_then(Value::as_str) == Some("function") => {
                json!({"type": "tool", "name": name})
            }
            _ => {
                return Err(refuse(
                    "tool_choice",
                    "only `{\"type\": \"function\", \"function\": {\"name\": …}}` translates to Anthropic",
                ))
            }
        },
    };
    if !has_tools {
        return match choice["type"].as_str() {
            Some("auto" | "none") => Ok(None),
            _ => Err(refuse(
                "tool_choice",
                "`tool_choice` asks for a tool, and `tools` is empty",
            )),
        };
    }
    if serial && choice["type"] != "none" {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    Ok(Some(choice))
}

/// `response_format` into `body`; the forced tool's name when the answer comes through one.
fn response_format(
    format: Option<&Value>,
    has_tools: bool,
    body: &mut Map<String, Value>,
) -> Result<Option<String>, Unsupported> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let (name, schema) = match format.get("type").and_then(Value::as_str) {
        Some("text") => return Ok(None),
        Some("json_schema") => {
            let spec = format.get("json_schema").cloned().unwrap_or_default();
            let schema = spec
                .get("schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            if spec.get("strict") == Some(&Value::Bool(true)) {
                body.insert(
                    "output_config".into(),
                    json!({"format": {"type": "json_schema", "schema": schema}}),
                );
                return Ok(None);
            }
            let name = spec
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(ANSWER_TOOL)
                .to_owned();
            (name, schema)
        }
        Some("json_object") => (ANSWER_TOOL.to_owned(), json!({"type": "object"})),
        _ => {
            return Err(refuse(
                "response_format.type",
                "`response_format.type` must be text, json_object or json_schema",
            ))
        }
    };
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(refuse(
            "response_format.json_schema.schema",
            "without `strict: true` the answer goes through a tool, whose input Anthropic requires to be an object: the schema must have `type: object` (or set `strict: true`)",
        ));
    }
    if has_tools {
        return Err(refuse(
            "response_format",
            "with `tools`, only a `json_schema` with `strict: true` translates to Anthropic (a non-strict format is asked through a forced tool, which would rule the client's tools out)",
        ));
    }
    body.insert(
        "tools".into(),
        json!([{"name": name, "description": "Answer with this tool: its input is the answer.", "input_schema": schema}]),
    );
    body.insert("tool_choice".into(), json!({"type": "tool", "name": name}));
    Ok(Some(name))
}

/// An Anthropic `stop_reason` as an OpenAI `finish_reason`.
pub fn finish_reason(stop: Option<&str>, answered_by_tool: bool) -> String {
    match stop {
        Some("tool_use") if answered_by_tool => "stop",
        Some("tool_use") => "tool_calls",
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
    .to_owned()
}

/// Anthropic usage as OpenAI usage (cached prompt tokens are prompt tokens too).
fn usage(u: Option<&Value>) -> Value {
    let n = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let prompt =
        n("input_tokens") + n("cache_creation_input_tokens") + n("cache_read_input_tokens");
    let completion = n("output_tokens");
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// An Anthropic message (a success body) as a `chat.completion`.
pub fn translate_response(body: &str, answer_tool: Option<&str>) -> Result<Value, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}"))?;
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no `content`")?;
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut answered = false;
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                if answer_tool == Some(name) {
                    answered = true;
                    text.push_str(&input.to_string());
                    continue;
                }
                calls.push(json!({
                    "id": b.get("id").cloned().unwrap_or_default(),
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": text, "refusal": null});
    if calls.is_empty() && text.is_empty() {
        message["content"] = Value::Null;
    }
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
    }
    let stop = v.get("stop_reason").and_then(Value::as_str);
    Ok(json!({
        "id": v.get("id").cloned().unwrap_or_default(),
        "object": "chat.completion",
        "created": 0,
        "model": v.get("model").cloned().unwrap_or_default(),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(stop, answered),
        }],
        "usage": usage(v.get("usage")),
    }))
}

/// What a streamed content block is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Block {
    Text,
    /// A tool call: its index among the answer's `tool_calls`.
    Call(usize),
    /// The forced answer tool: its input is the content.
    Answer,
    Other,
}

/// Anthropic's stream events turned into `chat.completion.chunk`s, one event at a time.
#[derive(Debug, Default)]
pub struct StreamTranslator {
    answer_tool: Option<String>,
    blocks: Vec<(u64, Block)>,
    calls: usize,
    model: Value,
    input_usage: Option<Value>,
    output_tokens: u64,
    stop_reason: Option<String>,
    answered: bool,
    /// `message_stop` was seen: the answer is complete.
    pub finished: bool,
}

impl StreamTranslator {
    pub fn new(answer_tool: Option<String>) -> Self {
        Self {
            answer_tool,
            ..Self::default()
        }
    }

    fn chunk(&self, delta: Value, finish: Option<String>) -> Value {
        json!({
            "id": "",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    }

    fn block(&self, index: u64) -> Block {
        self.blocks
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(Block::Other, |(_, b)| *b)
    }

    /// The chunks one event (its `data:` JSON) gives. An `error` event is an `Err`.
    pub fn event(&mut self, data: &Value) -> Result<Vec<Value>, String> {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match data.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let m = data.get("message").cloned().unwrap_or_default();
                self.model = m.get("model").cloned().unwrap_or_default();
                self.input_usage = m.get("usage").cloned();
                Ok(vec![
                    self.chunk(json!({"role": "assistant", "content": ""}), None)
                ])
            }
            Some("content_block_start") => {
                let b = data.get("content_block").cloned().unwrap_or_default();
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        self.blocks.push((index, Block::Text));
                        match b.get("text").and_then(Value::as_str) {
                            Some(t) if !t.is_empty() => {
                                Ok(vec![self.chunk(json!({"content": t}), None)])
                            }
                            _ => Ok(Vec::new()),
                        }
                    }
                    Some("tool_use") => {
                        let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                        if self.answer_tool.as_deref() == Some(name) {
                            self.answered = true;
                            self.blocks.push((index, Block::Answer));
                            return Ok(Vec::new());
                        }
                        let k = self.calls;
                        self.calls += 1;
                        self.blocks.push((index, Block::Call(k)));
                        let call = json!({"index": k, "id": b.get("id").cloned().unwrap_or_default(),
                            "type": "function", "function": {"name": name, "arguments": ""}});
                        Ok(vec![self.chunk(json!({"tool_calls": [call]}), None)])
                    }
                    _ => {
                        self.blocks.push((index, Block::Other));
                        Ok(Vec::new())
                    }
                }
            }
            Some("content_block_delta") => {
                let d = data.get("delta").cloned().unwrap_or_default();
                let piece = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                let delta = match (self.block(index), d.get("type").and_then(Value::as_str)) {
                    (Block::Text, Some("text_delta")) => json!({"content": piece("text")}),
                    (Block::Answer, Some("input_json_delta")) => {
                        json!({"content": piece("partial_json")})
                    }
                    (Block::Call(k), Some("input_json_delta")) => {
                        json!({"tool_calls": [{"index": k, "function": {"arguments": piece("partial_json")}}]})
                    }
                    _ => return Ok(Vec::new()),
                };
                Ok(vec![self.chunk(delta, None)])
            }
            Some("message_delta") => {
                if let Some(s) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(s.to_owned());
                }
                if let Some(n) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.output_tokens = n;
                }
                Ok(Vec::new())
            }
            Some("message_stop") => {
                self.finished = true;
                let reason = finish_reason(self.stop_reason.as_deref(), self.answered);
                let mut u = self.input_usage.clone().unwrap_or_else(|| json!({}));
                u["output_tokens"] = json!(self.output_tokens);
                let last = self.chunk(json!({}), Some(reason));
                let mut usage_chunk = self.chunk(json!({}), None);
                usage_chunk["choices"] = json!([]);
                usage_chunk["usage"] = usage(Some(&u));
                Ok(vec![last, usage_chunk])
            }
            Some("error") => Err(format!(
                "an error in the stream: {}",
                data.get("error").cloned().unwrap_or_default()
            )),
            // `ping`, `content_block_stop`, and events newer than this code.
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn request(fields: Value) -> ForwardRequest {
        ForwardRequest {
            fields: Arc::new(fields.as_object().unwrap().clone()),
            system: Some("tool system".into()),
            defaults: vec![("temperature", json!(0.3)), ("seed", json!(7))],
            max_tokens: 256,
        }
    }

    fn translate(fields: Value) -> Result<Translated, Unsupported> {
        translate_request("claude-x", &request(fields), false)
    }

    fn weather_tool() -> Value {
        json!({"type": "function", "function": {"name": "weather", "description": "the weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn tools_choices_and_a_tool_conversation_translate() {
        let t = translate(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rain"}]},
                {"role": "user", "content": "so?"}],
            "tools": [weather_tool()],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "parallel_tool_calls": false,
            "stop": "END",
            "user": "u-1",
            "max_completion_tokens": 9999,
        }))
        .unwrap();
        let b = &t.body;
        assert_eq!(t.answer_tool, None);
        assert_eq!(b["model"], "claude-x");
        assert_eq!(b["max_tokens"], 256);
        assert_eq!(
            b["system"], "be brief",
            "the client's system wins over the tool's"
        );
        assert_eq!(b["temperature"], 0.3, "the tool's default fills in");
        assert!(
            b.get("seed").is_none(),
            "a tool default with no equivalent is not sent"
        );
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["metadata"], json!({"user_id": "u-1"}));
        assert_eq!(b["tools"][0]["name"], "weather");
        assert_eq!(b["tools"][0]["input_schema"]["required"], json!(["city"]));
        assert_eq!(
            b["tool_choice"],
            json!({"type": "tool", "name": "weather", "disable_parallel_tool_use": true})
        );
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1]["role"], "assistant");
        assert_eq!(
            m[1]["content"][1],
            json!({"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}})
        );
        assert_eq!(m[2]["role"], "user");
        assert_eq!(
            m[2]["content"][0],
            json!({"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"})
        );
        assert_eq!(m[2]["content"][1]["content"], "rain");
        assert_eq!(m[2]["content"][2], json!({"type": "text", "text": "so?"}));
    }

    #[test]
    fn tool_choice_words_translate() {
        for (choice, want) in [
            ("auto", json!({"type": "auto"})),
            ("required", json!({"type": "any"})),
            ("none", json!({"type": "none"})),
        ] {
            let t = translate(json!({"messages": [{"role": "user", "content": "x"}],
                "tools": [weather_tool()], "tool_choice": choice}))
            .unwrap();
            assert_eq!(t.body["tool_choice"], want);
        }
    }

    #[test]
    fn images_translate_and_other_parts_are_refused_by_param() {
        let t = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is it?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]}]}))
        .unwrap();
        let c = &t.body["messages"][0]["content"];
        assert_eq!(
            c[1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "iVBOR"})
        );
        assert_eq!(
            c[2]["source"],
            json!({"type": "url", "url": "https://example.com/a.jpg"})
        );
        assert_eq!(t.body["system"], "tool system");
        let e = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]}))
        .unwrap_err();
        assert_eq!(e.param, "messages[0].content[0]");
    }

    #[test]
    fn fields_without_an_equivalent_are_refused_by_name() {
        for (fields, param) in [
            (json!({"seed": 1}), "seed"),
            (json!({"logprobs": true}), "logprobs"),
            (json!({"presence_penalty": 0.5}), "presence_penalty"),
            (json!({"frequency_penalty": 1}), "frequency_penalty"),
            (json!({"logit_bias": {"1": 2}}), "logit_bias"),
            (json!({"reasoning_effort": "low"}), "reasoning_effort"),
            (json!({"temperature": 1.5}), "temperature"),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (
                json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]}),
                "tools[0].type",
            ),
        ] {
            let mut f = fields.as_object().unwrap().clone();
            f.insert("messages".into(), json!([{"role": "user", "content": "x"}]));
            let e = translate(Value::Object(f)).unwrap_err();
            assert_eq!(e.param, param, "{}", e.message);
        }
        // Defaults are not asks.
        let t = translate(
            json!({"messages": [{"role": "user", "content": "x"}], "seed": null,
            "logprobs": false, "presence_penalty": 0, "tool_choice": "auto"}),
        )
        .unwrap();
        assert!(t.body.get("tool_choice").is_none());
        let e = translate(json!({"messages": [{"role": "user", "content": "x", "name": "bob"}]}))
            .unwrap_err();
        assert_eq!(e.param, "messages[0].name");
        let e = translate(json!({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}]}))
        .unwrap_err();
        assert_eq!(e.param, "messages[0].tool_calls[0].function.arguments");
    }

    #[test]
    fn response_formats_translate() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}},
            "required": ["a"], "additionalProperties": false});
        let strict = translate(json!({"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "thing", "strict": true, "schema": schema}}}))
        .unwrap();
        assert_eq!(strict.answer_tool, None);
        assert_eq!(
            strict.body["output_config"]["format"],
            json!({"type": "json_schema", "schema": schema})
        );
        let loose = translate(json!({"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema}}}))
        .unwrap();
        assert_eq!(loose.answer_tool.as_deref(), Some("thing"));
        assert_eq!(loose.body["tools"][0]["input_schema"], schema);
        assert_eq!(
            loose.body["tool_choice"],
            json!({"type": "tool", "name": "thing"})
        );
        let object = translate(json!({"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"}}))
        .unwrap();
        assert_eq!(object.answer_tool.as_deref(), Some(ANSWER_TOOL));
        let e = translate(
            json!({"messages": [{"role": "user", "content": "x"}], "tools": [weather_tool()],
            "response_format": {"type": "json_object"}}),
        )
        .unwrap_err();
        assert_eq!(e.param, "response_format");
        let e = translate(json!({"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "array"}}}}))
        .unwrap_err();
        assert_eq!(e.param, "response_format.json_schema.schema");
    }

    #[test]
    fn tool_use_answers_become_tool_calls() {
        let body = r#"{"id":"msg_1","model":"claude-x","stop_reason":"tool_use",
            "content":[{"type":"text","text":"Let me look."},
              {"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}],
            "usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2}}"#;
        let v = translate_response(body, None).unwrap();
        let c = &v["choices"][0];
        assert_eq!(c["finish_reason"], "tool_calls");
        assert_eq!(c["message"]["content"], "Let me look.");
        let call = &c["message"]["tool_calls"][0];
        assert_eq!(call["id"], "toolu_1");
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"city": "Paris"}));
        assert_eq!(
            v["usage"],
            json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})
        );
        // The forced answer tool's input is the content.
        let body = r#"{"stop_reason":"tool_use","content":[{"type":"tool_use","id":"t","name":"json_answer","input":{"a":1}}]}"#;
        let v = translate_response(body, Some(ANSWER_TOOL)).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], r#"{"a":1}"#);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(v["choices"][0]["message"].get("tool_calls").is_none());
        assert!(translate_response(r#"{"model":"m"}"#, None).is_err());
    }

    fn run(t: &mut StreamTranslator, events: &[Value]) -> Vec<Value> {
        events.iter().flat_map(|e| t.event(e).unwrap()).collect()
    }

    #[test]
    fn streamed_tool_use_becomes_tool_call_deltas() {
        let mut t = StreamTranslator::new(None);
        let chunks = run(
            &mut t,
            &[
                json!({"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 9, "output_tokens": 1}}}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Looking"}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
                json!({"type": "ping"}),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}}),
            ],
        );
        assert!(!t.finished);
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Looking");
        let start = &chunks[2]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(
            (start["index"].as_u64(), start["id"].as_str()),
            (Some(0), Some("toolu_1"))
        );
        assert_eq!(start["function"]["name"], "weather");
        let args: String = chunks[3..]
            .iter()
            .map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(args, "{\"city\": \"Paris\"}");
        let end = run(&mut t, &[json!({"type": "message_stop"})]);
        assert!(t.finished);
        assert_eq!(end[0]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(end[1]["usage"]["prompt_tokens"], 9);
        assert_eq!(end[1]["usage"]["completion_tokens"], 20);
        assert!(t
            .event(&json!({"type": "error", "error": {"type": "overloaded_error"}}))
            .is_err());
    }

    #[test]
    fn a_streamed_answer_tool_is_content() {
        let mut t = StreamTranslator::new(Some(ANSWER_TOOL.into()));
        let chunks = run(
            &mut t,
            &[
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "json_answer", "input": {}}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
                json!({"type": "message_stop"}),
            ],
        );
        assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "{\"a\":1}");
        assert_eq!(chunks[1]["choices"][0]["finish_reason"], "stop");
    }
}
