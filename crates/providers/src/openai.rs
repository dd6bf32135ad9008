//! The `openai` provider: any OpenAI-compatible chat completions endpoint (OpenAI itself,
//! vLLM, Ollama, the llama.cpp server, OpenRouter, ...): `POST {base_url}/chat/completions`.
//!
//! The key comes from the environment variable `api_key_env` names (default
//! `OPENAI_API_KEY`) and is read at each request. It is required for `api.openai.com`;
//! other endpoints get a bearer token only when the variable is set.

use ::http::header::AUTHORIZATION;
use ::http::{HeaderMap, Uri};
use async_trait::async_trait;
use proximity_program::{Message, Tool, ToolCall};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};

use crate::error::{ErrorClass, ProviderError};
use crate::forward::{self, ChunkStream, Forward, ForwardRequest};
use crate::http::{self, Upstream};
use crate::request::{ChatRequest, ChatResponse, Usage};
use crate::stream::{ChatStream, StreamEnd, StreamEvent};
use crate::transport::Transport;
use crate::Provider;

/// Where requests go when a tool names no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The variable holding the key when a tool names no `api_key_env`.
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";

/// A client of one OpenAI-compatible endpoint, for one tool.
pub struct OpenAi {
    transport: Transport,
    /// Parsed once, not at every request.
    url: Uri,
    model: String,
    key_env: String,
    key_required: bool,
    tool_id: String,
}

impl OpenAi {
    /// The provider for `tool`. Fails (config) without a `model`, with a malformed
    /// `base_url`, or when the endpoint is `api.openai.com` and the key variable is unset.
    pub fn new(tool: &Tool) -> Result<Self, ProviderError> {
        let base = tool.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        http::check_base_url(tool, base)?;
        let key_env = tool
            .api_key_env
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY_ENV.to_owned());
        let key_required = http::host_of(base).as_deref() == Some("api.openai.com");
        if key_required {
            // Checked now so a misconfigured tool fails before any case runs; the key
            // itself is read again at each request and never kept.
            http::require_key(tool, &key_env)?;
        }
        let url = http::endpoint(tool, &http::join_url(base, "/chat/completions"))?;
        Ok(Self {
            transport: http::transport(tool, &url)?,
            url,
            model: http::model_of(tool)?,
            key_env,
            key_required,
            tool_id: tool.id.clone(),
        })
    }

    /// The URL requests are sent to.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The request headers (the bearer token when the key variable is set) and the key,
    /// to redact from whatever the answer says.
    fn headers(&self) -> Result<(HeaderMap, Option<String>), ProviderError> {
        let key = http::read_key(&self.key_env)?;
        let mut headers = HeaderMap::new();
        match &key {
            Some(k) => {
                headers.insert(
                    AUTHORIZATION,
                    http::secret_header(&self.key_env, &format!("Bearer {k}"))?,
                );
            }
            None if self.key_required => {
                return Err(http::missing_key(&self.tool_id, &self.key_env));
            }
            None => {}
        }
        Ok((headers, key))
    }

    fn post(&self, headers: HeaderMap, request: &ChatRequest, stream: bool) -> http::Post<'_> {
        http::Post {
            transport: &self.transport,
            url: &self.url,
            headers,
            body: request_json(&self.model, request, stream),
        }
    }
}

/// The body of a chat completions request, serialized straight from the request (no
/// intermediate JSON tree on the gateway's path).
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    logprobs: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    tools: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a Value>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> WireRequest<'a> {
    fn new(model: &'a str, request: &'a ChatRequest, stream: bool) -> Self {
        Self {
            model,
            messages: &request.messages,
            temperature: request.temperature,
            top_p: request.top_p,
            max_tokens: request.max_tokens,
            seed: request.seed,
            stop: &request.stop,
            logprobs: request.logprobs,
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            tools: &request.tools,
            tool_choice: request.tool_choice.as_ref(),
        }
    }
}

/// The JSON body of a chat completions request (`stream` adds `stream: true` and asks for
/// usage in the last chunk).
pub fn request_json(model: &str, request: &ChatRequest, stream: bool) -> Vec<u8> {
    // Serializing strings, numbers and lists into a vector cannot fail.
    serde_json::to_vec(&WireRequest::new(model, request, stream)).unwrap_or_default()
}

/// The JSON body of a chat completions request, as a tree.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    serde_json::to_value(WireRequest::new(model, request, false)).unwrap_or_default()
}

#[derive(Deserialize)]
struct WireResponse {
    model: Option<String>,
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
    logprobs: Option<WireLogprobs>,
}

#[derive(Deserialize)]
struct WireMessage {
    /// A string, null, or (some compatible servers) an array of `{type, text}` parts.
    content: Option<Value>,
    refusal: Option<String>,
    /// `[{id, type: "function", function: {name, arguments}}]`, read leniently.
    tool_calls: Option<Value>,
}

/// The answer's function calls. The arguments are kept as written (a string, or the JSON
/// text of whatever else a compatible server sent); a call without a function name is
/// malformed.
fn tool_calls_of(value: Option<Value>) -> Result<Vec<ToolCall>, String> {
    let calls = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(other) => return Err(format!("`message.tool_calls` is {other}")),
    };
    calls
        .into_iter()
        .map(|c| {
            let function = c.get("function");
            let name = function
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| "a tool call without `function.name`".to_owned())?;
            let arguments = match function.and_then(|f| f.get("arguments")) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Ok(ToolCall {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: name.to_owned(),
                arguments,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct WireLogprobs {
    content: Option<Vec<WireToken>>,
}

#[derive(Deserialize)]
struct WireToken {
    logprob: f64,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// Parse a success body. `Err` holds what was wrong with it.
pub fn parse_response(body: &str) -> Result<ChatResponse, String> {
    let wire: WireResponse = serde_json::from_str(body).map_err(|e| format!("{e}"))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "no `choices`".to_owned())?;
    let content = match choice.message.content {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(parts)) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        Some(other) => return Err(format!("`message.content` is {other}")),
    };
    let tool_calls = tool_calls_of(choice.message.tool_calls)?;
    let (text, mut refused) = match (content, choice.message.refusal) {
        (None, Some(refusal)) => (refusal, true),
        (Some(text), _) => (text, false),
        (None, None) => (String::new(), false),
    };
    if choice.finish_reason.as_deref() == Some("content_filter") {
        refused = true;
    }
    let usage = wire.usage.map_or(Usage::default(), |u| Usage {
        input_tokens: u.prompt_tokens.unwrap_or(0),
        output_tokens: u.completion_tokens.unwrap_or(0),
    });
    Ok(ChatResponse {
        text,
        usage,
        model_version: wire.model,
        finish_reason: choice.finish_reason,
        logprobs: choice
            .logprobs
            .and_then(|l| l.content)
            .map(|toks| toks.into_iter().map(|t| t.logprob).collect()),
        refused,
        tool_calls,
    })
}

#[async_trait]
impl Provider for OpenAi {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let (headers, key) = self.headers()?;
        let post = self.post(headers, request, false);
        http::send_and_parse(
            Upstream::OpenAi,
            post,
            key.as_deref(),
            &self.key_env,
            parse_response,
        )
        .await
    }

    /// Streams with `stream: true` and `stream_options.include_usage`, parsing the SSE
    /// body. A non-2xx answer is classified as for [`Provider::complete`]; a body that
    /// ends before `data: [DONE]` yields a `malformed` error (the answer was cut off).
    async fn complete_stream(&self, request: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let (headers, key) = self.headers()?;
        let post = self.post(headers, request, true);
        let response =
            http::send_streaming(Upstream::OpenAi, post, key.as_deref(), &self.key_env).await?;
        let events = response.into_stream().eventsource();
        Ok(Box::pin(sse_events(events, key)))
    }

    fn supports_tools(&self) -> bool {
        true
    }

    fn forwarder(&self) -> Option<&dyn Forward> {
        Some(self)
    }
}

impl OpenAi {
    fn forward_post(
        &self,
        headers: HeaderMap,
        request: &ForwardRequest,
        stream: bool,
    ) -> http::Post<'_> {
        http::Post {
            transport: &self.transport,
            url: &self.url,
            headers,
            body: forward::body(&self.model, request, stream),
        }
    }
}

/// A forwarded answer: any JSON object with `choices` (an `error` object is the
/// upstream's fault, classified by the caller).
fn parse_forwarded(body: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}"))?;
    if v.get("choices").is_some_and(Value::is_array) {
        Ok(v)
    } else {
        Err("no `choices`".to_owned())
    }
}

#[async_trait]
impl Forward for OpenAi {
    async fn forward(&self, request: &ForwardRequest) -> Result<Value, ProviderError> {
        let (headers, key) = self.headers()?;
        let post = self.forward_post(headers, request, false);
        http::send_and_parse(
            Upstream::OpenAi,
            post,
            key.as_deref(),
            &self.key_env,
            parse_forwarded,
        )
        .await
    }

    async fn forward_stream(&self, request: &ForwardRequest) -> Result<ChunkStream, ProviderError> {
        let (headers, key) = self.headers()?;
        let post = self.forward_post(headers, request, true);
        let response =
            http::send_streaming(Upstream::OpenAi, post, key.as_deref(), &self.key_env).await?;
        let events = response.into_stream().eventsource();
        Ok(Box::pin(sse_chunks(events, key)))
    }
}

/// The `chat.completion.chunk` objects of an SSE stream, up to `[DONE]`.
pub fn sse_chunks<S, E>(
    events: S,
    secret: Option<String>,
) -> impl Stream<Item = Result<Value, ProviderError>> + Send
where
    S: Stream<Item = Result<eventsource_stream::Event, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send,
{
    futures::stream::unfold(
        (events, false, secret),
        |(mut events, finished, secret)| async move {
            if finished {
                return None;
            }
            loop {
                let fault = match events.next().await {
                    None => "the stream ended before `[DONE]` (the answer was cut off)".to_owned(),
                    Some(Err(e)) => format!(
                        "the stream was cut off: {}",
                        http::trim_message(&http::redact(&e.to_string(), secret.as_deref()))
                    ),
                    Some(Ok(event)) => {
                        let data = event.data.trim();
                        if data == "[DONE]" {
                            return None;
                        }
                        if data.is_empty() {
                            continue;
                        }
                        match serde_json::from_str::<Value>(data) {
                            Ok(v) if v.get("error").is_some_and(|e| !e.is_null()) => {
                                let what = format!("an error in the stream: {}", v["error"]);
                                let what = http::redact(&what, secret.as_deref());
                                let e = http::malformed(Upstream::OpenAi, 200, &what);
                                return Some((Err(e), (events, true, secret)));
                            }
                            Ok(v) => return Some((Ok(v), (events, false, secret))),
                            Err(e) => format!("a stream chunk: {e}"),
                        }
                    }
                };
                let e = ProviderError::new(ErrorClass::Malformed, format!("openai: {fault}"));
                return Some((Err(e), (events, true, secret)));
            }
        },
    )
}

/// What a stream has told so far.
#[derive(Default)]
struct StreamState {
    end: StreamEnd,
    finished: bool,
}

/// Turn the SSE events of a chat completions stream into [`StreamEvent`]s.
fn sse_events<S, E>(
    events: S,
    secret: Option<String>,
) -> impl Stream<Item = Result<StreamEvent, ProviderError>> + Send
where
    S: Stream<Item = Result<eventsource_stream::Event, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send,
{
    futures::stream::unfold(
        (events, StreamState::default(), secret),
        |(mut events, mut state, secret)| async move {
            if state.finished {
                return None;
            }
            loop {
                match events.next().await {
                    None => {
                        state.finished = true;
                        let e = ProviderError::new(
                            ErrorClass::Malformed,
                            "openai: the stream ended before `[DONE]` (the answer was cut off)",
                        );
                        return Some((Err(e), (events, state, secret)));
                    }
                    Some(Err(e)) => {
                        state.finished = true;
                        let detail =
                            http::trim_message(&http::redact(&e.to_string(), secret.as_deref()));
                        let e = ProviderError::new(
                            ErrorClass::Malformed,
                            format!("openai: the stream was cut off: {detail}"),
                        );
                        return Some((Err(e), (events, state, secret)));
                    }
                    Some(Ok(event)) => match apply_chunk(&event.data, &mut state.end) {
                        Ok(ChunkOutcome::Done) => {
                            state.finished = true;
                            let end = std::mem::take(&mut state.end);
                            return Some((Ok(StreamEvent::Done(end)), (events, state, secret)));
                        }
                        Ok(ChunkOutcome::Delta(text)) => {
                            return Some((Ok(StreamEvent::Delta(text)), (events, state, secret)));
                        }
                        Ok(ChunkOutcome::Nothing) => continue,
                        Err(what) => {
                            state.finished = true;
                            let what = http::redact(&what, secret.as_deref());
                            let e = http::malformed(Upstream::OpenAi, 200, &what);
                            return Some((Err(e), (events, state, secret)));
                        }
                    },
                }
            }
        },
    )
}

/// What one SSE `data:` payload amounted to.
#[derive(Debug, PartialEq)]
pub(crate) enum ChunkOutcome {
    Delta(String),
    Done,
    Nothing,
}

/// Apply one `data:` payload of a stream: `[DONE]`, or a `chat.completion.chunk` whose
/// content delta, finish reason, model and usage are taken. An `error` object or a
/// payload that is not JSON is an error.
fn apply_chunk(data: &str, end: &mut StreamEnd) -> Result<ChunkOutcome, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(ChunkOutcome::Done);
    }
    if data.is_empty() {
        return Ok(ChunkOutcome::Nothing);
    }
    let v: Value = serde_json::from_str(data).map_err(|e| format!("a stream chunk: {e}"))?;
    apply_chunk_value(&v, end)
}

/// Apply one parsed `chat.completion.chunk` (see [`apply_chunk`]); also what the
/// `anthropic` provider's translated chunks go through.
pub(crate) fn apply_chunk_value(v: &Value, end: &mut StreamEnd) -> Result<ChunkOutcome, String> {
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(format!("an error in the stream: {err}"));
    }
    if let Some(m) = v.get("model").and_then(Value::as_str) {
        end.model_version = Some(m.to_owned());
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        end.usage = Some(Usage {
            input_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            output_tokens: u
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        });
    }
    let choice = v.get("choices").and_then(|c| c.get(0));
    if let Some(reason) = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
    {
        end.finish_reason = Some(reason.to_owned());
        if reason == "content_filter" {
            end.refused = true;
        }
    }
    let delta = choice.and_then(|c| c.get("delta"));
    if let Some(refusal) = delta.and_then(|d| d.get("refusal")).and_then(Value::as_str) {
        end.refused = true;
        return Ok(ChunkOutcome::Delta(refusal.to_owned()));
    }
    match delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
        Some(text) if !text.is_empty() => Ok(ChunkOutcome::Delta(text.to_owned())),
        _ => Ok(ChunkOutcome::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proximity_program::Role;

    fn req(logprobs: bool) -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "be brief".into(),
                },
                Message {
                    role: Role::User,
                    content: "hi".into(),
                },
            ],
            temperature: Some(0.0),
            top_p: None,
            max_tokens: Some(5),
            seed: Some(7),
            stop: vec!["\n".into()],
            grammar: Some("json".into()),
            logprobs,
            json_schema: None,
            tools: Vec::new(),
            tool_choice: None,
        }
    }

    #[test]
    fn tools_are_sent_and_tool_calls_parsed() {
        let mut r = req(false);
        let f = serde_json::json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}});
        r.tools = vec![f.clone()];
        r.tool_choice = Some(serde_json::json!("required"));
        let b = request_body("gpt-x", &r);
        assert_eq!(b["tools"][0], f);
        assert_eq!(b["tool_choice"], "required");
        assert!(request_body("gpt-x", &req(false)).get("tools").is_none());

        let body = r#"{"model": "m", "choices": [{"message": {"content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
            {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": {"y": 2}}}]},
            "finish_reason": "tool_calls"}]}"#;
        let a = parse_response(body).unwrap();
        assert_eq!(a.text, "");
        assert_eq!(a.tool_calls.len(), 2);
        assert_eq!(a.tool_calls[0].id, "call_a");
        assert_eq!(a.tool_calls[0].arguments, r#"{"x": 1}"#);
        assert_eq!(a.tool_calls[1].arguments, r#"{"y":2}"#);
        let bad = r#"{"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}"#;
        assert!(parse_response(bad).unwrap_err().contains("function.name"));
    }

    #[test]
    fn body_carries_the_parameters_that_are_set() {
        let b = request_body("gpt-x", &req(true));
        assert_eq!(b["model"], "gpt-x");
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "hi");
        assert_eq!(b["temperature"], 0.0);
        assert_eq!(b["max_tokens"], 5);
        assert_eq!(b["seed"], 7);
        assert_eq!(b["stop"][0], "\n");
        assert_eq!(b["logprobs"], true);
        assert!(b.get("top_p").is_none());
        assert!(b.get("grammar").is_none());
        assert!(request_body("m", &req(false)).get("logprobs").is_none());
        assert!(b.get("stream").is_none());
        let streamed: Value =
            serde_json::from_slice(&request_json("m", &req(false), true)).unwrap();
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"]["include_usage"], true);
        assert_eq!(streamed["messages"][1]["role"], "user");
    }

    #[test]
    fn refusal_and_content_filter_mark_the_answer_refused() {
        let r = parse_response(
            r#"{"choices":[{"message":{"content":null,"refusal":"I can't help"},"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert!(r.refused);
        assert_eq!(r.text, "I can't help");
        let r = parse_response(
            r#"{"choices":[{"message":{"content":""},"finish_reason":"content_filter"}]}"#,
        )
        .unwrap();
        assert!(r.refused);
        let r =
            parse_response(r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#)
                .unwrap();
        assert!(!r.refused);
        assert_eq!(r.usage, Usage::default());
    }

    #[test]
    fn content_parts_are_joined() {
        let r = parse_response(
            r#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(r.text, "ab");
    }

    #[test]
    fn stream_chunks_give_deltas_usage_and_done() {
        let mut end = StreamEnd::default();
        let c = r#"{"object":"chat.completion.chunk","model":"m-1","choices":[{"index":0,"delta":{"content":"Pa"}}]}"#;
        assert_eq!(
            apply_chunk(c, &mut end),
            Ok(ChunkOutcome::Delta("Pa".into()))
        );
        let c = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        assert_eq!(apply_chunk(c, &mut end), Ok(ChunkOutcome::Nothing));
        let c = r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}"#;
        assert_eq!(apply_chunk(c, &mut end), Ok(ChunkOutcome::Nothing));
        assert_eq!(apply_chunk("[DONE]", &mut end), Ok(ChunkOutcome::Done));
        assert_eq!(end.model_version.as_deref(), Some("m-1"));
        assert_eq!(end.finish_reason.as_deref(), Some("stop"));
        assert_eq!(end.usage.map(|u| u.output_tokens), Some(2));
        assert!(apply_chunk("{not json", &mut end).is_err());
        assert!(apply_chunk(r#"{"error":{"message":"x"}}"#, &mut end).is_err());
    }

    #[tokio::test]
    async fn a_stream_without_done_ends_in_an_error() {
        let events = futures::stream::iter(vec![Ok::<_, std::convert::Infallible>(
            eventsource_stream::Event {
                data: r#"{"choices":[{"delta":{"content":"a"}}]}"#.into(),
                ..Default::default()
            },
        )]);
        let out: Vec<_> = sse_events(events, None).collect().await;
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Ok(StreamEvent::Delta(t)) if t == "a"));
        assert!(matches!(&out[1], Err(e) if e.class == ErrorClass::Malformed));
    }

    #[test]
    fn bodies_without_choices_are_rejected() {
        assert!(parse_response(r#"{"choices":[]}"#).is_err());
        assert!(parse_response(r#"{"model":"x"}"#).is_err());
        assert!(parse_response(r#"{"choices":[{"message":{"content":"tru"#).is_err());
    }
}
