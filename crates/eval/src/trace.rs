//! The span of one evaluated item — a case asked of a tool, one sample — for trace
//! export (OpenTelemetry's GenAI conventions plus Proximity's `proximity.*` attributes,
//! the verdict among them). Created disabled, at no cost, unless the process exports
//! traces; filled in from the item's result. The prompt and the answer are never put
//! on it, nor keys.

use proximity_program::{Case, Tool};
use proximity_store::ResultRecord;
use tracing::field::Empty;
use tracing::Span;

/// The target of the spans meant for the trace exporter (and kept out of the log).
pub const TARGET: &str = "proximity::otel";

/// The span of `case` asked of `tool` in run `run_id`. Its parent is the caller's
/// current span (the command's, when it made one).
pub fn item_span(run_id: &str, case: &Case, tool: &Tool, sample: u32) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "chat",
        otel.name = Empty,
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = tool.provider.as_str(),
        gen_ai.system = tool.provider.as_str(),
        gen_ai.request.model = Empty,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        proximity.run_id = run_id,
        proximity.case = case.id.as_str(),
        proximity.persona = case.persona.as_str(),
        proximity.workflow = case.workflow.as_str(),
        proximity.tool = tool.id.as_str(),
        proximity.tool.fingerprint = Empty,
        proximity.sample = i64::from(sample),
        proximity.cost_usd = Empty,
        proximity.attempts = Empty,
        proximity.cached = Empty,
        proximity.verdict = Empty,
    );
    if !span.is_disabled() {
        let model = tool.model.as_deref().unwrap_or(&tool.id);
        span.record("otel.name", format!("chat {model}").as_str());
        span.record("gen_ai.request.model", model);
    }
    span
}

/// Record an item's result on `span` (nothing when it is disabled).
pub fn record(span: &Span, result: &ResultRecord) {
    if span.is_disabled() {
        return;
    }
    if let Some(v) = &result.model_version {
        span.record("gen_ai.response.model", v.as_str());
    }
    span.record("gen_ai.usage.input_tokens", int(result.input_tokens));
    span.record("gen_ai.usage.output_tokens", int(result.output_tokens));
    span.record(
        "proximity.tool.fingerprint",
        result.tool_fingerprint.as_str(),
    );
    span.record("proximity.cost_usd", result.cost_usd);
    span.record("proximity.attempts", i64::from(result.attempts));
    span.record("proximity.cached", result.cached);
    span.record("proximity.verdict", result.verdict.as_str());
    if let Some(class) = &result.error_class {
        span.record("error.type", class.as_str());
        span.record("otel.status_code", "error");
    }
}

/// An unsigned count as the signed integer OpenTelemetry attributes hold (a `u64`
/// recorded on a span would arrive as a string).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
