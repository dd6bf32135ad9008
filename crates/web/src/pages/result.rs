//! Result: the ground truth of one sample — the case (its input and documents as the
//! program has it now), the output, the expected values and each assertion's outcome.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Html;
use minijinja::{context, Value};
use proximity_store::ResultRecord;

use super::overview::RunHead;
use super::{html, page, usd_small, Chrome, PageCtx};
use crate::links::Links;
use crate::{AppState, WebError};

pub fn build(ctx: &PageCtx<'_>, run: &proximity_store::RunRecord, r: &ResultRecord) -> Value {
    let case = ctx.program.cases.iter().find(|c| c.id == r.case_id);
    let case_view = case.map(|c| {
        context! {
            description => c.description.clone(),
            file => format!(
                "{}:{}",
                c.location
                    .file
                    .strip_prefix(&ctx.program.root)
                    .unwrap_or(&c.location.file)
                    .display(),
                c.location.line
            ),
            messages => c.messages.iter().map(|m| context! {
                role => format!("{:?}", m.role).to_lowercase(),
                content => m.content.clone(),
            }).collect::<Vec<_>>(),
            vars => c.vars.iter().map(|(k, v)| context! { name => k, value => v }).collect::<Vec<_>>(),
            documents => c.documents.iter().map(|d| d.path.clone()).collect::<Vec<_>>(),
            expected => c.assertions.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        }
    });
    context! {
        run => RunHead::new(run, ctx.links),
        r => context! {
            case_id => r.case_id.clone(),
            tool => r.tool_id.clone(),
            tool_href => ctx.links.tool(&r.tool_id),
            sample => r.sample,
            persona => r.persona.clone(),
            workflow => r.workflow.clone(),
            kind => r.kind.clone(),
            source => r.source.clone(),
            verdict => r.verdict.as_str(),
            reason => r.reason.clone(),
            output => r.output.clone(),
            error_class => r.error_class.clone(),
            error_message => r.error_message.clone(),
            fingerprint => r.tool_fingerprint.clone(),
            model_version => r.model_version.clone(),
            tokens => format!("{} in / {} out", r.input_tokens, r.output_tokens),
            cost => usd_small(r.cost_usd),
            latency_ms => r.latency_ms,
            attempts => r.attempts,
            cached => r.cached,
            hedged => r.hedged,
            assertions => r.assertions.iter().map(|a| context! {
                group => a.group.clone(),
                assertion => a.assertion.clone(),
                passed => a.passed,
                detail => a.detail.clone(),
                judge_raw => a.judge_raw.clone(),
            }).collect::<Vec<_>>(),
        },
        case => case_view,
    }
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    Path((id, tool, case, sample)): Path<(String, String, String, u32)>,
) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let run = ctx.store.run(&id).await?;
    let r = ctx
        .store
        .result(&id, &case, &tool, sample)
        .await?
        .ok_or_else(|| {
            WebError::NotFound(format!(
                "No result for case `{case}` on `{tool}`, sample {sample}, in run `{id}`."
            ))
        })?;
    let view = build(&ctx, &run, &r);
    let chrome = Chrome::new(&ctx, format!("{case} on {tool}"), Some(&state.security));
    Ok(html(page("result.html", &chrome, view)?))
}
