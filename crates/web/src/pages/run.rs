//! Run: every result of a run, filtered on the server by verdict, workflow, kind, tool
//! and persona (query string), failures first, a page at a time; each line opens the
//! result.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use minijinja::{context, Value};
use proximity_store::{ResultFilter, RunRecord, Verdict};
use serde::{Deserialize, Serialize};

use super::overview::RunHead;
use super::{html, page, usd_small, Chrome, PageCtx};
use crate::links::Links;
use crate::{AppState, WebError};

/// Results per page on the server.
pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct RunQuery {
    pub verdict: Option<String>,
    pub workflow: Option<String>,
    pub kind: Option<String>,
    pub tool: Option<String>,
    pub persona: Option<String>,
    pub page: Option<u64>,
}

impl RunQuery {
    /// The store filter; an unknown verdict is bad input.
    pub fn filter(&self) -> Result<ResultFilter, WebError> {
        let keep = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let verdict = match keep(&self.verdict) {
            None => None,
            Some(v) => Some(Verdict::parse(&v).ok_or_else(|| {
                WebError::BadRequest(format!(
                    "Unknown verdict `{v}`: use pass, silent, structural or loud."
                ))
            })?),
        };
        Ok(ResultFilter {
            verdict,
            workflow: keep(&self.workflow),
            kind: keep(&self.kind),
            tool: keep(&self.tool),
            persona: keep(&self.persona),
        })
    }
}

#[derive(Debug, Serialize)]
struct Line {
    href: String,
    case_id: String,
    tool: String,
    sample: i64,
    persona: String,
    workflow: String,
    kind: String,
    source: String,
    verdict: String,
    reason: String,
    output: String,
    cost: String,
    latency_ms: i64,
}

#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    selected: bool,
}

fn choices(values: &[String], current: Option<&str>) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v.clone(),
            selected: current == Some(v.as_str()),
        })
        .collect()
}

/// One page (`page`, 0-based, `size` lines) of `run`'s results that `filter` admits.
pub async fn build(
    ctx: &PageCtx<'_>,
    run: &RunRecord,
    filter: &ResultFilter,
    page_no: u64,
    size: u32,
) -> Result<Value, WebError> {
    let total = ctx.store.count_results(&run.id, filter).await?;
    let pages = total.div_ceil(u64::from(size)).max(1);
    let page_no = page_no.min(pages - 1);
    let lines = ctx
        .store
        .result_lines(&run.id, filter, size, page_no * u64::from(size))
        .await?;
    let first_index = page_no * u64::from(size);
    let lines: Vec<Line> = lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| Line {
            href: ctx.links.result(
                &run.id,
                &l.tool_id,
                &l.case_id,
                l.sample,
                first_index as usize + i,
            ),
            output: l.output_head,
            cost: usd_small(l.cost_usd),
            case_id: l.case_id,
            tool: l.tool_id,
            sample: l.sample,
            persona: l.persona,
            workflow: l.workflow,
            kind: l.kind,
            source: l.source,
            verdict: l.verdict,
            reason: l.reason,
            latency_ms: l.latency_ms,
        })
        .collect();
    // The filter choices come from the (cached) score cells: no extra scan of the run.
    let cells = ctx.cells(run).await?;
    let mut values = proximity_store::dashboard::FilterValues::default();
    for c in cells.iter() {
        values.workflows.push(c.workflow.clone());
        values.kinds.push(c.kind.clone());
        values.tools.push(c.tool_id.clone());
        values.personas.push(c.persona.clone());
    }
    for list in [
        &mut values.workflows,
        &mut values.kinds,
        &mut values.tools,
        &mut values.personas,
    ] {
        list.sort();
        list.dedup();
    }
    let verdicts: Vec<String> = Verdict::ALL.iter().map(|v| v.as_str().to_owned()).collect();
    let link = |p: u64| ctx.links.run(&run.id, filter, p);
    Ok(context! {
        run => RunHead::new(run, ctx.links),
        total => total,
        shown => lines.len(),
        page => page_no + 1,
        pages => pages,
        prev => (page_no > 0 && ctx.links == Links::Server).then(|| link(page_no - 1)),
        next => (page_no + 1 < pages && ctx.links == Links::Server).then(|| link(page_no + 1)),
        action => format!("/run/{}", crate::links::enc(&run.id)),
        lines => lines,
        filters => context! {
            verdict => choices(&verdicts, filter.verdict.map(|v| v.as_str())),
            workflow => choices(&values.workflows, filter.workflow.as_deref()),
            kind => choices(&values.kinds, filter.kind.as_deref()),
            tool => choices(&values.tools, filter.tool.as_deref()),
            persona => choices(&values.personas, filter.persona.as_deref()),
        },
    })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<RunQuery>,
) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let run = ctx.store.run(&id).await?;
    let filter = q.filter()?;
    let view = build(&ctx, &run, &filter, q.page.unwrap_or(0), PAGE_SIZE).await?;
    let chrome = Chrome::new(&ctx, format!("Run {id}"), Some(&state.security));
    Ok(html(page("run.html", &chrome, view)?))
}
