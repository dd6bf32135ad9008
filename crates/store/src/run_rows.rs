//! Runs and results as database rows ([`RunRow`], [`ResultRow`]) and their conversion
//! into the records of [`crate::runs`].

use chrono::{DateTime, Utc};

use crate::runs::{ResultRecord, RunRecord, RunStatus, Verdict};
use crate::StoreError;

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    id: String,
    program: String,
    started_at: String,
    finished_at: Option<String>,
    status: String,
    config: String,
    planned: i64,
}

fn time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{s}`: {e}")))
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;

    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        Ok(RunRecord {
            status: RunStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("run status `{}`", r.status)))?,
            started_at: time(&r.started_at)?,
            finished_at: r.finished_at.as_deref().map(time).transpose()?,
            config: serde_json::from_str(&r.config)
                .map_err(|e| StoreError::Corrupt(format!("run config: {e}")))?,
            planned: r.planned.max(0) as u64,
            id: r.id,
            program: r.program,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResultRow {
    run_id: String,
    case_id: String,
    tool_id: String,
    sample: i64,
    persona: String,
    workflow: String,
    kind: String,
    source: String,
    case_weight: f64,
    tool_fingerprint: String,
    model_version: Option<String>,
    output: String,
    error_class: Option<String>,
    error_message: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: f64,
    latency_ms: i64,
    attempts: i64,
    cached: bool,
    verdict: String,
    reason: String,
    assertions: String,
    mean_logprob: Option<f64>,
    hedged: Option<bool>,
    tool_calls: Option<String>,
    created_at: String,
}

impl TryFrom<ResultRow> for ResultRecord {
    type Error = StoreError;

    fn try_from(r: ResultRow) -> Result<Self, StoreError> {
        Ok(ResultRecord {
            verdict: Verdict::parse(&r.verdict)
                .ok_or_else(|| StoreError::Corrupt(format!("verdict `{}`", r.verdict)))?,
            assertions: serde_json::from_str(&r.assertions)
                .map_err(|e| StoreError::Corrupt(format!("assertions: {e}")))?,
            created_at: time(&r.created_at)?,
            sample: r.sample.max(0) as u32,
            input_tokens: r.input_tokens.max(0) as u64,
            output_tokens: r.output_tokens.max(0) as u64,
            latency_ms: r.latency_ms.max(0) as u64,
            attempts: r.attempts.max(0) as u32,
            run_id: r.run_id,
            case_id: r.case_id,
            tool_id: r.tool_id,
            persona: r.persona,
            workflow: r.workflow,
            kind: r.kind,
            source: r.source,
            case_weight: r.case_weight,
            tool_fingerprint: r.tool_fingerprint,
            model_version: r.model_version,
            output: r.output,
            error_class: r.error_class,
            error_message: r.error_message,
            cost_usd: r.cost_usd,
            cached: r.cached,
            reason: r.reason,
            mean_logprob: r.mean_logprob,
            hedged: r.hedged,
            tool_calls: match &r.tool_calls {
                Some(json) => serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("tool_calls: {e}")))?,
                None => Vec::new(),
            },
        })
    }
}
