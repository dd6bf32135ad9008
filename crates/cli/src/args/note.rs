//! The arguments of `proximity note`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use proximity_program::promote;

use super::ListFormat;

#[derive(Debug, Subcommand)]
pub enum NoteCommand {
    /// Record a first-hand encounter with a tool in real work. In a terminal, asks for
    /// whatever the flags leave out.
    Add(AddArgs),
    /// List field notes.
    List(ListArgs),
    /// Turn a note into a case of the persona's suite file (appended; nothing else in
    /// the file changes).
    Promote(PromoteArgs),
}

#[derive(Debug, Args, Default)]
pub struct AddArgs {
    /// Who had the encounter.
    #[arg(long)]
    pub author: Option<String>,
    /// `leader` (decides about the tools) or `practitioner` (does the work).
    #[arg(long)]
    pub role: Option<String>,
    /// The persona whose work it was.
    #[arg(long)]
    pub persona: Option<String>,
    /// The tool used.
    #[arg(long)]
    pub tool: Option<String>,
    /// The persona's workflow.
    #[arg(long)]
    pub workflow: Option<String>,
    /// The task, in a sentence.
    #[arg(long)]
    pub task: Option<String>,
    /// What happened.
    #[arg(long)]
    pub what_happened: Option<String>,
    /// `worked`, `failed_visibly`, `failed_silently` or `worked_with_fixes`.
    #[arg(long)]
    pub outcome: Option<String>,
    /// `hallucination`, `context_decay`, `structure`, `refusal` or `other`.
    #[arg(long)]
    pub failure_mode: Option<String>,
    /// Minutes the tool saved.
    #[arg(long, value_name = "MINUTES")]
    pub minutes_saved: Option<f64>,
    /// Minutes it cost (checking, fixing, cleaning up after it).
    #[arg(long, value_name = "MINUTES")]
    pub minutes_lost: Option<f64>,
    /// The prompt, as pasted.
    #[arg(long)]
    pub prompt: Option<String>,
    /// The tool's output, as pasted.
    #[arg(long)]
    pub output: Option<String>,
    /// The day of the encounter (`YYYY-MM-DD`, default today).
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Record many notes from a JSON array or JSON Lines file (all or none).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["author", "persona", "tool", "task"])]
    pub from_json: Option<PathBuf>,
    /// Never prompt, even in a terminal.
    #[arg(long)]
    pub no_input: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub persona: Option<String>,
    #[arg(long)]
    pub tool: Option<String>,
    #[arg(long)]
    pub author: Option<String>,
    /// Encounters on or after this day (`YYYY-MM-DD`, or `30d` ago).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The note's id (`note list` shows it).
    pub id: i64,
    /// The suite file to append to (default: the one holding the persona's cases).
    #[arg(long, value_name = "FILE")]
    pub suite: Option<PathBuf>,
    /// The new case's id (default `field-note-<ID>`).
    #[arg(long = "case-id", value_name = "ID")]
    pub case_id: Option<String>,
    /// The workflow, when the note names none.
    #[arg(long)]
    pub workflow: Option<String>,
    /// `routine` or `edge` (default: `edge` for failures, else `routine`).
    #[arg(long)]
    pub kind: Option<String>,
    /// The prompt, when the note has none.
    #[arg(long)]
    pub prompt: Option<String>,
    #[command(flatten)]
    pub assert: AssertArgs,
    /// Never prompt, even in a terminal.
    #[arg(long)]
    pub no_input: bool,
}

/// The assertions a promoted case must meet (`note promote`, `capture promote`).
#[derive(Debug, Args, Default)]
pub struct AssertArgs {
    /// `correct: contains` (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub assert_contains: Vec<String>,
    /// `correct: icontains` (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub assert_icontains: Vec<String>,
    /// `correct: not_contains` (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub assert_not_contains: Vec<String>,
    /// `correct: regex` (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub assert_regex: Vec<String>,
    /// `correct: equals`.
    #[arg(long, value_name = "TEXT")]
    pub assert_equals: Option<String>,
    /// `correct: must_abstain: true`: the right answer is "I cannot know".
    #[arg(long)]
    pub must_abstain: bool,
    /// `safety: must_refuse: true`.
    #[arg(long)]
    pub must_refuse: bool,
}

impl AssertArgs {
    /// The assertions given, as `(group, line)`.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for v in &self.assert_contains {
            out.push(promote::assertion("correct", "contains", v));
        }
        for v in &self.assert_icontains {
            out.push(promote::assertion("correct", "icontains", v));
        }
        for v in &self.assert_not_contains {
            out.push(promote::assertion("correct", "not_contains", v));
        }
        for v in &self.assert_regex {
            out.push(promote::assertion("correct", "regex", v));
        }
        if let Some(v) = &self.assert_equals {
            out.push(promote::assertion("correct", "equals", v));
        }
        if self.must_abstain {
            out.push(("correct", "must_abstain: true".to_owned()));
        }
        if self.must_refuse {
            out.push(("safety", "must_refuse: true".to_owned()));
        }
        out
    }
}
