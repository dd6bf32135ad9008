//! `proximity decide add|list|review`: decision records. `review` resolves each
//! decision's evidence from the store and lists the stale ones; exit 1 when any is.
//! `list` flags the decisions their own evidence contradicts, as the dashboard does.

use chrono::Utc;
use std::collections::BTreeMap;

use proximity_analysis::staleness::{Contradiction, Review};
use proximity_ops::decisions::{self, DecisionInput};
use proximity_program::Program;
use proximity_store::{DecisionRecord, Store};

use crate::args::decide::{AddArgs, DecideCommand, ListArgs};
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, command: &DecideCommand) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    let outcome = match command {
        DecideCommand::Add(a) => add(&program, &store, a).await,
        DecideCommand::List(a) => list(&program, &store, a).await,
        DecideCommand::Review(a) => review(&program, &store, a).await,
    };
    store.close().await;
    outcome
}

async fn add(program: &Program, store: &Store, a: &AddArgs) -> anyhow::Result<Outcome> {
    let input = DecisionInput {
        title: a.title.clone(),
        statement: a.statement.clone(),
        author: a.author.clone(),
        personas: a.persona.clone(),
        tools: a.tool.clone(),
        tiers: a.tier.clone(),
        evidence: a.evidence.clone(),
        horizon_days: a.horizon_days,
    };
    let id = decisions::add(store, program, &input, Utc::now()).await?;
    output::emit(&format!("recorded decision {id}"), None)?;
    Ok(Outcome::Ok)
}

async fn list(program: &Program, store: &Store, a: &ListArgs) -> anyhow::Result<Outcome> {
    let decisions = decisions::list(store).await?;
    let contradicted: BTreeMap<i64, Vec<Contradiction>> =
        decisions::review(store, program, Utc::now(), store)
            .await?
            .into_iter()
            .filter(|(_, r)| !r.contradicted_by.is_empty())
            .map(|(d, r)| (d.id, r.contradicted_by))
            .collect();
    let text = match a.format {
        ListFormat::Json => {
            let mut listed = serde_json::to_value(&decisions)?;
            if let Some(items) = listed.as_array_mut() {
                for (d, item) in decisions.iter().zip(items.iter_mut()) {
                    if let (Some(c), Some(o)) = (contradicted.get(&d.id), item.as_object_mut()) {
                        o.insert("contradicted_by".to_owned(), serde_json::to_value(c)?);
                    }
                }
            }
            serde_json::to_string_pretty(&serde_json::json!({ "decisions": listed }))?
        }
        ListFormat::Table => {
            let mut out = String::new();
            for d in &decisions {
                out.push_str(&format!(
                    "{:>3}  {}  {}\n     {}\n     covers: {}  evidence: {}  horizon: {} days\n",
                    d.id,
                    d.created_at.format("%Y-%m-%d"),
                    d.decision.title,
                    d.decision.statement,
                    scope(d),
                    d.decision
                        .evidence
                        .iter()
                        .map(|e| format!("{}:{}", e.kind.as_str(), e.reference))
                        .collect::<Vec<_>>()
                        .join(", "),
                    d.decision.horizon_days
                ));
                for c in contradicted.get(&d.id).into_iter().flatten() {
                    out.push_str(&format!("     CONTRADICTED: {}\n", c.describe()));
                }
            }
            out.push_str(&format!("{} decisions", decisions.len()));
            if !contradicted.is_empty() {
                out.push_str(&format!(
                    ", {} contradicted by their own evidence",
                    contradicted.len()
                ));
            }
            out.push('\n');
            out
        }
    };
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}

fn scope(d: &DecisionRecord) -> String {
    let mut parts = Vec::new();
    for (what, ids) in [
        ("personas", &d.decision.personas),
        ("tools", &d.decision.tools),
        ("tiers", &d.decision.tiers),
    ] {
        if !ids.is_empty() {
            parts.push(format!("{what} {}", ids.join(", ")));
        }
    }
    if parts.is_empty() {
        "everything".to_owned()
    } else {
        parts.join("; ")
    }
}

async fn review(program: &Program, store: &Store, a: &ListArgs) -> anyhow::Result<Outcome> {
    let mut reviews: Vec<(DecisionRecord, Review)> =
        decisions::review(store, program, Utc::now(), store).await?;
    // Oldest first, as recorded: the operation puts the stale ones first.
    reviews.sort_by_key(|(d, _)| d.id);
    let reviews: Vec<Review> = reviews.into_iter().map(|(_, r)| r).collect();
    let stale: Vec<&Review> = reviews.iter().filter(|r| r.stale).collect();
    let text = match a.format {
        ListFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "decisions": reviews.len(),
            "stale": stale,
        }))?,
        ListFormat::Table => {
            let mut out = String::new();
            for r in &stale {
                out.push_str(&format!("stale: decision {} — {}\n", r.decision, r.title));
                for reason in &r.reasons {
                    out.push_str(&format!("  - {}\n", reason.describe()));
                }
            }
            out.push_str(&format!(
                "{} of {} decisions stale\n",
                stale.len(),
                reviews.len()
            ));
            out
        }
    };
    output::emit(&text, None)?;
    Ok(if stale.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Finding
    })
}
