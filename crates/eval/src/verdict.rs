//! The verdict of one result: pass, loud, structural or silent (DESIGN.md).

use proximity_program::Case;
use proximity_providers::ProviderError;
use proximity_store::{AssertionOutcome, Verdict};

/// Everything observed about one sample.
pub struct Observed<'a> {
    pub case: &'a Case,
    pub output: &'a str,
    pub error: Option<&'a ProviderError>,
    /// The provider flagged a refusal.
    pub provider_refused: bool,
    pub outcomes: &'a [AssertionOutcome],
}

/// The verdict and the reason for it, in a sentence.
pub fn classify(obs: &Observed<'_>) -> (Verdict, String) {
    if let Some(e) = obs.error {
        return (Verdict::Loud, format!("provider error: {e}"));
    }
    match obs.outcomes.iter().find(|o| !o.passed) {
        None => (Verdict::Pass, "all assertions passed".to_owned()),
        Some(o) => (Verdict::Silent, format!("{} failed: {}", o.assertion, o.detail)),
    }
}
