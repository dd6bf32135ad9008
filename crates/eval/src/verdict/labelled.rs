//! Agreement of the verdicts with a hand-labelled set: `crates/eval/labelled/verdicts.jsonl`
//! holds real outputs of the local model on the cases of `examples/acme` (and outputs
//! written by hand for the same cases), each labelled pass / loud / structural / silent by
//! a person, with the reason. Each output is judged against its case's assertions as a run
//! judges it; the test prints the agreement and every disagreement, and fails below
//! [`MIN_AGREEMENT`]. The README quotes the figure.

use std::path::Path;

use proximity_store::Verdict;
use serde::Deserialize;

use super::{classify, Observed};
use crate::assertions::{evaluate_all, Context};

/// The least share of labels the verdicts must match.
const MIN_AGREEMENT: f64 = 0.95;
/// The least number of labelled outputs the set holds.
const MIN_LABELLED: usize = 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Labelled {
    id: String,
    /// The case of `examples/acme` the output answers.
    case: String,
    /// Where the output comes from.
    source: String,
    finish_reason: String,
    output: String,
    label: Verdict,
    /// Why a person gives that label.
    why: String,
}

#[tokio::test]
async fn verdicts_agree_with_the_hand_labelled_set() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let program = proximity_program::load(&root.join("../../examples/acme")).unwrap();
    let text = fs_err::read_to_string(root.join("labelled/verdicts.jsonl")).unwrap();
    let set: Vec<Labelled> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(set.len() >= MIN_LABELLED, "only {} labelled", set.len());
    let from_model = set
        .iter()
        .filter(|l| l.source.starts_with("local model"))
        .count();
    assert!(
        from_model >= MIN_LABELLED / 2,
        "{from_model} from the model"
    );

    let mut agree = 0;
    let mut disagreements = Vec::new();
    for l in &set {
        assert!(!l.why.is_empty(), "{}: no reason", l.id);
        let case = program
            .cases
            .iter()
            .find(|c| c.id == l.case)
            .unwrap_or_else(|| panic!("{}: no case `{}` in examples/acme", l.id, l.case));
        let outcomes = evaluate_all(&l.output, &Context::new(case)).await;
        let (verdict, reason) = classify(&Observed {
            case,
            output: &l.output,
            error: None,
            provider_refused: false,
            finish_reason: Some(&l.finish_reason),
            outcomes: &outcomes,
            tool_calls: &[],
        });
        if verdict == l.label {
            agree += 1;
        } else {
            disagreements.push(format!(
                "  {}: labelled {} ({}), judged {verdict} ({reason})",
                l.id, l.label, l.why
            ));
        }
    }
    let agreement = agree as f64 / set.len() as f64;
    eprintln!(
        "verdicts agree with {agree} of {} hand labels ({:.1}%); disagreements:\n{}",
        set.len(),
        agreement * 100.0,
        disagreements.join("\n")
    );
    assert!(
        agreement >= MIN_AGREEMENT,
        "agreement {:.1}% is below {:.0}%",
        agreement * 100.0,
        MIN_AGREEMENT * 100.0
    );
}
