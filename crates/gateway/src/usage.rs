//! Usage of one request: what is known so far ([`Draft`]), and finishing it: the usage
//! row is written (with the budget settlement, in one transaction) before the client is
//! answered, then metrics and the request log line follow.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use proximity_store::UsageRecord;

use crate::error::ApiError;
use crate::metrics::Observation;
use crate::AppState;

/// The workflow of requests that name none.
pub const UNKNOWN_WORKFLOW: &str = "unknown";

/// What is known of a request while it is served.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub started: Instant,
    pub key_id: Option<String>,
    pub persona: Option<String>,
    pub tier: Option<String>,
    pub tool_id: String,
    pub served_by: Option<String>,
    pub fingerprint: Option<String>,
    pub workflow: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens estimated from the prompt (used when the upstream reports none).
    pub input_estimate: u64,
    pub cost_usd: f64,
    pub ttft: Option<Duration>,
    /// Time spent waiting for upstreams (retry waits included).
    pub upstream: Duration,
    /// For streams: the overhead measured when the headers were sent.
    pub overhead_fixed: Option<Duration>,
    pub stream: bool,
    pub attempts: u32,
    pub reservation: Option<String>,
    /// Set when the request is chosen for capture ([`crate::capture`]).
    pub capture: Option<std::sync::Arc<crate::capture::Pending>>,
}

impl Draft {
    pub fn new(id: String, started: Instant, now: DateTime<Utc>, workflow: String) -> Self {
        Self {
            id,
            created_at: now,
            started,
            key_id: None,
            persona: None,
            tier: None,
            tool_id: String::from("(none)"),
            served_by: None,
            fingerprint: None,
            workflow,
            input_tokens: 0,
            output_tokens: 0,
            input_estimate: 0,
            cost_usd: 0.0,
            ttft: None,
            upstream: Duration::ZERO,
            overhead_fixed: None,
            stream: false,
            attempts: 0,
            reservation: None,
            capture: None,
        }
    }

    /// Gateway time so far: elapsed time minus time spent on upstreams.
    pub fn overhead(&self) -> Duration {
        self.overhead_fixed
            .unwrap_or_else(|| self.started.elapsed().saturating_sub(self.upstream))
    }

    pub fn record(&self, status: u16, error_class: Option<String>) -> UsageRecord {
        UsageRecord {
            id: self.id.clone(),
            created_at: self.created_at,
            key_id: self.key_id.clone(),
            persona: self.persona.clone(),
            tier: self.tier.clone(),
            tool_id: self.tool_id.clone(),
            served_by: self.served_by.clone(),
            tool_fingerprint: self.fingerprint.clone(),
            workflow: self.workflow.clone(),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_usd: self.cost_usd,
            latency_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: self.ttft.map(|t| t.as_millis() as u64),
            status,
            error_class,
            stream: self.stream,
            attempts: self.attempts,
        }
    }
}

/// The metric label of a tool or persona the program does not have.
pub const UNKNOWN_LABEL: &str = "unknown";

/// Finish a request: write its usage row and settle its reservation (durably), then
/// count it in the metrics and log it. Requests without a key (401) only count.
pub async fn finish(
    state: &AppState,
    draft: &Draft,
    status: u16,
    error_class: Option<String>,
) -> Result<(), ApiError> {
    let record = draft.record(status, error_class);
    let written = if draft.key_id.is_some() {
        state
            .guard
            .settle(&state.ledger, &record, draft.reservation.as_deref())
            .await
            .map_err(|e| {
                tracing::error!(request_id = %draft.id, error = %e, "cannot write the usage row");
                ApiError::Internal
            })
    } else {
        Ok(())
    };
    let overhead = draft.overhead();
    // Labels only from the program's ids: a client's `model` string must not add series.
    let loaded = state.loaded.load();
    let program = &loaded.program;
    crate::trace::record(&tracing::Span::current(), &record, program);
    let tool = program
        .tools
        .iter()
        .find(|t| t.id == record.tool_id)
        .map_or(UNKNOWN_LABEL, |t| t.id.as_str());
    let persona = match record.persona.as_deref() {
        None => "(none)",
        Some(p) => program
            .personas
            .iter()
            .find(|x| x.id == p)
            .map_or(UNKNOWN_LABEL, |x| x.id.as_str()),
    };
    state.metrics.observe(&Observation {
        tool,
        persona,
        status: record.status,
        error_class: record.error_class.as_deref(),
        input_tokens: record.input_tokens,
        output_tokens: record.output_tokens,
        cost_usd: record.cost_usd,
        latency_secs: draft.started.elapsed().as_secs_f64(),
        overhead_secs: overhead.as_secs_f64(),
    });
    tracing::info!(
        request_id = %record.id,
        key = record.key_id.as_deref().unwrap_or("-"),
        persona = record.persona.as_deref().unwrap_or("-"),
        tool = %record.tool_id,
        served_by = record.served_by.as_deref().unwrap_or("-"),
        workflow = %record.workflow,
        status = record.status,
        error_class = record.error_class.as_deref().unwrap_or("-"),
        input_tokens = record.input_tokens,
        output_tokens = record.output_tokens,
        cost_usd = record.cost_usd,
        latency_ms = record.latency_ms,
        overhead_us = overhead.as_micros() as u64,
        stream = record.stream,
        "request"
    );
    written
}
