//! The `numeric` check and the number extraction behind it.
//!
//! Rule: the **last** number in the output is the answer, and it must be within the
//! tolerance of the expected value. Taking any number would let an answer that lists many
//! candidates pass by luck; models usually end with the result ("… so the total is 42").
//!
//! Extraction ([`extract_numbers`]) understands `1,250.50`, `$1,250.50` (also `€ £ ¥`),
//! `-3` and `−3`, `-$3`, `12.5%` (→ 12.5), `.5`, `1.5e3`. Not understood: spaces or dots as
//! thousands separators (`1 250`, `1.250,50`) and words (`twelve`). A `-` right after a
//! letter or digit is a hyphen, not a sign (`2020-2021`, `COVID-19`); digits right after a
//! letter or a dot belong to an identifier or version and are skipped (`Q3`, `v1.2`).
//! Commas that are not thousands separators split a list (`1,2,3` → 1, 2, 3).

use std::sync::LazyLock;

use regex::Regex;

use super::{excerpt, Finding};

/// A number found in text.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub value: f64,
    /// The text it was read from, e.g. `$1,250.50`.
    pub text: String,
}

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?P<neg>[-−])?(?P<cur>[$€£¥])?(?P<int>[0-9][0-9,]*)?(?P<frac>\.[0-9]+)?(?P<exp>[eE][-+]?[0-9]+)?(?P<pct>%)?",
    )
    .expect("constant pattern")
});

/// Every number in `text`, in order.
pub fn extract_numbers(text: &str) -> Vec<Extracted> {
    let mut out = Vec::new();
    for c in NUMBER.captures_iter(text) {
        let (Some(whole), int, frac) = (c.get(0), c.name("int"), c.name("frac")) else {
            continue;
        };
        if int.is_none() && frac.is_none() {
            continue; // a lone sign, currency symbol or percent
        }
        let prev = text[..whole.start()].chars().next_back();
        let currency_first = c.name("cur").is_some() && c.name("neg").is_none();
        let glued =
            !currency_first && prev.is_some_and(|p| p.is_alphanumeric() || p == '.' || p == '_');
        let mut negative = c.name("neg").is_some();
        if glued {
            if negative {
                negative = false; // a hyphen: `2020-2021`, `COVID-19`
            } else {
                continue; // part of an identifier or version: `Q3`, `v1.2`
            }
        }
        let int = int.map_or("", |m| m.as_str());
        let frac = frac.map_or("", |m| m.as_str());
        let exp = c.name("exp").map_or("", |m| m.as_str());
        let int_trimmed = int.trim_end_matches(',');
        let comma_ended = int_trimmed.len() != int.len();
        let groups: Vec<&str> = int_trimmed.split(',').collect();
        let thousands = groups.len() > 1
            && (1..=3).contains(&groups[0].len())
            && groups[1..].iter().all(|g| g.len() == 3);
        let parts: Vec<String> = if groups.len() == 1 || thousands {
            vec![groups.concat()]
        } else {
            groups.iter().map(|g| (*g).to_owned()).collect()
        };
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let sign = if i == 0 && negative { "-" } else { "" };
            let tail = if i == last && !comma_ended {
                format!("{frac}{exp}")
            } else {
                String::new()
            };
            let digits = if part.is_empty() { "0" } else { part };
            if let Ok(value) = format!("{sign}{digits}{tail}").parse::<f64>() {
                out.push(Extracted {
                    value,
                    text: if parts.len() == 1 {
                        whole.as_str().trim_end_matches(',').to_owned()
                    } else {
                        format!("{sign}{part}{tail}")
                    },
                });
            }
        }
    }
    out
}

/// The last number in the output is within `tolerance` of `value`.
pub fn numeric(out: &str, value: f64, tolerance: f64) -> Finding {
    let numbers = extract_numbers(out);
    let Some(last) = numbers.last() else {
        return Finding::fail(format!("no number in {}", excerpt(out)));
    };
    let within = |x: f64| (x - value).abs() <= tolerance + 1e-9 * value.abs().max(1.0);
    let expected = if tolerance > 0.0 {
        format!("{value} ± {tolerance}")
    } else {
        format!("{value}")
    };
    if within(last.value) {
        return Finding::pass(format!(
            "last number {} ({:?}) is {expected}",
            last.value, last.text
        ));
    }
    let earlier = numbers[..numbers.len() - 1]
        .iter()
        .find(|n| within(n.value))
        .map(|n| format!(" (an earlier number, {:?}, would match)", n.text))
        .unwrap_or_default();
    Finding::fail(format!(
        "last number {} ({:?}) is not {expected}{earlier}",
        last.value, last.text
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<f64> {
        extract_numbers(text).into_iter().map(|n| n.value).collect()
    }

    #[test]
    fn extracts_money_signs_and_percents() {
        assert_eq!(values("Total: $1,250.50."), [1250.5]);
        assert_eq!(values("It fell -3 points, to −4.5"), [-3.0, -4.5]);
        assert_eq!(values("a loss of -$3"), [-3.0]);
        assert_eq!(values("margin 12.5%"), [12.5]);
        assert_eq!(values("€1,000,000 and .5"), [1_000_000.0, 0.5]);
        assert_eq!(values("1.5e3 metres"), [1500.0]);
        assert_eq!(values("12kg"), [12.0]);
        assert_eq!(values("US$5"), [5.0]);
    }

    #[test]
    fn hyphens_identifiers_and_lists() {
        assert_eq!(values("in 2020-2021"), [2020.0, 2021.0]);
        assert_eq!(values("COVID-19"), [19.0]);
        assert_eq!(values("Q3 revenue was 40"), [40.0]);
        assert_eq!(values("version v1.2.3"), Vec::<f64>::new());
        assert_eq!(values("pick 1,2,3"), [1.0, 2.0, 3.0]);
        assert_eq!(values("5, 6 and 7."), [5.0, 6.0, 7.0]);
        assert_eq!(values("12,34.5"), [12.0, 34.5]);
        assert_eq!(values("no numbers here"), Vec::<f64>::new());
    }

    #[test]
    fn extracted_text_is_kept() {
        let n = extract_numbers("Total: $1,250.50.");
        assert_eq!(n[0].text, "$1,250.50");
    }

    #[test]
    fn numeric_uses_the_last_number() {
        let f = numeric("2 items at $625.25 each: $1,250.50", 1250.5, 0.0);
        assert!(f.passed, "{}", f.detail);
        assert_eq!(f.detail, "last number 1250.5 (\"$1,250.50\") is 1250.5");
        let f = numeric("The total is 1250.5, minus 2 returns", 1250.5, 0.0);
        assert!(!f.passed);
        assert_eq!(
            f.detail,
            "last number 2 (\"2\") is not 1250.5 (an earlier number, \"1250.5\", would match)"
        );
    }

    #[test]
    fn numeric_tolerance_is_inclusive_and_float_safe() {
        assert!(numeric("0.3", 0.1 + 0.2, 0.0).passed);
        assert!(numeric("about 1,260", 1250.0, 10.0).passed);
        assert!(!numeric("about 1,261", 1250.0, 10.0).passed);
        assert!(numeric("-3", -3.0, 0.0).passed);
        let f = numeric("I have no idea", 3.0, 0.0);
        assert!(!f.passed);
        assert_eq!(f.detail, "no number in \"I have no idea\"");
    }
}
