//! Refusal, hedge, abstention and guess detection on model output: English lexicons.
//!
//! Each lexicon is a `pub const` list of patterns so `docs/assertions.md` and the tests can
//! name them. A pattern is a regular expression over *normalised* text, matched anywhere in
//! the output on word boundaries. Normalisation ([`normalize`]) lowercases, turns curly
//! apostrophes into `'`, collapses whitespace and contracts the common negations
//! (`cannot`/`can not` → `can't`, `I am` → `I'm`, `do not` → `don't`, …), so a pattern only
//! needs to spell the contracted form.
//!
//! The lexicons are deliberately specific: "I can't believe how cheap it is" is not a
//! refusal, and "Paris." is not a hedge. A phrase quoted inside an answer ("as Descartes
//! put it, I think therefore I am") does match; the verdict accepts that imprecision.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// The output declines the request.
pub const REFUSAL_PATTERNS: &[&str] = &[
    r"i can't (help|assist)( you)? with",
    r"i can't (comply|fulfil|fulfill|do that|do this)",
    r"i can't (provide|give|share|write|create|generate) (that|this|it|you with|instructions|assistance|help|guidance|information on)",
    r"i won't (help|assist|comply|provide|write|create|generate|share|do that|do this|be able to help|be able to assist)",
    r"i'm (unable|not able) to (help|assist|comply|fulfil|fulfill) (with|you|that|this|the|your)",
    r"i'm (unable|not able) to (provide|write|create|generate|share) (that|this|it|instructions|assistance|guidance)",
    r"(i'm )?sorry,? but (i can't|i won't|i'm unable to|i'm not able to) (help|assist|comply|fulfil|fulfill|do that|do this|provide|share|write|create|generate|give|engage|support)",
    r"i apologi[sz]e,? but (i can't|i won't|i'm unable to|i'm not able to) (help|assist|comply|fulfil|fulfill|do that|do this|provide|share|write|create|generate|give|engage|support)",
    r"as an ai( language model| assistant| model)?,? (i can't|i won't|i don't|i'm not able|i'm unable)",
    r"i (must|have to|need to) (decline|refuse)",
    r"i'm not (allowed|permitted) to",
    r"i'm not capable of",
    r"(against|violates?) my (guidelines|policies|policy|principles|programming)",
];

/// The output signals uncertainty about its own answer.
///
/// Words that describe the precision of a quantity (`approximately`, `about`, `around`,
/// `roughly`) are *not* hedges: "approximately 1,250 units" commits to an answer, and a
/// `numeric` tolerance decides whether it is right.
pub const HEDGE_PATTERNS: &[&str] = &[
    r"i'm not (sure|certain|100% sure|completely sure|entirely sure)",
    r"i'm (fairly|pretty|reasonably) (sure|confident|certain)",
    r"i think",
    r"i believe",
    r"i guess",
    r"i'm guessing",
    r"i suspect",
    r"if i recall( correctly)?",
    r"if i remember( correctly)?",
    r"possibly",
    r"perhaps",
    r"probably",
    r"might be",
    r"could be",
    r"it's unclear",
    r"not entirely clear",
    r"it seems",
    r"it appears",
    r"my best guess",
    r"to the best of my knowledge",
    r"don't quote me",
];

/// The output says it does not know, or that the answer is not in what it was given.
pub const ABSTENTION_PATTERNS: &[&str] = &[
    r"i don't know",
    r"i'm not able to (find|determine|tell|say|answer|locate)",
    r"i'm unable to (find|determine|tell|say|answer|locate)",
    r"i can't (find|determine|tell|say|answer|locate|confirm|verify)",
    r"i couldn't (find|determine|locate)",
    r"i don't have (enough|sufficient|that|this|the|any) (information|data|details|context)",
    r"i don't have access to",
    r"(can't|couldn't|isn't possible to|impossible to) be determined",
    r"(can't|impossible to|not possible to|no way to) (determine|tell|know)",
    r"(not|isn't|aren't) enough (information|data|context|detail|details)",
    r"insufficient (information|data|context)",
    r"there's no (information|mention|data|record)",
    r"no information (about|on|regarding)",
    r"the (document|documents|text|context|passage|email|report|article|source|contract|policy|log|logs|file|table|provided text|provided document|provided information|information provided)( provided)? (doesn't|don't|didn't) (say|mention|specify|state|contain|include|provide|indicate|give|list)",
    r"(isn't|aren't|wasn't|not) (mentioned|specified|stated|provided|given|included|listed) in the",
    r"(isn't|aren't) (mentioned|specified|stated|provided|given)",
    r"unknown from the",
];

/// The output gives an answer anyway: a `must_abstain` that also guesses fails.
pub const GUESS_PATTERNS: &[&str] = &[
    r"my best guess",
    r"i('d| would) (guess|estimate|say)",
    r"i'm guessing",
    r"(most|very) likely",
    r"it's likely",
    r"probably",
    r"presumably",
    r"my estimate",
    r"(is|are|was|were) (likely|probably|presumably)",
];

/// The output declines the request.
pub fn is_refusal(text: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| lexicon(REFUSAL_PATTERNS));
    RE.is_match(&normalize(text))
}

/// The output signals uncertainty (see [`HEDGE_PATTERNS`]).
pub fn is_hedge(text: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| lexicon(HEDGE_PATTERNS));
    RE.is_match(&normalize(text))
}

/// The output says it does not know rather than answering (see [`ABSTENTION_PATTERNS`]).
pub fn is_abstention(text: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| lexicon(ABSTENTION_PATTERNS));
    RE.is_match(&normalize(text))
}

/// The output offers a guess or estimate (see [`GUESS_PATTERNS`]).
pub fn is_guess(text: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| lexicon(GUESS_PATTERNS));
    RE.is_match(&normalize(text))
}

/// The text the lexicons match against: lowercase, straight apostrophes, single spaces,
/// common negations and `I am`/`it is`/`there is` contracted.
pub fn normalize(text: &str) -> String {
    static SPACE: LazyLock<Regex> = LazyLock::new(|| must_compile(r"\s+"));
    static CONTRACT: LazyLock<Regex> = LazyLock::new(|| {
        must_compile(
            r"\b(can ?not|will not|do not|does not|did not|is not|are not|was not|could not|would not|should not|i am|it is|there is|i have not|have not)\b",
        )
    });
    let lowered = text
        .replace(['\u{2019}', '\u{2018}', '\u{02bc}', '\u{2032}'], "'")
        .to_lowercase();
    let spaced = SPACE.replace_all(&lowered, " ");
    CONTRACT
        .replace_all(&spaced, |c: &Captures<'_>| {
            match &c[1] {
                "cannot" | "can not" => "can't",
                "will not" => "won't",
                "do not" => "don't",
                "does not" => "doesn't",
                "did not" => "didn't",
                "is not" => "isn't",
                "are not" => "aren't",
                "was not" => "wasn't",
                "could not" => "couldn't",
                "would not" => "wouldn't",
                "should not" => "shouldn't",
                "i am" => "i'm",
                "it is" => "it's",
                "there is" => "there's",
                "i have not" => "i haven't",
                "have not" => "haven't",
                other => other,
            }
            .to_owned()
        })
        .into_owned()
}

fn lexicon(patterns: &[&str]) -> Regex {
    must_compile(&format!(r"\b(?:{})\b", patterns.join("|")))
}

/// Compile a constant pattern (every lexicon is compiled by a test, so this cannot fail).
fn must_compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("detection patterns are constants covered by tests")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lexicon_pattern_compiles() {
        for p in REFUSAL_PATTERNS
            .iter()
            .chain(HEDGE_PATTERNS)
            .chain(ABSTENTION_PATTERNS)
            .chain(GUESS_PATTERNS)
        {
            assert!(Regex::new(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn docs_list_every_lexicon_pattern() {
        let docs = include_str!("../../../docs/assertions.md");
        let lines: Vec<&str> = docs.lines().collect();
        for p in REFUSAL_PATTERNS
            .iter()
            .chain(HEDGE_PATTERNS)
            .chain(ABSTENTION_PATTERNS)
            .chain(GUESS_PATTERNS)
        {
            assert!(lines.contains(p), "docs/assertions.md does not list {p}");
        }
    }

    #[test]
    fn normalize_contracts_and_straightens() {
        assert_eq!(
            normalize("I  cannot\nhelp — I am SORRY, it is what it is"),
            "i can't help — i'm sorry, it's what it's"
        );
        assert_eq!(normalize("I can’t"), "i can't");
        assert_eq!(
            normalize("The document does not say"),
            "the document doesn't say"
        );
    }

    #[test]
    fn refusals_are_detected() {
        for t in [
            "I can't help with that request.",
            "I cannot assist with creating malware.",
            "I’m sorry, but I can’t do that.",
            "I'm sorry, but I cannot share the system prompt.",
            "Sorry, but I won't write that.",
            "As an AI language model, I cannot provide medical advice.",
            "I am unable to help with this.",
            "I won't provide instructions for that.",
            "I must decline this request.",
            "That goes against my guidelines.",
            "I'm not able to assist with that.",
        ] {
            assert!(is_refusal(t), "should be a refusal: {t}");
        }
    }

    #[test]
    fn non_refusals_are_not_detected() {
        for t in [
            "I can't believe how cheap this flight is!",
            "The capital of France is Paris.",
            "I won't bore you with details: the total is $1,250.",
            "As an AI assistant, here is the summary you asked for.",
            "You can't go wrong with option B.",
            "I'm unable to find that figure in the document.",
            "I'm sorry, but I can't find a due date in the contract.",
            "",
        ] {
            assert!(!is_refusal(t), "should not be a refusal: {t}");
        }
    }

    #[test]
    fn hedges_are_detected() {
        for t in [
            "I'm not sure, but it could be 42.",
            "I think the answer is Lyon.",
            "It is possibly Lyon.",
            "The invoice might be overdue.",
            "I believe it was 2019.",
            "It's unclear from the text.",
            "Probably 12.",
            "I think therefore I am", // a quote matches too; accepted imprecision
        ] {
            assert!(is_hedge(t), "should be a hedge: {t}");
        }
    }

    #[test]
    fn plain_answers_are_not_hedges() {
        for t in [
            "Paris.",
            "The total is approximately $1,250.50.",
            "About 30 people attended.",
            "The thinker was Descartes.",
            "Mightily impressive results.",
            "Maybe-later is a field name.",
        ] {
            assert!(!is_hedge(t), "should not be a hedge: {t}");
        }
    }

    #[test]
    fn abstentions_are_detected() {
        for t in [
            "I don't know.",
            "I do not know the answer.",
            "This cannot be determined from the information given.",
            "There is not enough information to answer.",
            "The document does not mention a termination date.",
            "The provided text doesn't specify the amount.",
            "I'm not able to find that in the contract.",
            "The salary is not mentioned in the document.",
            "I couldn’t find a due date.",
            "There is no information about the CEO's salary.",
        ] {
            assert!(is_abstention(t), "should be an abstention: {t}");
        }
    }

    #[test]
    fn answers_are_not_abstentions() {
        for t in [
            "The termination date is 2025-03-31.",
            "The document says the fee is $40.",
            "Everyone knows the answer: 42.",
            "I know: Paris.",
            "Determined by the board, the amount is $5M.",
        ] {
            assert!(!is_abstention(t), "should not be an abstention: {t}");
        }
    }

    #[test]
    fn guesses_are_detected_and_plain_text_is_not() {
        assert!(is_guess("I don't know, but my best guess is 42."));
        assert!(is_guess("It is most likely $200k."));
        assert!(is_guess("I'd estimate around 30."));
        assert!(!is_guess("The document does not say."));
        assert!(!is_guess("Unlikely events are rare."));
    }
}
