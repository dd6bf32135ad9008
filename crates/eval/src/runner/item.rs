//! One item of a run — a case asked of a tool, one sample — evaluated step by step: take
//! a call slot, make the request and its cache key, look the answer up in the response
//! cache, or reserve its estimated cost and ask the provider (with retries), settle the
//! budget and keep the answer in the cache; then judge the answer, classify it and write
//! its result. [`evaluate_item`] runs the steps in that order; a local run and a worker
//! both evaluate their items with it, so they produce the same requests, cache keys and
//! verdicts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use proximity_program::fingerprint::version_fingerprint;
use proximity_program::{Case, Check, Program, Tool};
use proximity_providers::{
    complete_with_retries, ChatRequest, ChatResponse, ErrorClass, Provider, ProviderError,
    RetryPolicy,
};
use proximity_store::{AssertionOutcome, ResultRecord, Store, StoreError, ToolCallRecord, Verdict};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::budget::{estimate_cost, Budget, Reservation};
use super::cache::{cache_key, CachedAnswer};
use super::failpoint;
use super::plan::Providers;
use super::Progress;
use crate::assertions::{evaluate_all, Context, Judge};
use crate::verdict::{classify, Observed};

/// A judge backed by the program's providers.
pub(crate) struct ProviderJudge {
    pub(crate) providers: Providers,
    pub(crate) policy: RetryPolicy,
}

#[async_trait]
impl Judge for ProviderJudge {
    async fn complete(
        &self,
        tool_id: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let Some(p) = self.providers.get(tool_id) else {
            return Err(ProviderError::new(
                ErrorClass::Config,
                format!("judge tool `{tool_id}` is not available"),
            ));
        };
        complete_with_retries(
            p.as_ref(),
            request,
            &self.policy,
            Duration::from_secs(120),
            |_, _, _| {},
        )
        .await
        .result
    }
}

/// The run's call slots and its stop signal.
pub(crate) type Calls<'a> = (&'a Semaphore, &'a CancellationToken);

pub(crate) struct ItemCtx<'a> {
    pub(crate) program: &'a Program,
    pub(crate) store: &'a Store,
    pub(crate) run_id: &'a str,
    pub(crate) case: &'a Case,
    pub(crate) tool: &'a Tool,
    pub(crate) config_fp: &'a str,
    pub(crate) sample: u32,
    pub(crate) use_cache: bool,
    /// Look the answer up in the response cache before calling the provider.
    pub(crate) lookup: bool,
    /// Held from the start of an item until its result is ready to write, so that the
    /// run's `concurrency` bounds the items calling providers, not those waiting for
    /// their result's commit. The result is reported to the progress (whose budget
    /// checks may stop the run) before the slot is handed on, and an item that gets a
    /// slot after the run was stopped sends nothing. `None`: the caller bounds items
    /// and reports results itself.
    pub(crate) calls: Option<Calls<'a>>,
}

/// One result produced and written by [`evaluate_item`].
pub(crate) struct Evaluated {
    pub(crate) result: ResultRecord,
    /// Whether this call's write inserted it (`false`: the store had it already, written
    /// by a worker that held the item before its lease expired).
    pub(crate) inserted: bool,
}

/// Produce and write one result. `Ok(None)`: not sent, the budget would be passed (or
/// the run stopped while the item waited for a slot). The steps run in the item's
/// trace span.
pub(crate) async fn evaluate_item(
    ctx: &ItemCtx<'_>,
    provider: &dyn Provider,
    judge: &ProviderJudge,
    budget: &Mutex<Budget>,
    progress: &dyn Progress,
) -> Result<Option<Evaluated>, StoreError> {
    let span = crate::trace::item_span(ctx.run_id, ctx.case, ctx.tool, ctx.sample);
    let evaluated = evaluate_item_steps(ctx, provider, judge, budget, progress)
        .instrument(span.clone())
        .await;
    if let Ok(Some(e)) = &evaluated {
        crate::trace::record(&span, &e.result);
    }
    evaluated
}

async fn evaluate_item_steps(
    ctx: &ItemCtx<'_>,
    provider: &dyn Provider,
    judge: &ProviderJudge,
    budget: &Mutex<Budget>,
    progress: &dyn Progress,
) -> Result<Option<Evaluated>, StoreError> {
    let Ok(slot) = acquire_slot(ctx.calls).await else {
        return Ok(None);
    };
    let request = request_of(ctx);
    // The key costs a serialisation and a hash: only made when the cache is read or
    // written.
    let keep_apart = answer_kept_apart(ctx);
    let key = (ctx.lookup || keep_apart).then(|| key_of(ctx, &request));
    let cached = match &key {
        Some(key) if ctx.lookup => cache_lookup(ctx.store, key).await?,
        _ => None,
    };
    let (answer, was_cached) = match cached {
        Some(c) => (Ok(c), true),
        None => {
            let Some(reservation) = reserve(budget, ctx.tool, &request) else {
                return Ok(None);
            };
            let answer = ask(ctx, provider, &request, progress).await;
            settle(budget, ctx.tool, reservation, &answer);
            if let (Ok(a), Some(key), true) = (&answer, &key, keep_apart) {
                keep(ctx, key, a).await?;
            }
            (answer, false)
        }
    };
    let result = match answer {
        Ok(a) => {
            let outcomes = judge_answer(ctx, judge, &a.response).await;
            answered(ctx, a, was_cached, outcomes)
        }
        Err(e) => failed(ctx, e),
    };
    write(ctx, result, slot, budget, progress).await.map(Some)
}

/// The run stopped while an item waited for its slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stopped;

/// Step: wait for a call slot (none when the caller bounds items itself).
pub(crate) async fn acquire_slot(
    calls: Option<Calls<'_>>,
) -> Result<Option<SemaphorePermit<'_>>, Stopped> {
    match calls {
        Some((slots, stop)) => {
            let slot = slots.acquire().await.ok();
            if stop.is_cancelled() {
                return Err(Stopped);
            }
            Ok(slot)
        }
        None => Ok(None),
    }
}

/// The JSON schema a case's `contract` group requires of the answer, if any: providers that
/// can constrain their output to it (`grammar: json_schema`) do.
fn output_schema(case: &Case) -> Option<serde_json::Value> {
    case.assertions
        .contract
        .iter()
        .find_map(|a| match &a.check {
            Check::JsonSchema { schema } if !a.negate => Some(schema.clone()),
            _ => None,
        })
}

/// An item's request and its response-cache key.
pub(crate) fn request_and_key(ctx: &ItemCtx<'_>) -> (ChatRequest, String) {
    let request = request_of(ctx);
    let key = key_of(ctx, &request);
    (request, key)
}

/// Step: an item's request.
pub(crate) fn request_of(ctx: &ItemCtx<'_>) -> ChatRequest {
    let mut request = ChatRequest::for_tool(ctx.tool, &ctx.case.messages);
    request.json_schema = output_schema(ctx.case);
    request.tools.clone_from(&ctx.case.tools);
    request.tool_choice.clone_from(&ctx.case.tool_choice);
    request
}

/// Step: the response-cache key of an item's request.
pub(crate) fn key_of(ctx: &ItemCtx<'_>, request: &ChatRequest) -> String {
    let scope = if ctx.use_cache { "" } else { ctx.run_id };
    cache_key(ctx.config_fp, request, ctx.sample, scope)
}

/// Whether a paid answer is written to the response cache before its result: when the
/// cache is shared (later runs and other workers look answers up), and when judging the
/// answer calls a provider (a slow step a kill could interrupt, after which the resumed
/// run finds the answer instead of paying for it again). Otherwise the result row, one
/// commit, is the only record of the answer: evaluating it takes microseconds, so a
/// kill loses no more than it would between the answer and its cache row.
pub(crate) fn answer_kept_apart(ctx: &ItemCtx<'_>) -> bool {
    ctx.use_cache
        || ctx
            .case
            .assertions
            .iter()
            .any(|a| matches!(a.check, Check::Judge { .. }))
}

/// Step: the cached answer of `key`, if any (an entry that no longer reads is none).
pub(crate) async fn cache_lookup(
    store: &Store,
    key: &str,
) -> Result<Option<CachedAnswer>, StoreError> {
    Ok(match store.cache_get(key).await? {
        Some(json) => serde_json::from_str::<CachedAnswer>(&json).ok(),
        None => None,
    })
}

/// Step: reserve a request's estimated cost; `None` when it would pass the budget.
pub(crate) fn reserve(
    budget: &Mutex<Budget>,
    tool: &Tool,
    request: &ChatRequest,
) -> Option<Reservation> {
    let estimate = estimate_cost(tool, request);
    let reserved = budget
        .lock()
        .ok()
        .and_then(|mut b| b.reserve(&tool.id, estimate))?;
    Some(Reservation { estimate, reserved })
}

/// A request that failed after its retries: the last error, how long it took in all and
/// how many attempts were made. Kept with the result like an answer's.
#[derive(Debug)]
pub(crate) struct FailedAnswer {
    pub(crate) error: ProviderError,
    pub(crate) latency_ms: u64,
    pub(crate) attempts: u32,
}

/// Step: ask the provider, retrying transient faults as the tool's parameters allow
/// (`max_attempts`, default 4; `timeout_secs` an attempt, default 60).
pub(crate) async fn ask(
    ctx: &ItemCtx<'_>,
    provider: &dyn Provider,
    request: &ChatRequest,
    progress: &dyn Progress,
) -> Result<CachedAnswer, FailedAnswer> {
    let policy = RetryPolicy {
        max_attempts: ctx.tool.params.max_attempts.unwrap_or(4).max(1),
        ..RetryPolicy::default()
    };
    if !request.tools.is_empty() && !provider.supports_tools() {
        // Sent without them, the answer would be judged on a question it was not asked.
        return Err(FailedAnswer {
            error: ProviderError::new(
                ErrorClass::Config,
                format!(
                    "tool `{}` (provider `{}`) cannot honour the case's `tools`: it sends no function definitions",
                    ctx.tool.id, ctx.tool.provider
                ),
            ),
            latency_ms: 0,
            attempts: 0,
        });
    }
    let timeout = Duration::from_secs_f64(ctx.tool.params.timeout_secs.unwrap_or(60.0));
    let started = Instant::now();
    let attempted = complete_with_retries(provider, request, &policy, timeout, |_, e, wait| {
        progress.retry(&ctx.tool.id, &ctx.case.id, e, wait)
    })
    .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let attempts = attempted.attempts;
    match attempted.result {
        Ok(response) => Ok(CachedAnswer {
            response,
            latency_ms,
            attempts,
        }),
        Err(error) => Err(FailedAnswer {
            error,
            latency_ms,
            attempts,
        }),
    }
}

/// Step: release a request's reservation, counting what its answer really cost (a
/// failed request costs nothing).
pub(crate) fn settle(
    budget: &Mutex<Budget>,
    tool: &Tool,
    reservation: Reservation,
    answer: &Result<CachedAnswer, FailedAnswer>,
) {
    let actual = match answer {
        Ok(a) => tool.price.cost(
            a.response.usage.input_tokens,
            a.response.usage.output_tokens,
        ),
        Err(_) => 0.0,
    };
    if let Ok(mut b) = budget.lock() {
        b.settle(&tool.id, reservation.estimate, reservation.reserved, actual);
    }
}

/// Step: keep a paid answer in the response cache, before its result is judged and
/// written.
pub(crate) async fn keep(
    ctx: &ItemCtx<'_>,
    key: &str,
    answer: &CachedAnswer,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(answer).unwrap_or_default();
    ctx.store.cache_put(key, ctx.config_fp, &json).await?;
    failpoint::after_cache_put();
    Ok(())
}

/// Step: the outcomes of the case's assertions on an answer (judge assertions ask their
/// judge tool).
pub(crate) async fn judge_answer(
    ctx: &ItemCtx<'_>,
    judge: &ProviderJudge,
    response: &ChatResponse,
) -> Vec<AssertionOutcome> {
    let judge_ref: &dyn Judge = judge;
    let jctx = Context {
        case: ctx.case,
        judge: Some(judge_ref),
        default_judge_tool: ctx.program.judge_tool.as_deref(),
        provider_refused: response.refused,
        tool_calls: &response.tool_calls,
    };
    evaluate_all(&response.text, &jctx).await
}

/// Step: the verdict on an answer and its outcomes, or on a request that failed.
pub(crate) fn verdict(
    case: &Case,
    answer: Result<&ChatResponse, &ProviderError>,
    outcomes: &[AssertionOutcome],
) -> (Verdict, String) {
    match answer {
        Ok(response) => classify(&Observed {
            case,
            output: &response.text,
            error: None,
            provider_refused: response.refused,
            finish_reason: response.finish_reason.as_deref(),
            outcomes,
            tool_calls: &response.tool_calls,
        }),
        Err(error) => classify(&Observed {
            case,
            output: "",
            error: Some(error),
            provider_refused: false,
            finish_reason: None,
            outcomes: &[],
            tool_calls: &[],
        }),
    }
}

/// Step: the result of an answered item.
pub(crate) fn answered(
    ctx: &ItemCtx<'_>,
    a: CachedAnswer,
    cached: bool,
    outcomes: Vec<AssertionOutcome>,
) -> ResultRecord {
    let (verdict, reason) = verdict(ctx.case, Ok(&a.response), &outcomes);
    let usage = a.response.usage;
    let hedged = crate::detect::is_hedge(&a.response.text);
    let mean_logprob = a
        .response
        .logprobs
        .as_ref()
        .filter(|l| !l.is_empty())
        .map(|l| l.iter().sum::<f64>() / l.len() as f64);
    record(
        ctx,
        RecordParts {
            tool_fingerprint: version_fingerprint(
                ctx.config_fp,
                a.response.model_version.as_deref(),
            ),
            model_version: a.response.model_version,
            output: a.response.text,
            error: None,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            latency_ms: a.latency_ms,
            attempts: a.attempts,
            cached,
            verdict,
            reason,
            outcomes,
            mean_logprob,
            hedged: Some(hedged),
            tool_calls: a
                .response
                .tool_calls
                .into_iter()
                .map(|c| ToolCallRecord {
                    id: c.id,
                    name: c.name,
                    arguments: c.arguments,
                })
                .collect(),
        },
    )
}

/// Step: the result of an item whose request failed: its attempts, the time they took
/// and the last error's class are kept, like an answer's.
pub(crate) fn failed(ctx: &ItemCtx<'_>, f: FailedAnswer) -> ResultRecord {
    let (verdict, reason) = verdict(ctx.case, Err(&f.error), &[]);
    record(
        ctx,
        RecordParts {
            tool_fingerprint: version_fingerprint(ctx.config_fp, None),
            model_version: None,
            output: String::new(),
            error: Some(f.error),
            input_tokens: 0,
            output_tokens: 0,
            latency_ms: f.latency_ms,
            attempts: f.attempts,
            cached: false,
            verdict,
            reason,
            outcomes: Vec::new(),
            mean_logprob: None,
            hedged: None,
            tool_calls: Vec::new(),
        },
    )
}

/// Step: report the result (when the run's slots bound the item), hand the slot on, and
/// write the result.
pub(crate) async fn write(
    ctx: &ItemCtx<'_>,
    result: ResultRecord,
    slot: Option<SemaphorePermit<'_>>,
    budget: &Mutex<Budget>,
    progress: &dyn Progress,
) -> Result<Evaluated, StoreError> {
    if ctx.calls.is_some() {
        let spent = budget.lock().map(|b| b.spent).unwrap_or(0.0);
        progress.result(&result, spent);
    }
    drop(slot);
    let inserted = ctx.store.insert_result(&result).await?;
    Ok(Evaluated { result, inserted })
}

struct RecordParts {
    tool_fingerprint: String,
    model_version: Option<String>,
    output: String,
    error: Option<ProviderError>,
    input_tokens: u64,
    output_tokens: u64,
    latency_ms: u64,
    attempts: u32,
    cached: bool,
    verdict: Verdict,
    reason: String,
    outcomes: Vec<AssertionOutcome>,
    mean_logprob: Option<f64>,
    hedged: Option<bool>,
    tool_calls: Vec<ToolCallRecord>,
}

fn record(ctx: &ItemCtx<'_>, p: RecordParts) -> ResultRecord {
    ResultRecord {
        run_id: ctx.run_id.to_owned(),
        case_id: ctx.case.id.clone(),
        tool_id: ctx.tool.id.clone(),
        sample: ctx.sample,
        persona: ctx.case.persona.clone(),
        workflow: ctx.case.workflow.clone(),
        kind: ctx.case.kind.as_str().to_owned(),
        source: ctx.case.source.as_str().to_owned(),
        case_weight: ctx.case.weight,
        tool_fingerprint: p.tool_fingerprint,
        model_version: p.model_version,
        output: p.output,
        error_class: p.error.as_ref().map(|e| e.class.as_str().to_owned()),
        error_message: p.error.as_ref().map(|e| e.message.clone()),
        input_tokens: p.input_tokens,
        output_tokens: p.output_tokens,
        cost_usd: ctx.tool.price.cost(p.input_tokens, p.output_tokens),
        latency_ms: p.latency_ms,
        attempts: p.attempts,
        cached: p.cached,
        verdict: p.verdict,
        reason: p.reason,
        assertions: p.outcomes,
        mean_logprob: p.mean_logprob,
        hedged: p.hedged,
        tool_calls: p.tool_calls,
        created_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests;
