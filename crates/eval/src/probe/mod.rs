//! Probes: cases generated in code rather than written in suites, each measuring one
//! property of a tool, run through the ordinary [`crate::runner`] (so retries, the
//! response cache, concurrency and the store are shared) and stored as ordinary runs whose
//! `config` carries a `probe` object.
//!
//! - [`context`]: the context-fill probe (a fact planted at depths of a context filled to
//!   fractions of the window → accuracy curve and effective context).
//! - [`risk`]: the risk probes (injection, canary leakage, PII echo, unsafe compliance,
//!   tool-use overreach), built in as `risk-probes v1` plus program cases tagged `risk:…`.
//!
//! Results of probe runs have persona [`PERSONA`] and a workflow named after the probe.

pub mod budget;
pub mod context;
pub mod risk;

use proximity_providers::ProviderError;

use crate::runner::RunError;

/// The persona of every probe result.
pub const PERSONA: &str = "probe";

/// Why a probe could not be generated or run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    #[error("cannot count tokens for tool `{tool}`: {source}")]
    Tokens {
        tool: String,
        #[source]
        source: ProviderError,
    },
    #[error(
        "the context window of {window} tokens leaves no room to fill: the question, the \
         system prompt and `max_tokens` of the answer need {reserve}"
    )]
    WindowTooSmall { window: u32, reserve: u32 },
    #[error("fill {0}% is out of range: fills are percentages of the window, 0 to 100")]
    BadFill(u32),
    #[error("no depths to plant the fact at")]
    NoDepths,
    #[error(
        "the probe would send about {estimate} tokens, more than `--max-tokens-budget {budget}`\n  \
         hint: raise the budget, or shrink the grid (`--fills`, `--depths`, `--samples`; `--no-refine` \
         drops the refinement allowance)"
    )]
    OverBudget { estimate: u64, budget: u64 },
    #[error("the built-in risk probes do not parse: {0}")]
    RiskSet(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] proximity_store::StoreError),
}
