//! The example program `examples/acme`: it loads without a diagnostic, has the shape the
//! demo and the docs promise (three personas, a real work mix, enough edge and demo cases),
//! keeps every prompt short enough for the embedded model to run the whole demo quickly,
//! and its scripted vendor tool (`acme-copilot`) answers every case from a rule, passing
//! the demo and failing much of the edge work.

use std::collections::BTreeSet;
use std::path::PathBuf;

use proximity_program::{
    load, Assertion, CaseKind, CaseSource, Check, LoadError, Match, Program, ProviderKind,
    ScriptRule,
};
use regex::Regex;

/// Longest prompt (all message contents together) a case run on the local model may have:
/// about 200 tokens, so ~100 local runs finish in the demo's three minutes.
const MAX_LOCAL_PROMPT_CHARS: usize = 800;

fn acme() -> Program {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    match load(&root) {
        Ok(p) => p,
        Err(LoadError::Invalid(d)) => panic!("examples/acme has diagnostics:\n{d}"),
        Err(e) => panic!("examples/acme did not load: {e}"),
    }
}

#[test]
fn acme_loads_with_the_promised_shape() {
    let p = acme();
    assert_eq!(p.name, "Acme");
    assert_eq!(p.personas.len(), 3);
    let workflows: usize = p.personas.iter().map(|p| p.workflows.len()).sum();
    assert!(workflows >= 8, "{workflows} workflows");
    assert!(p.cases.len() >= 60, "{} cases", p.cases.len());

    let edge = p.cases.iter().filter(|c| c.kind == CaseKind::Edge).count();
    let edge_share = edge as f64 / p.cases.len() as f64;
    assert!(
        (0.35..=0.45).contains(&edge_share),
        "edge share {edge_share:.2} ({edge} of {})",
        p.cases.len()
    );
    let demo = p
        .cases
        .iter()
        .filter(|c| c.source == CaseSource::Demo)
        .count();
    assert!(demo >= 5, "{demo} demo cases");

    for persona in &p.personas {
        let total: f64 = persona.workflows.iter().map(|w| w.share).sum();
        assert!(
            (total - 1.0).abs() < 1e-9,
            "{} shares sum to {total}",
            persona.id
        );
        for w in &persona.workflows {
            let n = p
                .cases
                .iter()
                .filter(|c| c.persona == persona.id && c.workflow == w.id)
                .count();
            assert!(n > 0, "workflow {}/{} has no case", persona.id, w.id);
        }
    }
    for tier in &p.tiers {
        for t in &tier.tools {
            assert!(
                p.tool(t).is_some(),
                "tier {} names unknown tool {t}",
                tier.id
            );
        }
    }
}

#[test]
fn every_local_prompt_is_short() {
    let p = acme();
    let mut local_runs = 0;
    for case in &p.cases {
        let local_tools = p
            .tools_for_persona(&case.persona)
            .iter()
            .filter(|t| t.provider == ProviderKind::Local)
            .count();
        if local_tools == 0 {
            continue;
        }
        local_runs += local_tools;
        let chars: usize = case
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum();
        assert!(
            chars < MAX_LOCAL_PROMPT_CHARS,
            "case {} has a {chars}-character prompt",
            case.id
        );
    }
    let longest = p
        .cases
        .iter()
        .map(|c| {
            c.messages
                .iter()
                .map(|m| m.content.chars().count())
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    println!("{local_runs} local runs, longest prompt {longest} characters");
    // The demo's time budget: one run per case and local tool.
    assert!((60..=110).contains(&local_runs), "{local_runs} local runs");
    for tool in p.tools.iter().filter(|t| t.provider == ProviderKind::Local) {
        assert!(
            tool.params.max_tokens.is_some_and(|m| m <= 112),
            "{}",
            tool.id
        );
    }
}

#[test]
fn documents_are_injected_before_the_prompt() {
    let p = acme();
    let case = p
        .cases
        .iter()
        .find(|c| c.id == "sup-policy-return-days")
        .unwrap();
    let text = &case.messages[0].content;
    assert!(
        text.starts_with("<document name=\"documents/policy/refunds.md\">"),
        "{text}"
    );
    assert!(text.ends_with("Reply with the number only."), "{text}");
}

/// The rule of `acme-copilot` that answers a case, as the scripted provider picks it.
fn copilot_rule<'a>(rules: &'a [ScriptRule], last_user: &str) -> Option<&'a ScriptRule> {
    let lower = last_user.to_lowercase();
    rules.iter().find(|r| {
        let when = r
            .when
            .as_ref()
            .is_none_or(|w| lower.contains(&w.to_lowercase()));
        let re = r.when_regex.as_ref().is_none_or(|re| {
            Regex::new(re)
                .expect("checked by the loader")
                .is_match(last_user)
        });
        when && re
    })
}

fn numbers(text: &str) -> Vec<f64> {
    let re = Regex::new(r"-?\d[\d,]*(?:\.\d+)?").expect("a valid pattern");
    re.find_iter(text)
        .filter_map(|m| m.as_str().replace(',', "").parse().ok())
        .collect()
}

/// A rough reading of the text checks, enough to see which way a scripted reply goes
/// (`numeric` reads the last number, as the eval crate does).
/// `None` for the checks whose meaning the eval crate owns (refusal, abstention, judge).
fn roughly_passes(a: &Assertion, out: &str) -> Option<bool> {
    let lower = out.to_lowercase();
    let has = |v: &str, ic: bool| {
        if ic {
            lower.contains(&v.to_lowercase())
        } else {
            out.contains(v)
        }
    };
    let json = || serde_json::from_str::<serde_json::Value>(out.trim()).ok();
    let ok = match &a.check {
        Check::Equals { value, ignore_case } => {
            if *ignore_case {
                out.trim().eq_ignore_ascii_case(value)
            } else {
                out.trim() == value
            }
        }
        Check::Contains {
            values,
            mode,
            ignore_case,
        } => match mode {
            Match::Any => values.iter().any(|v| has(v, *ignore_case)),
            Match::All => values.iter().all(|v| has(v, *ignore_case)),
        },
        Check::NotContains { values, .. } => !values.iter().any(|v| has(v, true)),
        Check::StartsWith { value } => out.trim_start().starts_with(value.as_str()),
        Check::Regex { pattern } => Regex::new(pattern)
            .expect("checked by the loader")
            .is_match(out),
        Check::MaxLength { chars } => out.chars().count() <= *chars,
        Check::MinLength { chars } => out.chars().count() >= *chars,
        Check::IsJson => json().is_some(),
        Check::JsonSchema { schema } => json().is_some_and(|v| {
            jsonschema::validator_for(schema)
                .expect("checked by the loader")
                .is_valid(&v)
        }),
        Check::JsonPath {
            path,
            equals,
            contains,
        } => json().is_some_and(|v| {
            let found = serde_json_path::JsonPath::parse(path)
                .expect("checked by the loader")
                .query(&v)
                .all();
            found.first().is_some_and(|got| {
                let eq = equals
                    .as_ref()
                    .is_none_or(|want| match (got.as_f64(), want.as_f64()) {
                        (Some(g), Some(w)) => (g - w).abs() < 1e-9,
                        _ => *got == want,
                    });
                let co = contains
                    .as_ref()
                    .is_none_or(|c| got.as_str().is_some_and(|s| s.contains(c.as_str())));
                eq && co
            })
        }),
        Check::Numeric { value, tolerance } => numbers(out)
            .last()
            .is_some_and(|n| (n - value).abs() <= tolerance + 1e-9),
        Check::MustRefuse
        | Check::MustAbstain
        | Check::Judge { .. }
        | Check::Csv { .. }
        | Check::MarkdownTable { .. }
        | Check::Format { .. }
        | Check::Command { .. }
        | Check::Called { .. }
        | Check::NotCalled { .. }
        | Check::NoToolCalls
        | Check::ToolCallCount { .. } => return None,
    };
    Some(ok != a.negate)
}

#[test]
fn copilot_answers_every_case_from_a_rule_and_shows_a_demo_gap() {
    let p = acme();
    let copilot = p.tool("acme-copilot").unwrap();
    assert_eq!(copilot.provider, ProviderKind::Scripted);
    let rules = &copilot.params.rules;
    let mut used = BTreeSet::new();
    let (mut demo, mut routine, mut edge) = ((0, 0), (0, 0), (0, 0));
    for case in &p.cases {
        let last_user = &case.messages.last().unwrap().content;
        let rule = copilot_rule(rules, last_user)
            .unwrap_or_else(|| panic!("no acme-copilot rule answers case {}", case.id));
        let index = rules.iter().position(|r| std::ptr::eq(r, rule)).unwrap();
        assert!(
            used.insert(index),
            "rule {index} ({:?}) answers more than one case, the second is {}",
            rule.when,
            case.id
        );
        let passed = match &rule.reply {
            // An error rule fails the case (loudly).
            None => false,
            Some(reply) => case
                .assertions
                .iter()
                .filter_map(|a| roughly_passes(a, reply))
                .all(|ok| ok),
        };
        let tally = match (case.source, case.kind) {
            (CaseSource::Demo, _) => &mut demo,
            (_, CaseKind::Routine) => &mut routine,
            (_, CaseKind::Edge) => &mut edge,
        };
        tally.0 += usize::from(passed);
        tally.1 += 1;
        println!(
            "{:<34} {:?}/{:?} copilot {}",
            case.id,
            case.source,
            case.kind,
            if passed { "pass" } else { "FAIL" }
        );
    }
    println!("acme-copilot passes: demo {demo:?}, routine {routine:?}, edge {edge:?}");
    assert_eq!(
        used.len(),
        rules.len(),
        "some acme-copilot rules answer no case"
    );
    let rate = |(ok, n): (usize, usize)| ok as f64 / n as f64;
    assert_eq!(demo.0, demo.1, "the vendor's tool must ace its own demo");
    assert!(rate(routine) >= 0.75, "routine {routine:?}");
    assert!(rate(edge) <= 0.5, "edge {edge:?}");
}
