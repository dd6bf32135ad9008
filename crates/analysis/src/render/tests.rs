//! The renderings of a fixed report and failure list, held by snapshots.

use super::*;
use crate::fixture;
use crate::scorecard::scorecard;

fn sample_report() -> (Report, Vec<ResultRecord>) {
    let (program, run, results) = fixture::sample();
    (scorecard(&program, &run, &results), results)
}

#[test]
fn table_snapshot() {
    let (report, _) = sample_report();
    let out = table(&report);
    assert!(!out.contains('\u{1b}'), "no escape sequences");
    insta::assert_snapshot!(out);
}

#[test]
fn json_snapshot() {
    let (report, _) = sample_report();
    insta::assert_snapshot!(json(&report));
}

#[test]
fn json_top_level_shape_is_stable() {
    let (report, _) = sample_report();
    let value: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "run_id",
        "program",
        "status",
        "started_at",
        "planned",
        "completed",
        "scorecard",
        "silent_failures",
        "totals",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    let row = &value["scorecard"][0];
    for key in [
        "persona",
        "tool",
        "real_work_score",
        "coverage",
        "demo_score",
        "gap",
        "silent_failure_rate",
        "silent_share_of_failures",
        "verdicts",
        "cost_usd",
        "spent_usd",
        "cost_per_1k_requests",
        "monthly_cost_usd",
        "latency_ms",
        "workflows",
        "below_floor",
        "failure_anatomy",
    ] {
        assert!(row.get(key).is_some(), "scorecard[].{key} missing");
    }
    for key in [
        "pass",
        "silent",
        "structural",
        "loud",
        "silent_share_of_failures",
        "effective_context_tokens",
    ] {
        assert!(
            row["failure_anatomy"].get(key).is_some(),
            "scorecard[].failure_anatomy.{key} missing"
        );
    }
    assert!(row["failure_anatomy"]["effective_context_tokens"].is_null());
    assert!(row["real_work_score"]["n_eff"].is_f64());
}

#[test]
fn markdown_snapshot() {
    let (report, _) = sample_report();
    insta::assert_snapshot!(markdown(&report));
}

#[test]
fn failures_snapshots() {
    use crate::failures::{failures, FailureFilter};
    let (report, results) = sample_report();
    let silent = failures(&report, &results, FailureFilter::Silent, 10);
    insta::assert_snapshot!("failures_silent_table", failures_table(&silent));
    insta::assert_snapshot!("failures_silent_markdown", failures_markdown(&silent));
    let all = failures(&report, &results, FailureFilter::All, 10);
    insta::assert_snapshot!("failures_all_json", failures_json(&all));
}

#[test]
fn terminal_text_cannot_carry_escape_sequences() {
    assert_eq!(term("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\u{a}");
}

#[test]
fn junit_snapshot() {
    let (report, results) = sample_report();
    insta::assert_snapshot!(junit(&report, &results));
}

#[test]
fn junit_fails_floor_checks_below_floor() {
    let (report, results) = sample_report();
    let xml = junit(&report, &results);
    assert!(xml.contains("floor:analyst/summarise"));
    let below: usize = report.scorecard.iter().map(|r| r.below_floor.len()).sum();
    assert_eq!(xml.matches("type=\"below_floor\"").count(), below);
    let failing = results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .count();
    assert_eq!(xml.matches("<failure").count(), failing + below);
}

#[test]
fn every_format_ends_with_one_newline() {
    let (report, results) = sample_report();
    let list =
        crate::failures::failures(&report, &results, crate::failures::FailureFilter::All, 10);
    for text in [
        table(&report),
        json(&report),
        markdown(&report),
        junit(&report, &results),
        failures_table(&list),
        failures_json(&list),
        failures_markdown(&list),
    ] {
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text:?}");
    }
}

#[test]
fn fence_outlasts_backticks_in_model_output() {
    let text = "a ```` b\n```\nc";
    let block = md_fence(text);
    assert!(block.starts_with("`````text\n"), "{block}");
    assert!(block.ends_with("\n`````\n"), "{block}");
    assert!(md_fence("plain").starts_with("```text\n"));
}

#[test]
fn markdown_text_cannot_open_markup() {
    assert_eq!(md_text("a|b\n<i>*x*</i>"), "a\\|b \\<i\\>\\*x\\*\\</i\\>");
}

#[test]
fn number_formats() {
    assert_eq!(points(0.123), "+12");
    assert_eq!(points(-0.05), "-5");
    assert_eq!(points(0.001), "0");
    assert_eq!(usd(0.0), "$0.00");
    assert_eq!(usd(0.0012), "$0.0012");
    assert_eq!(usd(1.234), "$1.23");
}

#[test]
fn a_failed_request_shows_its_attempts_latency_and_error_class() {
    use crate::failures::{failures, FailureFilter};
    let (program, run, mut results) = fixture::sample();
    let r = &mut results[0];
    r.verdict = Verdict::Loud;
    r.output = String::new();
    r.assertions.clear();
    r.error_class = Some("timeout".into());
    r.reason = "provider error: timeout — no answer within 60s".into();
    r.attempts = 4;
    r.latency_ms = 1530;
    let case_id = r.case_id.clone();
    let report = scorecard(&program, &run, &results);
    let loud = failures(&report, &results, FailureFilter::Loud, 10);
    let case = loud
        .pairs
        .iter()
        .flat_map(|p| &p.cases)
        .find(|c| c.case_id == case_id)
        .unwrap();
    assert_eq!(
        (case.attempts, case.latency_ms, case.error_class.as_deref()),
        (4, 1530, Some("timeout"))
    );
    let line = "4 attempts over 1530 ms; last error timeout";
    assert!(failures_table(&loud).contains(&format!("request:  {line}")));
    assert!(failures_markdown(&loud).contains(&format!("- request: {line}")));
    let json: serde_json::Value = serde_json::from_str(&failures_json(&loud)).unwrap();
    let shown = json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["cases"].as_array().unwrap())
        .find(|c| c["case_id"] == case_id.as_str())
        .unwrap();
    assert_eq!(shown["attempts"], 4);
    assert_eq!(shown["error_class"], "timeout");
    // An answer on its first attempt adds no line.
    let silent = failures(&report, &results, FailureFilter::Silent, 10);
    assert!(!failures_table(&silent).contains("request:"));
}

#[test]
fn the_table_fits_a_narrow_terminal() {
    let (report, _) = sample_report();
    let wide = table(&report);
    assert!(
        wide.lines().any(|l| l.chars().count() > 80),
        "the sample is wider than 80 columns unwrapped"
    );
    assert_eq!(table_within(&report, None), wide);
    for width in [60_u16, 80, 100] {
        let out = table_within(&report, Some(width));
        for line in out.lines() {
            assert!(
                line.chars().count() <= usize::from(width),
                "{width}: {line:?}\n{out}"
            );
        }
        for row in &report.scorecard {
            assert!(
                out.contains(&row.persona) && out.contains(&row.tool),
                "{out}"
            );
        }
    }
    insta::assert_snapshot!("table_80_columns", table_within(&report, Some(80)));
}
