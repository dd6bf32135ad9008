//! Degenerate output on real outputs of the local model (SmolLM2-135M-Instruct on the
//! cases of `examples/acme`, 2026-12-07), and near misses that must stay plausible.

use proximity_program::{Document, Message, Role};

use super::*;
use crate::assertions::testing::case;

fn seen_on<'a>(c: &'a Case, output: &'a str, finish: &'a str, failed: bool) -> Seen<'a> {
    Seen {
        case: c,
        output,
        finish_reason: Some(finish),
        failed,
        error_expected: false,
    }
}

/// The degeneracy of a failing `output` to `question`.
fn kind(question: &str, output: &str, finish: &str) -> Option<Degeneracy> {
    let c = case("correct: []\n", question);
    detect(&seen_on(&c, output, finish, true)).map(|(k, _)| k)
}

#[test]
fn a_list_repeated_until_max_tokens_is_a_loop() {
    // `local` on eng-api-page-limit.
    let out = "The most items one page may return under the guide are:\n- 500\n- 500\n- 500\n- 500\n- 500\n- 500\n- 500\n- 500\n- 5";
    let c = case(
        "correct: []\n",
        "What is the most items one page may return?",
    );
    let (k, why) = detect(&seen_on(&c, out, "length", true)).unwrap();
    assert_eq!(k, Degeneracy::RepetitionLoop);
    assert_eq!(why, "\"- 500\" repeated 8 times at the end");
    // `local` on eng-review-retry-exhausted: a five-word unit.
    let out = "When every attempt throws, it returns a Promise that resolves with a promise that resolves with a promise that resolves with a promise that resolves with a promise that res";
    assert_eq!(
        kind("What does it return?", out, "length"),
        Some(Degeneracy::RepetitionLoop)
    );
    // `local-json` on eng-api-timestamp: no spaces between the repeats' words needed.
    let out = "[2025.0421, 2025.0421, 2025.0421, 2025.0421, 2025.0421, 2025.0421, 2025.0421, 2";
    assert_eq!(
        kind("Is it acceptable?", out, "length"),
        Some(Degeneracy::RepetitionLoop)
    );
    // `local-json` on eng-review-retry-503: a run in the middle, cut after it.
    let out = "{\n  \"type\": \"response\",\n  \"status\": 503,\n  \"body\": \"HTTP/1.1 200 200 200 200 200 200 200 200\",\n  \"data\": {";
    assert_eq!(
        kind("Does it retry?", out, "stop"),
        Some(Degeneracy::RepetitionLoop)
    );
}

#[test]
fn an_error_object_where_an_answer_was_due_is_degenerate() {
    // `local-json` on eng-api-page-limit: the example of issue 31.
    let out = "{\"error\":{\"code\": \"Error 200: Uncaught Error: 1000000000000\", \"message\": \"Error 200: Uncaught Error: 1000000000000\"},\" \":null}\n";
    let c = case(
        "correct: []\n",
        "What is the most items one page may return?",
    );
    let (k, why) = detect(&seen_on(&c, out, "stop", true)).unwrap();
    assert_eq!(k, Degeneracy::ErrorObject);
    assert_eq!(why, "a JSON object with the key `error`");
    // `local-json` on eng-api-validation-status.
    let out = "{\n  \"type\": \"error\",\n  \"message\": \"Error: \"\n}";
    assert_eq!(
        kind("Which status?", out, "stop"),
        Some(Degeneracy::ErrorObject)
    );
    // Cut, so no valid JSON: the first key still tells.
    assert_eq!(
        kind(
            "Which field?",
            "```json\n{\"error\": {\"code\": \"Uncaught",
            "length"
        ),
        Some(Degeneracy::ErrorObject)
    );
    // An error body the case asks for is the answer, not a degenerate one.
    let mut s = seen_on(&c, out, "stop", true);
    s.error_expected = true;
    assert_eq!(detect(&s), None);
    // A passing error object is the answer too.
    s.error_expected = false;
    s.failed = false;
    assert_eq!(detect(&s), None);
}

#[test]
fn an_echo_of_the_prompt_is_degenerate_but_a_short_extraction_is_not() {
    // `local` on fin-expense-hotel-lyon: the policy document copied instead of a decision.
    let policy = "Acme Expense Policy FY2025 (excerpt)\n- Meals while travelling: up to EUR 60 per person per day; alcohol is not reimbursed.\n- Hotels: up to EUR 180 per night; EUR 250 in London, Paris and Zurich.\n";
    let mut c = case(
        "correct: []\n",
        "Approve or reject: a EUR 170 hotel night in Lyon.",
    );
    c.documents.push(Document {
        path: "documents/policy.md".into(),
        content: policy.into(),
    });
    c.messages.push(Message {
        role: Role::User,
        content: policy.into(),
    });
    let out = "Acme Expense Policy FY2025 (excerpt)\n- Meals while travelling: up to EUR 60 per person per day; alcohol is not reimbursed.\n- Hotels: up to EUR 180 per night; EUR 250 in London, Paris";
    let (k, why) = detect(&seen_on(&c, out, "length", true)).unwrap();
    assert_eq!(k, Degeneracy::Echo);
    assert_eq!(why, "100% of the output repeats the prompt");
    // Even when an assertion happens to pass: a copied policy is no reply.
    assert_eq!(
        detect(&seen_on(&c, out, "length", false)).map(|d| d.0),
        Some(Degeneracy::Echo)
    );
    // A short passing quote of the document is an extraction.
    let quote = "Hotels: up to EUR 180 per night";
    assert_eq!(detect(&seen_on(&c, quote, "stop", false)), None);
    // A plausible wrong answer in the prompt's words is no echo.
    let wrong = "Approve: a EUR 170 hotel night in Lyon is within the EUR 250 cap.";
    assert_eq!(detect(&seen_on(&c, wrong, "stop", true)), None);
}

#[test]
fn a_cut_before_any_answer_is_degenerate_but_a_cut_after_one_is_not() {
    // `local` on fin-invoice-northwind: JSON cut at max_tokens.
    let out = "{\n  \"vendor\": \"INV-2291\",\n  \"invoice_number\": \"INVOICE_INV-2291\",\n  \"total\": \"1,070.00\",\n  \"currency\": \"EUR\",\n  \"due_date\": \"";
    let c = case("correct: []\n", "Extract the invoice as JSON.");
    let (k, why) = detect(&seen_on(&c, out, "length", true)).unwrap();
    assert_eq!(
        (k, why.as_str()),
        (Degeneracy::CutOff, "the JSON never closed")
    );
    // The same output, finished by the model: no cut.
    assert_eq!(kind("Extract the invoice as JSON.", out, "stop"), None);
    // Preamble cut before any sentence ends.
    let out = "To find the bug, we first need to look at how page() computes its start index from the page number and the";
    assert_eq!(
        kind("Find the bug.", out, "length"),
        Some(Degeneracy::CutOff)
    );
    // `local` on eng-review-pagination: a plausible answer, cut after it.
    let out = "The bug in page() is that it returns the first `page` of the specified `size` when the `size` is not a positive integer. To fix it, you can use the `range()` function to create a range of `size` items, and then use `start:page:siz";
    assert_eq!(kind("Find the bug.", out, "length"), None);
    // A cut that passes every assertion had its answer.
    let c = case("correct: []\n", "Find the bug.");
    let cut = "To find the bug, we first need to look at";
    assert_eq!(detect(&seen_on(&c, cut, "length", false)), None);
}

#[test]
fn plausible_wrong_answers_of_the_local_model_are_not_degenerate() {
    for (q, out) in [
        ("How many milliseconds?", "The code returns 2.25 seconds after the second failed attempt."),
        ("What is the net amount booked to account 6100?", "The net amount booked to account 6100 is 1240.00."),
        ("Which path?", "The path to listing shipping labels is `/v1/purchase-orders/:id/`"),
        ("Which fee?", "The restocking fee for items that are not in stock is 10% of the total order value."),
        ("Extract the invoice as JSON.", "{\n  \"currency\": \"USD\",\n  \"due_date\": \"2025-03-20\",\n  \"invoice_number\": \"7781\",\n  \"total\": 1000.00,\n  \"vendor\": \"Initech GmbH\"\n}"),
        ("Count the rows.", "1, 2, 3, 4, 5, 6"),
        ("Which departments?", "| Department | Budget | Actual |\n| --- | --- | --- |\n| Support | 9000 | 8100 |"),
    ] {
        assert_eq!(kind(q, out, "stop"), None, "{out}");
    }
}

#[test]
fn reasons_name_their_degeneracy() {
    for d in Degeneracy::ALL {
        let reason = format!("{} — evidence", d.reason_prefix());
        assert_eq!(Degeneracy::of_reason(&reason), Some(d));
    }
    assert_eq!(Degeneracy::of_reason("plausible and wrong: contains"), None);
}
