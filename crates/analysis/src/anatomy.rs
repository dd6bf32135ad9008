//! The failure anatomy of a (persona, tool) pair: how its results split into pass,
//! silent, structural and loud ([`VerdictCounts`]), each rate with its 95% Wilson
//! interval; the confidence signals that separate confident-wrong from visibly unsure
//! (hedges, self-consistency across samples from [`crate::agreement`], token
//! log-probabilities); and which workflows fail mostly silently. Semantics:
//! `docs/report-json.md`.

use std::collections::BTreeMap;

use proximity_store::dashboard::PairSignals;
use proximity_store::{DegenerateCounts, ResultRecord, Verdict};
use serde::Serialize;

use crate::agreement::{Agreements, PairAgreement};
use crate::estimate::{tidy, Estimate};
use crate::stats::percentile_u64;

/// A verdict's count and its rate over all results of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VerdictShare {
    pub count: u64,
    /// `count` ÷ results, with its 95% Wilson interval.
    pub rate: Estimate,
}

/// How a pair's results failed (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureAnatomy {
    pub pass: VerdictShare,
    pub silent: VerdictShare,
    pub structural: VerdictShare,
    pub loud: VerdictShare,
    /// Loud results whose output was degenerate, by reason (repetition loop, cut off at
    /// `max_tokens`, echo of the prompt, error object): `docs/assertions.md`.
    pub degenerate: DegenerateCounts,
    /// Silent results ÷ non-pass results, with its interval; `None` without failures.
    pub silent_share_of_failures: Option<Estimate>,
    /// The tool's effective context from the context-fill probe; `None`: not probed.
    pub effective_context_tokens: Option<u64>,
    pub confidence: Confidence,
    /// Workflows whose failures are mostly (more than half) silent: the ones that hurt.
    pub mostly_silent_workflows: Vec<SilentWorkflow>,
}

/// Signals of how sure the tool sounded, beside the verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Confidence {
    /// Results whose output matched the hedge lexicon.
    pub hedged: u64,
    /// Results for which the hedge was recorded (answered results).
    pub hedge_recorded: u64,
    /// Mean self-consistency over the cases with at least two answered samples; `None`
    /// when no case has (a run with `--samples 1`).
    pub agreement: Option<f64>,
    /// The same, over the cases with at least one silent sample: near 1 means the tool is
    /// consistently, confidently wrong.
    pub silent_agreement: Option<f64>,
    /// Cases with at least two answered samples.
    pub cases_sampled: u64,
    /// Mean of the results' mean token log-probability, over passes; `None` when the
    /// provider returned none.
    pub mean_logprob_pass: Option<f64>,
    /// The same over silent failures.
    pub mean_logprob_silent: Option<f64>,
}

/// A workflow of the pair whose failures are mostly silent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SilentWorkflow {
    pub workflow: String,
    /// Non-pass results.
    pub failures: u64,
    pub silent: u64,
    /// `silent ÷ failures`.
    pub silent_share: f64,
}

/// Results by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerdictCounts {
    pub pass: u64,
    pub loud: u64,
    pub structural: u64,
    pub silent: u64,
}

impl VerdictCounts {
    pub(crate) fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Loud => self.loud += 1,
            Verdict::Structural => self.structural += 1,
            Verdict::Silent => self.silent += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        self.pass += other.pass;
        self.loud += other.loud;
        self.structural += other.structural;
        self.silent += other.silent;
    }

    pub fn total(&self) -> u64 {
        self.pass + self.loud + self.structural + self.silent
    }

    pub fn failures(&self) -> u64 {
        self.loud + self.structural + self.silent
    }
}

/// The failure anatomy of one pair's results.
pub fn anatomy(rows: &[&ResultRecord]) -> FailureAnatomy {
    let mut verdicts = VerdictCounts::default();
    let mut failures: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in rows {
        verdicts.add(r.verdict);
        if r.verdict != Verdict::Pass {
            let e = failures.entry(r.workflow.as_str()).or_default();
            e.0 += 1;
            e.1 += u64::from(r.verdict == Verdict::Silent);
        }
    }
    let (persona, tool) = rows
        .first()
        .map_or(("", ""), |r| (r.persona.as_str(), r.tool_id.as_str()));
    let signals = pair_signals(persona, tool, rows);
    let agreements = Agreements::of(rows.iter().copied());
    let mut a = from_counts(
        &verdicts,
        confidence(&signals, agreements.pair(persona, tool)),
        mostly_silent(failures),
    );
    a.degenerate = signals.degenerate;
    a
}

/// The failure anatomy from a pair's verdict counts, its confidence signals and its
/// workflows' failure counts.
pub(crate) fn from_counts(
    verdicts: &VerdictCounts,
    confidence: Confidence,
    mostly_silent_workflows: Vec<SilentWorkflow>,
) -> FailureAnatomy {
    let n = verdicts.total();
    let share = |count: u64| VerdictShare {
        count,
        rate: Estimate::counts(count, n),
    };
    let failures = verdicts.failures();
    FailureAnatomy {
        pass: share(verdicts.pass),
        silent: share(verdicts.silent),
        structural: share(verdicts.structural),
        loud: share(verdicts.loud),
        degenerate: DegenerateCounts::default(),
        silent_share_of_failures: (failures > 0)
            .then(|| Estimate::counts(verdicts.silent, failures)),
        effective_context_tokens: None,
        confidence,
        mostly_silent_workflows,
    }
}

/// A pair's confidence signals from its sums ([`PairSignals`]) and the self-consistency of
/// its cases (`None`: no case had two answered samples).
pub(crate) fn confidence(signals: &PairSignals, agreement: Option<&PairAgreement>) -> Confidence {
    let mean = |sum: f64, n: u64| (n > 0).then(|| tidy(sum / n as f64));
    Confidence {
        hedged: signals.hedged,
        hedge_recorded: signals.hedge_recorded,
        agreement: agreement.and_then(|a| a.mean()),
        silent_agreement: agreement.and_then(|a| a.silent_mean()),
        cases_sampled: agreement.map_or(0, |a| a.cases()),
        mean_logprob_pass: mean(signals.logprob_pass_sum, signals.logprob_pass_n),
        mean_logprob_silent: mean(signals.logprob_silent_sum, signals.logprob_silent_n),
    }
}

/// The workflows whose failures are mostly silent, from each workflow's `(non-pass,
/// silent)` result counts: most silent failures first.
pub(crate) fn mostly_silent(by_workflow: BTreeMap<&str, (u64, u64)>) -> Vec<SilentWorkflow> {
    let mut out: Vec<SilentWorkflow> = by_workflow
        .into_iter()
        .filter(|(_, (failures, silent))| silent * 2 > *failures)
        .map(|(w, (failures, silent))| SilentWorkflow {
            workflow: w.to_owned(),
            failures,
            silent,
            silent_share: tidy(silent as f64 / failures as f64),
        })
        .collect();
    out.sort_by(|a, b| {
        b.silent
            .cmp(&a.silent)
            .then(b.silent_share.total_cmp(&a.silent_share))
            .then(a.workflow.cmp(&b.workflow))
    });
    out
}

/// The [`PairSignals`] of one pair's results.
pub(crate) fn pair_signals(persona: &str, tool: &str, rows: &[&ResultRecord]) -> PairSignals {
    let count = |f: &dyn Fn(&ResultRecord) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    let logprob = |v: Verdict| {
        rows.iter()
            .filter(|r| r.verdict == v)
            .filter_map(|r| r.mean_logprob)
            .fold((0.0, 0), |(sum, n), x| (sum + x, n + 1))
    };
    let (logprob_pass_sum, logprob_pass_n) = logprob(Verdict::Pass);
    let (logprob_silent_sum, logprob_silent_n) = logprob(Verdict::Silent);
    let mut degenerate = DegenerateCounts::default();
    for r in rows {
        degenerate.add(r.verdict, &r.reason);
    }
    let answered: Vec<u64> = rows
        .iter()
        .filter(|r| r.error_class.is_none())
        .map(|r| r.latency_ms)
        .collect();
    let latencies: Vec<u64> = if answered.is_empty() {
        rows.iter().map(|r| r.latency_ms).collect()
    } else {
        answered
    };
    PairSignals {
        persona: persona.to_owned(),
        tool_id: tool.to_owned(),
        results: rows.len() as u64,
        answered: count(&|r| r.error_class.is_none()),
        hedged: count(&|r| r.hedged == Some(true)),
        hedge_recorded: count(&|r| r.hedged.is_some()),
        logprob_pass_sum,
        logprob_pass_n,
        logprob_silent_sum,
        logprob_silent_n,
        latency_p50: percentile_u64(&latencies, 50.0).unwrap_or(0),
        latency_p95: percentile_u64(&latencies, 95.0).unwrap_or(0),
        degenerate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::with_output;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn anatomy_counts_rates_and_confidence() {
        let mut rows = [
            with_output("a", 0, Verdict::Silent, "381"),
            with_output("a", 1, Verdict::Silent, "381"),
            with_output("b", 0, Verdict::Pass, "Paris"),
            with_output("b", 1, Verdict::Pass, "Lyon"),
            with_output("c", 0, Verdict::Loud, "I think maybe 3"),
            with_output("d", 0, Verdict::Structural, "{oops"),
        ];
        rows[0].mean_logprob = Some(-0.1);
        rows[1].mean_logprob = Some(-0.3);
        rows[2].mean_logprob = Some(-1.0);
        rows[4].hedged = Some(true);
        rows[0].hedged = Some(false);
        rows[4].reason = "degenerate: repetition loop — \"3\" repeated 9 times".into();
        // A silent result never counts as degenerate, whatever its reason says.
        rows[0].reason = "degenerate: echo of the prompt — 90%".into();
        let refs: Vec<&ResultRecord> = rows.iter().collect();
        let a = anatomy(&refs);
        assert_eq!(
            a.degenerate,
            DegenerateCounts {
                repetition_loop: 1,
                ..DegenerateCounts::default()
            }
        );
        assert_eq!(
            (
                a.pass.count,
                a.silent.count,
                a.structural.count,
                a.loud.count
            ),
            (2, 2, 1, 1)
        );
        assert!(close(a.silent.rate.value, 2.0 / 6.0));
        assert!(a.silent.rate.ci_low < a.silent.rate.value);
        let share = a.silent_share_of_failures.unwrap();
        assert!(close(share.value, 0.5) && share.n == 4);
        assert_eq!(a.effective_context_tokens, None);
        assert_eq!(a.confidence.hedged, 1);
        assert_eq!(a.confidence.hedge_recorded, 2);
        assert_eq!(a.confidence.cases_sampled, 2);
        assert!(
            close(a.confidence.silent_agreement.unwrap(), 1.0),
            "confidently wrong"
        );
        assert!(close(a.confidence.agreement.unwrap(), 0.75));
        assert!(close(a.confidence.mean_logprob_silent.unwrap(), -0.2));
        assert!(close(a.confidence.mean_logprob_pass.unwrap(), -1.0));
        // w: 4 failures, 2 silent: not *mostly* silent.
        assert!(a.mostly_silent_workflows.is_empty());
        rows[5].verdict = Verdict::Silent;
        let refs: Vec<&ResultRecord> = rows.iter().collect();
        let a = anatomy(&refs);
        assert_eq!(
            a.mostly_silent_workflows,
            [SilentWorkflow {
                workflow: "w".into(),
                failures: 4,
                silent: 3,
                silent_share: 0.75
            }]
        );
    }
}
