//! Text checks: `equals`, `contains`/`icontains`, `not_contains`, `starts_with`, `regex`,
//! `max_length`, `min_length`. Every function receives the output already trimmed.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use proximity_program::Match;

use super::{excerpt, Finding};

/// The trimmed output equals the trimmed value (optionally ignoring case).
pub fn equals(out: &str, value: &str, ignore_case: bool) -> Finding {
    let value = value.trim();
    let same = if ignore_case {
        out.to_lowercase() == value.to_lowercase()
    } else {
        out == value
    };
    if same {
        Finding::pass(format!("equals {value:?}"))
    } else {
        Finding::fail(format!("expected {value:?}, got {}", excerpt(out)))
    }
}

fn find(out: &str, value: &str, ignore_case: bool) -> bool {
    if ignore_case {
        out.to_lowercase().contains(&value.to_lowercase())
    } else {
        out.contains(value)
    }
}

/// Any or all of `values` appear in the output.
pub fn contains(out: &str, values: &[String], mode: Match, ignore_case: bool) -> Finding {
    let (found, missing): (Vec<&String>, Vec<&String>) =
        values.iter().partition(|v| find(out, v, ignore_case));
    let passed = match mode {
        Match::All => missing.is_empty(),
        Match::Any => !found.is_empty(),
    };
    if passed {
        Finding::pass(format!("found {}", list(&found)))
    } else {
        let what = match (mode, values.len()) {
            (_, 1) => list(&missing),
            (Match::Any, _) => format!("none of {}", list(&missing)),
            (Match::All, _) => list(&missing),
        };
        Finding::fail(format!("{what} not found in {}", excerpt(out)))
    }
}

/// None of `values` appears in the output.
pub fn not_contains(out: &str, values: &[String], ignore_case: bool) -> Finding {
    let found: Vec<&String> = values
        .iter()
        .filter(|v| find(out, v, ignore_case))
        .collect();
    if found.is_empty() {
        Finding::pass(format!(
            "none of {} found",
            list(&values.iter().collect::<Vec<_>>())
        ))
    } else {
        Finding::fail(format!("found {} in {}", list(&found), excerpt(out)))
    }
}

/// The output starts with `value` (case-sensitive; the output's leading whitespace is
/// already trimmed).
pub fn starts_with(out: &str, value: &str) -> Finding {
    if out.starts_with(value) {
        Finding::pass(format!("starts with {value:?}"))
    } else {
        Finding::fail(format!("does not start with {value:?}: {}", excerpt(out)))
    }
}

/// Patterns compiled once per process: a suite repeats a few patterns over thousands
/// of cases, and compiling one (Unicode classes especially) costs far more than
/// matching a short answer. Bounded: cleared when it holds [`REGEX_CACHE_MAX`] patterns.
/// Shared, not cloned: a clone starts with empty match caches, which costs more than the
/// match itself.
static REGEX_CACHE: LazyLock<Mutex<HashMap<String, Arc<regex::Regex>>>> =
    LazyLock::new(Default::default);
const REGEX_CACHE_MAX: usize = 4096;

fn compiled(pattern: &str) -> Result<Arc<regex::Regex>, regex::Error> {
    let mut cache = REGEX_CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(re) = cache.get(pattern) {
        return Ok(Arc::clone(re));
    }
    let re = Arc::new(regex::Regex::new(pattern)?);
    if cache.len() >= REGEX_CACHE_MAX {
        cache.clear();
    }
    cache.insert(pattern.to_owned(), Arc::clone(&re));
    Ok(re)
}

/// The pattern matches somewhere in the output.
pub fn regex(out: &str, pattern: &str) -> Finding {
    match compiled(pattern) {
        Err(e) => Finding::fail(format!("invalid regular expression: {e}")),
        Ok(re) => match re.find(out) {
            Some(m) => Finding::pass(format!("matched {}", excerpt(m.as_str()))),
            None => Finding::fail(format!("no match in {}", excerpt(out))),
        },
    }
}

/// At most `max` Unicode characters.
pub fn max_length(out: &str, max: usize) -> Finding {
    let n = out.chars().count();
    Finding::new(
        n <= max,
        format!("{n} chars {} max {max}", if n <= max { "≤" } else { ">" }),
    )
}

/// At least `min` Unicode characters.
pub fn min_length(out: &str, min: usize) -> Finding {
    let n = out.chars().count();
    Finding::new(
        n >= min,
        format!("{n} chars {} min {min}", if n >= min { "≥" } else { "<" }),
    )
}

fn list(values: &[&String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn equals_trims_and_respects_case() {
        assert!(equals("Paris", "Paris\n", false).passed);
        assert!(!equals("paris", "Paris", false).passed);
        assert!(equals("paris", "Paris", true).passed);
        let f = equals("Paris, France", "Paris", false);
        assert!(!f.passed);
        assert_eq!(f.detail, "expected \"Paris\", got \"Paris, France\"");
    }

    #[test]
    fn contains_all_and_any() {
        let v = s(&["refund", "14 days"]);
        assert!(contains("A refund within 14 days.", &v, Match::All, false).passed);
        let f = contains("A refund soon.", &v, Match::All, false);
        assert!(!f.passed);
        assert_eq!(f.detail, "\"14 days\" not found in \"A refund soon.\"");
        assert!(contains("A refund soon.", &v, Match::Any, false).passed);
        let f = contains("No.", &v, Match::Any, false);
        assert!(
            f.detail.starts_with("none of \"refund\", \"14 days\""),
            "{}",
            f.detail
        );
    }

    #[test]
    fn icontains_ignores_case() {
        let v = s(&["PARIS"]);
        assert!(!contains("paris", &v, Match::All, false).passed);
        assert!(contains("paris", &v, Match::All, true).passed);
    }

    #[test]
    fn not_contains_fails_on_any_hit() {
        let v = s(&["guarantee", "promise"]);
        assert!(not_contains("We aim to help.", &v, true).passed);
        let f = not_contains("We GUARANTEE it.", &v, true);
        assert!(!f.passed);
        assert!(f.detail.starts_with("found \"guarantee\""), "{}", f.detail);
    }

    #[test]
    fn starts_with_is_case_sensitive() {
        assert!(starts_with("Dear Ms Smith,", "Dear").passed);
        assert!(!starts_with("dear Ms Smith,", "Dear").passed);
        assert!(!starts_with("Hi, Dear", "Dear").passed);
    }

    #[test]
    fn regex_searches_anywhere() {
        let f = regex("Your order PO-123456 shipped", r"\bPO-\d{6}\b");
        assert!(f.passed);
        assert_eq!(f.detail, "matched \"PO-123456\"");
        assert!(!regex("Your order PO-12345 shipped", r"\bPO-\d{6}\b").passed);
        assert!(!regex("x", "(").passed);
    }

    #[test]
    fn lengths_count_unicode_characters() {
        assert!(max_length("héllo", 5).passed); // 6 bytes, 5 chars
        let f = max_length("héllo!", 5);
        assert!(!f.passed);
        assert_eq!(f.detail, "6 chars > max 5");
        assert!(min_length("ab", 2).passed);
        assert!(!min_length("a", 2).passed);
    }
}
