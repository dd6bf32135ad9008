//! Renderings of a [`Report`]: a plain terminal table (no colours), stable JSON
//! (documented in `docs/report-json.md`), Markdown for pull requests and wikis, and
//! JUnit XML for CI. Model output is untrusted: Markdown keeps it inside fences it
//! cannot close and escapes it elsewhere; XML escaping is quick-junit's.

use std::fmt::Write as _;
use std::time::Duration;

use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
use proximity_store::{ResultRecord, Verdict};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::scorecard::{truncate_chars, Estimate, Failure, Report, ScoreRow, OUTPUT_CHARS};

const NONE: &str = "—";

/// `0.723` → `72%`.
fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// `72% [61–81]`.
fn estimate(e: &Estimate) -> String {
    format!(
        "{:.0}% [{:.0}–{:.0}]",
        e.value * 100.0,
        e.ci_low * 100.0,
        e.ci_high * 100.0
    )
}

fn opt_estimate(e: Option<&Estimate>) -> String {
    e.map_or_else(|| NONE.to_owned(), estimate)
}

/// Percentage points with a sign: `+12`, `-5`, `0`.
fn points(v: f64) -> String {
    let rounded = (v * 100.0).round();
    if rounded == 0.0 {
        "0".to_owned()
    } else {
        format!("{rounded:+.0}")
    }
}

/// US dollars: cents, or four decimals below a cent.
fn usd(v: f64) -> String {
    if v == 0.0 || v >= 0.01 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

fn real_work_cell(row: &ScoreRow) -> String {
    let mut cell = opt_estimate(row.real_work_score.as_ref());
    if row.coverage < 1.0 - 1e-9 {
        cell.push('*');
    }
    cell
}

fn verdict_cell(row: &ScoreRow) -> String {
    let v = &row.verdicts;
    format!("{}/{}/{}/{}", v.pass, v.loud, v.structural, v.silent)
}

fn below_floor_cell(row: &ScoreRow) -> String {
    if row.below_floor.is_empty() {
        NONE.to_owned()
    } else {
        row.below_floor
            .iter()
            .map(|b| b.workflow.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

const COLUMNS: [&str; 10] = [
    "persona",
    "tool",
    "real-work score",
    "demo",
    "gap (pp)",
    "silent",
    "pass/loud/struct/silent",
    "$/1k req",
    "p50/p95 ms",
    "below floor",
];

fn cells(row: &ScoreRow) -> [String; 10] {
    [
        row.persona.clone(),
        row.tool.clone(),
        real_work_cell(row),
        opt_estimate(row.demo_score.as_ref()),
        row.gap.map_or_else(|| NONE.to_owned(), points),
        pct(row.silent_failure_rate.value),
        verdict_cell(row),
        usd(row.cost_per_1k_requests),
        format!("{}/{}", row.latency_ms.p50, row.latency_ms.p95),
        below_floor_cell(row),
    ]
}

fn headline(report: &Report) -> String {
    format!(
        "Run {} of {} ({}, started {}): {} of {} planned results",
        report.run_id,
        report.program,
        report.status.as_str(),
        report
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report.completed,
        report.planned,
    )
}

/// Lines naming each pair's workflows without results.
fn coverage_lines(report: &Report) -> Vec<String> {
    report
        .scorecard
        .iter()
        .filter(|row| row.coverage < 1.0 - 1e-9)
        .map(|row| {
            let missing = if row.uncovered_workflows.is_empty() {
                "no workflow of the persona in the program".to_owned()
            } else {
                format!("no results for {}", row.uncovered_workflows.join(", "))
            };
            format!(
                "{} / {}: {missing} (coverage {})",
                row.persona,
                row.tool,
                pct(row.coverage)
            )
        })
        .collect()
}

fn below_floor_lines(report: &Report) -> Vec<String> {
    report
        .scorecard
        .iter()
        .flat_map(|row| {
            row.below_floor.iter().map(move |b| {
                format!(
                    "{} / {} / {}: {} [{:.0}–{:.0}] < floor {} (n = {})",
                    row.persona,
                    row.tool,
                    b.workflow,
                    pct(b.score),
                    b.ci_low * 100.0,
                    b.ci_high * 100.0,
                    pct(b.floor),
                    b.n
                )
            })
        })
        .collect()
}

/// The scorecard as a plain-text table, then the workflows below floor and the
/// coverage gaps. No colours or other escape sequences.
pub fn table(report: &Report) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(COLUMNS);
    for row in &report.scorecard {
        t.add_row(cells(row));
    }
    for index in 2..9 {
        if let Some(column) = t.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }

    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(report));
    let _ = writeln!(out, "{t}");
    let _ = writeln!(
        out,
        "real-work and demo scores: point estimate [95% interval]; * = coverage gap"
    );
    out.push('\n');
    let below = below_floor_lines(report);
    if below.is_empty() {
        out.push_str("Below floor: none\n");
    } else {
        out.push_str("Below floor:\n");
        for line in below {
            let _ = writeln!(out, "  {line}");
        }
    }
    let gaps = coverage_lines(report);
    if !gaps.is_empty() {
        out.push_str("Coverage gaps:\n");
        for line in gaps {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// The report as pretty-printed JSON, in the shape `docs/report-json.md` documents.
pub fn json(report: &Report) -> String {
    // Plain structs with string keys: serialising them to a String cannot fail.
    #[allow(clippy::expect_used)]
    let mut out = serde_json::to_string_pretty(report).expect("a Report always serialises to JSON");
    out.push('\n');
    out
}

/// Escape text for Markdown outside code: backslash-escape the characters that start
/// markup or HTML, and fold newlines into spaces so a table row stays one line.
fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            '\n' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A fenced code block the text cannot break out of: the fence is longer than the
/// longest run of backticks in the text.
fn md_fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat((longest + 1).max(3));
    let body = text.replace('\r', "");
    let newline = if body.ends_with('\n') { "" } else { "\n" };
    format!("{fence}text\n{body}{newline}{fence}\n")
}

fn md_failure(out: &mut String, index: usize, f: &Failure) {
    let _ = writeln!(
        out,
        "### {}. {} \\#{} — {} ({} / {}, {})\n",
        index + 1,
        md_text(&f.case_id),
        f.sample,
        md_text(&f.tool),
        md_text(&f.persona),
        md_text(&f.workflow),
        md_text(&f.kind),
    );
    let _ = writeln!(out, "{}\n", md_text(&f.reason));
    if f.output.is_empty() {
        out.push_str("(empty output)\n\n");
    } else {
        out.push_str(&md_fence(&f.output));
        out.push('\n');
    }
}

/// The report as Markdown: heading, scorecard table, workflows below floor, coverage
/// gaps and the top silent failures with their outputs fenced.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Proximity report: {}\n", md_text(&report.program));
    let _ = writeln!(out, "{}\n", md_text(&headline(report)));
    out.push_str("## Scorecard\n\n");
    let _ = writeln!(out, "| {} |", COLUMNS.join(" | "));
    let align: Vec<&str> = (0..COLUMNS.len())
        .map(|i| if (2..9).contains(&i) { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for row in &report.scorecard {
        let cells: Vec<String> = cells(row).iter().map(|c| md_text(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str("\nScores: point estimate \\[95% interval\\]; \\* = coverage gap.\n\n");

    out.push_str("## Below floor\n\n");
    let below = below_floor_lines(report);
    if below.is_empty() {
        out.push_str("None.\n\n");
    } else {
        for line in below {
            let _ = writeln!(out, "- {}", md_text(&line));
        }
        out.push('\n');
    }

    let gaps = coverage_lines(report);
    if !gaps.is_empty() {
        out.push_str("## Coverage gaps\n\n");
        for line in gaps {
            let _ = writeln!(out, "- {}", md_text(&line));
        }
        out.push('\n');
    }

    out.push_str("## Top silent failures\n\n");
    if report.silent_failures.is_empty() {
        out.push_str("None.\n");
    } else {
        for (i, f) in report.silent_failures.iter().enumerate() {
            md_failure(&mut out, i, f);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The report as JUnit XML: one test suite per (persona, tool), one test case per
/// result (`case_id#sample`, failing for every verdict but pass, with the verdict as
/// the failure type and the reason as its message), and one test case per workflow floor
/// (`floor:<persona>/<workflow>`, failing below floor). `results` are the run's results
/// (others are ignored).
pub fn junit(report: &Report, results: &[ResultRecord]) -> String {
    let mut junit = quick_junit::Report::new(format!("proximity {}", report.program));
    junit.set_timestamp(report.started_at);
    for row in &report.scorecard {
        let mut suite = TestSuite::new(format!("{}/{}", row.persona, row.tool));
        let mut mine: Vec<&ResultRecord> = results
            .iter()
            .filter(|r| {
                r.run_id == report.run_id && r.persona == row.persona && r.tool_id == row.tool
            })
            .collect();
        mine.sort_by(|a, b| a.case_id.cmp(&b.case_id).then(a.sample.cmp(&b.sample)));
        for r in mine {
            let status = if r.verdict == Verdict::Pass {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type(r.verdict.as_str())
                    .set_message(r.reason.as_str())
                    .set_description(truncate_chars(&r.output, OUTPUT_CHARS));
                s
            };
            let mut case = TestCase::new(format!("{}#{}", r.case_id, r.sample), status);
            case.set_classname(format!("{}.{}", r.persona, r.workflow))
                .set_time(Duration::from_millis(r.latency_ms));
            suite.add_test_case(case);
        }
        for w in &row.workflows {
            let below = w.score.value < w.floor;
            let status = if below {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("below_floor").set_message(format!(
                    "score {} below floor {} (n = {})",
                    estimate(&w.score),
                    pct(w.floor),
                    w.score.n
                ));
                s
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("floor:{}/{}", row.persona, w.workflow), status);
            case.set_classname(format!("{}.floor", row.persona));
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    // quick-junit writes into a Vec and its strings are valid UTF-8: this cannot fail.
    #[allow(clippy::expect_used)]
    let mut out = junit.to_string().expect("JUnit XML serialises into memory");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
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
        ] {
            assert!(row.get(key).is_some(), "scorecard[].{key} missing");
        }
        assert!(row["real_work_score"]["n_eff"].is_f64());
    }

    #[test]
    fn markdown_snapshot() {
        let (report, _) = sample_report();
        insta::assert_snapshot!(markdown(&report));
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
        for text in [
            table(&report),
            json(&report),
            markdown(&report),
            junit(&report, &results),
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
}
