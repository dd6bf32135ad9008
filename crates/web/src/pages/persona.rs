//! Persona: its workflows with shares and floors and each tool's score, and what breaks
//! if the persona were standardised on each tool (the planner's answer when there is
//! one; until then the workflows whose interval's lower bound is below their floor).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use minijinja::{context, Value};
use proximity_analysis::plan::{what_if, PlanInput};
use proximity_store::RunRecord;
use serde::Serialize;

use super::overview::{RunHead, RunParam};
use super::{html, page, pick_run, usd, Chrome, PageCtx};
use crate::links::Links;
use crate::scores::{pairs, pct};
use crate::{AppState, WebError};

/// What standardising a persona on a tool breaks, from the planner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    pub breaks: Vec<String>,
    pub summary: String,
}

/// The planner's what-if of standardising `persona` on `tool` ([`plan::what_if`], as
/// `proximity plan --standardize` answers it): the workflows whose lower bound would
/// fall below their floor, and the cost and silent-rate change.
pub fn standardise_plan(input: &PlanInput, persona: &str, tool: &str) -> Option<PlanView> {
    let w = what_if(input, persona, tool).ok()?;
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    let breaks = w
        .below_floor
        .iter()
        .map(|b| match (b.score, b.ci_low) {
            (Some(s), Some(lo)) => format!(
                "{} (score {}, lower bound {} vs floor {}, n={})",
                b.workflow,
                pct(s),
                pct(lo),
                pct(b.floor),
                b.n
            ),
            _ => format!("{} (no results, floor {})", b.workflow, pct(b.floor)),
        })
        .collect();
    let mut summary = format!(
        "{}/month, silent-failure rate {} over {} results",
        usd(w.monthly_cost_usd),
        pct(w.silent_rate),
        crate::pages::usage::count(i64::try_from(w.results).unwrap_or(i64::MAX))
    );
    if let Some(c) = &w.compared_with {
        let sign = if c.cost_change_usd >= 0.0 { "+" } else { "" };
        summary.push_str(&format!(
            "; vs the planner's choice `{}`: {sign}{}/month, silent rate {:+.1} points",
            c.tool,
            usd(c.cost_change_usd),
            c.silent_rate_change * 100.0
        ));
    }
    if let Some(st) = &w.stale {
        summary.push_str(&format!(
            "; evidence from run {} is {} days old",
            st.run_id, st.age_days
        ));
    }
    Some(PlanView { breaks, summary })
}

#[derive(Debug, Serialize)]
struct Cell {
    text: String,
    /// `below` (point below floor), `risk` (lower bound below floor), `ok`, `none`.
    class: &'static str,
}

#[derive(Debug, Serialize)]
struct WorkflowLine {
    id: String,
    name: String,
    share: String,
    floor: String,
    monthly_volume: u64,
    edge_share: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Serialize)]
struct Standardise {
    tool: String,
    tool_href: String,
    real_work: String,
    monthly_cost: String,
    /// Workflows at risk: `id (share, score vs floor)`.
    breaks: Vec<String>,
    share_at_risk: String,
    /// Workflows without results on this tool.
    untested: Vec<String>,
    from_planner: bool,
    summary: Option<String>,
    /// The run the planner's lines rest on (the newest evaluation run with results for
    /// this persona × tool), which may be older than the page's run.
    plan_run: Option<String>,
    plan_run_href: Option<String>,
}

/// The planner's input from the newest evaluation run of each persona × tool (probe and
/// drift runs are left out: they measure something else), from the runs' cached score
/// cells, never their rows: the operation `proximity plan` calls. `None` when nothing was
/// evaluated.
pub async fn plan_input(ctx: &PageCtx<'_>) -> Result<Option<PlanInput>, WebError> {
    Ok(
        proximity_ops::plan::scored_input(ctx.store, ctx.program, None, ctx, chrono::Utc::now())
            .await?
            .map(|s| s.input),
    )
}

pub async fn build(
    ctx: &PageCtx<'_>,
    persona_id: &str,
    run: Option<&RunRecord>,
) -> Result<Value, WebError> {
    let persona = ctx
        .program
        .persona(persona_id)
        .ok_or_else(|| WebError::NotFound(format!("No persona `{persona_id}` in the program.")))?;
    let all = match run {
        Some(r) => pairs(ctx.program, &ctx.cells(r).await?),
        None => Vec::new(),
    };
    let mine: Vec<_> = all.iter().filter(|p| p.persona == persona.id).collect();
    let tools: Vec<String> = mine.iter().map(|p| p.tool.clone()).collect();
    let workflows: Vec<WorkflowLine> = persona
        .workflows
        .iter()
        .map(|w| WorkflowLine {
            id: w.id.clone(),
            name: w.name.clone().unwrap_or_default(),
            share: pct(w.share),
            floor: pct(w.floor),
            monthly_volume: w.monthly_volume,
            edge_share: pct(w.edge_share),
            cells: mine
                .iter()
                .map(|p| match p.workflows.iter().find(|s| s.workflow == w.id) {
                    Some(s) => Cell {
                        text: s.score.with_ci(),
                        class: if s.below_floor() {
                            "below"
                        } else if s.at_risk() {
                            "risk"
                        } else {
                            "ok"
                        },
                    },
                    None => Cell {
                        text: "no results".into(),
                        class: "none",
                    },
                })
                .collect(),
        })
        .collect();
    let plan_input = plan_input(ctx).await?;
    let standardise: Vec<Standardise> = mine
        .iter()
        .map(|p| {
            let plan = plan_input
                .as_ref()
                .and_then(|i| standardise_plan(i, &persona.id, &p.tool));
            let plan_run = plan_input
                .as_ref()
                .and_then(|i| i.personas.iter().find(|x| x.id == persona.id))
                .and_then(|x| x.tools.iter().find(|t| t.tool == p.tool))
                .filter(|_| plan.is_some())
                .map(|t| t.run_id.clone());
            let at_risk: Vec<_> = p.workflows.iter().filter(|w| w.at_risk()).collect();
            let share: f64 = at_risk.iter().map(|w| w.share).sum();
            Standardise {
                tool: p.tool.clone(),
                tool_href: ctx.links.tool(&p.tool),
                real_work: p.real_work.map_or("—".into(), |e| e.with_ci()),
                monthly_cost: p.monthly_cost_usd.map_or("—".into(), usd),
                breaks: match &plan {
                    Some(plan) => plan.breaks.clone(),
                    None => at_risk
                        .iter()
                        .map(|w| {
                            format!(
                                "{} ({} of the work): {} vs floor {}",
                                w.workflow,
                                pct(w.share),
                                w.score.with_ci(),
                                pct(w.floor)
                            )
                        })
                        .collect(),
                },
                share_at_risk: pct(share),
                untested: p.uncovered.clone(),
                from_planner: plan.is_some(),
                summary: plan.map(|p| p.summary),
                plan_run_href: plan_run
                    .as_ref()
                    .map(|id| ctx.links.run(id, &Default::default(), 0)),
                plan_run,
            }
        })
        .collect();
    Ok(context! {
        persona => context! {
            id => persona.id.clone(),
            name => persona.name.clone(),
            headcount => persona.headcount,
            tier => persona.tier.clone(),
        },
        run => run.map(|r| RunHead::new(r, ctx.links)),
        tools => tools,
        workflows => workflows,
        standardise => standardise,
    })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<RunParam>,
) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let run = pick_run(ctx.store, q.run.as_deref()).await?;
    let view = build(&ctx, &id, run.as_ref()).await?;
    let chrome = Chrome::new(&ctx, format!("Persona {id}"), Some(&state.security));
    Ok(html(page("persona.html", &chrome, view)?))
}
