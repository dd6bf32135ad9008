//! `proximity capture list|promote`: the gateway's captures (redacted requests and
//! answers of tiers with `capture: true`), listed, and one promoted into a case.

use proximity_ops::capture::{self, PromoteRequest};
use proximity_program::CaseKind;
use proximity_store::{CaptureFilter, CaptureRecord};
use serde_json::json;

use crate::args::capture::{CaptureCommand, ListArgs, PromoteArgs};
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::hint::{hinted, HintContext as _};
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, command: &CaptureCommand) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    let outcome = match command {
        CaptureCommand::List(a) => list(&store, a).await,
        CaptureCommand::Promote(a) => promote(&program, &store, a).await,
    };
    store.close().await;
    outcome
}

async fn list(store: &proximity_store::Store, a: &ListArgs) -> anyhow::Result<Outcome> {
    let captures = capture::list(
        store,
        &CaptureFilter {
            persona: a.persona.clone(),
            workflow: a.workflow.clone(),
        },
    )
    .await?;
    let text = match a.format {
        ListFormat::Json => serde_json::to_string_pretty(&json!({
            "captures": captures.iter().map(as_json).collect::<Vec<_>>()
        }))?,
        ListFormat::Table => table(&captures),
    };
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}

fn as_json(r: &CaptureRecord) -> serde_json::Value {
    let c = &r.capture;
    json!({
        "id": r.id,
        "created_at": c.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "request_id": c.request_id,
        "persona": c.persona,
        "tier": c.tier,
        "tool": c.tool,
        "workflow": c.workflow,
        "messages": c.messages,
        "answer": c.answer,
        "promoted_case": r.promoted_case,
        "promoted_suite": r.promoted_suite,
    })
}

/// `text` on one line, at most `n` characters.
fn short(text: &str, n: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > n {
        let cut: String = one.chars().take(n.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        one
    }
}

fn table(captures: &[CaptureRecord]) -> String {
    let mut out = format!(
        "{:>4}  {:<16}  {:<18}  {:<16}  {:<14}  {:<48}  {}\n",
        "ID", "TIME (UTC)", "PERSONA", "WORKFLOW", "TOOL", "REQUEST", "ANSWER"
    );
    for r in captures {
        let c = &r.capture;
        let request = c
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map_or("", |m| m.content.as_str());
        out.push_str(&format!(
            "{:>4}  {:<16}  {:<18}  {:<16}  {:<14}  {:<48}  {}{}\n",
            r.id,
            c.created_at.format("%Y-%m-%d %H:%M"),
            c.persona,
            c.workflow,
            c.tool,
            short(request, 48),
            short(&c.answer, 48),
            r.promoted_case
                .as_ref()
                .map(|c| format!("  → {c}"))
                .unwrap_or_default(),
        ));
    }
    out.push_str(&format!("{} captures (redacted)\n", captures.len()));
    out
}

async fn promote(
    program: &proximity_program::Program,
    store: &proximity_store::Store,
    a: &PromoteArgs,
) -> anyhow::Result<Outcome> {
    let kind = a
        .kind
        .as_deref()
        .map(|k| {
            CaseKind::parse(k).hint_context(format!("unknown kind `{k}`"), "`routine` or `edge`")
        })
        .transpose()?;
    let assertions = a.assert.lines();
    if assertions.is_empty() {
        return Err(hinted(
            "no assertion given",
            "`--assert-contains TEXT`, `--assert-regex RE`, `--assert-equals TEXT`, `--must-abstain` …",
        ));
    }
    let done = capture::promote(
        store,
        program,
        &PromoteRequest {
            capture_id: a.id,
            suite: a.suite.clone(),
            case_id: a.case_id.clone(),
            workflow: a.workflow.clone(),
            kind,
            assertions,
        },
    )
    .await?;
    output::emit(
        &format!(
            "promoted capture {} to case `{}` in {}\n  hint: `proximity eval --persona {}` runs it",
            done.capture_id,
            done.case_id,
            done.suite.display(),
            done.persona
        ),
        None,
    )?;
    Ok(Outcome::Ok)
}
