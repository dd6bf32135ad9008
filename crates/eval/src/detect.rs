//! Refusal, hedge and abstention detection on model output.

/// The output declines the request.
pub fn is_refusal(_text: &str) -> bool {
    false
}

/// The output signals uncertainty.
pub fn is_hedge(_text: &str) -> bool {
    false
}

/// The output says it does not know rather than answering.
pub fn is_abstention(_text: &str) -> bool {
    false
}
