//! Raw serde shapes of the program files, as written, with spans where validation needs
//! to point back at the YAML. [`crate::load`] turns them into [`crate::model`] types.

use std::collections::BTreeMap;

use marked_yaml::Spanned;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::model::{Price, RateLimit, ToolParams};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTool {
    pub id: Spanned<String>,
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
    pub fallback: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    pub id: Spanned<String>,
    #[serde(default)]
    pub tools: Vec<Spanned<String>>,
    pub budget_per_seat_month: Option<f64>,
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub data_classes: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPersona {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub headcount: u32,
    pub tier: Spanned<String>,
    pub workflows: Spanned<Vec<RawWorkflow>>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflow {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub share: Spanned<f64>,
    #[serde(default)]
    pub monthly_volume: u64,
    pub floor: Spanned<f64>,
    pub edge_share: Option<Spanned<f64>>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    pub role: Spanned<String>,
    pub content: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    pub id: Spanned<String>,
    pub persona: Option<Spanned<String>>,
    pub workflow: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub description: Option<String>,
    pub prompt: Option<Spanned<String>>,
    pub messages: Option<Vec<RawMessage>>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(default)]
    pub documents: Vec<Spanned<String>>,
    /// Parsed by hand from the node (see [`crate::assertion`]).
    #[serde(rename = "assert")]
    pub assertions: Option<IgnoredAny>,
    pub weight: Option<f64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The field note this case was promoted from.
    pub note: Option<String>,
    /// Parsed by hand from the node (see `load::case_tools`).
    pub tools: Option<IgnoredAny>,
    pub tool_choice: Option<IgnoredAny>,
}

/// Keys allowed at the top of `proximity.yaml`.
pub const PROGRAM_KEYS: [&str; 10] = [
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
];

/// Keys allowed at the top of a suite file.
pub const SUITE_KEYS: [&str; 4] = ["persona", "workflow", "description", "cases"];
