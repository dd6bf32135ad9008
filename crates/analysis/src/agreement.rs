//! Self-consistency: the answer an output commits to ([`extract_answer`]), how many of a
//! case's samples agree on it ([`agreement`]), and those agreements summed per pair
//! ([`Agreements`], or [`AgreementFold`] over samples streamed from the store). The
//! failure anatomy's confidence signals rest on it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use proximity_store::dashboard::AnswerRow;
use proximity_store::{ResultRecord, Verdict};
use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::estimate::tidy;

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

impl PairAgreement {
    /// Mean agreement share over the pair's sampled cases.
    pub(crate) fn mean(&self) -> Option<f64> {
        self.all.mean()
    }

    /// Mean agreement share over the sampled cases with a silent sample.
    pub(crate) fn silent_mean(&self) -> Option<f64> {
        self.silent.mean()
    }

    /// Cases with at least two answered samples.
    pub(crate) fn cases(&self) -> u64 {
        self.all.cases()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::with_output;

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

    #[test]
    fn agreement_counts_the_modal_answer_over_answered_samples() {
        let a = with_output("c", 0, Verdict::Silent, "381");
        let b = with_output("c", 1, Verdict::Silent, "The answer:\n381.");
        let c = with_output("c", 2, Verdict::Pass, "391");
        let mut err = with_output("c", 3, Verdict::Loud, "");
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
}
