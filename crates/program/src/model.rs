//! The checked domain types of a program: what every other crate works with.
//!
//! These are built by [`crate::load`] from the raw YAML after validation; they hold no
//! spans except [`Location`] where a later stage may still need to point at the file
//! (assertions compiled at run time, cases named in reports).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::assertion::Assertions;
pub use crate::location::Location;

/// A whole program: `proximity.yaml` plus its suites, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Program {
    /// The directory that holds `proximity.yaml`.
    pub root: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub tools: Vec<Tool>,
    pub tiers: Vec<Tier>,
    pub personas: Vec<Persona>,
    pub cases: Vec<Case>,
    /// Tool used by `judge` assertions that name none.
    pub judge_tool: Option<String>,
    /// How many days evidence (runs, field notes) stays current for plans and decisions
    /// (`horizon_days`, default [`DEFAULT_HORIZON_DAYS`]).
    pub horizon_days: u32,
}

/// The default of `horizon_days`.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;

impl Program {
    pub fn tool(&self, id: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.id == id)
    }

    pub fn tier(&self, id: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.id == id)
    }

    pub fn persona(&self, id: &str) -> Option<&Persona> {
        self.personas.iter().find(|p| p.id == id)
    }

    /// The tools a persona may use: those of its tier.
    pub fn tools_for_persona(&self, persona: &str) -> Vec<&Tool> {
        let Some(p) = self.persona(persona) else {
            return Vec::new();
        };
        let Some(tier) = self.tier(&p.tier) else {
            return Vec::new();
        };
        tier.tools.iter().filter_map(|id| self.tool(id)).collect()
    }
}

/// Which backend serves a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenAI-compatible chat completions endpoint.
    Openai,
    /// Anthropic's messages API.
    Anthropic,
    /// The embedded llama.cpp model.
    Local,
    /// Deterministic answers chosen by rules (tests, examples).
    Scripted,
}

impl ProviderKind {
    pub const ALL: [&'static str; 4] = ["openai", "anthropic", "local", "scripted"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(Self::Openai),
            "anthropic" => Some(Self::Anthropic),
            "local" => Some(Self::Local),
            "scripted" => Some(Self::Scripted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Local => "local",
            Self::Scripted => "scripted",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One AI tool as a persona gets it.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub id: String,
    pub provider: ProviderKind,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
    /// A GGUF file for `local` tools (relative paths resolve against the program root).
    pub model_path: Option<PathBuf>,
    pub params: ToolParams,
    pub capabilities: Vec<String>,
    pub context_window: Option<u32>,
    pub price: Price,
    pub description: Option<String>,
    /// The tool the gateway falls back to when this one fails with a retryable fault
    /// (it shares a tier with this one). Routing, so not part of the fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Generation parameters and provider-specific settings of a tool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolParams {
    pub system: Option<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// A GBNF grammar, or `json` for the built-in JSON grammar (local tools).
    pub grammar: Option<String>,
    /// Per-request timeout in seconds (default 60).
    pub timeout_secs: Option<f64>,
    /// Attempts per request for retryable faults (default 4).
    pub max_attempts: Option<u32>,
    /// Ask the provider for token log-probabilities where it supports them.
    pub logprobs: bool,
    /// Rules of a `scripted` tool, first match wins.
    pub rules: Vec<ScriptRule>,
    /// Reply of a `scripted` tool when no rule matches.
    pub default_reply: Option<String>,
}

/// One rule of a `scripted` tool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptRule {
    /// Matches when the last user message contains this text (case-insensitive).
    pub when: Option<String>,
    /// Matches when the last user message matches this regex.
    pub when_regex: Option<String>,
    /// The reply text.
    pub reply: Option<String>,
    /// Instead of replying, fail with this error class (`rate_limited`, `server`, ...).
    pub error: Option<String>,
    /// Wait this long before answering.
    pub delay_ms: Option<u64>,
    /// Instead of text, reply with these function calls (OpenAI `tool_calls`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ScriptToolCall>,
}

/// A function call a `scripted` rule replies with.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptToolCall {
    /// The function's name.
    pub name: String,
    /// The arguments: a mapping is sent as its JSON text; a string is sent as written
    /// (so a rule can reply with arguments that are not JSON at all).
    #[serde(default)]
    pub arguments: serde_json::Value,
}

impl ScriptToolCall {
    /// The arguments as the JSON text a provider would send.
    pub fn arguments_text(&self) -> String {
        match &self.arguments {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "{}".to_owned(),
            v => v.to_string(),
        }
    }
}

/// One function call in an answer (OpenAI's `tool_calls`), as the provider returned it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id (`call_…`), where the provider gave one.
    #[serde(default)]
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments as the model wrote them: JSON text, not necessarily valid.
    #[serde(default)]
    pub arguments: String,
}

/// Prices in US dollars.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub seat_per_month: f64,
}

impl Price {
    /// Cost of one request in US dollars.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_mtok + output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// An access level.
#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    pub id: String,
    pub tools: Vec<String>,
    pub budget_per_seat_month: Option<f64>,
    pub rate_limit: Option<RateLimit>,
    pub data_classes: Vec<String>,
    /// The share of this tier's keyed requests the gateway captures (`capture: true`,
    /// `capture_sample`); `None` when capture is off, as by default.
    pub capture_sample: Option<f64>,
}

/// The share of requests captured when a tier turns `capture` on and names no
/// `capture_sample`: the same as a workflow's `live_sample`, enough cases to promote
/// without keeping every conversation.
pub const DEFAULT_CAPTURE_SAMPLE: f64 = 0.1;

/// Requests and tokens per minute.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
}

/// A job function.
#[derive(Debug, Clone, Serialize)]
pub struct Persona {
    pub id: String,
    pub name: String,
    pub headcount: u32,
    pub tier: String,
    pub workflows: Vec<Workflow>,
}

impl Persona {
    pub fn workflow(&self, id: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.id == id)
    }
}

/// One kind of work a persona does.
#[derive(Debug, Clone, Serialize)]
pub struct Workflow {
    pub id: String,
    pub name: Option<String>,
    /// Fraction of the persona's real work (shares of a persona sum to 1).
    pub share: f64,
    pub monthly_volume: u64,
    /// Minimum acceptable real-work pass rate, 0..=1.
    pub floor: f64,
    /// Fraction of this workflow's real work that is edge cases (default 0.4).
    pub edge_share: f64,
    /// Checks the gateway applies to a sample of real answers (`live:`), each of a kind
    /// that needs no expected answer.
    #[serde(skip_serializing_if = "Assertions::is_empty")]
    pub live: Assertions,
    /// The share of real answers checked, 0..=1 (`live_sample`, default
    /// [`DEFAULT_LIVE_SAMPLE`]).
    pub live_sample: f64,
}

/// The default of a workflow's `live_sample`.
pub const DEFAULT_LIVE_SAMPLE: f64 = 0.1;

/// Routine work or an edge case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Routine,
    Edge,
}

impl CaseKind {
    pub const ALL: [&'static str; 2] = ["routine", "edge"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "routine" => Some(Self::Routine),
            "edge" => Some(Self::Edge),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Routine => "routine",
            Self::Edge => "edge",
        }
    }
}

/// Where a case came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseSource {
    /// Recorded from real work (a field note).
    Field,
    /// Taken from a vendor demo.
    Demo,
    /// Written or generated for the suite.
    Synthetic,
}

impl CaseSource {
    pub const ALL: [&'static str; 3] = ["field", "demo", "synthetic"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "field" => Some(Self::Field),
            "demo" => Some(Self::Demo),
            "synthetic" => Some(Self::Synthetic),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Field => "field",
            Self::Demo => "demo",
            Self::Synthetic => "synthetic",
        }
    }
}

/// A chat role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub const ALL: [&'static str; 3] = ["system", "user", "assistant"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "system" => Some(Self::System),
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// A document attached to a case as context.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Path as written in the suite, relative to the program root.
    pub path: String,
    pub content: String,
}

/// One real-work task.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub id: String,
    pub persona: String,
    pub workflow: String,
    pub kind: CaseKind,
    pub source: CaseSource,
    pub description: Option<String>,
    /// The conversation sent to the tool, templates rendered and documents attached.
    pub messages: Vec<Message>,
    pub vars: BTreeMap<String, String>,
    pub documents: Vec<Document>,
    pub assertions: Assertions,
    pub weight: f64,
    pub tags: Vec<String>,
    /// The field note this case was promoted from (`note:`), if any.
    pub note: Option<String>,
    /// The functions the tool may call (OpenAI `tools`, each `{"type": "function",
    /// "function": {name, description, parameters}}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
    /// OpenAI `tool_choice`: `auto`, `none`, `required` or `{"type": "function",
    /// "function": {"name": …}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<serde_json::Value>,
    pub location: Location,
}
