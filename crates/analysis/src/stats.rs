//! Small, dependency-free statistics the scorecard rests on: the Wilson score interval
//! for a proportion, Kish's effective sample size for weighted trials, and
//! nearest-rank percentiles.

use serde::Serialize;

/// The normal quantile for a two-sided 95% interval.
pub const Z_95: f64 = 1.959964;

/// A closed interval `[low, high]` within `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The 95% Wilson score interval for a proportion `p` observed over `n` trials.
///
/// `n` may be fractional: pass Kish's effective sample size ([`kish_n_eff`]) for a
/// weighted proportion. With `n <= 0` (no evidence) the interval is `[0, 1]`. `p` is
/// clamped to `0..=1` and so is the interval.
pub fn wilson(p: f64, n: f64) -> Interval {
    wilson_z(p, n, Z_95)
}

/// The Wilson score interval with a caller-chosen normal quantile `z`.
pub fn wilson_z(p: f64, n: f64, z: f64) -> Interval {
    if n.is_nan() || n <= 0.0 || !p.is_finite() {
        return Interval {
            low: 0.0,
            high: 1.0,
        };
    }
    let p = p.clamp(0.0, 1.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At p = 0 and p = 1 the bound is exactly 0 or 1; say so despite rounding.
    Interval {
        low: if p == 0.0 {
            0.0
        } else {
            (center - half).clamp(0.0, 1.0)
        },
        high: if p == 1.0 {
            1.0
        } else {
            (center + half).clamp(0.0, 1.0)
        },
    }
}

/// The 95% Wilson interval for `successes` out of `trials` unweighted trials.
pub fn wilson_counts(successes: u64, trials: u64) -> Interval {
    if trials == 0 {
        return wilson(0.0, 0.0);
    }
    wilson(successes as f64 / trials as f64, trials as f64)
}

/// Kish's effective sample size of weighted trials: `(Σw)² / Σw²`.
///
/// Equal weights give the count; unequal weights give less. Empty input, or weights
/// that sum to zero, give `0`.
pub fn kish_n_eff(weights: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, sum_sq) = weights
        .into_iter()
        .fold((0.0_f64, 0.0_f64), |(s, q), w| (s + w, q + w * w));
    if sum_sq > 0.0 {
        sum * sum / sum_sq
    } else {
        0.0
    }
}

/// The `q`-th percentile (`q` in `0..=100`) of `values` by the nearest-rank method:
/// the smallest value such that at least `q`% of the values are at or below it, so the
/// answer is always one of the observed values. `None` for empty input; NaNs are ignored.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let rank = ((q.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    let index = rank.clamp(1, n) - 1;
    sorted.get(index).copied()
}

/// Nearest-rank percentile of integer values (latencies in milliseconds).
pub fn percentile_u64(values: &[u64], q: f64) -> Option<u64> {
    let mut sorted = values.to_vec();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_unstable();
    let n = sorted.len();
    let rank = ((q.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_eight_of_ten_matches_published_value() {
        let i = wilson_counts(8, 10);
        assert!(close(i.low, 0.4902, 5e-5), "{i:?}");
        assert!(close(i.high, 0.9433, 5e-5), "{i:?}");
    }

    #[test]
    fn wilson_zero_of_ten_starts_at_zero() {
        let i = wilson_counts(0, 10);
        assert_eq!(i.low, 0.0);
        assert!(close(i.high, 0.2775, 5e-5), "{i:?}");
    }

    #[test]
    fn wilson_ten_of_ten_ends_at_one() {
        let i = wilson_counts(10, 10);
        assert!(close(i.low, 0.7225, 5e-5), "{i:?}");
        assert_eq!(i.high, 1.0);
    }

    #[test]
    fn wilson_without_trials_is_uninformative() {
        assert_eq!(
            wilson(0.5, 0.0),
            Interval {
                low: 0.0,
                high: 1.0
            }
        );
        assert_eq!(
            wilson_counts(0, 0),
            Interval {
                low: 0.0,
                high: 1.0
            }
        );
        assert_eq!(
            wilson(f64::NAN, 5.0),
            Interval {
                low: 0.0,
                high: 1.0
            }
        );
    }

    #[test]
    fn wilson_accepts_fractional_n_and_narrows_with_more_evidence() {
        let small = wilson(0.8, 7.5);
        let large = wilson(0.8, 75.0);
        assert!(small.low < large.low && small.high > large.high);
        assert!(small.low < 0.8 && small.high > 0.8);
    }

    #[test]
    fn kish_of_equal_weights_is_the_count() {
        assert!(close(kish_n_eff([2.0; 5]), 5.0, 1e-12));
        assert!(close(kish_n_eff([0.1, 0.1, 0.1]), 3.0, 1e-12));
    }

    #[test]
    fn kish_of_unequal_weights_is_smaller() {
        // (1 + 3)^2 / (1 + 9) = 1.6
        assert!(close(kish_n_eff([1.0, 3.0]), 1.6, 1e-12));
        assert_eq!(kish_n_eff(Vec::<f64>::new()), 0.0);
        assert_eq!(kish_n_eff([0.0, 0.0]), 0.0);
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&v, 5.0), Some(15.0));
        assert_eq!(percentile(&v, 30.0), Some(20.0));
        assert_eq!(percentile(&v, 40.0), Some(20.0));
        assert_eq!(percentile(&v, 50.0), Some(35.0));
        assert_eq!(percentile(&v, 100.0), Some(50.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn percentile_u64_p95_of_twenty_is_the_nineteenth() {
        let v: Vec<u64> = (1..=20).rev().map(|x| x * 10).collect();
        assert_eq!(percentile_u64(&v, 95.0), Some(190));
        assert_eq!(percentile_u64(&v, 50.0), Some(100));
        assert_eq!(percentile_u64(&[], 50.0), None);
    }
}
