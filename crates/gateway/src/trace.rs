//! The span of one request, for trace export (OpenTelemetry's GenAI conventions plus
//! Proximity's own `proximity.*` attributes). Created disabled, at no cost, unless the
//! process exports traces; filled in from the usage record when the request finishes.
//! Prompts and answers are never attributes: under `--log-content` the relay's content
//! events become the span's events. Keys never appear.

use proximity_program::Program;
use proximity_store::UsageRecord;
use tracing::field::Empty;
use tracing::Span;

/// The target of the spans meant for the trace exporter (and kept out of the log).
pub const TARGET: &str = "proximity::otel";

/// The span a request runs in, until its usage row is written (the end of its stream,
/// for a stream).
pub fn request_span() -> Span {
    tracing::info_span!(
        target: TARGET,
        "chat",
        otel.name = "chat",
        otel.kind = "server",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = Empty,
        gen_ai.system = Empty,
        gen_ai.request.model = Empty,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        http.response.status_code = Empty,
        proximity.request_id = Empty,
        proximity.persona = Empty,
        proximity.tier = Empty,
        proximity.workflow = Empty,
        proximity.tool = Empty,
        proximity.tool.fingerprint = Empty,
        proximity.cost_usd = Empty,
        proximity.attempts = Empty,
        proximity.stream = Empty,
    )
}

/// Record a finished request on `span` (nothing when it is disabled).
pub fn record(span: &Span, record: &UsageRecord, program: &Program) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.name", format!("chat {}", record.tool_id).as_str());
    span.record("gen_ai.request.model", record.tool_id.as_str());
    span.record("http.response.status_code", i64::from(record.status));
    span.record("proximity.request_id", record.id.as_str());
    span.record("proximity.workflow", record.workflow.as_str());
    span.record("proximity.stream", record.stream);
    if let Some(p) = &record.persona {
        span.record("proximity.persona", p.as_str());
    }
    if let Some(t) = &record.tier {
        span.record("proximity.tier", t.as_str());
    }
    if let Some(served_by) = &record.served_by {
        span.record("proximity.tool", served_by.as_str());
        if let Some(tool) = program.tools.iter().find(|t| &t.id == served_by) {
            let provider = tool.provider.as_str();
            span.record("gen_ai.provider.name", provider);
            span.record("gen_ai.system", provider);
            let model = tool.model.as_deref().unwrap_or(&tool.id);
            span.record("gen_ai.response.model", model);
        }
        span.record("gen_ai.usage.input_tokens", int(record.input_tokens));
        span.record("gen_ai.usage.output_tokens", int(record.output_tokens));
        span.record("proximity.cost_usd", record.cost_usd);
        span.record("proximity.attempts", i64::from(record.attempts));
    }
    if let Some(f) = &record.tool_fingerprint {
        span.record("proximity.tool.fingerprint", f.as_str());
    }
    match &record.error_class {
        Some(class) => {
            span.record("error.type", class.as_str());
            span.record("otel.status_code", "error");
        }
        None if record.status >= 400 => {
            span.record("error.type", record.status.to_string().as_str());
            span.record("otel.status_code", "error");
        }
        None => {}
    }
}

/// An unsigned count as the signed integer OpenTelemetry attributes hold (a `u64`
/// recorded on a span would arrive as a string).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
