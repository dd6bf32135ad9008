//! [`Estimate`]: a proportion with its 95% Wilson interval (weighted on Kish's effective
//! sample size, or from plain counts), and [`tidy`], the one rounding every figure of a
//! report goes through.

use serde::Serialize;

use crate::stats::{wilson, wilson_counts};

/// A proportion with its 95% Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Point estimate, `0..=1`.
    pub value: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Results it rests on.
    pub n: u64,
    /// Kish effective sample size used for the interval (equals `n` when unweighted).
    pub n_eff: f64,
}

impl Estimate {
    /// A weighted proportion of `n` trials from its sums: Σ weight, Σ weight² and
    /// Σ weight of the passing trials. The interval rests on Kish's effective sample size
    /// `(Σw)² / Σw²`. `None` without positive weight.
    pub(crate) fn weighted(sum_w: f64, sum_w2: f64, sum_w_pass: f64, n: u64) -> Option<Self> {
        if sum_w.is_nan() || sum_w <= 0.0 {
            return None;
        }
        let value = (sum_w_pass / sum_w).clamp(0.0, 1.0);
        let n_eff = if sum_w2 > 0.0 {
            sum_w * sum_w / sum_w2
        } else {
            0.0
        };
        Some(Self::with_n_eff(value, n, n_eff))
    }

    fn with_n_eff(value: f64, n: u64, n_eff: f64) -> Self {
        let ci = wilson(value, n_eff);
        Self {
            value: tidy(value),
            ci_low: tidy(ci.low),
            ci_high: tidy(ci.high),
            n,
            n_eff: tidy(n_eff),
        }
    }

    /// An unweighted proportion: `successes` of `n`.
    pub(crate) fn counts(successes: u64, n: u64) -> Self {
        let ci = wilson_counts(successes, n);
        Self {
            value: if n > 0 {
                tidy(successes as f64 / n as f64)
            } else {
                0.0
            },
            ci_low: tidy(ci.low),
            ci_high: tidy(ci.high),
            n,
            n_eff: n as f64,
        }
    }
}

/// Round away float noise (`0.8999999999999999` → `0.9`) and negative zero, so
/// reports read cleanly and compare stably; 12 decimals keep every meaningful digit.
pub(crate) fn tidy(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let r = (x * 1e12).round() / 1e12;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}
