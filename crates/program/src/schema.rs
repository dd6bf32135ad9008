//! JSON Schemas of `proximity.yaml` and of suite files, for editors (the YAML language
//! server completes and validates as people type) and other tools.
//!
//! They are generated with `schemars` from the shapes the loader deserializes
//! ([`crate::raw`], [`crate::model`]'s parameter types) and from the shapes of what it
//! parses by hand ([`crate::schema_shapes`]: assertions, a case's functions). `proximity check` stays the authority: it also
//! checks what a schema cannot say (ids that must exist, shares that sum to 1, regexes that
//! compile).

use schemars::JsonSchema;
use serde_json::Value;

use crate::raw::{RawCase, RawPersona, RawTier, RawTool};

/// Which file a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// `proximity.yaml`.
    Program,
    /// A suite file (`suites/*.yaml`).
    Suite,
}

impl SchemaKind {
    pub const ALL: [&'static str; 2] = ["program", "suite"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Program => "program",
            Self::Suite => "suite",
        }
    }

    /// The file name `proximity init` writes the schema to, under `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Program => "program.schema.json",
            Self::Suite => "suite.schema.json",
        }
    }
}

/// The JSON Schema (draft 2020-12) of `kind`'s file.
pub fn schema(kind: SchemaKind) -> Value {
    let schema = match kind {
        SchemaKind::Program => schemars::schema_for!(ProgramFile),
        SchemaKind::Suite => schemars::schema_for!(SuiteFile),
    };
    schema.to_value()
}

/// A YAML file as an editor's YAML language server sees it against these schemas: typed
/// scalars (numbers, booleans, null), as JSON. `None` when the text is not YAML.
pub fn yaml_as_json(text: &str) -> Option<Value> {
    if crate::yaml::too_deep(text).is_some() {
        return None;
    }
    let node = marked_yaml::parse_yaml_with_options(0, text, crate::yaml::loader_options()).ok()?;
    Some(crate::yaml::node_to_json(&node))
}

/// `proximity.yaml` as a whole. The loader reads the top level key by key, so that one
/// mistake does not hide the next; this type exists so the schema has the same keys
/// ([`crate::raw::PROGRAM_KEYS`], checked by a test).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Proximity program (proximity.yaml)")]
#[allow(dead_code)]
pub struct ProgramFile {
    /// Format version. Only `1` exists.
    #[schemars(range(min = 1, max = 1))]
    version: Option<u32>,
    /// Shown in reports (default: the directory's name).
    name: Option<String>,
    description: Option<String>,
    /// The AI tools under evaluation.
    #[serde(default)]
    tools: Vec<RawTool>,
    /// Access levels: which tools, budgets and limits.
    #[serde(default)]
    tiers: Vec<RawTier>,
    /// Job functions and their work mix.
    #[serde(default)]
    personas: Vec<RawPersona>,
    /// Suite files or directories, relative to the program directory (default `[suites]`).
    suites: Option<Vec<String>>,
    /// The tool that grades `judge` assertions that name no tool.
    judge_tool: Option<String>,
    /// How many days evidence stays current (default 90).
    #[schemars(range(min = 1))]
    horizon_days: Option<u32>,
    /// The webhook `proximity drift` posts its summary to.
    #[schemars(regex(pattern = r"^https?://\S+$"))]
    notify: Option<String>,
    /// Strings that must never leave: redacted from captured requests and answers.
    #[serde(default)]
    #[schemars(inner(length(min = 1)))]
    canaries: Vec<String>,
}

/// A suite file: cases of one persona (and optionally one workflow).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Proximity suite")]
#[allow(dead_code)]
pub struct SuiteFile {
    /// The persona of every case that names none.
    persona: Option<String>,
    /// The workflow of every case that names none.
    workflow: Option<String>,
    description: Option<String>,
    /// The cases.
    cases: Vec<RawCase>,
}

#[cfg(test)]
mod tests;
