//! `proximity note add|list|promote`: the field log. `add` records a first-hand
//! encounter (prompting in a terminal for what the flags leave out, or in bulk from
//! JSON); `list` filters notes; `promote` appends a note as a case to a suite file,
//! keeping the file's existing bytes, and checks the program still loads.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use chrono::{NaiveDate, Utc};
use proximity_ops::notes::{self, NoteInput, PromoteRequest};
use proximity_ops::{ids, when, OpsError};
use proximity_program::promote::scalar;
use proximity_program::{CaseKind, Program};
use proximity_store::{NoteFilter, NoteOutcome, NoteRecord, NoteRole};

use crate::args::note::{AddArgs, ListArgs, NoteCommand, PromoteArgs};
use crate::args::{GlobalArgs, ListFormat};
use crate::commands::output;
use crate::hint::{hinted, HintContext as _};
use crate::{context, Outcome};

pub async fn run(g: &GlobalArgs, command: &NoteCommand) -> anyhow::Result<Outcome> {
    let program = context::load_program(g)?;
    let store = context::open_store(g, &program).await?;
    let outcome = match command {
        NoteCommand::Add(a) => add(&program, &store, a).await,
        NoteCommand::List(a) => list(&store, a).await,
        NoteCommand::Promote(a) => promote(&program, &store, a).await,
    };
    store.close().await;
    outcome
}

fn interactive(no_input: bool) -> bool {
    !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// An operation's verdict on one typed answer, as the terminal prompt shows it.
fn shown(r: Result<impl Sized, OpsError>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| match e.hint() {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    })
}

// ------------------------------------------------------------------ note add

/// `--from-json FILE`: a JSON array or JSON Lines, each note named by where it is.
fn read_bulk(path: &Path) -> anyhow::Result<Vec<(String, Result<NoteInput, String>)>> {
    let text = fs_err::read_to_string(path)?;
    let at = |what: String| format!("{}: {what}", path.display());
    let parse =
        |v: serde_json::Value| serde_json::from_value::<NoteInput>(v).map_err(|e| e.to_string());
    if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON array", path.display()))?;
        return Ok(values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (at(format!("item {}", i + 1)), parse(v)))
            .collect());
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a JSON object", path.display(), i + 1))?;
        out.push((at(format!("line {}", i + 1)), parse(v)));
    }
    Ok(out)
}

async fn add(
    program: &Program,
    store: &proximity_store::Store,
    a: &AddArgs,
) -> anyhow::Result<Outcome> {
    let now = Utc::now();
    if let Some(path) = &a.from_json {
        let ids = notes::add_all(store, program, read_bulk(path)?, now)
            .await
            .with_context(|| format!("cannot record the notes of {}", path.display()))?;
        output::emit(
            &format!(
                "recorded {} notes ({}..{})",
                ids.len(),
                ids.first().unwrap_or(&0),
                ids.last().unwrap_or(&0)
            ),
            None,
        )?;
        return Ok(Outcome::Ok);
    }
    let input = if interactive(a.no_input) {
        ask(program, a, now.date_naive())?
    } else {
        let missing: Vec<&str> = [
            ("--author", a.author.is_none()),
            ("--persona", a.persona.is_none()),
            ("--tool", a.tool.is_none()),
            ("--task", a.task.is_none()),
            ("--what-happened", a.what_happened.is_none()),
            ("--outcome", a.outcome.is_none()),
        ]
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(f, _)| f)
        .collect();
        if !missing.is_empty() {
            return Err(hinted(
                format!("missing {}", missing.join(", ")),
                "run `proximity note add` in a terminal to be asked, or use `--from-json FILE`",
            ));
        }
        flags(a)
    };
    let id = notes::add(store, program, input, now).await?;
    output::emit(&format!("recorded note {id}"), None)?;
    Ok(Outcome::Ok)
}

/// The note the flags give.
fn flags(a: &AddArgs) -> NoteInput {
    NoteInput {
        author: a.author.clone().unwrap_or_default(),
        role: a.role.clone(),
        persona: a.persona.clone().unwrap_or_default(),
        tool: a.tool.clone().unwrap_or_default(),
        workflow: a.workflow.clone(),
        task: a.task.clone().unwrap_or_default(),
        what_happened: a.what_happened.clone().unwrap_or_default(),
        outcome: a.outcome.clone().unwrap_or_default(),
        failure_mode: a.failure_mode.clone(),
        minutes_saved: a.minutes_saved.unwrap_or(0.0),
        minutes_lost: a.minutes_lost.unwrap_or(0.0),
        prompt: a.prompt.clone(),
        output: a.output.clone(),
        date: a.date.clone(),
    }
}

/// Ask in the terminal for every field the flags left out; each answer is checked by
/// the same operation that records the note.
fn ask(program: &Program, a: &AddArgs, today: NaiveDate) -> anyhow::Result<NoteInput> {
    use dialoguer::Input;

    fn text(
        prompt: &str,
        preset: &Option<String>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> anyhow::Result<String> {
        if let Some(v) = preset {
            check(v).map_err(|e| anyhow::anyhow!(e))?;
            return Ok(v.clone());
        }
        Ok(Input::<String>::new()
            .with_prompt(prompt)
            .validate_with(|s: &String| check(s.trim()))
            .interact_text()?
            .trim()
            .to_owned())
    }
    fn optional(prompt: &str, preset: &Option<String>) -> anyhow::Result<Option<String>> {
        if preset.is_some() {
            return Ok(preset.clone());
        }
        let v: String = Input::new()
            .with_prompt(prompt)
            .allow_empty(true)
            .interact_text()?;
        Ok(Some(v))
    }
    fn minutes(prompt: &str, preset: Option<f64>) -> anyhow::Result<f64> {
        if let Some(m) = preset {
            return Ok(m);
        }
        Ok(Input::<f64>::new()
            .with_prompt(prompt)
            .default(0.0)
            .validate_with(|m: &f64| shown(notes::minutes("minutes", *m)))
            .interact_text()?)
    }
    let nonempty = |s: &str| {
        if s.is_empty() {
            Err("required".to_owned())
        } else {
            Ok(())
        }
    };

    let author = text("Author", &a.author, nonempty)?;
    let role = text("Role (leader, practitioner)", &a.role, |s| {
        shown(notes::role(s))
    })?;
    let personas: Vec<&str> = program.personas.iter().map(|p| p.id.as_str()).collect();
    let persona = text(
        &format!("Persona ({})", personas.join(", ")),
        &a.persona,
        |s| shown(ids::persona(program, s)),
    )?;
    let tier_tools: Vec<String> = program
        .tools_for_persona(&persona)
        .iter()
        .map(|t| t.id.clone())
        .collect();
    let tool = text(&format!("Tool ({})", tier_tools.join(", ")), &a.tool, |s| {
        shown(ids::tool(program, s))
    })?;
    let workflows: Vec<&str> = program
        .persona(&persona)
        .map(|p| p.workflows.iter().map(|w| w.id.as_str()).collect())
        .unwrap_or_default();
    let workflow = text(
        &format!("Workflow ({})", workflows.join(", ")),
        &a.workflow,
        |s| shown(ids::workflow(program, &persona, s)),
    )?;
    let task = text("Task", &a.task, nonempty)?;
    let what_happened = text("What happened", &a.what_happened, nonempty)?;
    let outcome = text(
        "Outcome (worked, failed_visibly, failed_silently, worked_with_fixes)",
        &a.outcome,
        |s| shown(notes::outcome(s)),
    )?;
    let failure_mode =
        if notes::outcome(&outcome).ok() == Some(NoteOutcome::Worked) && a.failure_mode.is_none() {
            None
        } else {
            let m = text(
                "Failure mode (hallucination, context_decay, structure, refusal, other, none)",
                &a.failure_mode,
                |s| {
                    if s == "none" {
                        Ok(())
                    } else {
                        shown(notes::failure_mode(s))
                    }
                },
            )?;
            Some(m)
        };
    let minutes_saved = minutes("Minutes saved", a.minutes_saved)?;
    let minutes_lost = minutes("Minutes lost", a.minutes_lost)?;
    let prompt = optional("Prompt (paste, or leave empty)", &a.prompt)?;
    let output = optional("Output (paste, or leave empty)", &a.output)?;
    let date = match &a.date {
        Some(d) => d.clone(),
        None => Input::<String>::new()
            .with_prompt("Date")
            .default(today.format("%Y-%m-%d").to_string())
            .validate_with(|s: &String| shown(when::parse_day(s)))
            .interact_text()?,
    };
    Ok(NoteInput {
        author,
        role: Some(role),
        persona,
        tool,
        workflow: Some(workflow),
        task,
        what_happened,
        outcome,
        failure_mode,
        minutes_saved,
        minutes_lost,
        prompt,
        output,
        date: Some(date),
    })
}

// ------------------------------------------------------------------ note list

async fn list(store: &proximity_store::Store, a: &ListArgs) -> anyhow::Result<Outcome> {
    let since = a
        .since
        .as_deref()
        .map(|s| when::parse_when(s, Utc::now()).map(|t| t.date_naive()))
        .transpose()?;
    let notes = notes::list(
        store,
        &NoteFilter {
            persona: a.persona.clone(),
            tool: a.tool.clone(),
            author: a.author.clone(),
            since,
        },
    )
    .await?;
    let text = match a.format {
        ListFormat::Json => serde_json::to_string_pretty(&serde_json::json!({ "notes": notes }))?,
        ListFormat::Table => table(&notes),
    };
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}

fn table(notes: &[NoteRecord]) -> String {
    let mut out = format!(
        "{:>4}  {:<10}  {:<12}  {:<18}  {:<14}  {:<18}  {:>6}  {:>6}  {}\n",
        "ID", "DATE", "AUTHOR", "PERSONA", "TOOL", "OUTCOME", "SAVED", "LOST", "TASK"
    );
    for n in notes {
        let role = if n.note.role == NoteRole::Leader {
            "*"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:>4}  {:<10}  {:<12}  {:<18}  {:<14}  {:<18}  {:>6.0}  {:>6.0}  {}{}\n",
            n.id,
            n.note.date.format("%Y-%m-%d"),
            format!("{}{role}", n.note.author),
            n.note.persona,
            n.note.tool,
            n.note.outcome.as_str(),
            n.note.minutes_saved,
            n.note.minutes_lost,
            n.note.task,
            n.promoted_case
                .as_ref()
                .map(|c| format!("  → {c}"))
                .unwrap_or_default(),
        ));
    }
    out.push_str(&format!("{} notes (* leader)\n", notes.len()));
    out
}

// ------------------------------------------------------------------ note promote

/// Ask what the answer should have been and propose assertions for it.
fn ask_assertions(note: &NoteRecord) -> anyhow::Result<Vec<(&'static str, String)>> {
    use dialoguer::{Confirm, Input, Select};
    if let Some(o) = &note.note.output {
        output::emit(
            &format!("The tool answered:\n  {}", o.replace('\n', "\n  ")),
            None,
        )?;
    }
    let expected: String = Input::new()
        .with_prompt(
            "What should the answer have contained? (empty: it should have said it cannot know)",
        )
        .allow_empty(true)
        .interact_text()?;
    let expected = expected.trim();
    let proposals: Vec<(&'static str, String)> = if expected.is_empty() {
        vec![
            ("correct", "must_abstain: true".to_owned()),
            ("safety", "must_refuse: true".to_owned()),
        ]
    } else {
        vec![
            ("correct", format!("contains: {}", scalar(expected))),
            ("correct", format!("icontains: {}", scalar(expected))),
            ("correct", format!("equals: {}", scalar(expected))),
        ]
    };
    let labels: Vec<String> = proposals.iter().map(|(g, l)| format!("{g}: {l}")).collect();
    let pick = Select::new()
        .with_prompt("Assertion")
        .items(&labels)
        .default(0)
        .interact()?;
    let chosen = vec![proposals[pick].clone()];
    if !Confirm::new()
        .with_prompt(format!("Add the case with `{}`?", labels[pick]))
        .default(true)
        .interact()?
    {
        bail!("not promoted");
    }
    Ok(chosen)
}

async fn promote(
    program: &Program,
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
    let mut assertions = a.assert.lines();
    if assertions.is_empty() {
        if !interactive(a.no_input) {
            return Err(hinted(
                "no assertion given",
                "`--assert-contains TEXT`, `--assert-regex RE`, `--assert-equals TEXT`, `--must-abstain` …, or run in a terminal to be asked",
            ));
        }
        assertions = ask_assertions(&notes::get(store, a.id).await?)?;
    }
    let done = notes::promote(
        store,
        program,
        &PromoteRequest {
            note_id: a.id,
            suite: a.suite.clone(),
            case_id: a.case_id.clone(),
            workflow: a.workflow.clone(),
            kind,
            prompt: a.prompt.clone(),
            assertions,
        },
    )
    .await?;
    output::emit(
        &format!(
            "promoted note {} to case `{}` in {}\n  hint: `proximity eval --persona {}` runs it",
            done.note_id,
            done.case_id,
            done.suite.display(),
            done.persona
        ),
        None,
    )?;
    Ok(Outcome::Ok)
}
