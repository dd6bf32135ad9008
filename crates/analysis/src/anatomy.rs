//! The failure anatomy of a (persona, tool) pair: how its results split into pass,
//! silent, structural and loud, each rate with its 95% Wilson interval; the confidence
//! signals that separate confident-wrong from visibly unsure (hedges, self-consistency
//! across samples, token log-probabilities); which workflows fail mostly silently; and
//! the failing cases themselves, most common first, with the output beside what was
//! expected (`proximity report --failures`). Semantics: `docs/report-json.md`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use proximity_store::dashboard::{AnswerRow, PairSignals};
use proximity_store::{ResultRecord, Verdict};
use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::scorecard::{truncate_chars, Estimate, Report, VerdictCounts, OUTPUT_CHARS};

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

/// How many of a case's answered samples agree with the most common answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Agreement {
    /// Samples giving the most common extracted answer.
    pub agreeing: u32,
    /// Samples with an answer (no provider error, non-empty output).
    pub answered: u32,
}

impl Agreement {
    pub fn share(&self) -> Option<f64> {
        (self.answered > 0).then(|| f64::from(self.agreeing) / f64::from(self.answered))
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
    let signals = crate::sums::pair_signals(persona, tool, rows);
    let agreements = Agreements::of(rows.iter().copied());
    from_counts(
        &verdicts,
        confidence(&signals, agreements.pair(persona, tool)),
        mostly_silent(failures),
    )
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
        silent_share_of_failures: (failures > 0)
            .then(|| Estimate::counts(verdicts.silent, failures)),
        effective_context_tokens: None,
        confidence,
        mostly_silent_workflows,
    }
}

/// Fill each row's `failure_anatomy.effective_context_tokens` from the context-fill
/// probe: `effective_context(tool_id)` is the tool's measured effective context, `None`
/// when the tool was not probed.
pub fn set_effective_context(report: &mut Report, effective_context: impl Fn(&str) -> Option<u64>) {
    for row in &mut report.scorecard {
        row.failure_anatomy.effective_context_tokens = effective_context(&row.tool);
    }
}

fn tidy(x: f64) -> f64 {
    let r = (x * 1e12).round() / 1e12;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// A pair's confidence signals from its sums ([`PairSignals`]) and the self-consistency of
/// its cases (`None`: no case had two answered samples).
pub(crate) fn confidence(signals: &PairSignals, agreement: Option<&PairAgreement>) -> Confidence {
    let mean = |sum: f64, n: u64| (n > 0).then(|| tidy(sum / n as f64));
    Confidence {
        hedged: signals.hedged,
        hedge_recorded: signals.hedge_recorded,
        agreement: agreement.and_then(|a| a.all.mean()),
        silent_agreement: agreement.and_then(|a| a.silent.mean()),
        cases_sampled: agreement.map_or(0, |a| a.all.cases()),
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

/// The self-consistency of a run's cases, pair by pair: per pair, the cases with at least
/// two answered samples and their agreement shares (see [`agreement`]), over all of them
/// and over those with a silent sample. Kept as exact sums per number of answered
/// samples, so the means do not depend on the order cases come in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agreements {
    pairs: BTreeMap<(String, String), PairAgreement>,
}

/// One pair's self-consistency sums.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PairAgreement {
    all: ShareSums,
    silent: ShareSums,
}

/// Agreement shares `agreeing ÷ answered` as, per `answered`, (Σ agreeing, cases).
#[derive(Debug, Clone, Default, PartialEq)]
struct ShareSums(BTreeMap<u32, (u64, u64)>);

impl ShareSums {
    fn add(&mut self, a: Agreement) {
        let e = self.0.entry(a.answered).or_default();
        e.0 += u64::from(a.agreeing);
        e.1 += 1;
    }

    fn cases(&self) -> u64 {
        self.0.values().map(|(_, cases)| cases).sum()
    }

    /// The mean share; `None` without cases.
    fn mean(&self) -> Option<f64> {
        let cases = self.cases();
        let sum: f64 = self
            .0
            .iter()
            .map(|(answered, (agreeing, _))| *agreeing as f64 / f64::from(*answered))
            .sum();
        (cases > 0).then(|| tidy(sum / cases as f64))
    }
}

impl Agreements {
    /// The self-consistency of `results`' cases.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a ResultRecord>) -> Self {
        let mut rows: Vec<&ResultRecord> = results.into_iter().collect();
        rows.sort_by(|a, b| {
            (&a.case_id, &a.tool_id, &a.persona).cmp(&(&b.case_id, &b.tool_id, &b.persona))
        });
        let mut fold = AgreementFold::default();
        for r in rows {
            fold.push(
                &r.persona,
                &r.tool_id,
                &r.case_id,
                r.verdict,
                r.error_class.is_none().then_some(r.output.as_str()),
            );
        }
        fold.finish()
    }

    /// Count one case of a pair: its samples' agreement, and whether one was silent.
    fn add_case(&mut self, persona: &str, tool: &str, a: Agreement, any_silent: bool) {
        if a.answered < 2 {
            return;
        }
        let pair = self
            .pairs
            .entry((persona.to_owned(), tool.to_owned()))
            .or_default();
        pair.all.add(a);
        if any_silent {
            pair.silent.add(a);
        }
    }

    pub(crate) fn pair(&self, persona: &str, tool: &str) -> Option<&PairAgreement> {
        self.pairs.get(&(persona.to_owned(), tool.to_owned()))
    }
}

/// [`Agreements`] built from samples streamed one at a time, each case's samples on a
/// tool together (as [`proximity_store::Store::answer_rows`] hands them): one case in
/// memory at a time.
#[derive(Debug, Default)]
pub struct AgreementFold {
    /// (persona, tool, case) of the samples being tallied.
    key: Option<(String, String, String)>,
    tally: AnswerTally,
    any_silent: bool,
    done: Agreements,
}

impl AgreementFold {
    /// One sample: `answered` is its output, `None` when the provider errored.
    pub fn push(
        &mut self,
        persona: &str,
        tool: &str,
        case_id: &str,
        verdict: Verdict,
        answered: Option<&str>,
    ) {
        let same = self.key.as_ref().is_some_and(|(p, t, c)| {
            p.as_str() == persona && t.as_str() == tool && c.as_str() == case_id
        });
        if !same {
            self.flush();
            self.key = Some((persona.to_owned(), tool.to_owned(), case_id.to_owned()));
        }
        self.any_silent |= verdict == Verdict::Silent;
        if let Some(output) = answered {
            self.tally.add(output);
        }
    }

    /// One row of [`proximity_store::Store::answer_rows`].
    pub fn push_row(&mut self, row: &AnswerRow) {
        self.push(
            &row.persona,
            &row.tool_id,
            &row.case_id,
            row.verdict,
            row.output.as_deref(),
        );
    }

    fn flush(&mut self) {
        if let Some((persona, tool, _)) = self.key.take() {
            let tally = std::mem::take(&mut self.tally);
            self.done
                .add_case(&persona, &tool, tally.agreement(), self.any_silent);
        }
        self.any_silent = false;
    }

    pub fn finish(mut self) -> Agreements {
        self.flush();
        self.done
    }
}

/// The answers of one case's samples, counted.
#[derive(Debug, Default)]
struct AnswerTally {
    counts: BTreeMap<String, u32>,
    answered: u32,
}

impl AnswerTally {
    /// An answered sample's output (one without an answer counts for nothing).
    fn add(&mut self, output: &str) {
        if let Some(a) = extract_answer(output) {
            self.answered += 1;
            *self.counts.entry(a).or_default() += 1;
        }
    }

    fn agreement(&self) -> Agreement {
        Agreement {
            agreeing: self.counts.values().copied().max().unwrap_or(0),
            answered: self.answered,
        }
    }
}

/// Self-consistency of one case × tool's samples: how many answered samples give the
/// most common [`extract_answer`].
pub fn agreement(samples: &[&ResultRecord]) -> Agreement {
    let mut tally = AnswerTally::default();
    for r in samples.iter().filter(|r| r.error_class.is_none()) {
        tally.add(&r.output);
    }
    tally.agreement()
}

/// The answer an output commits to, for comparing samples (`docs/report-json.md`,
/// "Self-consistency"):
///
/// 1. the output is one JSON value (a single fenced block around it tolerated): that
///    value, canonical (keys sorted, numbers by value, compact);
/// 2. otherwise its last line with text once lowercased, whitespace collapsed, `*` and
///    `` ` `` removed, surrounding `_` and quotes and trailing `. ! ; :` removed (so a
///    closing code fence is skipped);
/// 3. and when that line is a number apart from a sign, a currency symbol or code, a
///    `%` and comma thousands separators (`$1,250.50`, `-259.20`, `22.7 %`), the number.
///
/// `None` for an empty output.
pub fn extract_answer(output: &str) -> Option<String> {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        return None;
    }
    let json_text = strip_fence(trimmed).unwrap_or(trimmed);
    if let Ok(v) = serde_json::from_str::<Value>(json_text) {
        let mut out = String::new();
        canonical(&v, &mut out);
        return Some(out);
    }
    let line = trimmed
        .lines()
        .rev()
        .map(normalise_line)
        .find(|l| !l.is_empty())?;
    Some(as_number(&line).unwrap_or(line))
}

/// A line lowercased, whitespace collapsed, `*` and backticks removed, surrounding `_` and
/// quotes and trailing `. ! ; :` removed.
fn normalise_line(line: &str) -> String {
    let line = line
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['*', '`'], "")
        .to_lowercase();
    let marks = |c: char| matches!(c, '_' | '"' | '\'' | '“' | '”');
    let stops = ['.', '!', ';', ':'];
    line.trim_end_matches(stops)
        .trim_matches(marks)
        .trim_end_matches(stops)
        .trim()
        .to_owned()
}

fn as_number(line: &str) -> Option<String> {
    static NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"^(?<s1>[+\-−]?)(?:[$€£¥]|us\$|usd|eur|gbp|chf)?\s?(?<s2>[+\-−]?)(?<n>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s?(?:%|[$€£¥]|usd|eur|gbp|chf)?$",
        )
        .ok()
    });
    let caps = NUMBER.as_ref()?.captures(line)?;
    let value: f64 = caps.name("n")?.as_str().replace(',', "").parse().ok()?;
    let negative = ["s1", "s2"].iter().any(|s| {
        caps.name(s)
            .is_some_and(|m| !m.as_str().is_empty() && m.as_str() != "+")
    });
    Some(format!("{}", if negative { -value } else { value }))
}

fn strip_fence(out: &str) -> Option<&str> {
    let rest = out.strip_prefix("```")?;
    let (info, body) = rest.split_once('\n')?;
    let info = info.trim();
    if !(info.is_empty() || info.eq_ignore_ascii_case("json")) {
        return None;
    }
    let inner = body.trim_end().strip_suffix("```")?;
    (!inner.contains("```")).then(|| inner.trim())
}

/// Compact JSON with object keys sorted and numbers written by value (`1.0` → `1`).
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        Value::Number(n) => match n.as_f64() {
            Some(f) => out.push_str(&format!("{f}")),
            None => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

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

fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Silent => 0,
        Verdict::Structural => 1,
        Verdict::Loud => 2,
        Verdict::Pass => 3,
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
    use super::*;
    use crate::fixture::{result, run};
    use proximity_store::AssertionOutcome;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn extracts_json_numbers_and_final_lines() {
        assert_eq!(
            extract_answer("```json\n{\"b\": 1.0, \"a\": [2, \"x\"]}\n```").as_deref(),
            Some(r#"{"a":[2,"x"],"b":1}"#)
        );
        assert_eq!(
            extract_answer("{\"a\": [2, \"x\"], \"b\": 1}"),
            extract_answer("{\"b\":1,\"a\":[2.0,\"x\"]}")
        );
        assert_eq!(
            extract_answer("Let me see.\n\n$1,250.50\n").as_deref(),
            Some("1250.5")
        );
        assert_eq!(extract_answer("-259.20").as_deref(), Some("-259.2"));
        assert_eq!(extract_answer("22.7 %").as_deref(), Some("22.7"));
        assert_eq!(extract_answer("EUR 2,450").as_deref(), Some("2450"));
        assert_eq!(
            extract_answer("Sure.\nThe capital is **Paris**.").as_deref(),
            Some("the capital is paris")
        );
        assert_eq!(extract_answer("  **Paris**!  ").as_deref(), Some("paris"));
        assert_eq!(extract_answer("Q3 2024").as_deref(), Some("q3 2024"));
        assert_eq!(
            extract_answer("Total:\n```\n42\n```").as_deref(),
            Some("42")
        );
        assert_eq!(extract_answer(" \n "), None);
    }

    fn sample(case: &str, sample: u32, verdict: Verdict, output: &str) -> ResultRecord {
        let mut r = result("p", "t", "w", "routine", case, sample, verdict);
        r.output = output.into();
        r
    }

    #[test]
    fn agreement_counts_the_modal_answer_over_answered_samples() {
        let a = sample("c", 0, Verdict::Silent, "381");
        let b = sample("c", 1, Verdict::Silent, "The answer:\n381.");
        let c = sample("c", 2, Verdict::Pass, "391");
        let mut err = sample("c", 3, Verdict::Loud, "");
        err.error_class = Some("timeout".into());
        let got = agreement(&[&a, &b, &c, &err]);
        assert_eq!(
            got,
            Agreement {
                agreeing: 2,
                answered: 3
            }
        );
        assert!(close(got.share().unwrap(), 2.0 / 3.0));
        assert_eq!(agreement(&[&err]).share(), None);
    }

    #[test]
    fn anatomy_counts_rates_and_confidence() {
        let mut rows = [
            sample("a", 0, Verdict::Silent, "381"),
            sample("a", 1, Verdict::Silent, "381"),
            sample("b", 0, Verdict::Pass, "Paris"),
            sample("b", 1, Verdict::Pass, "Lyon"),
            sample("c", 0, Verdict::Loud, "I think maybe 3"),
            sample("d", 0, Verdict::Structural, "{oops"),
        ];
        rows[0].mean_logprob = Some(-0.1);
        rows[1].mean_logprob = Some(-0.3);
        rows[2].mean_logprob = Some(-1.0);
        rows[4].hedged = Some(true);
        rows[0].hedged = Some(false);
        let refs: Vec<&ResultRecord> = rows.iter().collect();
        let a = anatomy(&refs);
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

    #[test]
    fn failure_list_puts_the_most_common_first_with_what_was_expected() {
        use crate::fixture::{persona, program, tool, workflow};
        let program = program(
            vec![tool("t", 0.0, 0.0, 0.0)],
            vec![persona("p", 1, vec![workflow("w", 1.0, 0.0, 0.4, 0)])],
        );
        let mut rows = vec![
            sample("once", 0, Verdict::Silent, "Lyon"),
            sample("once", 1, Verdict::Pass, "Paris"),
            sample("twice", 0, Verdict::Silent, "381"),
            sample("twice", 1, Verdict::Silent, "381"),
            sample("shape", 0, Verdict::Structural, "{oops"),
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
        let report = crate::scorecard::scorecard(&program, &run(5), &rows);
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
