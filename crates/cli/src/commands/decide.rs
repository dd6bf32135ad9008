//! `proximity decide add|list|review`: decision records. `review` resolves each
//! decision's evidence from the store and lists the stale ones; exit 1 when any is.

use std::collections::BTreeSet;

use anyhow::{bail, Context as _};
use chrono::Utc;
use clap::{Args, Subcommand};
use proximity_analysis::staleness::{self, ResolvedEvidence, Review};
use proximity_program::Program;
use proximity_store::{DecisionRecord, Evidence, EvidenceKind, NewDecision, NoteFilter, Store};

use crate::args::{GlobalArgs, ListFormat};
use crate::commands::note::{check_persona, check_tier, check_tool};
use crate::commands::output;
use crate::{context, Outcome};

#[derive(Debug, Subcommand)]
pub enum DecideCommand {
    /// Record a decision and the evidence it rests on.
    Add(AddArgs),
    /// List decisions.
    List(ListArgs),
    /// List stale decisions (old evidence, changed tools, drift, contradicting notes);
    /// exit 1 when any is stale.
    Review(ListArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[arg(long)]
    pub title: String,
    /// What was decided, in a sentence or two.
    #[arg(long)]
    pub statement: String,
    #[arg(long)]
    pub author: Option<String>,
    /// A persona it covers (repeatable).
    #[arg(long)]
    pub persona: Vec<String>,
    /// A tool it covers (repeatable).
    #[arg(long)]
    pub tool: Vec<String>,
    /// A tier it covers (repeatable).
    #[arg(long)]
    pub tier: Vec<String>,
    /// Evidence it rests on: `run:ID`, `baseline:NAME`, `note:ID` or `plan:ID`
    /// (repeatable).
    #[arg(long, value_name = "KIND:REF")]
    pub evidence: Vec<String>,
    /// Review when the evidence is older than this many days (default: the program's
    /// `horizon_days`).
    #[arg(long, value_name = "DAYS")]
    pub horizon_days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

pub async fn run(g: &GlobalArgs, command: &DecideCommand) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    let outcome = match command {
        DecideCommand::Add(a) => add(&program, &store, a).await,
        DecideCommand::List(a) => list(&store, a).await,
        DecideCommand::Review(a) => review(&program, &store, a).await,
    };
    store.close().await;
    outcome
}

fn parse_evidence(s: &str) -> anyhow::Result<Evidence> {
    let (kind, reference) = s.split_once(':').with_context(|| {
        format!("`--evidence {s}`: expected KIND:REF, e.g. `run:20261125-…` or `note:3`")
    })?;
    let kind = EvidenceKind::parse(kind).with_context(|| {
        format!(
            "`--evidence {s}`: unknown kind `{kind}`; one of: {}",
            EvidenceKind::ALL.join(", ")
        )
    })?;
    Ok(Evidence {
        kind,
        reference: reference.to_owned(),
    })
}

async fn add(program: &Program, store: &Store, a: &AddArgs) -> anyhow::Result<Outcome> {
    for p in &a.persona {
        check_persona(program, p).map_err(|e| anyhow::anyhow!(e))?;
    }
    for t in &a.tool {
        check_tool(program, t).map_err(|e| anyhow::anyhow!(e))?;
    }
    for t in &a.tier {
        check_tier(program, t).map_err(|e| anyhow::anyhow!(e))?;
    }
    let mut evidence = Vec::new();
    for e in &a.evidence {
        let e = parse_evidence(e)?;
        if evidence_time(store, &e).await?.is_none() {
            bail!(
                "evidence `{}:{}` is not in the store",
                e.kind.as_str(),
                e.reference
            );
        }
        evidence.push(e);
    }
    let d = NewDecision {
        title: a.title.clone(),
        statement: a.statement.clone(),
        author: a.author.clone(),
        personas: a.persona.clone(),
        tools: a.tool.clone(),
        tiers: a.tier.clone(),
        evidence,
        horizon_days: a.horizon_days.unwrap_or(program.horizon_days),
    };
    let id = store.insert_decision(&d, Utc::now()).await?;
    output::emit(&format!("recorded decision {id}"), None)?;
    Ok(Outcome::Ok)
}

async fn list(store: &Store, a: &ListArgs) -> anyhow::Result<Outcome> {
    let decisions = store.decisions().await?;
    let text = match a.format {
        ListFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({ "decisions": decisions }))?
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
            }
            out.push_str(&format!("{} decisions\n", decisions.len()));
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

/// When a piece of evidence was made; `None` when it is not in the store.
async fn evidence_time(
    store: &Store,
    e: &Evidence,
) -> anyhow::Result<Option<chrono::DateTime<Utc>>> {
    Ok(match e.kind {
        EvidenceKind::Run => match store.run(&e.reference).await {
            Ok(r) => Some(r.started_at),
            Err(proximity_store::StoreError::NoSuchRun(_)) => None,
            Err(err) => return Err(err.into()),
        },
        EvidenceKind::Note => match e.reference.parse::<i64>() {
            Ok(id) => store
                .note(id)
                .await?
                .and_then(|n| n.note.date.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            Err(_) => None,
        },
        EvidenceKind::Plan => match e.reference.parse::<i64>() {
            Ok(id) => store.plan(id).await?.map(|p| p.created_at),
            Err(_) => None,
        },
        EvidenceKind::Baseline => match store.baseline(&e.reference).await {
            Ok(b) => Some(b.accepted_at),
            Err(proximity_store::StoreError::NoSuchBaseline(_)) => None,
            Err(err) => return Err(err.into()),
        },
    })
}

async fn resolve(store: &Store, d: &DecisionRecord) -> anyhow::Result<ResolvedEvidence> {
    let mut ev = ResolvedEvidence::default();
    let mut runs: BTreeSet<String> = BTreeSet::new();
    for e in &d.decision.evidence {
        let at = evidence_time(store, e).await?;
        ev.times.push((e.clone(), at));
        match e.kind {
            EvidenceKind::Run if at.is_some() => {
                runs.insert(e.reference.clone());
            }
            EvidenceKind::Baseline if at.is_some() => {
                runs.insert(store.baseline(&e.reference).await?.run_id);
            }
            EvidenceKind::Plan => {
                if let Ok(id) = e.reference.parse::<i64>() {
                    if let Some(p) = store.plan(id).await? {
                        runs.extend(p.runs);
                    }
                }
            }
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    for run in &runs {
        let Ok(results) = store.results(run).await else {
            continue;
        };
        for r in results {
            let key = (
                run.clone(),
                r.tool_id.clone(),
                r.tool_fingerprint.clone(),
                r.model_version.clone(),
            );
            if seen.insert(key.clone()) {
                ev.fingerprints.push(key);
            }
        }
    }
    let covered = staleness::covered_tools(d, &ev);
    ev.drift = staleness::collect_drift(store, &covered, d.created_at).await?;
    Ok(ev)
}

async fn review(program: &Program, store: &Store, a: &ListArgs) -> anyhow::Result<Outcome> {
    let notes = store.notes(&NoteFilter::default()).await?;
    let now = Utc::now();
    let mut reviews: Vec<Review> = Vec::new();
    for d in store.decisions().await? {
        let ev = resolve(store, &d).await?;
        reviews.push(staleness::review(program, &d, &ev, &notes, now));
    }
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
