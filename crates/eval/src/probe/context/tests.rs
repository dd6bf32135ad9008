//! The context-fill probe's arithmetic, generated cases, facts and filler.
#![allow(clippy::unwrap_used)]

use super::*;
use proximity_program::ProviderKind;

fn tool(max_tokens: Option<u32>, system: Option<&str>) -> Tool {
    Tool {
        id: "t".into(),
        provider: ProviderKind::Openai,
        model: Some("gpt-4o".into()),
        base_url: None,
        api_key_env: None,
        model_path: None,
        params: proximity_program::ToolParams {
            max_tokens,
            system: system.map(str::to_owned),
            ..Default::default()
        },
        capabilities: vec![],
        context_window: Some(4000),
        price: Default::default(),
        description: None,
        fallback: None,
    }
}

fn counter() -> TokenCounter {
    proximity_providers::tokens::counter_for(&tool(None, None), std::path::Path::new(".")).unwrap()
}

fn probe(window: u32, settings: &Settings) -> ContextProbe {
    ContextProbe::new(
        &tool(Some(16), Some("Be brief.")),
        counter(),
        window,
        Filler::builtin(),
        settings,
    )
    .unwrap()
}

#[test]
fn planting_puts_the_fact_at_the_start_middle_or_end() {
    let units: Vec<String> = ["One.", " Two.", " Three.", " Four."]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        plant(&units, "FACT.", Depth::Start),
        "FACT.One. Two. Three. Four."
    );
    assert_eq!(
        plant(&units, "FACT.", Depth::Middle),
        "One. Two. FACT. Three. Four."
    );
    assert_eq!(
        plant(&units, "FACT.", Depth::End),
        "One. Two. Three. Four. FACT."
    );
    assert_eq!(plant(&[], "FACT.", Depth::Middle), "FACT.");
}

#[test]
fn fill_arithmetic_keeps_the_reserve_free() {
    assert_eq!(fill_tokens(1000, 0), 0);
    assert_eq!(fill_tokens(1000, 50), 500);
    assert_eq!(fill_tokens(999, 90), 899);
    assert_eq!(fill_tokens(1000, 150), 1000);
    let p = probe(4000, &Settings::default());
    let c = &p.config;
    assert_eq!(c.usable + c.reserve, 4000);
    // max_tokens 16, "Be brief." and the question scaffold, and the template margin.
    assert!(
        c.reserve > 16 + TEMPLATE_MARGIN && c.reserve < 120,
        "{}",
        c.reserve
    );
    assert_eq!(c.fills, vec![0, 25, 50, 75, 90]);
    assert_eq!(c.counting, "tiktoken o200k_base");
}

#[test]
fn contexts_hit_their_target_and_prompts_fit_the_window() {
    let mut p = probe(4000, &Settings::default());
    let usable = p.config.usable;
    for fill in [0, 25, 50, 90, 100] {
        let cases = p.cases_at(fill).unwrap();
        assert_eq!(cases.len(), 3 * DEFAULT_SAMPLES as usize);
        let target = fill_tokens(usable, fill);
        for c in &cases {
            let code = &c.case.vars["code"];
            let user = &c.case.messages[0].content;
            assert!(user.contains(code.as_str()), "{}", c.case.id);
            assert!(
                c.context_tokens <= target.max(20),
                "{} > {target}",
                c.context_tokens
            );
            // Within a sentence or so of the target.
            assert!(
                c.context_tokens + 60 >= target,
                "{}: {} tokens for a target of {target}",
                c.case.id,
                c.context_tokens
            );
            // Room for the answer and the template.
            assert!(
                c.prompt_tokens + 16 + TEMPLATE_MARGIN <= 4000,
                "{}",
                c.prompt_tokens
            );
            assert_eq!(c.case.workflow, WORKFLOW);
            assert_eq!(c.case.persona, PERSONA);
            assert!(c.case.id.starts_with(&format!("ctx-f{fill}-t{target}-d-")));
        }
    }
}

#[test]
fn the_fact_sits_at_its_depth_in_a_full_context() {
    let mut p = probe(4000, &Settings::default());
    for c in p.cases_at(75).unwrap() {
        let doc = &c.case.documents[0].content;
        let pos = doc.find(&c.case.vars["code"]).unwrap() as f64 / doc.len() as f64;
        let want = c.depth.fraction();
        assert!((pos - want).abs() < 0.1, "{}: at {pos:.2}", c.case.id);
    }
}

#[test]
fn facts_differ_by_sample_and_depth_but_not_by_fill() {
    let a = Fact::generate(0, 0, Depth::Middle);
    assert_eq!(a, Fact::generate(0, 0, Depth::Middle));
    assert_ne!(a.code, Fact::generate(0, 1, Depth::Middle).code);
    assert_ne!(a.code, Fact::generate(0, 0, Depth::End).code);
    assert_ne!(a.code, Fact::generate(1, 0, Depth::Middle).code);
    assert_eq!(a.code.len(), 5);
    let mut p = probe(4000, &Settings::default());
    let at = |p: &mut ContextProbe, fill| p.cases_at(fill).unwrap()[0].case.vars["code"].clone();
    assert_eq!(at(&mut p, 0), at(&mut p, 90));
}

#[test]
fn the_four_characters_estimate_is_within_its_stated_error_on_the_corpus() {
    // docs/probes.md states the estimate's error; this pins it on the built-in corpus.
    let est = f64::from(proximity_providers::tokens::estimate_tokens(CORPUS));
    for model in ["gpt-4o", "gpt-4"] {
        let (_, bpe) = proximity_providers::tokens::tiktoken_for_model(model).unwrap();
        let exact = bpe.encode_ordinary(CORPUS).len() as f64;
        let error = (est - exact) / exact;
        assert!(
            error.abs() < 0.25,
            "{model}: {est} vs {exact} ({error:+.3})"
        );
    }
}

#[test]
fn fills_are_validated_and_include_the_baseline() {
    assert_eq!(normalize_fills(&[50, 25, 50]).unwrap(), vec![0, 25, 50]);
    assert!(matches!(
        normalize_fills(&[101]),
        Err(ProbeError::BadFill(101))
    ));
}

#[test]
fn a_window_without_room_is_refused() {
    let err = ContextProbe::new(
        &tool(Some(256), None),
        counter(),
        300,
        Filler::builtin(),
        &Settings::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(
        err,
        ProbeError::WindowTooSmall { window: 300, .. }
    ));
}

#[test]
fn documents_become_filler_when_there_are_enough() {
    let short = Document {
        path: "a.md".into(),
        content: "Too short.".into(),
    };
    assert!(Filler::from_documents([&short]).is_none());
    let long = Document {
        path: "b.md".into(),
        content: "The ledger lists entries. ".repeat(100),
    };
    let f = Filler::from_documents([&short, &long, &long]).unwrap();
    assert_eq!(f.source, "documents: a.md, b.md");
    let first: Vec<String> = f.units(0, 0).take(3).collect();
    assert!(first
        .iter()
        .all(|u| u.contains("ledger") || u.contains("short")));
}

#[test]
fn the_estimate_counts_prompts_answers_and_the_refine_allowance() {
    let mut p = probe(
        4000,
        &Settings {
            refine: false,
            ..Settings::default()
        },
    );
    let cases = p.cases_at(50).unwrap();
    let per: u64 = cases
        .iter()
        .map(|c| u64::from(c.prompt_tokens) + u64::from(TEMPLATE_MARGIN) + 16)
        .sum();
    assert_eq!(p.estimate(&cases), per);
    assert_eq!(p.refine_bound(), (0, 0));
    // Refinement is on by default.
    let mut refine = probe(4000, &Settings::default());
    assert!(refine.config.refine);
    let cases = refine.cases_at(50).unwrap();
    let usable = refine.config.usable;
    // [0, 25]: from 25% of the usable window down to 16 tokens, halving: 6 steps.
    assert_eq!(refine_steps(usable, 0, 2500, 5, 16), 6);
    // [50, 75]: down to 5% of the tokens at 50%: 4 steps.
    assert_eq!(refine_steps(usable, 5000, 7500, 5, 16), 4);
    // Nothing to do when the bracket is one hundredth of a percent wide.
    assert_eq!(refine_steps(usable, 5000, 5001, 5, 16), 0);
    let (steps, tokens) = refine.refine_bound();
    assert_eq!(steps, 6);
    // The costliest gap is [50, 75]: 4 steps of 12 requests at 75% plus the reserve.
    let reserve = u64::from(refine.config.reserve);
    assert_eq!(
        tokens,
        4 * 12 * (u64::from(fill_tokens(usable, 75)) + reserve)
    );
    assert_eq!(refine.estimate(&cases), per + tokens);
}

#[test]
fn fills_between_whole_percents_are_labelled_and_sized() {
    assert_eq!(fill_label(2500), "25");
    assert_eq!(fill_label(1250), "12.5");
    assert_eq!(fill_label(977), "9.77");
    assert_eq!(fill_label(5), "0.05");
    assert_eq!(fill_tokens_at(10_000, 977), 977);
    assert_eq!(fill_tokens_at(15_910, 1250), 1988);
    assert_eq!(fill_tokens_at(1000, 20_000), 1000);
    let mut p = probe(4000, &Settings::default());
    let usable = p.config.usable;
    for c in p.cases_at_hundredths(1250).unwrap() {
        let target = fill_tokens_at(usable, 1250);
        assert!(c.case.id.starts_with(&format!("ctx-f12.5-t{target}-d-")));
        assert!(c.context_tokens <= target && c.context_tokens + 60 >= target);
        assert_eq!(c.fill, 1250);
    }
    assert!(p.cases_at_hundredths(10_001).is_err());
}

/// Bisect a synthetic knee with the rule alone (`knee` in tokens: a fill is good when its
/// context is no larger), from the default grid.
fn bisect(usable: u32, knee: u64) -> (u64, u32) {
    let tokens = |h: u32| u64::from(fill_tokens_at(usable, h));
    let grid: Vec<u32> = DEFAULT_FILLS.iter().map(|f| f * FILL_SCALE).collect();
    let mut good = *grid.iter().filter(|&&h| tokens(h) <= knee).max().unwrap();
    let Some(mut bad) = grid.iter().copied().find(|&h| h > good) else {
        return (tokens(good), 0);
    };
    let mut steps = 0;
    while let Some(mid) = next_refine(
        (good, tokens(good)),
        (bad, tokens(bad)),
        REFINE_RESOLUTION,
        REFINE_MIN_TOKENS,
    ) {
        assert!(mid > good && mid < bad);
        if tokens(mid) <= knee {
            good = mid;
        } else {
            bad = mid;
        }
        steps += 1;
    }
    (tokens(good), steps)
}

#[test]
fn refinement_lands_within_five_percent_of_any_knee_in_bounded_steps() {
    let usable = 15_910;
    let bound = (0..4)
        .map(|i| {
            let (a, b) = (DEFAULT_FILLS[i], DEFAULT_FILLS[i + 1]);
            refine_steps(usable, a * 100, b * 100, 5, 16)
        })
        .max()
        .unwrap();
    for knee in [100u64, 400, 1591, 2670, 4773, 7000, 11137, 14000] {
        let (found, steps) = bisect(usable, knee);
        assert!(found <= knee, "knee {knee}: found {found}");
        assert!(
            (knee - found) as f64 <= 0.05 * knee as f64 + 16.0,
            "knee {knee}: found {found}"
        );
        assert!(steps <= bound, "knee {knee}: {steps} steps, bound {bound}");
    }
    // A knee above the grid's top fill is not refined.
    assert_eq!(bisect(usable, 15_000).1, 0);
}
