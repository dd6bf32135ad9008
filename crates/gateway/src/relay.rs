//! Serving a chat completion: authenticate, authorize by tier, rate-limit, reserve budget,
//! call the upstream tool (retries inside the client's deadline, then the tool's
//! `fallback:` when it is in the persona's tier), settle and record usage, answer — as
//! one JSON answer or relayed as server-sent events.
//!
//! Invariant: a response is acknowledged only after its usage row is durable. For a
//! non-streaming answer the row is written before the response is returned; for a stream
//! before the final `data: [DONE]`. A stream cut off upstream ends with an `error` event
//! (never `[DONE]`) and is recorded as a 502.
//!
//! A complete answer (status 200) is then offered to the workflow's live checks
//! ([`crate::live`]): a `try_send` that never waits.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::StreamExt;
use proximity_program::{ProviderKind, Tier, Tool};
use proximity_providers::anthropic_openai::translate_request;
use proximity_providers::forward::{ChunkStream, Forward, ForwardRequest, Unsupported};
use proximity_providers::{
    ChatRequest, ChatStream, ErrorClass, Provider, ProviderError, RetryPolicy, StreamEvent, Usage,
};
use serde_json::json;
use tracing::Instrument as _;

use crate::budget;
use crate::capture::Capturer;
use crate::error::ApiError;
use crate::usage::{finish, Draft, UNKNOWN_WORKFLOW};
use crate::wire::{self, Incoming};
use crate::{auth, tiers, AppState, Loaded};

/// The request header naming the workflow a request belongs to.
pub const WORKFLOW_HEADER: &str = "x-proximity-workflow";
/// The request header bounding the whole request, retries included, in milliseconds.
pub const DEADLINE_HEADER: &str = "x-proximity-deadline-ms";
/// The response header carrying the request id (the usage row's id).
pub const REQUEST_ID_HEADER: &str = "x-proximity-request-id";
/// The response header carrying gateway time minus upstream time, in milliseconds.
pub const OVERHEAD_HEADER: &str = "x-proximity-overhead-ms";

/// `POST /v1/chat/completions`. The work runs in a task of its own, so a client that
/// hangs up mid-request does not cancel it half-way: its spend is still settled and its
/// usage row written.
pub async fn chat(state: Arc<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let task = chat_task(state, headers, body, started).instrument(crate::trace::request_span());
    match tokio::spawn(task).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            ApiError::Internal.into_response()
        }
    }
}

async fn chat_task(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Bytes,
    started: Instant,
) -> Response {
    let now = Utc::now();
    let id = new_request_id();
    let mut draft = Draft::new(id, started, now, workflow_of(&headers));
    match serve(&state, &headers, &body, &mut draft).await {
        Ok(response) => response,
        Err(e) => {
            let status = e.status().as_u16();
            if let Err(write) = finish(&state, &draft, status, Some(e.error_class())).await {
                return with_ids(write.into_response(), &draft);
            }
            with_ids(e.into_response(), &draft)
        }
    }
}

async fn serve(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: &Bytes,
    draft: &mut Draft,
) -> Result<Response, ApiError> {
    let key = auth::authenticate(&state.store, &state.keys, headers, draft.created_at).await?;
    draft.key_id = Some(key.id.clone());
    draft.persona = Some(key.persona.clone());
    let incoming = wire::parse_request(body)?;
    draft.tool_id.clone_from(&incoming.model);
    draft.stream = incoming.stream;
    let loaded = state.loaded.load_full();
    let program = &loaded.program;
    let access = tiers::authorize(program, &key.persona, &incoming.model)?;
    draft.tier = Some(access.tier.id.clone());
    draft.capture = Capturer::plan(
        access.tier,
        &key.persona,
        &draft.workflow,
        draft.created_at,
        &incoming.messages,
        &loaded.redactor,
    );
    let mut fallback = tiers::fallback_for(program, access.tier, access.tool);

    // A request with fields the typed path does not carry goes to a forwarding provider:
    // `openai` sends it as the client sent it, `anthropic` translates it (refusing, by
    // name, a field its API has no equivalent for), `scripted` answers tools from its
    // rules; any other provider refuses what it cannot honour. (Only those two are asked: asking others would build them, a
    // `local` model included.)
    let forwards = |t: &Tool| match t.provider {
        ProviderKind::Openai => loaded.provider(t).is_ok_and(|p| p.forwarder().is_some()),
        // Always: a tool that cannot be built (its key unset) fails as it would on the
        // typed path, rather than refusing fields it could translate.
        ProviderKind::Anthropic => true,
        // Its rules answer with function calls when a client offers functions.
        ProviderKind::Scripted => true,
        _ => false,
    };
    let forwarding = incoming.forward.is_some() && forwards(access.tool);
    if forwarding {
        if let Err(u) = forward_check(&incoming, access.tool) {
            return Err(ApiError::bad_param(
                &u.param,
                format!(
                    "`{}` is not supported by tool `{}` (provider `{}`): {}; the gateway does not drop what a tool cannot honour",
                    u.param, access.tool.id, access.tool.provider, u.message
                ),
            ));
        }
        // A fallback serves the request only when it can honour all of it.
        fallback = fallback.filter(|f| forwards(f) && forward_check(&incoming, f).is_ok());
    } else if let Some(param) = &incoming.passthrough {
        return Err(ApiError::bad_param(
            param,
            format!(
                "`{param}` is not supported by tool `{}` (provider `{}`): the gateway does not drop what a tool cannot honour",
                access.tool.id, access.tool.provider
            ),
        ));
    }

    if !forwarding && incoming.response_format.is_some() {
        // Honoured by a `local` tool's grammar; refused by name elsewhere.
        let param = "response_format";
        if access.tool.provider != ProviderKind::Local {
            return Err(ApiError::bad_param(
                param,
                format!(
                    "`{param}` is not supported by tool `{}` (provider `{}`): the gateway does not drop what a tool cannot honour",
                    access.tool.id, access.tool.provider
                ),
            ));
        }
        if let Some(schema) = incoming.grammar_for_local().and_then(|f| f.schema) {
            if let Err(e) = proximity_providers::local::check_schema(&schema) {
                return Err(ApiError::bad_param(
                    "response_format.json_schema.schema",
                    format!(
                        "tool `{}` (provider `local`) cannot constrain its answer to this schema: {e}",
                        access.tool.id
                    ),
                ));
            }
        }
        fallback = fallback.filter(|f| f.provider == ProviderKind::Local);
    }

    if !forwarding {
        // Anthropic's API has no seed, and takes temperatures up to 1: refused rather
        // than dropped or failed upstream.
        let refused = if incoming.seed.is_some() {
            Some(("seed", "`seed` is not supported"))
        } else if incoming.temperature.is_some_and(|t| t > 1.0) {
            Some(("temperature", "`temperature` above 1 is not supported"))
        } else {
            None
        };
        if let Some((param, what)) = refused {
            if let Some(t) = std::iter::once(access.tool)
                .chain(fallback)
                .find(|t| t.provider == ProviderKind::Anthropic)
            {
                return Err(ApiError::bad_param(
                    param,
                    format!("{what} by tool `{}` (provider `anthropic`): the gateway does not drop what a tool cannot honour", t.id),
                ));
            }
        }
    }

    let request = incoming.to_chat_request(access.tool);
    let input_bound = if forwarding {
        // Tools, schemas and every message count: the body's bytes bound them all.
        body.len() as u64 + 8
    } else {
        budget::input_token_bound(&request.messages)
    };
    let mut bound = budget::cost_bound(
        [access.tool],
        input_bound,
        request.max_tokens.unwrap_or(budget::DEFAULT_MAX_TOKENS),
    );
    let fallback_request = fallback.map(|f| {
        let r = incoming.to_chat_request(f);
        let input = if forwarding {
            input_bound
        } else {
            budget::input_token_bound(&r.messages)
        };
        let b = budget::cost_bound(
            [f],
            input,
            r.max_tokens.unwrap_or(budget::DEFAULT_MAX_TOKENS),
        );
        bound = bound.max(b);
        (f, r)
    });

    let estimate = if forwarding {
        estimate_text_tokens_bytes(body.len())
    } else {
        estimate_tokens_of(&request)
    };
    draft.input_estimate = estimate;
    state
        .limiter
        .admit(access.tier, &key.persona, estimate)
        .await?;
    let lines = budget::lines(access.persona, access.tier, &key);
    let deadline = started_deadline(headers, state.options.deadline, draft.started);
    draft.reservation = state
        .guard
        .reserve(
            &state.ledger,
            &draft.id,
            &lines,
            bound,
            draft.created_at,
            deadline,
        )
        .await?;
    if state.options.log_content {
        // Keys and canaries never reach the logs, even with `--log-content`.
        let messages: Vec<(&str, String)> = request
            .messages
            .iter()
            .map(|m| {
                (
                    crate::capture::role(m.role),
                    loaded.redactor.redact_secrets(&m.content),
                )
            })
            .collect();
        tracing::info!(request_id = %draft.id, messages = ?messages, "request content");
    }

    if forwarding {
        let primary = incoming
            .to_forward_request(access.tool)
            .map(|r| (access.tool, r))
            .ok_or(ApiError::Internal)?;
        let fallback =
            fallback_request.and_then(|(t, _)| incoming.to_forward_request(t).map(|r| (t, r)));
        return if incoming.stream {
            forward_stream(
                state,
                &loaded,
                draft,
                &incoming,
                access.tier,
                primary,
                fallback,
                deadline,
            )
            .await
        } else {
            forward_complete(
                state,
                &loaded,
                draft,
                access.tier,
                primary,
                fallback,
                deadline,
            )
            .await
        };
    }

    let primary = (access.tool, request);
    if incoming.stream {
        stream(
            state,
            &loaded,
            draft,
            &incoming,
            access.tier,
            primary,
            fallback_request,
            deadline,
        )
        .await
    } else {
        complete(
            state,
            &loaded,
            draft,
            access.tier,
            primary,
            fallback_request,
            deadline,
        )
        .await
    }
}

/// Whether `tool` can honour the client's whole request: an `openai` tool forwards it
/// as sent; an `anthropic` tool's translation, or what a `scripted` tool's rules can
/// answer, names the first field it has no equivalent for.
fn forward_check(incoming: &Incoming, tool: &Tool) -> Result<(), Unsupported> {
    match (tool.provider, incoming.to_forward_request(tool)) {
        (ProviderKind::Anthropic, Some(request)) => {
            let model = tool.model.as_deref().unwrap_or_default();
            translate_request(model, &request, false).map(|_| ())
        }
        (ProviderKind::Scripted, Some(request)) => wire::check_scripted(&request.fields),
        _ => Ok(()),
    }
}

/// The forwarder of a provider (only called for providers that have one).
fn forwarder_of(p: &dyn Provider) -> Result<&dyn Forward, ProviderError> {
    p.forwarder().ok_or_else(|| {
        ProviderError::new(ErrorClass::Config, "this provider cannot forward requests")
    })
}

/// A non-streaming answer forwarded as the upstream gave it (rebranded).
async fn forward_complete(
    state: &Arc<AppState>,
    loaded: &Arc<Loaded>,
    draft: &mut Draft,
    tier: &Tier,
    primary: (&Tool, ForwardRequest),
    fallback: Option<(&Tool, ForwardRequest)>,
    deadline: Instant,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let (result, tool, attempts) = with_fallback(loaded, primary, fallback, deadline, |p, r| {
        Box::pin(async move { forwarder_of(p.as_ref())?.forward(&r).await })
    })
    .await;
    draft.upstream += t0.elapsed();
    draft.attempts = attempts;
    let mut answer = result.map_err(|e| ApiError::upstream(&tool.id, &e))?;
    draft.ttft = Some(t0.elapsed());
    draft.served_by = Some(tool.id.clone());
    draft.fingerprint = Some(loaded.fingerprint(&tool.id).to_owned());
    let mut text = String::new();
    let usage = match wire::usage_of(&answer) {
        Some(u) if u != Usage::default() => u,
        _ => {
            wire::text_of(&answer, &mut text);
            Usage {
                input_tokens: draft.input_estimate,
                output_tokens: estimate_text_tokens(&text),
            }
        }
    };
    draft.input_tokens = usage.input_tokens;
    draft.output_tokens = usage.output_tokens;
    draft.cost_usd = tool.price.cost(usage.input_tokens, usage.output_tokens);
    state.limiter.debit(
        tier,
        draft.persona.as_deref().unwrap_or_default(),
        usage.output_tokens,
    );
    if state.options.log_content {
        let answer = loaded.redactor.redact_secrets(&answer.to_string());
        tracing::info!(request_id = %draft.id, answer = %answer, "response content");
    }
    finish(state, draft, 200, None).await?;
    if draft.capture.is_some() && text.is_empty() {
        wire::text_of(&answer, &mut text);
    }
    state
        .capture
        .answered(draft.capture.as_ref(), &draft.id, &tool.id, &text);
    state.live.offer(loaded, draft, || {
        if text.is_empty() {
            wire::text_of(&answer, &mut text);
        }
        (text, Vec::new())
    });
    wire::rebrand(
        &mut answer,
        &draft.id,
        draft.created_at.timestamp(),
        &draft.tool_id,
        draft.fingerprint.as_deref().unwrap_or_default(),
    );
    let response = (StatusCode::OK, axum::Json(answer)).into_response();
    Ok(with_ids(response, draft))
}

/// A streamed answer forwarded chunk by chunk (rebranded).
#[allow(clippy::too_many_arguments)]
async fn forward_stream(
    state: &Arc<AppState>,
    loaded: &Arc<Loaded>,
    draft: &mut Draft,
    incoming: &Incoming,
    tier: &Tier,
    primary: (&Tool, ForwardRequest),
    fallback: Option<(&Tool, ForwardRequest)>,
    deadline: Instant,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let (result, tool, attempts) = with_fallback(loaded, primary, fallback, deadline, |p, r| {
        Box::pin(async move { forwarder_of(p.as_ref())?.forward_stream(&r).await })
    })
    .await;
    draft.upstream += t0.elapsed();
    draft.attempts = attempts;
    let upstream = result.map_err(|e| ApiError::upstream(&tool.id, &e))?;
    draft.served_by = Some(tool.id.clone());
    draft.fingerprint = Some(loaded.fingerprint(&tool.id).to_owned());
    draft.overhead_fixed = Some(draft.started.elapsed().saturating_sub(draft.upstream));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let relay = Relay {
        state: state.clone(),
        loaded: loaded.clone(),
        draft: draft.clone(),
        tool: tool.clone(),
        tier: tier.clone(),
        include_usage: incoming.include_usage,
        t0,
        deadline: tokio::time::Instant::from_std(deadline),
    };
    tokio::spawn(relay.run_forwarded(upstream, tx).in_current_span());
    Ok(with_ids(sse_response(rx), draft))
}

/// A response whose body is the server-sent events received on `rx`.
fn sse_response(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }));
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A non-streaming answer.
async fn complete(
    state: &Arc<AppState>,
    loaded: &Arc<Loaded>,
    draft: &mut Draft,
    tier: &Tier,
    primary: (&Tool, ChatRequest),
    fallback: Option<(&Tool, ChatRequest)>,
    deadline: Instant,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let (result, tool, attempts) = with_fallback(loaded, primary, fallback, deadline, |p, r| {
        Box::pin(async move { p.complete(&r).await })
    })
    .await;
    draft.upstream += t0.elapsed();
    draft.attempts = attempts;
    let response = result.map_err(|e| ApiError::upstream(&tool.id, &e))?;
    draft.ttft = Some(t0.elapsed());
    draft.served_by = Some(tool.id.clone());
    draft.fingerprint = Some(loaded.fingerprint(&tool.id).to_owned());
    let usage = if response.usage == Usage::default() {
        Usage {
            input_tokens: draft.input_estimate,
            output_tokens: estimate_text_tokens(&response.text),
        }
    } else {
        response.usage
    };
    draft.input_tokens = usage.input_tokens;
    draft.output_tokens = usage.output_tokens;
    draft.cost_usd = tool.price.cost(usage.input_tokens, usage.output_tokens);
    state.limiter.debit(
        tier,
        draft.persona.as_deref().unwrap_or_default(),
        usage.output_tokens,
    );
    if state.options.log_content {
        let answer = loaded.redactor.redact_secrets(&response.text);
        tracing::info!(request_id = %draft.id, answer = %answer, "response content");
    }
    finish(state, draft, 200, None).await?;
    state
        .capture
        .answered(draft.capture.as_ref(), &draft.id, &tool.id, &response.text);
    state.live.offer(loaded, draft, || {
        (response.text.clone(), response.tool_calls.clone())
    });
    let body = wire::completion(
        &draft.id,
        draft.created_at.timestamp(),
        &draft.tool_id,
        draft.fingerprint.as_deref().unwrap_or_default(),
        &response,
        usage,
    );
    let response = (StatusCode::OK, axum::Json(body)).into_response();
    Ok(with_ids(response, draft))
}

/// A streamed answer, relayed as server-sent events.
#[allow(clippy::too_many_arguments)]
async fn stream(
    state: &Arc<AppState>,
    loaded: &Arc<Loaded>,
    draft: &mut Draft,
    incoming: &Incoming,
    tier: &Tier,
    primary: (&Tool, ChatRequest),
    fallback: Option<(&Tool, ChatRequest)>,
    deadline: Instant,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let (result, tool, attempts) = with_fallback(loaded, primary, fallback, deadline, |p, r| {
        Box::pin(async move { p.complete_stream(&r).await })
    })
    .await;
    draft.upstream += t0.elapsed();
    draft.attempts = attempts;
    let upstream = result.map_err(|e| ApiError::upstream(&tool.id, &e))?;
    draft.served_by = Some(tool.id.clone());
    draft.fingerprint = Some(loaded.fingerprint(&tool.id).to_owned());
    draft.overhead_fixed = Some(draft.started.elapsed().saturating_sub(draft.upstream));

    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let relay = Relay {
        state: state.clone(),
        loaded: loaded.clone(),
        draft: draft.clone(),
        tool: tool.clone(),
        tier: tier.clone(),
        include_usage: incoming.include_usage,
        t0,
        deadline: tokio::time::Instant::from_std(deadline),
    };
    tokio::spawn(relay.run(upstream, tx).in_current_span());
    Ok(with_ids(sse_response(rx), draft))
}

/// The task relaying one upstream stream to the client.
struct Relay {
    state: Arc<AppState>,
    /// The program the request was served under (its workflow's live checks).
    loaded: Arc<Loaded>,
    draft: Draft,
    tool: Tool,
    tier: Tier,
    include_usage: bool,
    t0: Instant,
    /// The request's deadline bounds the stream too: an upstream that stops sending, or
    /// a client that stops reading, ends it there (its reservation must not outlive it:
    /// other gateways release reservations older than the deadline plus a minute).
    deadline: tokio::time::Instant,
}

/// What became of a chunk handed to the client.
enum Sent {
    Delivered,
    /// The client hung up.
    Gone,
    /// The client was not reading, and the deadline passed.
    Late,
}

impl Relay {
    fn chunk(&self, delta: serde_json::Value, finish_reason: Option<&str>) -> Bytes {
        Bytes::from(wire::sse(&wire::chunk(
            &self.draft.id,
            self.draft.created_at.timestamp(),
            &self.draft.tool_id,
            self.draft.fingerprint.as_deref().unwrap_or_default(),
            delta,
            finish_reason,
        )))
    }

    /// Hand `chunk` to the client, waiting no later than the deadline.
    async fn send(&self, tx: &tokio::sync::mpsc::Sender<Bytes>, chunk: Bytes) -> Sent {
        match tokio::time::timeout_at(self.deadline, tx.send(chunk)).await {
            Ok(Ok(())) => Sent::Delivered,
            Ok(Err(_)) => Sent::Gone,
            Err(_) => Sent::Late,
        }
    }

    /// Record a stream the client stopped taking: 499 when it hung up, 504 when it
    /// stopped reading until the deadline.
    async fn undelivered(&mut self, sent: Sent, usage: Option<Usage>, text: &str) {
        self.account(usage, text);
        let (status, class) = match sent {
            Sent::Late => (504, ErrorClass::Timeout.as_str()),
            Sent::Gone | Sent::Delivered => (499, "client_closed"),
        };
        let _ = finish(&self.state, &self.draft, status, Some(class.into())).await;
    }

    async fn run(mut self, mut upstream: ChatStream, tx: tokio::sync::mpsc::Sender<Bytes>) {
        let mut text = String::new();
        let first = self.chunk(json!({"role": "assistant", "content": ""}), None);
        let mut sent = self.send(&tx, first).await;
        loop {
            if !matches!(sent, Sent::Delivered) {
                self.undelivered(sent, None, &text).await;
                return;
            }
            let waited = Instant::now();
            let next = tokio::time::timeout_at(self.deadline, upstream.next()).await;
            self.draft.upstream += waited.elapsed();
            let Ok(next) = next else {
                let e = ProviderError::new(
                    ErrorClass::Timeout,
                    "the request's deadline passed before the upstream finished the answer",
                );
                self.fail(&e, &text, &tx).await;
                return;
            };
            match next {
                Some(Ok(StreamEvent::Delta(delta))) => {
                    if self.draft.ttft.is_none() {
                        self.draft.ttft = Some(self.t0.elapsed());
                    }
                    text.push_str(&delta);
                    let c = self.chunk(json!({ "content": delta }), None);
                    sent = self.send(&tx, c).await;
                }
                Some(Ok(StreamEvent::Done(end))) => {
                    let reason = end.finish_reason.as_deref().unwrap_or("stop");
                    let last = self.chunk(json!({}), Some(reason));
                    let sent = self.send(&tx, last).await;
                    if !matches!(sent, Sent::Delivered) {
                        self.undelivered(sent, end.usage, &text).await;
                        return;
                    }
                    self.account(end.usage, &text);
                    if self.state.options.log_content {
                        let answer = self.state.loaded.load().redactor.redact_secrets(&text);
                        tracing::info!(request_id = %self.draft.id, answer = %answer, "response content");
                    }
                    // Durable before `[DONE]` acknowledges the answer.
                    if let Err(e) = finish(&self.state, &self.draft, 200, None).await {
                        self.send(&tx, Bytes::from(wire::sse(&e.body()))).await;
                        return;
                    }
                    self.state
                        .live
                        .offer(&self.loaded, &self.draft, || (text.clone(), Vec::new()));
                    if self.include_usage {
                        let u = wire::usage_chunk(
                            &self.draft.id,
                            self.draft.created_at.timestamp(),
                            &self.draft.tool_id,
                            self.draft.fingerprint.as_deref().unwrap_or_default(),
                            Usage {
                                input_tokens: self.draft.input_tokens,
                                output_tokens: self.draft.output_tokens,
                            },
                        );
                        self.send(&tx, Bytes::from(wire::sse(&u))).await;
                    }
                    self.send(&tx, Bytes::from_static(b"data: [DONE]\n\n"))
                        .await;
                    self.state.capture.answered(
                        self.draft.capture.as_ref(),
                        &self.draft.id,
                        &self.tool.id,
                        &text,
                    );
                    return;
                }
                Some(Err(e)) => {
                    self.fail(&e, &text, &tx).await;
                    return;
                }
                None => {
                    let e = ProviderError::new(
                        ErrorClass::Malformed,
                        "the upstream stream ended without finishing the answer",
                    );
                    self.fail(&e, &text, &tx).await;
                    return;
                }
            }
        }
    }

    /// Relay a forwarded stream: each upstream chunk rebranded, the usage chunk only
    /// when the client asked for it, `[DONE]` once the usage row is durable.
    async fn run_forwarded(
        mut self,
        mut upstream: ChunkStream,
        tx: tokio::sync::mpsc::Sender<Bytes>,
    ) {
        let mut text = String::new();
        let mut usage = None;
        loop {
            let waited = Instant::now();
            let next = tokio::time::timeout_at(self.deadline, upstream.next()).await;
            self.draft.upstream += waited.elapsed();
            let Ok(next) = next else {
                let e = ProviderError::new(
                    ErrorClass::Timeout,
                    "the request's deadline passed before the upstream finished the answer",
                );
                self.fail(&e, &text, &tx).await;
                return;
            };
            match next {
                Some(Ok(mut chunk)) => {
                    if let Some(u) = wire::usage_of(&chunk) {
                        usage = Some(u);
                    }
                    let choices = chunk
                        .get("choices")
                        .and_then(serde_json::Value::as_array)
                        .map_or(0, Vec::len);
                    if choices > 0 && self.draft.ttft.is_none() {
                        self.draft.ttft = Some(self.t0.elapsed());
                    }
                    wire::text_of(&chunk, &mut text);
                    if !self.include_usage {
                        if choices == 0 {
                            continue;
                        }
                        if let Some(o) = chunk.as_object_mut() {
                            o.remove("usage");
                        }
                    }
                    wire::rebrand(
                        &mut chunk,
                        &self.draft.id,
                        self.draft.created_at.timestamp(),
                        &self.draft.tool_id,
                        self.draft.fingerprint.as_deref().unwrap_or_default(),
                    );
                    let sent = self.send(&tx, Bytes::from(wire::sse(&chunk))).await;
                    if !matches!(sent, Sent::Delivered) {
                        self.undelivered(sent, usage, &text).await;
                        return;
                    }
                }
                Some(Err(e)) => {
                    self.fail(&e, &text, &tx).await;
                    return;
                }
                None => {
                    self.account(usage.filter(|u| *u != Usage::default()), &text);
                    if self.state.options.log_content {
                        let answer = self.state.loaded.load().redactor.redact_secrets(&text);
                        tracing::info!(request_id = %self.draft.id, answer = %answer, "response content");
                    }
                    // Durable before `[DONE]` acknowledges the answer.
                    if let Err(e) = finish(&self.state, &self.draft, 200, None).await {
                        self.send(&tx, Bytes::from(wire::sse(&e.body()))).await;
                        return;
                    }
                    self.send(&tx, Bytes::from_static(b"data: [DONE]\n\n"))
                        .await;
                    self.state.capture.answered(
                        self.draft.capture.as_ref(),
                        &self.draft.id,
                        &self.tool.id,
                        &text,
                    );
                    self.state
                        .live
                        .offer(&self.loaded, &self.draft, || (text.clone(), Vec::new()));
                    return;
                }
            }
        }
    }

    /// Tokens and cost of what was streamed: the provider's usage, or counted.
    fn account(&mut self, usage: Option<Usage>, text: &str) {
        let usage = usage.unwrap_or_else(|| Usage {
            input_tokens: self.draft.input_estimate,
            output_tokens: estimate_text_tokens(text),
        });
        self.draft.input_tokens = usage.input_tokens;
        self.draft.output_tokens = usage.output_tokens;
        self.draft.cost_usd = self
            .tool
            .price
            .cost(usage.input_tokens, usage.output_tokens);
        self.state.limiter.debit(
            &self.tier,
            self.draft.persona.as_deref().unwrap_or_default(),
            usage.output_tokens,
        );
    }

    /// A stream cut off: counted, recorded with the status its fault would have had
    /// before the headers (502, or 504 for the deadline), and reported in an `error`
    /// event.
    async fn fail(&mut self, e: &ProviderError, text: &str, tx: &tokio::sync::mpsc::Sender<Bytes>) {
        self.account(None, text);
        let err = ApiError::upstream(&self.tool.id, e);
        let _ = finish(
            &self.state,
            &self.draft,
            err.status().as_u16(),
            Some(e.class.as_str().to_owned()),
        )
        .await;
        let mut body = err.body();
        body["error"]["code"] = json!("stream_truncated");
        // Past the deadline this still goes out when the client has room for it.
        self.send(tx, Bytes::from(wire::sse(&body))).await;
    }
}

/// Call `tool`, then its fallback when the first fails with a retryable fault.
async fn with_fallback<'a, R: Clone, T, F>(
    loaded: &Loaded,
    primary: (&'a Tool, R),
    fallback: Option<(&'a Tool, R)>,
    deadline: Instant,
    call: F,
) -> (Result<T, ProviderError>, &'a Tool, u32)
where
    F: Fn(
        Arc<dyn proximity_providers::Provider>,
        R,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send>>,
{
    let (tool, request) = primary;
    let (result, attempts) = with_retries(loaded, tool, &request, deadline, &call).await;
    match (result, fallback) {
        (Err(e), Some((fb, fb_request))) if e.class.is_retryable() && Instant::now() < deadline => {
            tracing::warn!(tool = %tool.id, fallback = %fb.id, error = %e, "falling back");
            let (r, more) = with_retries(loaded, fb, &fb_request, deadline, &call).await;
            (r, fb, attempts + more)
        }
        (result, _) => (result, tool, attempts),
    }
}

/// Attempts at one tool: the tool's per-attempt timeout and `max_attempts`, backoff and
/// `Retry-After`, and never a wait or attempt past `deadline`.
async fn with_retries<R: Clone, T, F>(
    loaded: &Loaded,
    tool: &Tool,
    request: &R,
    deadline: Instant,
    call: &F,
) -> (Result<T, ProviderError>, u32)
where
    F: Fn(
        Arc<dyn proximity_providers::Provider>,
        R,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send>>,
{
    let provider = match loaded.provider(tool) {
        Ok(p) => p,
        Err(e) => return (Err(e), 0),
    };
    let policy = RetryPolicy {
        max_attempts: tool
            .params
            .max_attempts
            .unwrap_or(RetryPolicy::default().max_attempts)
            .max(1),
        ..RetryPolicy::default()
    };
    let per_attempt = proximity_providers::http::timeout_of(tool);
    let mut attempt = 1;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let e = ProviderError::new(ErrorClass::Timeout, "the request's deadline passed");
            return (Err(e), attempt - 1);
        }
        let limit = per_attempt.min(remaining);
        let result =
            match tokio::time::timeout(limit, call(provider.clone(), request.clone())).await {
                Ok(r) => r,
                Err(_) => Err(ProviderError::new(
                    ErrorClass::Timeout,
                    format!("no answer within {:.1}s", limit.as_secs_f64()),
                )),
            };
        match result {
            Ok(v) => return (Ok(v), attempt),
            Err(e) => match policy.delay(attempt, &e) {
                Some(wait) if Instant::now() + wait < deadline => {
                    tracing::debug!(tool = %tool.id, attempt, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return (Err(e), attempt),
            },
        }
    }
}

/// When a request must be done: `x-proximity-deadline-ms` when the client sent a shorter
/// one, else the gateway's `--deadline-secs`.
fn started_deadline(headers: &HeaderMap, default: Duration, started: Instant) -> Instant {
    let asked = headers
        .get(DEADLINE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    // The header can only shorten `--deadline-secs`: the stale-reservation sweeper
    // counts on no request living longer.
    started + asked.map_or(default, |a| a.min(default))
}

fn workflow_of(headers: &HeaderMap) -> String {
    headers
        .get(WORKFLOW_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(64).collect())
        .unwrap_or_else(|| UNKNOWN_WORKFLOW.to_owned())
}

/// A request id: 24 hex digits, the first 12 the milliseconds since the Unix epoch and
/// the rest random. Ids in time order make each new usage row land at the end of the
/// store's id index (random ids touched a page of it per row: most of the SQLite
/// writer's work), and sort as the requests came.
fn new_request_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    rand::rng().fill_bytes(&mut bytes[6..]);
    hex::encode(bytes)
}

/// Tokens of a request body of `bytes` bytes when nobody counted them.
fn estimate_text_tokens_bytes(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// Tokens of a text when nobody counted them: one per four characters, rounded up.
pub fn estimate_text_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

fn estimate_tokens_of(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .map(|m| estimate_text_tokens(&m.content))
        .sum()
}

/// The request id and overhead headers.
fn with_ids(mut response: Response, draft: &Draft) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&draft.id) {
        h.insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    let ms = draft.overhead().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("{ms:.3}")) {
        h.insert(HeaderName::from_static(OVERHEAD_HEADER), v);
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_header_can_only_shorten_the_deadline() {
        let started = Instant::now();
        let default = Duration::from_secs(120);
        let with = |ms: &str| {
            let mut h = HeaderMap::new();
            h.insert(DEADLINE_HEADER, HeaderValue::from_str(ms).unwrap());
            started_deadline(&h, default, started) - started
        };
        assert_eq!(with("1200000"), default);
        assert_eq!(with("120001"), default);
        assert_eq!(with("1500"), Duration::from_millis(1500));
        assert_eq!(with("soon"), default);
        assert_eq!(
            started_deadline(&HeaderMap::new(), default, started) - started,
            default
        );
    }

    #[test]
    fn request_ids_are_unique_and_in_time_order() {
        let a = new_request_id();
        std::thread::sleep(Duration::from_millis(2));
        let b = new_request_id();
        assert_eq!((a.len(), b.len()), (24, 24));
        assert!(a < b, "{a} {b}");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        let many: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(many.len(), 10_000);
    }
}
