//! Captures of the gateway (`capture: true` on a tier): listing them, and promoting one
//! into a case of the persona's suite file through the same append as `note promote`
//! ([`crate::notes`]). What was captured is already redacted; a promoted case is
//! redacted once more with the program's current `canaries:` before it is written.

use std::path::PathBuf;

use proximity_program::promote::{Origin, Promotion};
use proximity_program::redact::Redactor;
use proximity_program::{CaseKind, Message, Program, Role};
use proximity_store::{CaptureFilter, CaptureRecord, Store};

use crate::{ids, notes, OpsError};

/// `capture list`: the captures matching `filter`, oldest first.
pub async fn list(store: &Store, filter: &CaptureFilter) -> Result<Vec<CaptureRecord>, OpsError> {
    Ok(store.captures(filter).await?)
}

/// One capture by id.
pub async fn get(store: &Store, id: i64) -> Result<CaptureRecord, OpsError> {
    store.capture(id).await?.ok_or_else(|| {
        OpsError::not_found(format!("no capture {id} in the store"))
            .with_hint("`proximity capture list` shows the captures")
    })
}

/// A promotion of a capture as asked for.
#[derive(Debug, Clone, Default)]
pub struct PromoteRequest {
    pub capture_id: i64,
    /// The suite file (relative to the program or absolute); default: the one holding
    /// most of the persona's cases.
    pub suite: Option<PathBuf>,
    /// Default `capture-<ID>`.
    pub case_id: Option<String>,
    /// When the capture's request named no workflow of the persona.
    pub workflow: Option<String>,
    /// Default `routine`.
    pub kind: Option<CaseKind>,
    /// `(group, line)`, at least one (see [`proximity_program::promote::assertion`]).
    pub assertions: Vec<(&'static str, String)>,
}

/// What a promotion wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Promoted {
    pub capture_id: i64,
    pub case_id: String,
    pub persona: String,
    /// The suite file, as the program root joins it.
    pub suite: PathBuf,
}

/// Promote a capture into a case: its messages as the case's conversation, appended to
/// a suite file (the file's bytes kept, restored if the program no longer loads), then
/// the capture marked promoted.
pub async fn promote(
    store: &Store,
    program: &Program,
    req: &PromoteRequest,
) -> Result<Promoted, OpsError> {
    let record = get(store, req.capture_id).await?;
    let c = &record.capture;
    if let Some(case) = &record.promoted_case {
        return Err(OpsError::invalid(format!(
            "capture {} was already promoted to case `{case}`",
            record.id
        )));
    }
    if req.assertions.is_empty() {
        return Err(OpsError::invalid("no assertion given: promotion needs at least one").with_hint(
            "say what the answer must contain (`--assert-contains TEXT`), that it must abstain (`--must-abstain`), …",
        ));
    }
    ids::persona(program, &c.persona)?;
    let workflow = match &req.workflow {
        Some(w) => w.clone(),
        None => c.workflow.clone(),
    };
    ids::workflow(program, &c.persona, &workflow).map_err(|e| {
        if req.workflow.is_none() {
            e.with_hint("give the workflow (`proximity capture promote --workflow`)")
        } else {
            e
        }
    })?;
    let suite = notes::suite_for(program, &c.persona, req.suite.as_deref())?;
    let case_id = req
        .case_id
        .clone()
        .unwrap_or_else(|| format!("capture-{}", record.id));
    if program.cases.iter().any(|x| x.id == case_id) {
        return Err(
            OpsError::invalid(format!("a case `{case_id}` already exists"))
                .with_hint("choose another id (`--case-id`)"),
        );
    }
    let redactor = Redactor::new(proximity_program::canaries(&program.root));
    let messages = c
        .messages
        .iter()
        .map(|m| {
            let role = Role::parse(&m.role).ok_or_else(|| {
                OpsError::invalid(format!(
                    "capture {} has a message of role `{}`, which a case cannot hold",
                    record.id, m.role
                ))
            })?;
            Ok(Message {
                role,
                content: redactor.redact(&m.content),
            })
        })
        .collect::<Result<Vec<_>, OpsError>>()?;
    if messages.last().map(|m| m.role) != Some(Role::User) {
        return Err(OpsError::invalid(format!(
            "capture {}'s request does not end with a user message, which a case must",
            record.id
        )));
    }
    let date = c.created_at.format("%Y-%m-%d").to_string();
    let answer: String = redactor.redact(&c.answer).chars().take(200).collect();
    let promotion = Promotion {
        origin: Origin::Capture {
            id: record.id,
            date: date.clone(),
            tool: c.tool.clone(),
        },
        persona: c.persona.clone(),
        workflow,
        kind: req.kind.unwrap_or(CaseKind::Routine),
        case_id: case_id.clone(),
        description: format!(
            "Captured at the gateway on {date}; {} answered: {answer}",
            c.tool
        ),
        messages,
        assertions: req.assertions.clone(),
    };
    let rel = notes::append(program, &suite, &promotion)?;
    store
        .mark_capture_promoted(record.id, &case_id, &rel)
        .await?;
    Ok(Promoted {
        capture_id: record.id,
        case_id,
        persona: c.persona.clone(),
        suite,
    })
}
