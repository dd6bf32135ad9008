//! Fuzz smokes of redaction (`proximity_program::redact`), on the stable toolchain
//! (proptest): arbitrary text never panics the redactor, and e-mail addresses, IBANs and
//! card numbers that pass their checks, phone numbers, canaries and keys planted anywhere
//! in arbitrary text never survive it. Short (proptest's default 256 cases) so they run
//! with every `cargo test`; `PROPTEST_CASES=1000000` for a long run (`docs/fuzzing.md`).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proximity_program::redact::Redactor;

const CANARY: &str = "ACME-INTERNAL-7731";

/// A valid IBAN for `country` and `bban` (check digits computed).
fn iban(country: &str, bban: &str) -> String {
    let probe = format!("{country}00{bban}");
    for check in 2..=98u32 {
        let candidate = format!("{country}{check:02}{bban}");
        if proximity_program::redact::iban_valid(&candidate) {
            return candidate;
        }
    }
    probe
}

/// A card number of `digits` (the last digit chosen so Luhn holds).
fn card(mut digits: Vec<u32>) -> String {
    for last in 0..10 {
        digits.push(last);
        if proximity_program::redact::luhn_valid(&digits) {
            return digits
                .iter()
                .map(|d| char::from_digit(*d, 10).unwrap())
                .collect();
        }
        digits.pop();
    }
    unreachable!("one last digit always makes Luhn hold")
}

/// Text around planted values: words separated by spaces, so a planted value is never
/// glued to a neighbouring letter or digit (which would make it a different word).
fn filler() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z,.!?()]{0,12}", 0..6).prop_map(|w| w.join(" "))
}

fn planted() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[a-z0-9._]{1,12}", "[a-z0-9]{1,10}", "[a-z]{2,6}")
            .prop_map(|(u, d, t)| format!("{u}@{d}.{t}")),
        ("[A-Z]{2}", "[0-9]{18}").prop_map(|(c, b)| iban(&c, &b)),
        proptest::collection::vec(0u32..10, 15).prop_map(card),
        "[1-9][0-9]{2} [0-9]{3} [0-9]{6}".prop_map(|n| format!("+{n}")),
        "[A-Za-z0-9]{20,40}".prop_map(|k| format!("sk-{k}")),
        "[0-9a-f]{64}".prop_map(|k| format!("prx-{k}")),
        "[A-Za-z0-9]{12,30}".prop_map(|t| format!("Authorization: Bearer {t}")),
        Just(CANARY.to_owned()),
        Just(CANARY.to_lowercase()),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let r = Redactor::new([CANARY]);
        let once = r.redact(&text);
        // Placeholders are never matched again.
        prop_assert_eq!(r.redact(&once), once);
    }

    #[test]
    fn planted_values_never_survive(
        before in filler(),
        value in planted(),
        after in filler(),
    ) {
        let text = format!("{before} {value} {after}");
        let out = Redactor::new([CANARY]).redact(&text);
        let secret = value.strip_prefix("Authorization: ").unwrap_or(&value);
        prop_assert!(!out.contains(secret), "{value:?} survived in {out:?}");
        prop_assert!(out.contains('['), "no placeholder in {out:?}");
    }
}
