//! The failing cases of a run, pair by pair, most common first, with the output beside
//! what was expected: `proximity report --failures`.

use std::collections::BTreeMap;

use proximity_store::{ResultRecord, Verdict};
use serde::Serialize;

use crate::agreement::{agreement, extract_answer, Agreement};
use crate::estimate::Estimate;
use crate::report::{truncate_chars, verdict_rank, Report, OUTPUT_CHARS};

/// Which failures `proximity report --failures` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureFilter {
    Silent,
    Structural,
    Loud,
    All,
}

impl FailureFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silent => "silent",
            Self::Structural => "structural",
            Self::Loud => "loud",
            Self::All => "all",
        }
    }

    fn admits(self, v: Verdict) -> bool {
        match self {
            Self::Silent => v == Verdict::Silent,
            Self::Structural => v == Verdict::Structural,
            Self::Loud => v == Verdict::Loud,
            Self::All => v != Verdict::Pass,
        }
    }
}

/// The failing cases of a run, by pair (`proximity report --failures`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureList {
    pub run_id: String,
    pub program: String,
    pub filter: FailureFilter,
    pub pairs: Vec<PairFailures>,
}

/// One (persona, tool) pair's failing cases, most common first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairFailures {
    pub persona: String,
    pub tool: String,
    pub results: u64,
    pub silent_failure_rate: Estimate,
    pub silent_share_of_failures: Option<Estimate>,
    pub cases: Vec<FailingCase>,
}

/// One case × tool × verdict: how often it failed that way, and the first such sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailingCase {
    pub case_id: String,
    pub workflow: String,
    pub kind: String,
    pub case_weight: f64,
    pub verdict: Verdict,
    /// Samples of the case × tool with this verdict.
    pub failed_samples: u32,
    /// All samples of the case × tool.
    pub samples: u32,
    /// Self-consistency of the case × tool's samples.
    pub agreement: Agreement,
    /// The sample shown below.
    pub sample: u32,
    /// The failing assertion as written (what was expected); `None` for a loud failure
    /// without one (an error, a refusal, an empty output).
    pub expected: Option<String>,
    /// Why that assertion failed.
    pub detail: Option<String>,
    pub reason: String,
    /// The output, cut to 300 characters (`…` marks a cut). Untrusted.
    pub output: String,
    /// The answer extracted from it (see [`extract_answer`]).
    pub answer: Option<String>,
    pub hedged: Option<bool>,
    pub mean_logprob: Option<f64>,
    /// Requests sent for the sample (retries included; 0: served from the cache).
    pub attempts: u32,
    /// Time they took in all, milliseconds (a failed request's too).
    pub latency_ms: u64,
    /// The class of the error the last attempt ended with; `None`: answered.
    pub error_class: Option<String>,
}

/// The assertion outcome behind a failing verdict: the first failed `correct` (then
/// `safety`) assertion of a silent result, the first failed `contract` assertion of a
/// structural one, the first failed assertion of a loud one.
fn failing_outcome(r: &ResultRecord) -> Option<&proximity_store::AssertionOutcome> {
    let first = |group: &str| r.assertions.iter().find(|o| !o.passed && o.group == group);
    match r.verdict {
        Verdict::Pass => None,
        Verdict::Silent => first("correct").or_else(|| first("safety")),
        Verdict::Structural => first("contract"),
        Verdict::Loud => r.assertions.iter().find(|o| !o.passed),
    }
}

/// The failing cases of `report`'s run that `filter` admits, grouped by the report's
/// pairs (in its order), each pair's cases ordered by failed samples (most common
/// first), then verdict (silent, structural, loud), edge before routine, case weight
/// and case id. At most `per_pair` cases per pair.
pub fn failures(
    report: &Report,
    results: &[ResultRecord],
    filter: FailureFilter,
    per_pair: usize,
) -> FailureList {
    let mut pairs = Vec::new();
    for row in &report.scorecard {
        let mine: Vec<&ResultRecord> = results
            .iter()
            .filter(|r| {
                r.run_id == report.run_id && r.persona == row.persona && r.tool_id == row.tool
            })
            .collect();
        let mut by_case: BTreeMap<&str, Vec<&ResultRecord>> = BTreeMap::new();
        for r in &mine {
            by_case.entry(r.case_id.as_str()).or_default().push(r);
        }
        let mut cases = Vec::new();
        for samples in by_case.values() {
            let agreement = agreement(samples);
            for v in [Verdict::Silent, Verdict::Structural, Verdict::Loud] {
                if !filter.admits(v) {
                    continue;
                }
                let mut failed: Vec<&&ResultRecord> =
                    samples.iter().filter(|r| r.verdict == v).collect();
                failed.sort_by_key(|r| r.sample);
                let Some(first) = failed.first() else {
                    continue;
                };
                let outcome = failing_outcome(first);
                cases.push(FailingCase {
                    case_id: first.case_id.clone(),
                    workflow: first.workflow.clone(),
                    kind: first.kind.clone(),
                    case_weight: first.case_weight,
                    verdict: v,
                    failed_samples: failed.len() as u32,
                    samples: samples.len() as u32,
                    agreement,
                    sample: first.sample,
                    expected: outcome.map(|o| o.assertion.clone()),
                    detail: outcome.map(|o| o.detail.clone()),
                    reason: first.reason.clone(),
                    output: truncate_chars(&first.output, OUTPUT_CHARS),
                    answer: extract_answer(&first.output),
                    hedged: first.hedged,
                    mean_logprob: first.mean_logprob,
                    attempts: first.attempts,
                    latency_ms: first.latency_ms,
                    error_class: first.error_class.clone(),
                });
            }
        }
        cases.sort_by(|a, b| {
            b.failed_samples
                .cmp(&a.failed_samples)
                .then(verdict_rank(a.verdict).cmp(&verdict_rank(b.verdict)))
                .then((a.kind != "edge").cmp(&(b.kind != "edge")))
                .then(b.case_weight.total_cmp(&a.case_weight))
                .then(a.case_id.cmp(&b.case_id))
        });
        cases.truncate(per_pair);
        pairs.push(PairFailures {
            persona: row.persona.clone(),
            tool: row.tool.clone(),
            results: mine.len() as u64,
            silent_failure_rate: row.failure_anatomy.silent.rate,
            silent_share_of_failures: row.failure_anatomy.silent_share_of_failures,
            cases,
        });
    }
    FailureList {
        run_id: report.run_id.clone(),
        program: report.program.clone(),
        filter,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use proximity_store::AssertionOutcome;

    use super::*;
    use crate::fixture::{run, with_output};
    use crate::report::set_effective_context;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn failure_list_puts_the_most_common_first_with_what_was_expected() {
        use crate::fixture::{persona, program, tool, workflow};
        let program = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("p", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)])],
        );
        let mut rows = vec![
            with_output("once", 0, Verdict::Silent, "Lyon"),
            with_output("once", 1, Verdict::Pass, "Paris"),
            with_output("twice", 0, Verdict::Silent, "381"),
            with_output("twice", 1, Verdict::Silent, "381"),
            with_output("shape", 0, Verdict::Structural, "{oops"),
        ];
        rows[2].assertions = vec![
            AssertionOutcome {
                group: "contract".into(),
                assertion: "max_length 10".into(),
                passed: true,
                detail: "3 chars ≤ max 10".into(),
                judge_raw: None,
            },
            AssertionOutcome {
                group: "correct".into(),
                assertion: "numeric 391 ± 0".into(),
                passed: false,
                detail: "last number 381 (\"381\") is not 391".into(),
                judge_raw: None,
            },
        ];
        let report = crate::scorecard(&program, &run(5), &rows);
        let list = failures(&report, &rows, FailureFilter::Silent, 10);
        assert_eq!(list.pairs.len(), 1);
        let pair = &list.pairs[0];
        let ids: Vec<&str> = pair.cases.iter().map(|c| c.case_id.as_str()).collect();
        assert_eq!(ids, ["twice", "once"]);
        let top = &pair.cases[0];
        assert_eq!((top.failed_samples, top.samples), (2, 2));
        assert_eq!(
            top.agreement,
            Agreement {
                agreeing: 2,
                answered: 2
            }
        );
        assert_eq!(top.expected.as_deref(), Some("numeric 391 ± 0"));
        assert_eq!(top.answer.as_deref(), Some("381"));
        assert!(close(pair.silent_failure_rate.value, 3.0 / 5.0));

        let mut probed = report.clone();
        set_effective_context(&mut probed, |tool| (tool == "t").then_some(6144));
        assert_eq!(
            probed.scorecard[0].failure_anatomy.effective_context_tokens,
            Some(6144)
        );
        let all = failures(&report, &rows, FailureFilter::All, 10);
        assert_eq!(all.pairs[0].cases.len(), 3);
        let structural = failures(&report, &rows, FailureFilter::Structural, 10);
        assert_eq!(structural.pairs[0].cases.len(), 1);
        assert!(failures(&report, &rows, FailureFilter::Loud, 10).pairs[0]
            .cases
            .is_empty());
        assert_eq!(
            failures(&report, &rows, FailureFilter::All, 1).pairs[0]
                .cases
                .len(),
            1
        );
    }
}
