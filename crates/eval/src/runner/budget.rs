//! A run's money: spend reserved for requests in flight, spent on answered ones, and the
//! estimate of a request's cost before it is sent.

use std::collections::HashMap;

use proximity_program::Tool;
use proximity_providers::ChatRequest;

/// Money reserved for requests in flight and spent on answered ones.
///
/// Estimates are calibrated per tool: once a tool has answered, its estimates are scaled by
/// the largest ratio of real to estimated cost seen so far, so only the requests sent
/// before a tool's first answer can be under-estimated.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) limit: Option<f64>,
    pub(crate) spent: f64,
    pub(crate) reserved: f64,
    pub(crate) exhausted: bool,
    pub(crate) calibration: HashMap<String, f64>,
}

/// The money set aside for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reservation {
    /// The uncalibrated estimate (what calibration compares the real cost with).
    pub(crate) estimate: f64,
    /// The calibrated estimate, reserved.
    pub(crate) reserved: f64,
}

impl Budget {
    /// A budget of `limit` (none: unlimited) of which `spent` is spent already.
    pub(crate) fn new(limit: Option<f64>, spent: f64) -> Self {
        Self {
            limit,
            spent,
            reserved: 0.0,
            exhausted: false,
            calibration: HashMap::new(),
        }
    }

    /// Reserve the calibrated estimate of a request; `None` when it would pass the limit.
    pub(crate) fn reserve(&mut self, tool: &str, raw_estimate: f64) -> Option<f64> {
        let factor = self.calibration.get(tool).copied().unwrap_or(1.0);
        let estimate = raw_estimate * factor;
        if let Some(limit) = self.limit {
            if self.spent + self.reserved + estimate > limit {
                self.exhausted = true;
                return None;
            }
        }
        self.reserved += estimate;
        Some(estimate)
    }

    /// Release a request's reservation and count what it really cost.
    pub(crate) fn settle(&mut self, tool: &str, raw_estimate: f64, reserved: f64, actual: f64) {
        self.reserved = (self.reserved - reserved).max(0.0);
        self.spent += actual;
        if raw_estimate > 0.0 && actual > 0.0 {
            let ratio = actual / raw_estimate;
            let factor = self.calibration.entry(tool.to_owned()).or_insert(1.0);
            *factor = factor.max(ratio);
        }
    }
}

/// Estimated cost of a request before sending it: prompt tokens (4 characters a token,
/// plus 4 a message and 3 a request for the chat template) and `max_tokens` of output
/// (256 when unset).
pub fn estimate_cost(tool: &Tool, request: &ChatRequest) -> f64 {
    let chars: usize = request.messages.iter().map(|m| m.content.len()).sum();
    let input = (chars as u64).div_ceil(4) + 4 * request.messages.len() as u64 + 3;
    let output = u64::from(request.max_tokens.unwrap_or(256));
    tool.price.cost(input, output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_what_would_pass_the_limit() {
        let mut b = Budget::new(Some(1.0), 0.0);
        let r = b.reserve("t", 0.6).unwrap();
        assert!(b.reserve("t", 0.6).is_none());
        assert!(b.exhausted);
        b.settle("t", 0.6, r, 0.3);
        assert!((b.spent - 0.3).abs() < 1e-12);
        assert_eq!(b.reserved, 0.0);
    }

    #[test]
    fn budget_calibrates_estimates_upwards() {
        let mut b = Budget::new(Some(10.0), 0.0);
        let r = b.reserve("t", 1.0).unwrap();
        b.settle("t", 1.0, r, 2.0);
        // The next estimate of the same tool is doubled: 2.0 spent + 2 × 4.0 reserved.
        let r2 = b.reserve("t", 4.0).unwrap();
        assert!((r2 - 8.0).abs() < 1e-12);
        assert!(b.reserve("t", 0.1).is_none());
        // Another tool is not affected.
        assert!(b.reserve("u", 0.0).is_some());
    }

    #[test]
    fn what_was_spent_before_counts_against_the_limit() {
        let mut b = Budget::new(Some(1.0), 0.9);
        assert!(b.reserve("t", 0.2).is_none());
        assert!(b.exhausted);
        let mut unlimited = Budget::new(None, 1e9);
        assert!(unlimited.reserve("t", 1e9).is_some());
    }
}
