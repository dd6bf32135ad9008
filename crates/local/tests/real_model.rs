//! Tests against the real model (SmolLM2-135M-Instruct, or whatever `PROXIMITY_MODEL_PATH`
//! names). Without a model they print a skip note and pass, unless `PROXIMITY_REQUIRE_MODEL=1`
//! (CI) makes a missing model a failure.
#![allow(clippy::print_stderr)]

use std::path::Path;
use std::sync::Arc;

use proximity_local::{
    load, models, ChatMessage, FinishReason, GenerateRequest, LocalError, LocalModel,
};

fn model() -> Option<Arc<LocalModel>> {
    match models::resolve_model_path(None, Path::new(".")) {
        Ok(path) => Some(load(&path).expect("the model file loads")),
        Err(e) => {
            if std::env::var("PROXIMITY_REQUIRE_MODEL").as_deref() == Ok("1") {
                panic!("PROXIMITY_REQUIRE_MODEL=1 but no model: {e}");
            }
            eprintln!("skipping: no local model ({e})");
            None
        }
    }
}

fn ask(question: &str) -> GenerateRequest {
    GenerateRequest {
        messages: vec![ChatMessage::new("user", question)],
        temperature: Some(0.0),
        max_tokens: Some(48),
        ..Default::default()
    }
}

#[test]
fn answers_a_capital_city_question() {
    let Some(model) = model() else { return };
    let out = model
        .generate(ask("What is the capital of France? Answer in one word."))
        .unwrap();
    assert!(out.text.contains("Paris"), "{:?}", out.text);
    assert!(out.prompt_tokens > 5 && out.generated_tokens > 0, "{out:?}");
    assert_eq!(out.logprobs.len() as u32, out.generated_tokens);
    assert!(out.logprobs.iter().all(|l| *l <= 0.0 && l.is_finite()));
    assert!(!model.info().version.is_empty());
    assert!(model.info().n_ctx_train >= 2048);
}

#[test]
fn temperature_zero_is_deterministic() {
    let Some(model) = model() else { return };
    let req = ask("Write a short sentence about the sea.");
    let a = model.generate(req.clone()).unwrap();
    // Something else in between, so the KV cache holds other tokens.
    model.generate(ask("Name a colour.")).unwrap();
    let b = model.generate(req).unwrap();
    assert_eq!(a.text, b.text);
    assert_eq!(a.logprobs.len(), b.logprobs.len());
    for (x, y) in a.logprobs.iter().zip(&b.logprobs) {
        assert!((x - y).abs() < 1e-3, "{x} vs {y}");
    }
}

#[test]
fn the_same_seed_repeats_a_sampled_answer() {
    let Some(model) = model() else { return };
    let req = GenerateRequest {
        temperature: Some(1.0),
        seed: Some(7),
        ..ask("Tell me a story about a cat.")
    };
    let a = model.generate(req.clone()).unwrap();
    let b = model.generate(req).unwrap();
    assert_eq!(a.text, b.text);
}

#[test]
fn json_grammar_yields_parseable_json() {
    let Some(model) = model() else { return };
    let out = model
        .generate(GenerateRequest {
            grammar: Some("json".into()),
            max_tokens: Some(96),
            ..ask("Give the name and capital of France as a JSON object.")
        })
        .unwrap();
    assert_eq!(out.finish, FinishReason::Stop, "{:?}", out.text);
    let value: serde_json::Value = serde_json::from_str(&out.text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", out.text));
    assert!(value.is_object() || value.is_array(), "{value}");
}

#[test]
fn custom_grammar_constrains_the_answer() {
    let Some(model) = model() else { return };
    let out = model
        .generate(GenerateRequest {
            grammar: Some(r#"root ::= "yes" | "no""#.into()),
            ..ask("Is Paris in France?")
        })
        .unwrap();
    assert!(out.text == "yes" || out.text == "no", "{:?}", out.text);
}

#[test]
fn invalid_grammar_is_an_error_not_a_crash() {
    let Some(model) = model() else { return };
    let err = model
        .generate(GenerateRequest {
            grammar: Some("root ::= (".into()),
            ..ask("Hi")
        })
        .unwrap_err();
    assert!(matches!(err, LocalError::Grammar(_)), "{err}");
    // The worker is still fine afterwards.
    assert!(model.generate(ask("Hi")).is_ok());
}

#[test]
fn stop_strings_end_the_answer() {
    let Some(model) = model() else { return };
    let req = ask("Describe the city of Paris in two sentences.");
    let full = model.generate(req.clone()).unwrap();
    // Stop at the fourth word of the greedy answer: the answer must end right before it.
    let stop = full
        .text
        .split_whitespace()
        .nth(3)
        .expect("a few words")
        .to_string();
    let expected = &full.text[..full.text.find(&stop).unwrap()];
    let out = model
        .generate(GenerateRequest {
            stop: vec!["never-generated-#%".into(), stop.clone()],
            ..req
        })
        .unwrap();
    assert_eq!(out.finish, FinishReason::Stop);
    assert_eq!(out.text, expected, "stop {stop:?}, full {:?}", full.text);
    assert!(out.generated_tokens < full.generated_tokens);
}

#[test]
fn max_tokens_ends_with_length() {
    let Some(model) = model() else { return };
    let out = model
        .generate(GenerateRequest {
            max_tokens: Some(5),
            ..ask("Write a long essay about the history of Rome.")
        })
        .unwrap();
    assert_eq!(out.finish, FinishReason::Length);
    assert_eq!(out.generated_tokens, 5);
}

#[test]
fn prompt_over_the_window_is_context_overflow() {
    let Some(model) = model() else { return };
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(100);
    let err = model
        .generate(GenerateRequest {
            context_window: Some(256),
            ..ask(&long)
        })
        .unwrap_err();
    match err {
        LocalError::ContextOverflow {
            prompt_tokens,
            window,
        } => {
            assert_eq!(window, 256);
            assert!(prompt_tokens > 256);
        }
        other => panic!("expected overflow, got {other}"),
    }
}

#[test]
fn concurrent_requests_all_succeed_on_one_loaded_model() {
    let Some(model) = model() else { return };
    let path = model.info().path.clone();
    let handles: Vec<_> = ["France", "Italy", "Spain", "Germany"]
        .into_iter()
        .map(|country| {
            let path = path.clone();
            std::thread::spawn(move || {
                let model = load(&path).unwrap();
                let q = format!("What is the capital of {country}? Answer in one word.");
                (model, model_answer(&q))
            })
        })
        .collect();
    for h in handles {
        let (m, out) = h.join().unwrap();
        assert!(Arc::ptr_eq(&m, &model), "the model was loaded twice");
        assert!(out.generated_tokens > 0);
    }

    fn model_answer(q: &str) -> proximity_local::Generation {
        let path = models::resolve_model_path(None, Path::new(".")).unwrap();
        load(&path).unwrap().generate(ask(q)).unwrap()
    }
}

/// Greedy answers decoded together in one batch are the answers each gets alone: a slot's
/// attention never sees another's cells (regression: a unified KV cache changed answers).
#[test]
fn batched_greedy_answers_equal_answers_alone() {
    let Some(model) = model() else { return };
    let questions = [
        "Write a short sentence about the sea.",
        "What is 17 times 23?",
        "Name three fruits.",
        "Describe a mountain in one sentence.",
    ];
    let alone: Vec<_> = questions
        .iter()
        .map(|q| model.generate(ask(q)).unwrap())
        .collect();
    for _ in 0..2 {
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, q) in questions.iter().enumerate() {
            let tx = tx.clone();
            model.submit(ask(q), move |r| tx.send((i, r)).unwrap());
        }
        drop(tx);
        for (i, r) in rx {
            let together = r.unwrap();
            assert_eq!(together.text, alone[i].text, "question {i}");
            for (x, y) in together.logprobs.iter().zip(&alone[i].logprobs) {
                assert!((x - y).abs() < 1e-3, "question {i}: {x} vs {y}");
            }
        }
    }
}

#[test]
fn a_cancelled_request_does_not_disturb_the_others() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(model) = model() else { return };
    let alone = model.generate(ask("Name three fruits.")).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let long = GenerateRequest {
        max_tokens: Some(400),
        ..ask("Tell me a long story about a dragon.")
    };
    let tx1 = tx.clone();
    model.submit_cancellable(long, Some(cancel.clone()), move |r| {
        tx1.send(("long", r)).unwrap()
    });
    model.submit(ask("Name three fruits."), move |r| {
        tx.send(("short", r)).unwrap()
    });
    cancel.store(true, Ordering::Relaxed);
    let mut seen = 0;
    for (which, r) in rx {
        seen += 1;
        match which {
            "long" => assert!(
                matches!(r, Err(LocalError::Cancelled)),
                "the cancelled request must end as cancelled: {r:?}"
            ),
            _ => assert_eq!(r.unwrap().text, alone.text),
        }
    }
    assert_eq!(seen, 2);
}

#[test]
fn token_counts_come_from_the_models_vocabulary() {
    let Some(model) = model() else { return };
    let short = model.count_tokens("Paris").unwrap();
    let long = model
        .count_tokens(&"The quick brown fox jumps over the lazy dog. ".repeat(20))
        .unwrap();
    assert!((1..=3).contains(&short), "{short}");
    // 20 repeats of a 10-word sentence: about 10 tokens each for an English BPE vocabulary.
    assert!((150..=260).contains(&long), "{long}");
    assert_eq!(model.count_tokens("").unwrap(), 0);
}
