//! Field notes: checking one against the program, recording one or many (all or none),
//! listing them, and promoting one into a case of a suite file. `proximity note` and the
//! dashboard's field log both come here, so a note the CLI refuses the form refuses too.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use proximity_program::promote::{self, Origin, PromoteError, Promotion};
use proximity_program::{CaseKind, Message, Program, Role};
use proximity_store::{FailureMode, NewNote, NoteFilter, NoteOutcome, NoteRecord, NoteRole, Store};
use serde::Deserialize;

use crate::{ids, when, OpsError};

/// A note as a person gives it (flags, a JSON line, a form): every field unchecked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub author: String,
    /// `leader` or `practitioner` (default).
    #[serde(default)]
    pub role: Option<String>,
    pub persona: String,
    pub tool: String,
    #[serde(default)]
    pub workflow: Option<String>,
    pub task: String,
    pub what_happened: String,
    pub outcome: String,
    /// A failure mode, or `none`.
    #[serde(default)]
    pub failure_mode: Option<String>,
    #[serde(default)]
    pub minutes_saved: f64,
    #[serde(default)]
    pub minutes_lost: f64,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
    /// The day of the encounter, `YYYY-MM-DD` (default: today).
    #[serde(default)]
    pub date: Option<String>,
}

fn present(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `role` as a [`NoteRole`].
pub fn role(s: &str) -> Result<NoteRole, OpsError> {
    NoteRole::parse(s.trim()).ok_or_else(|| refused("role", s, &NoteRole::ALL))
}

/// `outcome` as a [`NoteOutcome`].
pub fn outcome(s: &str) -> Result<NoteOutcome, OpsError> {
    NoteOutcome::parse(s.trim()).ok_or_else(|| refused("outcome", s, &NoteOutcome::ALL))
}

/// `mode` as a [`FailureMode`].
pub fn failure_mode(s: &str) -> Result<FailureMode, OpsError> {
    FailureMode::parse(s.trim()).ok_or_else(|| refused("failure mode", s, &FailureMode::ALL))
}

fn refused(what: &str, value: &str, known: &[&str]) -> OpsError {
    match ids::one_of(what, value.trim(), known) {
        Err(e) => e,
        Ok(()) => OpsError::invalid(format!("`{value}` is not a {what}")),
    }
}

/// Minutes saved or lost: a finite number, 0 or more.
pub fn minutes(what: &str, m: f64) -> Result<f64, OpsError> {
    if m.is_finite() && m >= 0.0 {
        Ok(m)
    } else {
        Err(OpsError::invalid(format!(
            "{what} must be a number of minutes, 0 or more"
        )))
    }
}

/// Minutes as typed into a form: empty is 0.
pub fn minutes_text(what: &str, text: &str) -> Result<f64, OpsError> {
    match text.trim() {
        "" => Ok(0.0),
        t => t
            .parse::<f64>()
            .map_err(|_| {
                OpsError::invalid(format!("{what} must be a number of minutes, 0 or more"))
            })
            .and_then(|m| minutes(what, m)),
    }
}

/// The note to store, or the first thing wrong with it: the persona, tool and workflow
/// exist (the workflow is the persona's), the texts a reader needs are there, and the
/// enumerations and minutes are valid.
pub fn validate(program: &Program, i: NoteInput, today: NaiveDate) -> Result<NewNote, OpsError> {
    let author = i.author.trim().to_owned();
    let persona = i.persona.trim().to_owned();
    let tool = i.tool.trim().to_owned();
    ids::persona(program, &persona)?;
    ids::tool(program, &tool)?;
    let workflow = present(i.workflow);
    if let Some(w) = &workflow {
        ids::workflow(program, &persona, w)?;
    }
    let outcome = outcome(&i.outcome)?;
    let failure_mode = present(i.failure_mode)
        .filter(|m| m != "none")
        .map(|m| failure_mode(&m))
        .transpose()?;
    let empty: Vec<&str> = [
        ("`author`", &author),
        ("`task`", &i.task),
        ("`what_happened`", &i.what_happened),
    ]
    .into_iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(k, _)| k)
    .collect();
    if !empty.is_empty() {
        return Err(
            OpsError::invalid(format!("{} must not be empty", empty.join(", ")))
                .with_hint("a field note needs its `author`, the `task` and `what_happened`"),
        );
    }
    Ok(NewNote {
        date: match present(i.date) {
            Some(d) => when::parse_day(&d)?,
            None => today,
        },
        author,
        role: match present(i.role) {
            Some(r) => role(&r)?,
            None => NoteRole::Practitioner,
        },
        persona,
        tool,
        workflow,
        task: i.task.trim().to_owned(),
        what_happened: i.what_happened.trim().to_owned(),
        outcome,
        failure_mode,
        minutes_saved: minutes("`minutes_saved`", i.minutes_saved)?,
        minutes_lost: minutes("`minutes_lost`", i.minutes_lost)?,
        prompt: present(i.prompt),
        output: present(i.output),
    })
}

/// Check and record one note; its id.
pub async fn add(
    store: &Store,
    program: &Program,
    input: NoteInput,
    now: DateTime<Utc>,
) -> Result<i64, OpsError> {
    let note = validate(program, input, now.date_naive())?;
    Ok(store.insert_note(&note, now).await?)
}

/// Check many notes and record them all, or none when any is wrong. `items` are
/// `(where, note)`: `where` names the note in the error (`notes.json: item 3`), and a
/// note that could not even be read comes as `Err(why)`.
pub async fn add_all(
    store: &Store,
    program: &Program,
    items: Vec<(String, Result<NoteInput, String>)>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, OpsError> {
    let total = items.len();
    let mut notes = Vec::with_capacity(total);
    let mut errors = Vec::new();
    for (at, item) in items {
        let checked = item.and_then(|i| {
            validate(program, i, now.date_naive()).map_err(|e| match e.hint() {
                Some(h) => format!("{e} ({h})"),
                None => e.to_string(),
            })
        });
        match checked {
            Ok(n) => notes.push(n),
            Err(e) => errors.push(format!("{at}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(OpsError::invalid(format!(
            "{} of the {total} notes are invalid; none was recorded:\n  {}",
            errors.len(),
            errors.join("\n  ")
        )));
    }
    Ok(store.insert_notes(&notes, now).await?)
}

/// The notes that match `filter`, oldest encounter first.
pub async fn list(store: &Store, filter: &NoteFilter) -> Result<Vec<NoteRecord>, OpsError> {
    Ok(store.notes(filter).await?)
}

/// One note by its id.
pub async fn get(store: &Store, id: i64) -> Result<NoteRecord, OpsError> {
    store.note(id).await?.ok_or_else(|| {
        OpsError::not_found(format!("no field note {id} in the store"))
            .with_hint("`proximity note list` and the field log show the notes")
    })
}

/// A promotion as asked for: what the note lacks, and the assertions the case must meet.
#[derive(Debug, Clone, Default)]
pub struct PromoteRequest {
    pub note_id: i64,
    /// The suite file (relative to the program or absolute); default: the one holding
    /// most of the persona's cases.
    pub suite: Option<PathBuf>,
    /// Default `field-note-<ID>`.
    pub case_id: Option<String>,
    /// When the note names none.
    pub workflow: Option<String>,
    /// Default: `edge` for a failure, else `routine`.
    pub kind: Option<CaseKind>,
    /// When the note has none.
    pub prompt: Option<String>,
    /// `(group, line)`, at least one (see [`promote::assertion`]).
    pub assertions: Vec<(&'static str, String)>,
}

/// What a promotion wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Promoted {
    pub note_id: i64,
    pub case_id: String,
    pub persona: String,
    /// The suite file, as the program root joins it.
    pub suite: PathBuf,
}

/// Append a promoted case to `suite` ([`promote::append_case`]), its errors as the
/// operation's: the one append of `note promote` and `capture promote`. Answers the
/// suite's path relative to the program root.
pub(crate) fn append(
    program: &Program,
    suite: &Path,
    promotion: &Promotion,
) -> Result<String, OpsError> {
    promote::append_case(program, suite, promotion).map_err(|e| match e {
        PromoteError::Io(e) => OpsError::Io(e),
        PromoteError::NoFinalCases(p) => OpsError::invalid(format!(
            "cannot append to {}: its last top-level key is not `cases:`",
            p.display()
        ))
        .with_hint("move `cases:` to the end of the file, or name another suite file"),
        e => OpsError::invalid(e.to_string()),
    })
}

/// The suite file a promotion appends to: the one asked for (relative to the program or
/// absolute), else the one holding most of `persona`'s cases.
pub(crate) fn suite_for(
    program: &Program,
    persona: &str,
    asked: Option<&Path>,
) -> Result<PathBuf, OpsError> {
    match asked {
        Some(s) => Ok(suite_path(program, s)),
        None => promote::suite_for(program, persona).ok_or_else(|| {
            OpsError::invalid(format!("no suite file has cases of persona `{persona}`"))
                .with_hint("name the suite file (`--suite FILE`)")
        }),
    }
}

fn suite_path(program: &Program, asked: &Path) -> PathBuf {
    if asked.is_absolute() || asked.exists() {
        asked.to_path_buf()
    } else {
        program.root.join(asked)
    }
}

/// Promote a note into a case: appended to a suite file with [`promote::append_case`]
/// (the file's bytes kept, restored if the program no longer loads), then the note
/// marked promoted.
pub async fn promote(
    store: &Store,
    program: &Program,
    req: &PromoteRequest,
) -> Result<Promoted, OpsError> {
    let note = get(store, req.note_id).await?;
    let n = &note.note;
    if let Some(case) = &note.promoted_case {
        return Err(OpsError::invalid(format!(
            "note {} was already promoted to case `{case}`",
            note.id
        )));
    }
    if req.assertions.is_empty() {
        return Err(OpsError::invalid("no assertion given: promotion needs at least one").with_hint(
            "say what the answer must contain (`--assert-contains TEXT`), that it must abstain (`--must-abstain`), …",
        ));
    }
    let suite = suite_for(program, &n.persona, req.suite.as_deref())?;
    let case_id = req
        .case_id
        .clone()
        .unwrap_or_else(|| format!("field-note-{}", note.id));
    if program.cases.iter().any(|c| c.id == case_id) {
        return Err(
            OpsError::invalid(format!("a case `{case_id}` already exists"))
                .with_hint("choose another id (`--case-id`)"),
        );
    }
    let workflow = req
        .workflow
        .clone()
        .or_else(|| n.workflow.clone())
        .ok_or_else(|| {
            OpsError::invalid(format!("note {} names no workflow", note.id))
                .with_hint("give the workflow (`proximity note promote --workflow`)")
        })?;
    ids::workflow(program, &n.persona, &workflow)?;
    let prompt = req
        .prompt
        .clone()
        .or_else(|| n.prompt.clone())
        .ok_or_else(|| {
            OpsError::invalid(format!("note {} has no prompt", note.id))
                .with_hint("give the prompt that was used (`proximity note promote --prompt`)")
        })?;
    let kind = req.kind.unwrap_or(if n.outcome.is_failure() {
        CaseKind::Edge
    } else {
        CaseKind::Routine
    });
    let promotion = Promotion {
        origin: Origin::Note {
            id: note.id,
            author: n.author.clone(),
            date: n.date.format("%Y-%m-%d").to_string(),
            outcome: n.outcome.as_str().to_owned(),
        },
        persona: n.persona.clone(),
        workflow,
        kind,
        case_id: case_id.clone(),
        description: format!("{} — {}", n.task, n.what_happened),
        messages: vec![Message {
            role: Role::User,
            content: prompt,
        }],
        assertions: req.assertions.clone(),
    };
    let rel = append(program, &suite, &promotion)?;
    store.mark_note_promoted(note.id, &case_id, &rel).await?;
    Ok(Promoted {
        note_id: note.id,
        case_id,
        persona: n.persona.clone(),
        suite,
    })
}
