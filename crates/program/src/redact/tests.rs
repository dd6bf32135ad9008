//! Tests of [`super`]: each kind replaced, look-alikes that fail their check left alone.

use super::*;

fn r(text: &str) -> String {
    Redactor::new(["ACME-INTERNAL-7731", "staff-100"]).redact(text)
}

#[test]
fn emails_are_replaced() {
    assert_eq!(
        r("write to jane.doe+billing@example.co.uk today"),
        "write to [EMAIL] today"
    );
    assert_eq!(r("a@b.io, c_d@e-f.org"), "[EMAIL], [EMAIL]");
    assert_eq!(r("no address @ here"), "no address @ here");
}

#[test]
fn phones_are_replaced_and_dates_and_amounts_left() {
    assert_eq!(r("call +49 30 1234567 now"), "call [PHONE] now");
    assert_eq!(r("call 0049 30 1234567"), "call [PHONE]");
    assert_eq!(r("call (555) 123-4567."), "call [PHONE].");
    assert_eq!(r("call 555-123-4567"), "call [PHONE]");
    assert_eq!(
        r("ring 030 1234567 or 0171-2345678"),
        "ring [PHONE] or [PHONE]"
    );
    for kept in [
        "on 2026-12-07",
        "order A-55388",
        "EUR 1,234.56",
        "version 1.2.3",
        "+1 5",
    ] {
        assert_eq!(r(kept), kept);
    }
}

#[test]
fn ibans_are_replaced_only_when_mod_97_holds() {
    assert_eq!(r("pay DE89370400440532013000 now"), "pay [IBAN] now");
    assert_eq!(r("IBAN GB82 WEST 1234 5698 7654 32."), "IBAN [IBAN].");
    assert_eq!(
        r("to DE89 3704 0044 0532 0130 00 AND more"),
        "to [IBAN] AND more"
    );
    // One digit changed: the check fails, the text stays.
    assert_eq!(r("DE89370400440532013001"), "DE89370400440532013001");
    assert!(iban_valid("DE89370400440532013000"));
    assert!(!iban_valid("DE88370400440532013000"));
}

#[test]
fn cards_are_replaced_only_when_luhn_holds() {
    assert_eq!(r("card 4111 1111 1111 1111 exp"), "card [CARD] exp");
    assert_eq!(r("card 4111-1111-1111-1111"), "card [CARD]");
    assert_eq!(r("card 5500005555555559"), "card [CARD]");
    assert_eq!(r("amex 378282246310005"), "amex [CARD]");
    // 16 digits failing Luhn are left.
    assert_eq!(r("ref 4111111111111112"), "ref 4111111111111112");
    assert_eq!(
        r("card 4111 1111 1111 1111 2024"),
        "card [CARD] 2024",
        "a trailing group that breaks the check is kept"
    );
    assert!(luhn_valid(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    assert!(!luhn_valid(&[]));
}

#[test]
fn canaries_are_replaced_in_any_case_and_the_probes_canaries_always() {
    assert_eq!(r("ref ACME-INTERNAL-7731."), "ref [CANARY].");
    assert_eq!(r("ref acme-internal-7731"), "ref [CANARY]");
    assert_eq!(r("STAFF-100 approved"), "[CANARY] approved");
    assert_eq!(r("leaked PRX-CANARY-0A1B2C3D4E5F"), "leaked [CANARY]");
    assert_eq!(
        Redactor::default().redact("PRX-CANARY-0A1B2C3D4E5F"),
        "[CANARY]"
    );
    // Regex syntax in a canary is literal.
    assert_eq!(
        Redactor::new(["a.b*c"]).redact("a.b*c axbbc"),
        "[CANARY] axbbc"
    );
    assert_eq!(Redactor::new(["", "  "]).redact("kept"), "kept");
}

#[test]
fn secrets_are_replaced() {
    let vk = format!("prx-{}", "ab12".repeat(16));
    assert_eq!(r(&format!("key {vk} end")), "key [SECRET] end");
    assert_eq!(
        r("use sk-proj-AbCdEf0123456789xyz please"),
        "use [SECRET] please"
    );
    assert_eq!(r("sk-ant-api03-abcDEF123456"), "[SECRET]");
    assert_eq!(
        r("Authorization: Bearer eyJhbGciOi.J9abc.def"),
        "Authorization: [SECRET]"
    );
    assert_eq!(
        r("authorization=Basic dXNlcjpwYXNz"),
        "authorization=[SECRET]"
    );
    assert_eq!(r("token bearer abcdefgh12345678"), "token [SECRET]");
    assert_eq!(
        r(r#"{"api_key": "hunter2hunter2"}"#),
        r#"{"api_key": "[SECRET]"}"#
    );
    assert_eq!(r("password=correcthorse"), "password=[SECRET]");
    assert_eq!(r("AKIAIOSFODNN7EXAMPLE"), "[SECRET]");
    assert_eq!(r(&format!("ghp_{}", "a".repeat(36))), "[SECRET]");
    assert_eq!(r("a sketch of the task"), "a sketch of the task");
}

#[test]
fn text_without_anything_to_redact_is_unchanged() {
    let t = "Refunds take 14 days; shipping to Norway costs EUR 4.95 (order A-55388).";
    assert_eq!(r(t), t);
    assert_eq!(r(""), "");
}

#[test]
fn everything_in_one_message() {
    let text = "Hi, I'm jane@example.com, +44 20 7946 0958, IBAN GB82WEST12345698765432, \
                card 4242 4242 4242 4242, ref ACME-INTERNAL-7731, key sk-live0123456789abcdef.";
    let out = r(text);
    assert_eq!(
        out,
        "Hi, I'm [EMAIL], [PHONE], IBAN [IBAN], card [CARD], ref [CANARY], key [SECRET]."
    );
}

#[test]
fn redact_secrets_keeps_personal_data() {
    assert_eq!(
        r("jane@example.com key sk-abcdefghijklmnop ref ACME-INTERNAL-7731"),
        "[EMAIL] key [SECRET] ref [CANARY]"
    );
    assert_eq!(
        Redactor::new(["ACME-INTERNAL-7731"])
            .redact_secrets("jane@example.com key sk-abcdefghijklmnop ref ACME-INTERNAL-7731"),
        "jane@example.com key [SECRET] ref [CANARY]"
    );
}
