//! `proximity plan`: the cheapest tool assignment that keeps every workflow at or above
//! its floor within tier budgets, the cost/quality frontier, and with `--standardize
//! PERSONA=TOOL` what standardising a persona on one tool would do. Plans from per-run
//! sums, as the dashboard's persona page does (one operation, `ops::plan::scored_input`):
//! per persona and tool, the newest evaluation run with results for the pair, or the
//! evaluation run `--run` names; never a probe or drift run.

use anyhow::Context as _;
use chrono::Utc;
use proximity_analysis::plan::{self, Plan, WhatIf};
use proximity_ops::plan as ops_plan;

use crate::args::plan::PlanArgs;
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, a: &PlanArgs) -> anyhow::Result<Outcome> {
    let declared = context::load_program(g)?;
    let store = context::open_store(g, &declared).await?;
    let weighted = super::mix::weigh(&store, &declared, &a.weights).await?;
    let program: &proximity_program::Program = &weighted.program;
    let scored =
        ops_plan::require_scored_input(&store, program, a.run.as_deref(), Utc::now()).await?;
    let run_ids = scored.run_ids();
    let mut input = scored.input;
    if let Some(mix) = &weighted.mix {
        proximity_ops::mix::price_plan(&mut input, program, mix);
    }
    let observed = weighted.mix.is_some();
    let outcome = if a.standardize.is_empty() {
        let plan = plan::plan(&input, a.per_workflow)?;
        let finding = !plan.feasible;
        let mut json = serde_json::to_value(&plan)?;
        if let (true, Some(o)) = (observed, json.as_object_mut()) {
            o.insert(
                "weights".to_owned(),
                serde_json::to_value(&weighted.weights)?,
            );
        }
        let mut text = match a.format {
            ListFormat::Json => serde_json::to_string_pretty(&json)?,
            ListFormat::Table if observed => format!(
                "{}\n\n{}",
                weighted.weights.describe(),
                render_plan(&plan, a.frontier_limit, a.run.as_deref())
            ),
            ListFormat::Table => render_plan(&plan, a.frontier_limit, a.run.as_deref()),
        };
        if a.record {
            let id = store.insert_plan(&run_ids, &json, Utc::now()).await?;
            if a.format == ListFormat::Table {
                text.push_str(&format!(
                    "\nrecorded as plan {id}: cite it with `proximity decide add --evidence plan:{id}`\n"
                ));
            }
        }
        output::emit(&text, None)?;
        if finding {
            Outcome::Finding
        } else {
            Outcome::Ok
        }
    } else {
        let mut answers = Vec::new();
        for s in &a.standardize {
            let (persona, tool) = ops_plan::standardise_pair(program, s)
                .with_context(|| format!("`--standardize {s}`"))?;
            answers.push(ops_plan::what_if(program, &input, persona, tool)?);
        }
        let finding = answers.iter().any(|w| !w.below_floor.is_empty());
        let text = match a.format {
            ListFormat::Json if observed => serde_json::to_string_pretty(
                &serde_json::json!({ "what_if": answers, "weights": weighted.weights }),
            )?,
            ListFormat::Json => {
                serde_json::to_string_pretty(&serde_json::json!({ "what_if": answers }))?
            }
            ListFormat::Table if observed => std::iter::once(weighted.weights.describe())
                .chain(
                    answers
                        .iter()
                        .map(|w| render_what_if(w, input.horizon_days)),
                )
                .collect::<Vec<_>>()
                .join("\n"),
            ListFormat::Table => answers
                .iter()
                .map(|w| render_what_if(w, input.horizon_days))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        output::emit(&text, None)?;
        if finding {
            Outcome::Finding
        } else {
            Outcome::Ok
        }
    };
    store.close().await;
    Ok(outcome)
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

pub fn render_plan(plan: &Plan, limit: usize, run: Option<&str>) -> String {
    let mut out = format!(
        "Plan: {}, from {}. Floors are checked against the lower\nbound of the 95% Wilson interval, not the point estimate.\n\n",
        if plan.granularity == "workflow" {
            "one tool per workflow"
        } else {
            "one tool per persona"
        },
        match run {
            Some(id) => format!("evaluation run {id}"),
            None => "the newest evaluation run per persona and tool".to_owned(),
        }
    );
    out.push_str(&format!(
        "{:<20} {:<40} {:>12} {:>9} {:>8} {:>6}\n",
        "PERSONA", "TOOL", "USD/MONTH", "PER SEAT", "BUDGET", "SCORE"
    ));
    for p in &plan.personas {
        if p.assignment.is_empty() {
            out.push_str(&format!(
                "{:<20} none meets every floor within budget\n",
                p.persona
            ));
            for b in &p.binding {
                out.push_str(&format!("{:<20}   - {b}\n", ""));
            }
            continue;
        }
        let first = &p.assignment[0].tool;
        let tools = if p.assignment.iter().all(|c| &c.tool == first) {
            first.clone()
        } else {
            p.assignment
                .iter()
                .map(|c| format!("{}={}", c.workflow, c.tool))
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push_str(&format!(
            "{:<20} {:<40} {:>12} {:>9} {:>8} {:>6}\n",
            p.persona,
            tools,
            opt(p.monthly_cost_usd, 2),
            opt(p.cost_per_seat_usd, 2),
            opt(p.budget_per_seat_usd, 2),
            opt(p.score, 3),
        ));
    }
    if plan.feasible {
        out.push_str(&format!(
            "\ntotal {:.2} USD per month\n",
            plan.monthly_cost_usd
        ));
    } else {
        out.push_str("\nno assignment meets every floor within budget for every persona\n");
    }
    out.push_str(&format!(
        "\nFrontier: real-work score (headcount-weighted) against monthly cost, Pareto-optimal\nassignments only ({} point{}{}).\n",
        plan.frontier.len(),
        if plan.frontier.len() == 1 { "" } else { "s" },
        if plan.frontier.len() > limit {
            format!(", {limit} shown; all with `--format json`")
        } else {
            String::new()
        }
    ));
    out.push_str(&format!(
        "{:>12} {:>6} {:>9}  {}\n",
        "USD/MONTH", "SCORE", "FEASIBLE", "ASSIGNMENT"
    ));
    for f in plan.frontier.iter().take(limit) {
        let assignment: Vec<String> = f
            .assignment
            .iter()
            .map(|(p, t)| format!("{p}: {t}"))
            .collect();
        out.push_str(&format!(
            "{:>12.2} {:>6.3} {:>9}  {}\n",
            f.monthly_cost_usd,
            f.score,
            if f.feasible { "yes" } else { "no" },
            assignment.join("; ")
        ));
    }
    if !plan.stale_evidence.is_empty() {
        out.push_str(&format!(
            "\nEvidence older than the horizon ({} days):\n",
            plan.horizon_days
        ));
        for s in &plan.stale_evidence {
            out.push_str(&format!(
                "  {} from run {} ({} days old): re-run `proximity eval --tool {}`\n",
                s.tool, s.run_id, s.age_days, s.tool
            ));
        }
    }
    out
}

pub fn render_what_if(w: &WhatIf, horizon_days: u32) -> String {
    let mut out = format!(
        "What if `{}` were standardised on `{}` ({} results, floors against the 95% Wilson lower bound)\n\n",
        w.persona, w.tool, w.results
    );
    out.push_str(&format!(
        "{:<24} {:>7} {:>8} {:>7} {:>5}\n",
        "WORKFLOW", "SCORE", "LOWER", "FLOOR", "N"
    ));
    for wf in &w.workflows {
        let below = w.below_floor.iter().any(|b| b.workflow == wf.workflow);
        out.push_str(&format!(
            "{:<24} {:>7} {:>8} {:>7.2} {:>5}{}\n",
            wf.workflow,
            opt(wf.score, 3),
            opt(wf.ci_low, 3),
            wf.floor,
            wf.n,
            if below { "  below floor" } else { "" }
        ));
    }
    out.push_str(&format!(
        "\n{} of {} workflows would fall below their floor.\nmonthly cost {:.2} USD, silent-failure rate {:.1}%\n",
        w.below_floor.len(),
        w.workflows.len(),
        w.monthly_cost_usd,
        w.silent_rate * 100.0
    ));
    if let Some(c) = &w.compared_with {
        out.push_str(&format!(
            "against the planner's choice `{}`: cost {:+.2} USD/month, silent-failure rate {:+.1} points\n",
            c.tool,
            c.cost_change_usd,
            c.silent_rate_change * 100.0
        ));
    } else {
        out.push_str("no single tool meets every floor of this persona within budget\n");
    }
    for c in &w.alternatives {
        out.push_str(&format!(
            "  vs `{}`: cost {:+.2} USD/month, silent-failure rate {:+.1} points{}\n",
            c.tool,
            c.cost_change_usd,
            c.silent_rate_change * 100.0,
            if c.meets_floors {
                " (meets every floor)"
            } else {
                ""
            }
        ));
    }
    if let Some(s) = &w.stale {
        out.push_str(&format!(
            "warning: this rests on run {} ({} days old, horizon {horizon_days})\n",
            s.run_id, s.age_days
        ));
    }
    out
}
