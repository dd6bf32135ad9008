//! Redaction of personal data and secrets from text that is kept (captured requests and
//! answers): a pure function, shared by the gateway (which redacts before it stores) and
//! `ops` (which redacts again before anything leaves).
//!
//! Each kind is replaced by a typed placeholder, in this order so that no placeholder is
//! matched again:
//!
//! | what | placeholder |
//! | --- | --- |
//! | the program's `canaries:` (any case) and the risk probes' `PRX-CANARY-…` | `[CANARY]` |
//! | API keys and tokens: `sk-…`, the gateway's virtual keys (`prx-…`), `Authorization` values, `Bearer …`, `api_key=…`-style pairs, AWS, GitHub and Slack tokens | `[SECRET]` |
//! | e-mail addresses | `[EMAIL]` |
//! | IBANs, compact or in groups of four, whose mod-97 check holds | `[IBAN]` |
//! | card numbers of 13 to 19 digits, compact or grouped, whose Luhn check holds | `[CARD]` |
//! | phone numbers: international (`+…` or `00…`), North American `(555) 123-4567`, national `0…` | `[PHONE]` |
//!
//! A number that fails its check (a 16-digit number failing Luhn, an IBAN-shaped string
//! failing mod 97) is left as it is: order numbers and amounts stay readable.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// The placeholder of a canary.
pub const CANARY: &str = "[CANARY]";
/// The placeholder of a key, token or password.
pub const SECRET: &str = "[SECRET]";
/// The placeholder of an e-mail address.
pub const EMAIL: &str = "[EMAIL]";
/// The placeholder of an IBAN.
pub const IBAN: &str = "[IBAN]";
/// The placeholder of a card number.
pub const CARD: &str = "[CARD]";
/// The placeholder of a phone number.
pub const PHONE: &str = "[PHONE]";

/// The canaries the built-in risk probes plant (`proximity probe risk`).
const PROBE_CANARY: &str = r"PRX-CANARY-[0-9A-Fa-f]{12}";

#[allow(clippy::expect_used)]
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a built-in redaction pattern compiles")
}

/// Secrets whose whole match is replaced.
static SECRETS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // OpenAI-style keys (`sk-…`, `sk-proj-…`, Anthropic's `sk-ant-…`).
        r"\bsk-[A-Za-z0-9_-]{8,}",
        // The gateway's virtual keys (`ops::keys::KEY_PREFIX`, 64 hex digits).
        r"\bprx-[0-9A-Fa-f]{16,}",
        r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
        r"\bAKIA[0-9A-Z]{16}\b",
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    ]
    .into_iter()
    .map(re)
    .collect()
});

/// Secrets after a name, kept with the name: `Authorization: [SECRET]`,
/// `api_key=[SECRET]`.
static NAMED_SECRETS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)(\b(?:authorization|x-api-key|api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd)\b["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)\s+)?[^\s"',;]+"#,
    )
});

static EMAILS: LazyLock<Regex> =
    LazyLock::new(|| re(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"));

/// IBAN-shaped text: a country, two check digits, then 11 to 30 letters and digits,
/// optionally in groups separated by single spaces.
static IBANS: LazyLock<Regex> = LazyLock::new(|| re(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b"));

/// Card-shaped text: 13 to 19 digits, optionally separated by single spaces or dashes.
static CARDS: LazyLock<Regex> = LazyLock::new(|| re(r"\b[0-9](?:[ -]?[0-9]){12,18}\b"));

static PHONES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // International: `+` or `00`, a country code, then groups.
        r"(?:\+|\b00)[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,5}\)?){2,6}",
        // North American: (555) 123-4567, 555-123-4567, 555.123.4567.
        r"(?:\([0-9]{3}\)\s?|\b[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}\b",
        // National with a trunk 0: 030 1234567, 0171-2345678, 020 7946 0958.
        r"\b0[1-9][0-9]{1,4}[ /-]?[0-9]{3,4}[ -]?[0-9]{3,5}\b",
    ]
    .into_iter()
    .map(re)
    .collect()
});

/// Replaces personal data, secrets and canaries by typed placeholders. Build one per
/// program (its canaries compiled once) and call [`Redactor::redact`] per text.
#[derive(Debug, Clone)]
pub struct Redactor {
    canaries: Regex,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(std::iter::empty::<String>())
    }
}

impl Redactor {
    /// A redactor of `canaries` (matched in any case) beside the built-in kinds.
    /// Empty and blank canaries are ignored.
    pub fn new<S: AsRef<str>>(canaries: impl IntoIterator<Item = S>) -> Self {
        let mut alternatives: Vec<String> = canaries
            .into_iter()
            .map(|c| c.as_ref().trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        // Longest first, so a canary holding another is replaced whole.
        alternatives.sort_by_key(|c| std::cmp::Reverse(c.len()));
        let mut pattern = String::from("(?i)");
        pattern.push_str(PROBE_CANARY);
        for c in &alternatives {
            pattern.push('|');
            pattern.push_str(&regex::escape(c));
        }
        // Escaped literals always compile; a set too large for the regex engine's size
        // limit falls back to the probes' canaries alone, never to no redaction of
        // the rest.
        let canaries = Regex::new(&pattern).unwrap_or_else(|_| re(PROBE_CANARY));
        Self { canaries }
    }

    /// `text` with canaries and secrets replaced, personal data kept: for the content
    /// logs the gateway writes only with `--log-content`.
    pub fn redact_secrets(&self, text: &str) -> String {
        self.secrets(text).into_owned()
    }

    fn secrets<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = self.canaries.replace_all(text, CANARY);
        for r in SECRETS.iter() {
            replace(&mut out, |t| r.replace_all(t, SECRET));
        }
        replace(&mut out, |t| NAMED_SECRETS.replace_all(t, "${1}[SECRET]"));
        out
    }

    /// `text` with every canary, secret, e-mail address, IBAN, card and phone number
    /// replaced by its placeholder.
    pub fn redact(&self, text: &str) -> String {
        let mut out = self.secrets(text);
        replace(&mut out, |t| EMAILS.replace_all(t, EMAIL));
        replace(&mut out, |t| checked(&IBANS, t, iban_len, IBAN));
        replace(&mut out, |t| checked(&CARDS, t, card_len, CARD));
        for r in PHONES.iter() {
            replace(&mut out, |t| {
                r.replace_all(t, |c: &Captures| {
                    let digits = c[0].chars().filter(char::is_ascii_digit).count();
                    if (7..=15).contains(&digits) {
                        PHONE.to_owned()
                    } else {
                        c[0].to_owned()
                    }
                })
            });
        }
        out.into_owned()
    }
}

/// Apply one replacement, keeping the borrowed text when nothing matched.
fn replace<'t>(text: &mut Cow<'t, str>, f: impl for<'a> Fn(&'a str) -> Cow<'a, str>) {
    let replaced = match f(text) {
        Cow::Borrowed(_) => return,
        Cow::Owned(s) => s,
    };
    *text = Cow::Owned(replaced);
}

/// Replace each match of `r` whose longest checked prefix `len` finds (ending at a
/// group boundary) by `placeholder`, keeping the unchecked rest of the match.
fn checked<'t>(
    r: &Regex,
    text: &'t str,
    len: fn(&str) -> Option<usize>,
    placeholder: &str,
) -> Cow<'t, str> {
    r.replace_all(text, |c: &Captures| {
        let m = &c[0];
        match len(m) {
            Some(end) => format!("{placeholder}{}", &m[end..]),
            None => m.to_owned(),
        }
    })
}

/// The ends of `m`'s prefixes that end at a group boundary (before a separator, or at
/// the end), longest first.
fn boundaries(m: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(m.len()).chain(
        m.char_indices()
            .rev()
            .filter(|(_, c)| *c == ' ' || *c == '-')
            .map(|(i, _)| i),
    )
}

/// The length of the longest prefix of `m` that is an IBAN (15 to 34 characters, mod 97
/// of the rearranged number is 1).
fn iban_len(m: &str) -> Option<usize> {
    boundaries(m).find(|&end| {
        let compact: String = m[..end].chars().filter(|c| *c != ' ').collect();
        (15..=34).contains(&compact.len()) && iban_valid(&compact)
    })
}

/// Whether `iban` (compact, upper case) passes the ISO 13616 mod-97 check.
pub fn iban_valid(iban: &str) -> bool {
    if iban.len() < 5 || !iban.is_ascii() {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// The length of the longest prefix of `m` that is a card number (13 to 19 digits
/// passing Luhn).
fn card_len(m: &str) -> Option<usize> {
    boundaries(m).find(|&end| {
        let digits: Vec<u32> = m[..end].chars().filter_map(|c| c.to_digit(10)).collect();
        (13..=19).contains(&digits.len()) && luhn_valid(&digits)
    })
}

/// Whether `digits` pass the Luhn check.
pub fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests;
