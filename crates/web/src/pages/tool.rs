//! Tool: its configuration, fingerprint history (distinct fingerprints over runs), the
//! context-fill curve of its latest probe run, and its risk baseline vs now with the
//! drift timeline (empty states until a baseline is accepted or drift found). Also the accept-baseline write.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use proximity_analysis::context_fill::{curve, latest_context_run};
use proximity_ops::baselines::AcceptBaseline;
use proximity_store::ScoreCell;
use serde::{Deserialize, Serialize};

use super::{html, notice_text, page, run_kind, usd_small, Chrome, NoticeParam, PageCtx, RunKind};
use crate::links::Links;
use crate::scores::pct;
use crate::svg::{line_chart, Axes, Series};
use crate::templates::trusted_markup;
use crate::views::DriftAlert;
use crate::{AppState, WebError};

/// A tool's accepted risk baseline beside its latest risk probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskView {
    pub baseline: String,
    /// The latest run with risk-probe results of the tool.
    pub latest_run: Option<String>,
    /// Per family: (family, pass rate in the baseline, pass rate now), rates as
    /// `P of N passed`, `—` when the run has none of the family.
    pub rows: Vec<(String, String, String)>,
}

/// Workflow prefix of the built-in risk probes (`risk-<family>`, `proximity probe risk`).
const RISK_PREFIX: &str = "risk-";

/// Per family: (results, passed) of `tool`'s risk-probe results, from a run's cells.
fn risk_families(cells: &[ScoreCell], tool: &str) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in cells.iter().filter(|c| c.tool_id == tool) {
        if let Some(f) = c.workflow.strip_prefix(RISK_PREFIX) {
            let e = out.entry(f.to_owned()).or_default();
            e.0 += u64::try_from(c.n).unwrap_or(0);
            e.1 += u64::try_from(c.pass).unwrap_or(0);
        }
    }
    out
}

/// A tool's latest risk probe beside its risk baseline: the newest risk-probe run with
/// results of the tool, and the newest accepted baseline covering the tool with its
/// run's per-family pass rates (`None` where none covers the tool). Read from the runs'
/// score cells. `None` when there is neither.
pub async fn risk_baseline(ctx: &PageCtx<'_>, tool: &str) -> Result<Option<RiskView>, WebError> {
    let baseline = ctx
        .store
        .baselines()
        .await?
        .into_iter()
        .filter(|b| b.tools.iter().any(|t| t.tool_id == tool))
        .max_by_key(|b| b.accepted_at);
    let then = match &baseline {
        Some(b) => risk_families(&ctx.cells(&ctx.store.run(&b.run_id).await?).await?, tool),
        None => BTreeMap::new(),
    };
    let mut latest = None;
    for run in ctx
        .store
        .runs()
        .await?
        .iter()
        .filter(|r| run_kind(r) == RunKind::RiskProbe)
    {
        let now = risk_families(&ctx.cells(run).await?, tool);
        if !now.is_empty() {
            latest = Some((run.id.clone(), now));
            break;
        }
    }
    if baseline.is_none() && latest.is_none() {
        return Ok(None);
    }
    let rate = |m: &BTreeMap<String, (u64, u64)>, f: &str| {
        m.get(f)
            .map_or("—".to_owned(), |(n, p)| format!("{p} of {n} passed"))
    };
    let empty = BTreeMap::new();
    let now = latest.as_ref().map_or(&empty, |(_, m)| m);
    let mut families: Vec<&String> = then.keys().chain(now.keys()).collect();
    families.sort();
    families.dedup();
    Ok(Some(RiskView {
        baseline: baseline.map_or_else(|| "none accepted".to_owned(), |b| b.name),
        latest_run: latest.as_ref().map(|(id, _)| id.clone()),
        rows: families
            .into_iter()
            .map(|f| (f.clone(), rate(&then, f), rate(now, f)))
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
struct FingerprintLine {
    run: String,
    run_href: String,
    started_at: String,
    fingerprint: String,
    model_version: String,
    results: i64,
    pass_rate: String,
    /// The fingerprint differs from the previous run's.
    changed: bool,
}

pub async fn build(ctx: &PageCtx<'_>, tool_id: &str) -> Result<Value, WebError> {
    let tool = ctx
        .program
        .tool(tool_id)
        .ok_or_else(|| WebError::NotFound(format!("No tool `{tool_id}` in the program.")))?;
    // The quality history is of evaluation runs: probes and drift re-runs measure
    // other things (the risk probe has its own table below).
    let evals: Vec<String> = ctx
        .store
        .runs()
        .await?
        .iter()
        .filter(|r| run_kind(r) == RunKind::Eval)
        .map(|r| r.id.clone())
        .collect();
    let mut history = ctx.store.fingerprint_history(tool_id).await?;
    history.retain(|h| evals.contains(&h.run_id));
    // A provider error reports no model version, so its fingerprint differs from the
    // answers' of the same run: that is not a change of the tool, and its results count
    // with the run's answered ones.
    let mut errors: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for h in history.iter().filter(|h| h.model_version.is_none()) {
        let e = errors.entry(h.run_id.clone()).or_default();
        e.0 += h.results;
        e.1 += h.pass;
    }
    let answered: Vec<String> = history
        .iter()
        .filter(|h| h.model_version.is_some())
        .map(|h| h.run_id.clone())
        .collect();
    history.retain(|h| h.model_version.is_some() || !answered.contains(&h.run_id));
    for h in history.iter_mut().filter(|h| h.model_version.is_some()) {
        if let Some((n, p)) = errors.remove(&h.run_id) {
            h.results += n;
            h.pass += p;
        }
    }
    let mut runs_seen: Vec<&str> = history.iter().map(|h| h.run_id.as_str()).collect();
    runs_seen.dedup();
    let run_count = runs_seen.len();
    let mut previous: Option<String> = None;
    let mut distinct: Vec<String> = Vec::new();
    let lines: Vec<FingerprintLine> = history
        .iter()
        .map(|h| {
            let changed = previous.as_ref().is_some_and(|p| *p != h.tool_fingerprint);
            previous = Some(h.tool_fingerprint.clone());
            if !distinct.contains(&h.tool_fingerprint) {
                distinct.push(h.tool_fingerprint.clone());
            }
            FingerprintLine {
                run: h.run_id.clone(),
                run_href: ctx.links.run(&h.run_id, &Default::default(), 0),
                started_at: h
                    .started_at
                    .chars()
                    .take(16)
                    .collect::<String>()
                    .replace('T', " "),
                fingerprint: h.tool_fingerprint.chars().take(12).collect(),
                model_version: h.model_version.clone().unwrap_or_else(|| "—".into()),
                results: h.results,
                pass_rate: if h.results > 0 {
                    pct(h.pass as f64 / h.results as f64)
                } else {
                    "—".into()
                },
                changed,
            }
        })
        .collect();

    let runs = ctx.store.runs().await?;
    let context_fill = match latest_context_run(&runs, tool_id) {
        Some(run) => {
            let results = ctx.store.results(&run.id).await?;
            curve(run, &results).map(|c| {
                let series = Series {
                    name: "accuracy".into(),
                    points: c
                        .fills
                        .iter()
                        .map(|f| (f64::from(f.fill), f.accuracy))
                        .collect(),
                    band: c
                        .fills
                        .iter()
                        .map(|f| (f64::from(f.fill), f.ci_low, f.ci_high))
                        .collect(),
                };
                let svg = line_chart(
                    &[series],
                    &Axes {
                        x_label: "context fill (% of the usable window)".into(),
                        y_label: "accuracy".into(),
                        y_max: Some(1.0),
                        y_format: |v| format!("{:.0}%", v * 100.0),
                        x_ticks: c
                            .fills
                            .iter()
                            .map(|f| (f64::from(f.fill), format!("{}%", f.fill)))
                            .collect(),
                    },
                );
                context! {
                    run => c.run_id.clone(),
                    chart => trusted_markup(svg),
                    effective_context => c.effective_context_tokens,
                    effective_fill => c.effective_fill,
                    window => c.window,
                    baseline => c.baseline_accuracy.map(pct),
                    fills => c.fills.iter().map(|f| context! {
                        fill => f.fill, tokens => f.tokens,
                        accuracy => format!("{} [{:.0}–{:.0}%]", pct(f.accuracy), f.ci_low * 100.0, f.ci_high * 100.0),
                        n => f.n, ok => f.within_tolerance,
                    }).collect::<Vec<_>>(),
                }
            })
        }
        None => None,
    };
    let risk = risk_baseline(ctx, tool_id).await?;
    let drift: Vec<DriftAlert> = proximity_ops::drift::timeline(ctx.store, tool_id)
        .await?
        .into_iter()
        .map(DriftAlert::from)
        .collect();
    Ok(context! {
        tool => context! {
            id => tool.id.clone(),
            provider => tool.provider.as_str(),
            model => tool.model.clone(),
            description => tool.description.clone(),
            context_window => tool.context_window,
            price_in => usd_small(tool.price.input_per_mtok),
            price_out => usd_small(tool.price.output_per_mtok),
            seat => usd_small(tool.price.seat_per_month),
        },
        fingerprints => lines,
        distinct_fingerprints => distinct.len(),
        fingerprint_runs => run_count,
        context_fill => context_fill,
        risk => risk,
        drift => drift,
    })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<NoticeParam>,
) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let view = build(&ctx, &id).await?;
    let view = context! { notice => notice_text(q.notice.as_deref()), ..view };
    let chrome = Chrome::new(&ctx, format!("Tool {id}"), Some(&state.security));
    Ok(html(page("tool.html", &chrome, view)?))
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(default)]
    pub tool: String,
    #[serde(default)]
    pub run: String,
    #[serde(default)]
    pub name: String,
}

/// `POST /baseline/accept`: accept a run as a named baseline.
pub async fn accept_baseline(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Result<Response, WebError> {
    state
        .security
        .check_write(&headers, &form.csrf, form.admin_token.as_deref())?;
    proximity_ops::baselines::accept(
        &state.store,
        &state.program,
        &AcceptBaseline {
            run: form.run.clone(),
            name: form.name.clone(),
            note: None,
            by: "dashboard".into(),
        },
        chrono::Utc::now(),
    )
    .await?;
    let to = format!("{}?notice=accepted", Links::Server.tool(&form.tool));
    Ok(Redirect::to(&to).into_response())
}
