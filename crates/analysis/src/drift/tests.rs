//! Drift over synthetic baseline and current results: pairing, the paired tests and
//! their gatekeeping, flips, output shape, fingerprints and the renderings.
#![allow(clippy::unwrap_used)]

use super::*;
use chrono::Utc;

fn result(case: &str, workflow: &str, sample: u32, pass: bool, version: &str) -> ResultRecord {
    ResultRecord {
        tool_calls: Vec::new(),
        run_id: "r".into(),
        case_id: case.into(),
        tool_id: "t".into(),
        sample,
        persona: "p".into(),
        workflow: workflow.into(),
        kind: "routine".into(),
        source: "synthetic".into(),
        case_weight: 1.0,
        tool_fingerprint: format!("fp-{version}"),
        model_version: Some(version.into()),
        output: if pass { "Paris".into() } else { "Lyon".into() },
        error_class: None,
        error_message: None,
        input_tokens: 10,
        output_tokens: 2,
        cost_usd: 0.001,
        latency_ms: 100,
        attempts: 1,
        cached: false,
        verdict: if pass { Verdict::Pass } else { Verdict::Silent },
        reason: String::new(),
        assertions: vec![],
        mean_logprob: None,
        hedged: None,
        created_at: Utc::now(),
    }
}

fn no_family(_: &ResultRecord) -> Option<String> {
    None
}

fn never(_: &str) -> bool {
    false
}

fn configs(fp: &str, model: &str) -> BTreeMap<String, ToolConfig> {
    BTreeMap::from([(
        "t".to_owned(),
        ToolConfig {
            fingerprint: Some(fp.into()),
            value: Some(serde_json::json!({"model": model, "params": {"temperature": 0.0}})),
        },
    )])
}

fn run(
    before: &[ResultRecord],
    after: &[ResultRecord],
    bc: &BTreeMap<String, ToolConfig>,
    ac: &BTreeMap<String, ToolConfig>,
) -> DriftReport {
    compare(&DriftInput {
        baseline: "b",
        before,
        after,
        before_configs: bc,
        after_configs: ac,
        family_of: &no_family,
        refused: &never,
        alpha: ALPHA,
    })
}

#[test]
fn unchanged_results_are_not_drift() {
    let rs: Vec<ResultRecord> = (0..30)
        .map(|i| result(&format!("c{i}"), "w", 0, i % 5 != 0, "v1"))
        .collect();
    let c = configs("a", "m");
    let r = run(&rs, &rs, &c, &c);
    assert!(!r.drift);
    let t = &r.tools[0];
    assert_eq!(t.paired_cases, 30);
    assert!(t.flips.is_empty());
    assert_eq!(t.overall.p_value, 1.0);
}

#[test]
fn a_drop_on_many_cases_is_quality_drift_with_flips() {
    let before: Vec<ResultRecord> = (0..40)
        .map(|i| {
            result(
                &format!("c{i}"),
                if i < 20 { "a" } else { "b" },
                0,
                true,
                "v1",
            )
        })
        .collect();
    let after: Vec<ResultRecord> = (0..40)
        .map(|i| {
            result(
                &format!("c{i}"),
                if i < 20 { "a" } else { "b" },
                0,
                i >= 8,
                "v1",
            )
        })
        .collect();
    let c = configs("a", "m");
    let r = run(&before, &after, &c, &c);
    let t = &r.tools[0];
    assert!(t.quality_drift && r.drift);
    assert_eq!(t.flips.len(), 8);
    assert!(t.flips.iter().all(|f| f.direction == "pass_to_fail"));
    assert_eq!(t.flips[0].before.output, "Paris");
    assert_eq!(t.flips[0].after.output, "Lyon");
    assert_eq!(t.workflows.len(), 2);
    // All the drop is in workflow `a`: significant there, not in `b`.
    assert!(t.workflows[0].significant && !t.workflows[1].significant);
    assert!(t.overall.interval.high < 0.0);
    assert_eq!(t.findings[0].kind, "quality");
    assert!(!t.fingerprint.vendor_update && !t.fingerprint.config_changed);
}

#[test]
fn samples_are_aggregated_per_case_by_majority() {
    // Three samples per case; one failing sample in each case is noise, not drift.
    let mut before = Vec::new();
    let mut after = Vec::new();
    for i in 0..20 {
        for s in 0..3 {
            before.push(result(&format!("c{i}"), "w", s, s != 0, "v1"));
            after.push(result(&format!("c{i}"), "w", s, s != 2, "v1"));
        }
    }
    let c = configs("a", "m");
    let r = run(&before, &after, &c, &c);
    let t = &r.tools[0];
    assert_eq!(t.overall.cases, 20, "cases, not samples");
    assert!(t.flips.is_empty());
    assert!(!r.drift);
    assert_eq!(t.shape.before.results, 60);
}

#[test]
fn another_model_version_under_the_same_config_is_a_vendor_update() {
    let before: Vec<ResultRecord> = (0..10)
        .map(|i| result(&format!("c{i}"), "w", 0, true, "m-2025-01"))
        .collect();
    let after: Vec<ResultRecord> = (0..10)
        .map(|i| result(&format!("c{i}"), "w", 0, true, "m-2025-06"))
        .collect();
    let c = configs("a", "m");
    let r = run(&before, &after, &c, &c);
    let t = &r.tools[0];
    assert!(t.fingerprint.vendor_update && !t.fingerprint.config_changed);
    assert!(!t.quality_drift);
    assert_eq!(t.findings.len(), 1);
    assert_eq!(t.findings[0].kind, "vendor_update");
    assert!(r.drift);
}

#[test]
fn config_change_names_the_fields() {
    let rs: Vec<ResultRecord> = (0..10)
        .map(|i| result(&format!("c{i}"), "w", 0, true, "v1"))
        .collect();
    let before = configs("a", "m");
    let mut after = configs("b", "m");
    if let Some(t) = after.get_mut("t") {
        t.value = Some(
            serde_json::json!({"model": "m", "params": {"temperature": 0.7},
            "capabilities": ["chat", "tools"]}),
        );
    }
    let r = run(&rs, &rs, &before, &after);
    let fp = &r.tools[0].fingerprint;
    assert!(fp.config_changed && !fp.vendor_update);
    let fields: Vec<&str> = fp.changed_fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["capabilities", "params.temperature"]);
    assert_eq!(r.tools[0].findings[0].kind, "config_change");
}

#[test]
fn table_snapshot() {
    let before: Vec<ResultRecord> = (0..12)
        .map(|i| {
            result(
                &format!("c{i:02}"),
                if i < 6 { "a" } else { "b" },
                0,
                true,
                "v1",
            )
        })
        .collect();
    let mut after: Vec<ResultRecord> = (0..12)
        .map(|i| {
            result(
                &format!("c{i:02}"),
                if i < 6 { "a" } else { "b" },
                0,
                i >= 7,
                "v2",
            )
        })
        .collect();
    for r in &mut after {
        r.latency_ms = 250;
    }
    let c = configs("a", "m");
    let r = run(&before, &after, &c, &c);
    insta::assert_snapshot!(table(&r));
}

#[test]
fn tools_without_results_now_are_listed_missing() {
    let rs = vec![result("c", "w", 0, true, "v1")];
    let c = configs("a", "m");
    let r = run(&rs, &[], &c, &c);
    assert_eq!(r.missing_tools, ["t"]);
    assert!(r.tools.is_empty() && !r.drift);
}

#[test]
fn only_the_changed_rules_of_a_list_are_reported() {
    let rule = |r: &str| serde_json::json!({"when": "x", "reply": r});
    let before = serde_json::json!({"params": {"rules": [rule("a"), rule("b"), rule("c")]}});
    let after =
        serde_json::json!({"params": {"rules": [rule("a"), rule("B"), rule("c"), rule("d")]}});
    let changes = changed_fields(&before, &after);
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    // An added rule is one change, the rule whole.
    assert_eq!(fields, ["params.rules[1].reply", "params.rules[3]"]);
    assert_eq!(changes[1].after, rule("d"));
    assert_eq!(changes[0].before, serde_json::json!("b"));
    assert_eq!(changes[0].after, serde_json::json!("B"));
}
