//! Raw serde shapes of the program files, as written, with spans where validation needs
//! to point back at the YAML. [`crate::load`] turns them into [`crate::model`] types.

use std::collections::BTreeMap;

use marked_yaml::Spanned;
use schemars::JsonSchema;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::model::{CaseKind, CaseSource, Price, ProviderKind, RateLimit, Role, ToolParams};
use crate::schema_shapes::{AssertGroups, FunctionDef, LiveGroups, ToolChoiceValue};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Tool")]
/// One AI tool under evaluation.
pub struct RawTool {
    /// Unique among tools. Tiers, `judge_tool` and `--tool` refer to it.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Which backend serves the tool.
    #[schemars(with = "ProviderKind")]
    pub provider: Spanned<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub model_path: Option<String>,
    #[serde(default)]
    pub params: ToolParams,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub context_window: Option<u32>,
    #[serde(default)]
    pub price: Price,
    pub description: Option<String>,
    /// Another tool the gateway may use when this one fails.
    #[schemars(with = "Option<String>")]
    pub fallback: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Tier")]
/// An access level: which tools, budgets and limits.
pub struct RawTier {
    /// Unique among tiers. Personas refer to it.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// The tools members of this tier may use.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tools: Vec<Spanned<String>>,
    pub budget_per_seat_month: Option<f64>,
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub data_classes: Vec<String>,
    /// Keep sampled requests and answers of this tier's keys, redacted, so they can be
    /// promoted to cases (`proximity capture`). Off by default.
    #[serde(default)]
    #[schemars(with = "bool")]
    pub capture: Option<Spanned<bool>>,
    /// The share of requests captured when `capture` is on (default 0.1).
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 1.0))]
    pub capture_sample: Option<Spanned<f64>>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Persona")]
/// A job function and its work mix.
pub struct RawPersona {
    /// Unique among personas. Cases and keys refer to it.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Display name.
    pub name: Option<String>,
    /// People in this job function.
    pub headcount: u32,
    /// The tier they get.
    #[schemars(with = "String")]
    pub tier: Spanned<String>,
    /// The kinds of work this persona does (at least one).
    #[schemars(with = "Vec<RawWorkflow>", length(min = 1))]
    pub workflows: Spanned<Vec<RawWorkflow>>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Workflow")]
/// One kind of work a persona does.
pub struct RawWorkflow {
    /// Unique within the persona.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Display name.
    pub name: Option<String>,
    /// Fraction of the persona's real work; a persona's shares sum to 1.
    #[schemars(with = "f64", range(min = 0.0, max = 1.0))]
    pub share: Spanned<f64>,
    /// Requests a month, for plans.
    #[serde(default)]
    pub monthly_volume: u64,
    /// The lowest acceptable real-work pass rate, 0 to 1.
    #[schemars(with = "f64", range(min = 0.0, max = 1.0))]
    pub floor: Spanned<f64>,
    /// Fraction of this workflow's real work that is edge cases (default 0.4).
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 1.0))]
    pub edge_share: Option<Spanned<f64>>,
    pub description: Option<String>,
    /// Checks the gateway applies to a sample of this workflow's real answers: only
    /// those that need no expected answer. Parsed by hand from the node (see
    /// `load::personas`).
    #[schemars(with = "Option<LiveGroups>")]
    pub live: Option<IgnoredAny>,
    /// The share of the workflow's real answers the gateway checks (default 0.1).
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 1.0))]
    pub live_sample: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Message")]
/// One chat message of a case.
pub struct RawMessage {
    #[schemars(with = "Role")]
    pub role: Spanned<String>,
    pub content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Case")]
/// One real-work task and the assertions its answer must meet.
pub struct RawCase {
    /// Unique within the program.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// The persona whose work this is (default: the suite's).
    #[schemars(with = "Option<String>")]
    pub persona: Option<Spanned<String>>,
    /// The persona's workflow (default: the suite's).
    #[schemars(with = "Option<String>")]
    pub workflow: Option<Spanned<String>>,
    /// Routine work or an edge case (default routine).
    #[schemars(with = "Option<CaseKind>")]
    pub kind: Option<Spanned<String>>,
    /// Where the case came from (default synthetic).
    #[schemars(with = "Option<CaseSource>")]
    pub source: Option<Spanned<String>>,
    pub description: Option<String>,
    /// The user message (a template over `vars`); or give `messages`.
    #[schemars(with = "Option<String>")]
    pub prompt: Option<Spanned<String>>,
    pub messages: Option<Vec<RawMessage>>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Files attached as context, relative to the program directory.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub documents: Vec<Spanned<String>>,
    /// Parsed by hand from the node (see [`crate::assertion`]).
    #[serde(rename = "assert")]
    #[schemars(with = "Option<AssertGroups>")]
    pub assertions: Option<IgnoredAny>,
    pub weight: Option<f64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The field note this case was promoted from.
    pub note: Option<String>,
    /// Functions the tool may call, sent as OpenAI `tools`. Parsed by hand from the node
    /// (see `load::case_tools`).
    #[schemars(with = "Option<Vec<FunctionDef>>")]
    pub tools: Option<IgnoredAny>,
    /// Whether (and which function) the tool must call.
    #[schemars(with = "Option<ToolChoiceValue>")]
    pub tool_choice: Option<IgnoredAny>,
}

/// Keys allowed at the top of `proximity.yaml`.
pub const PROGRAM_KEYS: [&str; 11] = [
    "version",
    "name",
    "description",
    "tools",
    "tiers",
    "personas",
    "suites",
    "judge_tool",
    "horizon_days",
    "notify",
    "canaries",
];

/// Keys allowed at the top of a suite file.
pub const SUITE_KEYS: [&str; 4] = ["persona", "workflow", "description", "cases"];
