//! Usage & spend: gateway requests and their cost per day, by persona, tier and tool,
//! over the last 90 days (an empty state until the gateway has served requests).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use chrono::{Duration, NaiveDate, Utc};
use minijinja::{context, Value};
use proximity_store::dashboard::{UsageDay, UsageSeries};
use serde::Serialize;

use super::{html, page, usd, Chrome, PageCtx};
use crate::links::Links;
use crate::svg::{line_chart, Axes, Series};
use crate::templates::trusted_markup;
use crate::{AppState, WebError};

/// How far back the page looks.
pub const DAYS: i64 = 90;

#[derive(Debug, Serialize)]
struct Total {
    key: String,
    requests: i64,
    tokens: i64,
    cost: String,
}

fn day_number(day: &str) -> Option<f64> {
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(d.signed_duration_since(NaiveDate::MIN).num_days() as f64)
}

/// One grouping's chart (cost per day, a line per group) and totals.
fn section(title: &str, days: &[UsageDay]) -> Value {
    let mut by_group: BTreeMap<&str, Vec<&UsageDay>> = BTreeMap::new();
    for d in days {
        by_group.entry(&d.group_key).or_default().push(d);
    }
    let series: Vec<Series> = by_group
        .iter()
        .map(|(k, ds)| Series {
            name: (*k).to_owned(),
            points: ds
                .iter()
                .filter_map(|d| Some((day_number(&d.day)?, d.cost_usd)))
                .collect(),
            band: Vec::new(),
        })
        .collect();
    let mut all_days: Vec<&str> = days.iter().map(|d| d.day.as_str()).collect();
    all_days.sort_unstable();
    all_days.dedup();
    let step = (all_days.len() / 5).max(1);
    let ticks = all_days
        .iter()
        .step_by(step)
        .filter_map(|d| Some((day_number(d)?, d.get(5..).unwrap_or(d).to_owned())))
        .collect();
    let chart = line_chart(
        &series,
        &Axes {
            x_label: "day (UTC)".into(),
            y_label: "spend (USD)".into(),
            y_max: None,
            y_format: |v| format!("${v:.2}"),
            x_ticks: ticks,
        },
    );
    let totals: Vec<Total> = by_group
        .iter()
        .map(|(k, ds)| Total {
            key: (*k).to_owned(),
            requests: ds.iter().map(|d| d.requests).sum(),
            tokens: ds.iter().map(|d| d.input_tokens + d.output_tokens).sum(),
            cost: usd(ds.iter().map(|d| d.cost_usd).sum()),
        })
        .collect();
    context! { title => title, chart => trusted_markup(chart), totals => totals }
}

pub async fn build(ctx: &PageCtx<'_>) -> Result<Value, WebError> {
    let since = Utc::now() - Duration::days(DAYS);
    let mut sections = Vec::new();
    let mut any = false;
    for (title, by) in [
        ("By persona", UsageSeries::Persona),
        ("By tier", UsageSeries::Tier),
        ("By tool", UsageSeries::Tool),
    ] {
        let days = ctx.store.usage_days(Some(since), by).await?;
        any |= !days.is_empty();
        sections.push(section(title, &days));
    }
    Ok(
        context! { available => any, days => DAYS, sections => if any { sections } else { Vec::new() } },
    )
}

pub async fn handler(State(state): State<Arc<AppState>>) -> Result<Html<String>, WebError> {
    let ctx = PageCtx {
        program: &state.program,
        store: &state.store,
        links: Links::Server,
        cache: Some(&state.cells),
    };
    let view = build(&ctx).await?;
    let chrome = Chrome::new(&ctx, "Usage & spend", Some(&state.security));
    Ok(html(page("usage.html", &chrome, view)?))
}
