//! Overview: the persona × tool heatmap of real-work scores (intervals on hover), the
//! pairs' demo-vs-real gap, silent-failure rate and monthly cost, decisions due for
//! review, drift alerts and coverage gaps (workflows without real-work results, personas
//! no leader has worked with first-hand lately).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use minijinja::{context, Value};
use proximity_store::RunRecord;
use serde::{Deserialize, Serialize};

use super::{html, page, pick_run, points, usd, Chrome, PageCtx};
use crate::links::Links;
use crate::scores::{pairs, PairEst};
use crate::svg::{heatmap, HeatCell};
use crate::templates::trusted_markup;
use crate::views::{DecisionView, DriftAlert};
use crate::{AppState, WebError};

/// A persona no leader has used a tool for first-hand within the program's horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistantPersona {
    pub persona: String,
    /// The last leader note on the persona, if any.
    pub last_leader_note: Option<String>,
}

/// Proximity coverage (what `proximity coverage` reports): the horizon, and the personas
/// whose decisions are made at a distance, from leaders' field notes.
async fn distant_personas(
    ctx: &PageCtx<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(u32, Vec<DistantPersona>), WebError> {
    let notes = proximity_ops::notes::list(ctx.store, &Default::default()).await?;
    let cov = proximity_analysis::coverage::coverage(ctx.program, &notes, now.date_naive());
    let distant = cov
        .personas
        .into_iter()
        .filter(|p| p.flagged)
        .map(|p| DistantPersona {
            persona: p.persona,
            last_leader_note: p.last_leader_note.map(|d| d.format("%Y-%m-%d").to_string()),
        })
        .collect();
    Ok((cov.horizon_days, distant))
}

#[derive(Debug, Deserialize)]
pub struct RunParam {
    pub run: Option<String>,
}

#[derive(Debug, Serialize)]
struct PairLine {
    persona: String,
    persona_href: String,
    tool: String,
    tool_href: String,
    real_work: String,
    demo: String,
    gap: String,
    gap_negative: bool,
    silent: String,
    monthly_cost: String,
    results: String,
}

#[derive(Debug, Serialize)]
struct Gap {
    persona: String,
    tool: String,
    workflow: String,
}

/// The run's header line, shared by the pages that show one run.
#[derive(Debug, Serialize)]
pub struct RunHead {
    pub id: String,
    /// `eval`, `drift`, `risk probe`, `context probe`.
    pub kind: &'static str,
    pub started_at: String,
    pub status: String,
    pub planned: u64,
    pub href: String,
}

impl RunHead {
    pub fn new(run: &RunRecord, links: Links) -> Self {
        Self {
            id: run.id.clone(),
            kind: super::run_kind(run).label(),
            started_at: run.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            status: run.status.as_str().to_owned(),
            planned: run.planned,
            href: links.run(&run.id, &Default::default(), 0),
        }
    }
}

/// The heatmap of `pairs`: personas down, tools across.
pub fn heatmap_svg(ctx: &PageCtx<'_>, run: &str, pairs: &[PairEst]) -> String {
    let mut personas: Vec<&str> = Vec::new();
    let mut tools: Vec<&str> = Vec::new();
    for p in pairs {
        if !personas.contains(&p.persona.as_str()) {
            personas.push(&p.persona);
        }
        if !tools.contains(&p.tool.as_str()) {
            tools.push(&p.tool);
        }
    }
    // Display names, the id where the program has no persona of that id any more.
    let rows: Vec<(String, Option<String>)> = personas
        .iter()
        .map(|p| {
            let name = ctx
                .program
                .persona(p)
                .map_or_else(|| (*p).to_owned(), |x| x.name.clone());
            (name, Some(ctx.links.persona(p, run)))
        })
        .collect();
    let cols: Vec<String> = tools.iter().map(|t| (*t).to_owned()).collect();
    heatmap(&rows, &cols, |r, c| {
        let p = pairs
            .iter()
            .find(|p| p.persona == personas[r] && p.tool == tools[c])?;
        let score = p.real_work?;
        // Coloured against the floors, not the raw score: red when a workflow's score
        // is below its floor, amber when only its interval reaches below, else green.
        let below = p.workflows.iter().filter(|w| w.below_floor()).count();
        let at_risk = p.workflows.iter().filter(|w| w.at_risk()).count();
        let (value, label) = match (below, at_risk) {
            (0, 0) => (1.0, score.pct()),
            (0, n) => (0.5, format!("{} · {n} at risk", score.pct())),
            (n, _) => (0.05, format!("{} · {n} below", score.pct())),
        };
        Some(HeatCell {
            value,
            label,
            title: format!(
                "{} × {}: real-work score {} (95% interval {:.0}–{:.0}%, n = {}, effective n = {:.1}); {below} of {} workflows below their floor, {at_risk} with the interval reaching below it; silent-failure rate {}",
                p.persona,
                p.tool,
                score.pct(),
                score.low * 100.0,
                score.high * 100.0,
                score.n,
                score.n_eff,
                p.workflows.len(),
                p.silent_rate.with_ci()
            ),
            href: Some(ctx.links.persona(&p.persona, run)),
        })
    })
}

/// The overview of `run`.
pub async fn build(ctx: &PageCtx<'_>, run: Option<&RunRecord>) -> Result<Value, WebError> {
    let now = chrono::Utc::now();
    let due: Vec<DecisionView> = super::decisions::views(ctx)
        .await?
        .into_iter()
        .filter(|d| !d.stale_reasons.is_empty() || !d.contradicted.is_empty())
        .collect();
    let drift: Vec<DriftAlert> = proximity_ops::drift::alerts(ctx.store, ctx.program, now)
        .await?
        .into_iter()
        .map(DriftAlert::from)
        .collect();
    let (horizon_days, distant) = distant_personas(ctx, now).await?;
    // Spend is live: the server's overview shows this month's; a static report is of
    // its run.
    let budgets = if ctx.links == Links::Server {
        super::usage::budgets(ctx).await?
    } else {
        Vec::new()
    };
    let month = now.format("%B %Y").to_string();
    let Some(run) = run else {
        return Ok(context! {
            run => Value::UNDEFINED, decisions_due => due, drift => drift,
            distant => distant, horizon_days => horizon_days, budgets => budgets, month => month,
        });
    };
    let cells = ctx.cells(run).await?;
    let pairs = pairs(ctx.program, &cells);
    let lines: Vec<PairLine> = pairs
        .iter()
        .map(|p| PairLine {
            persona: ctx
                .program
                .persona(&p.persona)
                .map_or_else(|| p.persona.clone(), |x| x.name.clone()),
            persona_href: ctx.links.persona(&p.persona, &run.id),
            tool: p.tool.clone(),
            tool_href: ctx.links.tool(&p.tool),
            real_work: p.real_work.map_or("—".into(), |e| e.with_ci()),
            demo: p.demo.map_or("—".into(), |e| e.with_ci()),
            gap: p.gap.map_or("—".into(), points),
            gap_negative: p.gap.is_some_and(|g| g < 0.0),
            silent: p.silent_rate.with_ci(),
            monthly_cost: p.monthly_cost_usd.map_or("—".into(), usd),
            results: crate::pages::usage::count(
                i64::try_from(p.verdicts.total()).unwrap_or(i64::MAX),
            ),
        })
        .collect();
    let gaps: Vec<Gap> = pairs
        .iter()
        .flat_map(|p| {
            p.uncovered.iter().map(|w| Gap {
                persona: p.persona.clone(),
                tool: p.tool.clone(),
                workflow: w.clone(),
            })
        })
        .collect();
    let svg = heatmap_svg(ctx, &run.id, &pairs);
    let runs: Vec<RunHead> = if ctx.links == Links::Server {
        ctx.store
            .runs()
            .await?
            .iter()
            .filter(|r| super::run_kind(r) == super::RunKind::Eval)
            .take(8)
            .map(|r| {
                let mut h = RunHead::new(r, ctx.links);
                h.href = ctx.links.overview(&r.id);
                h
            })
            .collect()
    } else {
        Vec::new()
    };
    let total: u64 = pairs.iter().map(|p| p.verdicts.total()).sum();
    let mut covered_tools: Vec<&str> = pairs.iter().map(|p| p.tool.as_str()).collect();
    covered_tools.sort_unstable();
    covered_tools.dedup();
    let mut covered_personas: Vec<String> = Vec::new();
    for p in &pairs {
        let name = ctx
            .program
            .persona(&p.persona)
            .map_or_else(|| p.persona.clone(), |x| x.name.clone());
        if !covered_personas.contains(&name) {
            covered_personas.push(name);
        }
    }
    let covers = format!(
        "{} of {} tools ({}); {} of {} personas ({})",
        covered_tools.len(),
        ctx.program.tools.len(),
        covered_tools.join(", "),
        covered_personas.len(),
        ctx.program.personas.len(),
        covered_personas.join(", ")
    );
    Ok(context! {
        run => RunHead::new(run, ctx.links),
        results => crate::pages::usage::count(i64::try_from(total).unwrap_or(i64::MAX)),
        covers => covers,
        heatmap => trusted_markup(svg),
        pairs => lines,
        coverage_gaps => gaps,
        decisions_due => due,
        drift => drift,
        distant => distant,
        horizon_days => horizon_days,
        recent_runs => runs,
        budgets => budgets,
        month => month,
    })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    Query(q): Query<RunParam>,
) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let run = pick_run(ctx.store, q.run.as_deref()).await?;
    let view = build(&ctx, run.as_ref()).await?;
    let chrome = Chrome::new(&ctx, "Overview", Some(&state.security));
    Ok(html(page("overview.html", &chrome, view)?))
}
