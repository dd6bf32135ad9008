//! Degenerate output: an answer visibly broken whatever it says — a repetition loop, an
//! output cut at `max_tokens` before any answer was complete, an echo of the prompt, an
//! error object where an answer was due. [`detect`] names the first that fits; the verdict
//! (`crate::verdict`, rule 5) makes a failing degenerate output loud with that reason
//! instead of structural or silent. The rule and its thresholds are documented in
//! `docs/assertions.md`, "Degenerate output"; the tests below run on real outputs of the
//! local model.

use proximity_program::Case;
use proximity_store::Degeneracy;

/// A repeated unit of at most this many words is a loop…
pub const LOOP_MAX_UNIT_WORDS: usize = 8;
/// …when it repeats at least this many times in a row at the end of the output…
pub const LOOP_MIN_REPEATS: usize = 3;
/// …and the repeats cover at least this share of the output's words;
pub const LOOP_MIN_SHARE: f64 = 0.5;
/// or when it repeats at least this many times in a row anywhere.
pub const LOOP_MIN_REPEATS_ANYWHERE: usize = 6;
/// A unit of at most this many characters (no spaces needed: `0000…`, `abab…`)…
pub const LOOP_MAX_UNIT_CHARS: usize = 16;
/// …repeated at the end over at least this many characters is a loop too.
pub const LOOP_MIN_CHARS: usize = 40;
/// A failing output of at least this many words…
pub const ECHO_MIN_WORDS: usize = 6;
/// …or a passing one of at least this many (a short copy that passes is an extraction)…
pub const ECHO_MIN_WORDS_PASSING: usize = 12;
/// …whose word trigrams occur in the prompt at least this often is an echo.
pub const ECHO_MIN_SHARE: f64 = 0.9;
/// The `finish_reason` of an output cut at `max_tokens` (OpenAI `length`, Anthropic
/// `max_tokens` is mapped to it by the provider).
pub const CUT_FINISH_REASONS: [&str; 2] = ["length", "max_tokens"];

/// What was observed, beside the output.
pub struct Seen<'a> {
    pub case: &'a Case,
    pub output: &'a str,
    /// The provider's `finish_reason`, when it gave one.
    pub finish_reason: Option<&'a str>,
    /// A `contract` or `correct` assertion failed: only then is a cut-off or an error
    /// object degenerate (when all passed, the answer was there).
    pub failed: bool,
    /// The case's assertions look for an error (an assertion names `error`): an error
    /// object is then the answer asked for.
    pub error_expected: bool,
}

/// The degeneracy of an output and the evidence for it, in a few words; `None`: the
/// output is not degenerate.
pub fn detect(seen: &Seen<'_>) -> Option<(Degeneracy, String)> {
    let output = seen.output.trim();
    if output.is_empty() {
        return None;
    }
    let error_object = error_object(output).filter(|_| seen.failed && !seen.error_expected);
    if let Some(what) = error_object {
        return Some((Degeneracy::ErrorObject, what));
    }
    let min_words = if seen.failed {
        ECHO_MIN_WORDS
    } else {
        ECHO_MIN_WORDS_PASSING
    };
    if let Some(share) = echo(output, &prompt_text(seen.case), min_words) {
        return Some((
            Degeneracy::Echo,
            format!("{:.0}% of the output repeats the prompt", share * 100.0),
        ));
    }
    if let Some((unit, times)) = repetition_loop(output) {
        return Some((
            Degeneracy::RepetitionLoop,
            format!("{} repeated {times} times at the end", quoted(&unit)),
        ));
    }
    let cut = seen
        .finish_reason
        .is_some_and(|r| CUT_FINISH_REASONS.contains(&r));
    if cut && seen.failed {
        if let Some(what) = unclosed(output) {
            return Some((Degeneracy::CutOff, format!("the {what} never closed")));
        }
        if !has_complete_sentence(output) {
            return Some((Degeneracy::CutOff, "no sentence was finished".to_owned()));
        }
    }
    None
}

fn quoted(unit: &str) -> String {
    let one_line: String = unit.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one_line.chars().take(40).collect();
    if cut.len() < one_line.len() {
        format!("\"{cut}…\"")
    } else {
        format!("\"{cut}\"")
    }
}

/// The output without an opening code fence line (closed or not: a cut output has none).
fn unfenced(output: &str) -> &str {
    match output.strip_prefix("```") {
        Some(rest) => match rest.split_once('\n') {
            Some((_, body)) => body.trim_start(),
            None => rest,
        },
        None => output,
    }
}

/// An error object opening the output: a JSON object (a cut one too: no valid JSON
/// needed) whose first key is `error`, `errors` or `err` (any case), or a valid one with
/// such a key anywhere at its top, or whose `type` or `status` is `"error"`.
fn error_object(output: &str) -> Option<String> {
    let body = unfenced(output);
    let is_error = |k: &str| ["error", "errors", "err"].contains(&k.trim().to_lowercase().as_str());
    if let Ok(serde_json::Value::Object(map)) =
        serde_json::from_str(body.trim_end_matches('`').trim())
    {
        if let Some(k) = map.keys().find(|k| is_error(k)) {
            return Some(format!("a JSON object with the key `{k}`"));
        }
        for k in ["type", "status"] {
            if map
                .get(k)
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.eq_ignore_ascii_case("error"))
            {
                return Some(format!("a JSON object whose `{k}` is \"error\""));
            }
        }
    }
    let rest = body.strip_prefix('{')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let (key, after) = rest.split_once('"')?;
    (after.trim_start().starts_with(':') && is_error(key))
        .then(|| format!("a JSON object whose first key is `{key}`"))
}

/// The structure a cut output opened and never closed: a code fence, or more `{` and
/// `[` than `}` and `]`.
fn unclosed(output: &str) -> Option<&'static str> {
    if output.matches("```").count() % 2 == 1 {
        return Some("code block");
    }
    let opened = output.matches(['{', '[']).count();
    let closed = output.matches(['}', ']']).count();
    (opened > closed).then_some("JSON")
}

/// The text the case sent: every message, documents included.
fn prompt_text(case: &Case) -> String {
    case.messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lowercase alphanumeric words.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The share of the output's word trigrams found in the prompt, when it makes an echo.
fn echo(output: &str, prompt: &str, min_words: usize) -> Option<f64> {
    let out = words(output);
    if out.len() < min_words.max(3) {
        return None;
    }
    let prompt = words(prompt);
    let grams: std::collections::HashSet<&[String]> = prompt.windows(3).collect();
    let total = out.len() - 2;
    let found = out.windows(3).filter(|g| grams.contains(g)).count();
    let share = found as f64 / total as f64;
    (share >= ECHO_MIN_SHARE).then_some(share)
}

/// The unit repeated in the output and how many times, when it makes a loop: at the end,
/// [`LOOP_MIN_REPEATS`] times over [`LOOP_MIN_SHARE`] of the words, or anywhere
/// [`LOOP_MIN_REPEATS_ANYWHERE`] times. The last word is left out: a cut output ends
/// mid-unit.
fn repetition_loop(output: &str) -> Option<(String, usize)> {
    let all: Vec<&str> = output.split_whitespace().collect();
    let w = &all[..all.len().saturating_sub(1)];
    for p in 1..=LOOP_MAX_UNIT_WORDS.min(w.len()) {
        // Runs of w[i] == w[i - p]: `run` such positions end at `end`.
        let mut run = 0;
        let mut best = (0, 0);
        for i in p..w.len() {
            run = if w[i] == w[i - p] { run + 1 } else { 0 };
            if run > 0 && run >= best.0 {
                best = (run, i + 1);
            }
        }
        let (run, end) = best;
        let span = run + p;
        let times = span / p;
        let at_end = end == w.len()
            && times >= LOOP_MIN_REPEATS
            && span as f64 >= LOOP_MIN_SHARE * all.len() as f64;
        if at_end || times >= LOOP_MIN_REPEATS_ANYWHERE {
            return Some((w[end - span..end - span + p].join(" "), times));
        }
    }
    char_loop(output)
}

/// A loop of a short unit written without spaces.
fn char_loop(output: &str) -> Option<(String, usize)> {
    let chars: Vec<char> = output.chars().collect();
    let c = &chars[..chars.len().saturating_sub(1)];
    for p in 1..=LOOP_MAX_UNIT_CHARS {
        let mut i = c.len();
        while i > p && c[i - 1] == c[i - 1 - p] {
            i -= 1;
        }
        let span = c.len() - i.saturating_sub(p).min(c.len());
        let unit: String = c[c.len().saturating_sub(p)..].iter().collect();
        if c.len() >= p
            && span >= LOOP_MIN_CHARS
            && span / p >= LOOP_MIN_REPEATS
            && !unit.trim().is_empty()
        {
            return Some((unit, span / p));
        }
    }
    None
}

/// Whether the output holds a finished sentence or line: a `.`, `!` or `?` followed by
/// whitespace, or a line break after some text.
fn has_complete_sentence(output: &str) -> bool {
    let mut text = false;
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        let next_is_space = chars.peek().is_some_and(|n| n.is_whitespace());
        if text && (c == '\n' || matches!(c, '.' | '!' | '?') && next_is_space) {
            return true;
        }
        text |= c.is_alphanumeric();
    }
    false
}

#[cfg(test)]
mod tests;
