//! Usage & spend: gateway requests and their cost per day, by persona, tier and tool,
//! over the last 90 days (an empty state until the gateway has served requests).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use minijinja::{context, Value};
use proximity_store::dashboard::{UsageDay, UsageSeries};
use serde::Serialize;

use super::{html, page, usd_small, Chrome, PageCtx};
use crate::links::Links;
use crate::svg::{line_chart, Axes, Series};
use crate::templates::trusted_markup;
use crate::{AppState, WebError};

/// How far back the page looks.
pub const DAYS: i64 = 90;

#[derive(Debug, Serialize)]
struct Total {
    key: String,
    requests: String,
    errors: String,
    rate_limited: String,
    tokens: String,
    cost: String,
}

/// Whole numbers with thousands separators: `1,234,567`.
pub fn count(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// How much of a budget is spent: `12%`; a real spend under half a percent reads `<1%`,
/// never `0%`.
fn share_of_budget(spent: f64, budget: f64) -> String {
    let p = spent / budget * 100.0;
    if spent > 0.0 && p < 0.5 {
        "<1%".into()
    } else {
        format!("{p:.0}%")
    }
}

/// A tick of a money axis: whole dollars from $10, cents from $0.10, else 4 places.
fn money_tick(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v.abs() >= 10.0 {
        format!("${v:.0}")
    } else if v.abs() >= 0.1 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
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
            y_format: money_tick,
            x_ticks: ticks,
        },
    );
    let total = |key: String, ds: &[&UsageDay]| Total {
        key,
        requests: count(ds.iter().map(|d| d.requests).sum()),
        errors: count(ds.iter().map(|d| d.errors).sum()),
        rate_limited: count(ds.iter().map(|d| d.rate_limited).sum()),
        tokens: count(ds.iter().map(|d| d.input_tokens + d.output_tokens).sum()),
        cost: usd_small(ds.iter().map(|d| d.cost_usd).sum()),
    };
    let totals: Vec<Total> = by_group
        .iter()
        .map(|(k, ds)| total((*k).to_owned(), ds))
        .collect();
    let all: Vec<&UsageDay> = days.iter().collect();
    context! {
        title => title, chart => trusted_markup(chart), totals => totals,
        all => total("all".into(), &all),
    }
}

/// One line of "this month against budget".
#[derive(Debug, Serialize)]
pub struct BudgetView {
    pub name: String,
    pub id: String,
    /// `persona` or `tier`.
    pub scope: &'static str,
    pub spent: String,
    /// Budget per seat × headcount; `—` without a budget.
    pub budget: String,
    /// Spent as a share of the budget (`—` without one).
    pub used: String,
    /// Spent more than the budget.
    pub over: bool,
}

/// Gateway spend this calendar month (UTC) against the tier budgets (per seat × the
/// personas' headcount), per persona and per tier, from the daily rollup.
pub async fn budgets(ctx: &PageCtx<'_>) -> Result<Vec<BudgetView>, WebError> {
    let now = Utc::now();
    let month = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(now, |d| d.and_utc());
    let spent = |days: &[UsageDay], key: &str| -> f64 {
        days.iter()
            .filter(|d| d.group_key == key)
            .map(|d| d.cost_usd)
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    };
    let line = |name: String, id: String, scope, spent: f64, budget: Option<f64>| BudgetView {
        name,
        id,
        scope,
        spent: usd_small(spent),
        budget: budget.map_or("—".into(), usd_small),
        used: budget
            .filter(|b| *b > 0.0)
            .map_or("—".into(), |b| share_of_budget(spent, b)),
        over: budget.is_some_and(|b| spent > b),
    };
    let by_persona = ctx
        .store
        .usage_days(Some(month), UsageSeries::Persona)
        .await?;
    let by_tier = ctx.store.usage_days(Some(month), UsageSeries::Tier).await?;
    let mut out = Vec::new();
    for p in &ctx.program.personas {
        let seat = ctx
            .program
            .tier(&p.tier)
            .and_then(|t| t.budget_per_seat_month);
        out.push(line(
            p.name.clone(),
            p.id.clone(),
            "persona",
            spent(&by_persona, &p.id),
            seat.map(|s| s * f64::from(p.headcount)),
        ));
    }
    for t in &ctx.program.tiers {
        let seats: u32 = ctx
            .program
            .personas
            .iter()
            .filter(|p| p.tier == t.id)
            .map(|p| p.headcount)
            .sum();
        out.push(line(
            t.id.clone(),
            t.id.clone(),
            "tier",
            spent(&by_tier, &t.id),
            t.budget_per_seat_month.map(|s| s * f64::from(seats)),
        ));
    }
    Ok(out)
}

pub async fn build(ctx: &PageCtx<'_>) -> Result<Value, WebError> {
    let since = Utc::now() - Duration::days(DAYS);
    let mut sections = Vec::new();
    let mut any = false;
    for (title, by) in [
        ("By persona", UsageSeries::Persona),
        ("By tier", UsageSeries::Tier),
        ("By tool", UsageSeries::Tool),
        ("By workflow", UsageSeries::Workflow),
    ] {
        let days = ctx.store.usage_days(Some(since), by).await?;
        any |= !days.is_empty();
        sections.push(section(title, &days));
    }
    let budgets = budgets(ctx).await?;
    Ok(context! {
        available => any, days => DAYS, budgets => budgets,
        month => Utc::now().format("%B %Y").to_string(),
        sections => if any { sections } else { Vec::new() },
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_spend_never_reads_as_none_of_the_budget() {
        assert_eq!(share_of_budget(0.0033, 4800.0), "<1%");
        assert_eq!(share_of_budget(0.0, 4800.0), "0%");
        assert_eq!(share_of_budget(1200.0, 4800.0), "25%");
        assert_eq!(share_of_budget(5000.0, 4800.0), "104%");
        assert_eq!(money_tick(0.0), "$0");
        assert_eq!(money_tick(0.25), "$0.25");
        assert_eq!(money_tick(0.0005), "$0.0005");
        assert_eq!(money_tick(20.0), "$20");
    }
}
