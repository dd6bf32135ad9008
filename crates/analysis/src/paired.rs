//! Statistics for comparing the same cases on two occasions (a baseline and now): the
//! exact binomial tail, the exact McNemar test on discordant pairs, Newcombe's hybrid
//! score interval for a difference of paired proportions (his method 10), Holm–Bonferroni
//! adjustment, and the exact power of McNemar's test. Pure, dependency-free functions;
//! `docs/drift.md` explains how drift uses them.

use serde::Serialize;

use crate::stats::{wilson_counts, Interval};

/// The significance level drift is declared at (family-wise, per tool).
pub const ALPHA: f64 = 0.05;

/// A 2×2 table of paired binary outcomes: the same case at the baseline and now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PairedCounts {
    /// Passed both times.
    pub both_pass: u64,
    /// Passed at the baseline, fails now (`b`).
    pub pass_to_fail: u64,
    /// Failed at the baseline, passes now (`c`).
    pub fail_to_pass: u64,
    /// Failed both times.
    pub both_fail: u64,
}

impl PairedCounts {
    /// Count one case.
    pub fn add(&mut self, before: bool, after: bool) {
        match (before, after) {
            (true, true) => self.both_pass += 1,
            (true, false) => self.pass_to_fail += 1,
            (false, true) => self.fail_to_pass += 1,
            (false, false) => self.both_fail += 1,
        }
    }

    pub fn n(&self) -> u64 {
        self.both_pass + self.pass_to_fail + self.fail_to_pass + self.both_fail
    }

    /// Pass rate at the baseline.
    pub fn before_rate(&self) -> f64 {
        ratio(self.both_pass + self.pass_to_fail, self.n())
    }

    /// Pass rate now.
    pub fn after_rate(&self) -> f64 {
        ratio(self.both_pass + self.fail_to_pass, self.n())
    }

    /// Now minus baseline.
    pub fn difference(&self) -> f64 {
        self.after_rate() - self.before_rate()
    }
}

fn ratio(k: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}

/// `ln(n!)`, exact by summation (n stays small: cases of a suite).
fn ln_factorial(n: u64) -> f64 {
    (2..=n).map(|k| (k as f64).ln()).sum()
}

/// `P(X = k)` for `X ~ Binomial(n, p)`.
pub fn binomial_pmf(k: u64, n: u64, p: f64) -> f64 {
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if p >= 1.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    let ln = ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
        + k as f64 * p.ln()
        + (n - k) as f64 * (1.0 - p).ln();
    ln.exp()
}

/// `P(X <= k)` for `X ~ Binomial(n, p)`.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    (0..=k.min(n))
        .map(|i| binomial_pmf(i, n, p))
        .sum::<f64>()
        .min(1.0)
}

/// The exact McNemar test: two-sided p-value of `b` pass→fail against `c` fail→pass
/// discordant pairs, `2 · P(X ≤ min(b, c))` for `X ~ Binomial(b + c, ½)`, capped at 1.
/// No discordant pair: 1.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    (2.0 * binomial_cdf(b.min(c), n, 0.5)).min(1.0)
}

/// Newcombe's hybrid score interval (1998, method 10: Wilson limits for each margin,
/// combined with the phi correlation of the pairs; no continuity correction) for the
/// difference `after − before` of paired proportions, at 95%. The bounds are within
/// `-1..=1`; with no cases the interval is `[-1, 1]`.
pub fn newcombe_paired(t: &PairedCounts) -> Interval {
    let n = t.n();
    if n == 0 {
        return Interval {
            low: -1.0,
            high: 1.0,
        };
    }
    let (a, b, c, d) = (
        t.both_pass as f64,
        t.pass_to_fail as f64,
        t.fail_to_pass as f64,
        t.both_fail as f64,
    );
    let p1 = t.before_rate();
    let p2 = t.after_rate();
    let w1 = wilson_counts(t.both_pass + t.pass_to_fail, n);
    let w2 = wilson_counts(t.both_pass + t.fail_to_pass, n);
    let denom = ((a + b) * (c + d) * (a + c) * (b + d)).sqrt();
    let phi = if denom > 0.0 {
        (a * d - b * c) / denom
    } else {
        0.0
    };
    let (dl1, du1) = (p1 - w1.low, w1.high - p1);
    let (dl2, du2) = (p2 - w2.low, w2.high - p2);
    let diff = p2 - p1;
    let low = diff
        - (dl2 * dl2 - 2.0 * phi * dl2 * du1 + du1 * du1)
            .max(0.0)
            .sqrt();
    let high = diff
        + (du2 * du2 - 2.0 * phi * du2 * dl1 + dl1 * dl1)
            .max(0.0)
            .sqrt();
    Interval {
        low: low.clamp(-1.0, 1.0),
        high: high.clamp(-1.0, 1.0),
    }
}

/// Holm–Bonferroni adjusted p-values, in the order given: the `i`-th smallest raw p is
/// multiplied by `m − i` (0-based `i`), made non-decreasing and capped at 1. A hypothesis
/// is rejected at family-wise level α when its adjusted p is `<= α`.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        let adj = (p_values[i] * (m - rank) as f64).min(1.0);
        running = running.max(adj);
        adjusted[i] = running;
    }
    adjusted
}

/// Exact power of the two-sided exact McNemar test at level `alpha` on `n` cases, when
/// each case flips pass→fail with probability `p10` and fail→pass with `p01`: the sum
/// over discordant counts `k ~ Binomial(n, p10 + p01)` of the probability that
/// `b ~ Binomial(k, p10 / (p10 + p01))` gives a p-value `<= alpha`.
pub fn mcnemar_power(n: u64, p10: f64, p01: f64, alpha: f64) -> f64 {
    let pd = p10 + p01;
    if pd <= 0.0 {
        return 0.0;
    }
    let share = p10 / pd;
    let mut power = 0.0;
    for k in 1..=n {
        let pk = binomial_pmf(k, n, pd);
        if pk < 1e-15 {
            continue;
        }
        let reject: f64 = (0..=k)
            .filter(|&b| mcnemar_exact(b, k - b) <= alpha)
            .map(|b| binomial_pmf(b, k, share))
            .sum();
        power += pk * reject;
    }
    power.min(1.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn mcnemar_known_values() {
        // 2 · (C(11,0)+C(11,1)+C(11,2)) / 2^11 = 2 · 67 / 2048.
        assert!(close(mcnemar_exact(9, 2), 134.0 / 2048.0, 1e-12));
        // Symmetric in b and c.
        assert_eq!(mcnemar_exact(2, 9), mcnemar_exact(9, 2));
        // 6 flips one way, none back: 2 / 64.
        assert!(close(mcnemar_exact(6, 0), 2.0 / 64.0, 1e-12));
        // 5 vs 0 is not significant at 5% (0.0625).
        assert!(mcnemar_exact(5, 0) > ALPHA);
        // Balanced: capped at 1; nothing discordant: 1.
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Textbook value (Agresti's 2×2 of approval ratings: b = 150, c = 86) is
        // ~3.0e-5 by the exact test.
        let p = mcnemar_exact(150, 86);
        assert!(p > 1e-5 && p < 1e-4, "{p}");
    }

    #[test]
    fn binomial_sums_to_one() {
        let total: f64 = (0..=20).map(|k| binomial_pmf(k, 20, 0.3)).sum();
        assert!(close(total, 1.0, 1e-12));
        assert!(close(binomial_cdf(20, 20, 0.3), 1.0, 1e-12));
        assert!(close(binomial_pmf(2, 4, 0.5), 6.0 / 16.0, 1e-12));
    }

    #[test]
    fn holm_known_values() {
        // Sorted p: 0.01, 0.02, 0.03, 0.04 → ×4, ×3, ×2, ×1 → 0.04, 0.06, 0.06, 0.06.
        let adj = holm(&[0.03, 0.01, 0.04, 0.02]);
        let want = [0.06, 0.04, 0.06, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adj:?}");
        }
        // Caps at 1 and keeps the order given.
        assert_eq!(holm(&[0.9, 0.5]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
        // One test: unchanged.
        assert_eq!(holm(&[0.03]), vec![0.03]);
    }

    #[test]
    fn newcombe_paired_known_values() {
        // Fagerland, Lydersen & Laake (2014), the airway hyper-responsiveness example:
        // n = 21, a = 1, b = 1, c = 7, d = 12; Newcombe's hybrid score interval for the
        // difference is 0.036 to 0.502 (as reported there, to three decimals).
        let t = PairedCounts {
            both_pass: 1,
            pass_to_fail: 1,
            fail_to_pass: 7,
            both_fail: 12,
        };
        let ci = newcombe_paired(&t);
        assert!(close(t.difference(), 6.0 / 21.0, 1e-12));
        assert!(close(ci.low, 0.036, 5e-4), "{ci:?}");
        assert!(close(ci.high, 0.502, 5e-4), "{ci:?}");
        // Mirrored table (pass and fail swapped): the interval mirrors.
        let m = PairedCounts {
            both_pass: 12,
            pass_to_fail: 7,
            fail_to_pass: 1,
            both_fail: 1,
        };
        let cm = newcombe_paired(&m);
        assert!(
            close(cm.low, -ci.high, 1e-9) && close(cm.high, -ci.low, 1e-9),
            "{cm:?}"
        );
    }

    #[test]
    fn newcombe_paired_contains_difference_and_degenerates_gracefully() {
        let same = PairedCounts {
            both_pass: 30,
            both_fail: 10,
            ..Default::default()
        };
        let ci = newcombe_paired(&same);
        assert!(ci.low < 0.0 && ci.high > 0.0);
        let empty = newcombe_paired(&PairedCounts::default());
        assert_eq!((empty.low, empty.high), (-1.0, 1.0));
        let all_drop = PairedCounts {
            pass_to_fail: 10,
            ..Default::default()
        };
        let ci = newcombe_paired(&all_drop);
        assert!(ci.high < 0.0 && ci.low >= -1.0, "{ci:?}");
    }

    #[test]
    fn power_grows_with_cases_and_is_at_most_alpha_under_the_null() {
        let small = mcnemar_power(20, 0.10, 0.0, ALPHA);
        let large = mcnemar_power(100, 0.10, 0.0, ALPHA);
        assert!(small < large, "{small} {large}");
        assert!(large > 0.9, "{large}");
        // Symmetric flips (no drift): rejection probability stays within α.
        let null = mcnemar_power(60, 0.05, 0.05, ALPHA);
        assert!(null <= ALPHA, "{null}");
        assert_eq!(mcnemar_power(50, 0.0, 0.0, ALPHA), 0.0);
    }
}
