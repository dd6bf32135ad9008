//! Renderings of a [`Report`]: a plain terminal table (no colours), stable JSON
//! (documented in `docs/report-json.md`), Markdown for pull requests and wikis, and
//! JUnit XML for CI. Model output is untrusted: Markdown keeps it inside fences it
//! cannot close and escapes it elsewhere; XML escaping is quick-junit's.

use std::fmt::Write as _;
use std::time::Duration;

use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
use proximity_store::{ResultRecord, Verdict};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::anatomy::VerdictShare;
use crate::estimate::Estimate;
use crate::failures::{FailingCase, FailureList};
use crate::report::{truncate_chars, Failure, Report, ScoreRow, OUTPUT_CHARS};

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

const ANATOMY_COLUMNS: [&str; 8] = [
    "persona",
    "tool",
    "pass",
    "silent",
    "structural",
    "loud",
    "silent share of failures",
    "effective context",
];

/// `5 · 25% [11–47]`.
fn share_cell(s: &VerdictShare) -> String {
    format!("{} · {}", s.count, estimate(&s.rate))
}

fn anatomy_cells(row: &ScoreRow) -> [String; 8] {
    let a = &row.failure_anatomy;
    [
        row.persona.clone(),
        row.tool.clone(),
        share_cell(&a.pass),
        share_cell(&a.silent),
        share_cell(&a.structural),
        share_cell(&a.loud),
        opt_estimate(a.silent_share_of_failures.as_ref()),
        a.effective_context_tokens
            .map_or_else(|| "not probed".to_owned(), |t| format!("{t} tokens")),
    ]
}

/// Lines naming each pair's workflows whose failures are mostly silent.
fn mostly_silent_lines(report: &Report) -> Vec<String> {
    report
        .scorecard
        .iter()
        .filter(|row| !row.failure_anatomy.mostly_silent_workflows.is_empty())
        .map(|row| {
            let list: Vec<String> = row
                .failure_anatomy
                .mostly_silent_workflows
                .iter()
                .map(|w| format!("{} ({} of {} failures)", w.workflow, w.silent, w.failures))
                .collect();
            format!("{} / {}: {}", row.persona, row.tool, list.join(", "))
        })
        .collect()
}

/// Lines counting each pair's degenerate loud results by reason, for pairs that have any.
fn degenerate_lines(report: &Report) -> Vec<String> {
    report
        .scorecard
        .iter()
        .filter(|row| row.failure_anatomy.degenerate.total() > 0)
        .map(|row| {
            let d = &row.failure_anatomy.degenerate;
            let parts: Vec<String> = [
                (d.repetition_loop, "repetition loop"),
                (d.cut_off, "cut off at max_tokens"),
                (d.echo, "echo of the prompt"),
                (d.error_object, "error object"),
            ]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{what} {n}"))
            .collect();
            format!(
                "{} / {}: {} of {} loud ({})",
                row.persona,
                row.tool,
                d.total(),
                row.failure_anatomy.loud.count,
                parts.join(", ")
            )
        })
        .collect()
}

/// Lines with each pair's confidence signals, for pairs that have any.
fn confidence_lines(report: &Report) -> Vec<String> {
    let lp = |v: Option<f64>| v.map_or_else(|| NONE.to_owned(), |v| format!("{v:.2}"));
    report
        .scorecard
        .iter()
        .filter_map(|row| {
            let c = &row.failure_anatomy.confidence;
            let mut parts = Vec::new();
            if c.hedge_recorded > 0 {
                parts.push(format!("hedged {} of {}", c.hedged, c.hedge_recorded));
            }
            if let Some(a) = c.agreement {
                let silent = c.silent_agreement.map_or_else(|| NONE.to_owned(), pct);
                parts.push(format!(
                    "samples agree {} ({} on silent cases; {} cases sampled)",
                    pct(a),
                    silent,
                    c.cases_sampled
                ));
            }
            if c.mean_logprob_pass.is_some() || c.mean_logprob_silent.is_some() {
                parts.push(format!(
                    "mean logprob silent {} vs pass {}",
                    lp(c.mean_logprob_silent),
                    lp(c.mean_logprob_pass)
                ));
            }
            (!parts.is_empty())
                .then(|| format!("{} / {}: {}", row.persona, row.tool, parts.join("; ")))
        })
        .collect()
}

/// The widest line of `text`, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// Rows as blocks, for a terminal too narrow for their table: each row's first two
/// cells (`persona × tool`) on a line, then `header value` items packed into lines of at
/// most `width` characters, indented two and separated by `; `.
fn cards(headers: &[&str], rows: &[Vec<String>], width: usize) -> String {
    let mut out = String::new();
    for row in rows {
        let _ = writeln!(out, "{} × {}", row[0], row[1]);
        let mut line = String::from(" ");
        let mut used = 1;
        for (h, v) in headers.iter().zip(row).skip(2) {
            let item = format!("{h} {v}");
            let n = item.chars().count();
            if used > 1 && used + 2 + n > width {
                let _ = writeln!(out, "{line}");
                line = String::from(" ");
                used = 1;
            }
            line.push_str(if used > 1 { "; " } else { " " });
            used += if used > 1 { 2 } else { 1 };
            line.push_str(&item);
            used += n;
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// `t` when it fits `width` (or no width is given), else its rows as [`cards`].
fn fitted(t: &Table, headers: &[&str], rows: &[Vec<String>], width: Option<u16>) -> String {
    let text = t.to_string();
    match width.map(usize::from) {
        Some(w) if widest(&text) > w => cards(headers, rows, w).trim_end().to_owned(),
        _ => text,
    }
}

fn anatomy_table(report: &Report, width: Option<u16>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(ANATOMY_COLUMNS);
    let rows: Vec<Vec<String>> = report
        .scorecard
        .iter()
        .map(|r| anatomy_cells(r).to_vec())
        .collect();
    for row in &rows {
        t.add_row(row.clone());
    }
    for index in 2..8 {
        if let Some(column) = t.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    fitted(&t, &ANATOMY_COLUMNS, &rows, width)
}

/// The scorecard as a plain-text table, then the workflows below floor, the coverage
/// gaps and the failure anatomy. No colours or other escape sequences. As wide as its
/// content: [`table_within`] fits a terminal.
pub fn table(report: &Report) -> String {
    table_within(report, None)
}

/// [`table`] within `width` columns (a terminal's): a table too wide for it becomes one
/// block per pair (`persona × tool`, then `column value` items packed into lines), and
/// the lines around the tables wrap at spaces. `None`: as wide as the content.
pub fn table_within(report: &Report, width: Option<u16>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(COLUMNS);
    let rows: Vec<Vec<String>> = report.scorecard.iter().map(|r| cells(r).to_vec()).collect();
    for row in &rows {
        t.add_row(row.clone());
    }
    for index in 2..9 {
        if let Some(column) = t.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }

    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(report));
    let _ = writeln!(out, "{}", fitted(&t, &COLUMNS, &rows, width));
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
    out.push_str("\nFailure anatomy: count · rate [95% interval]\n");
    let _ = writeln!(out, "{}", anatomy_table(report, width));
    let silent = mostly_silent_lines(report);
    if silent.is_empty() {
        out.push_str("Mostly silent workflows: none\n");
    } else {
        out.push_str("Mostly silent workflows (failures that look fine):\n");
        for line in silent {
            let _ = writeln!(out, "  {line}");
        }
    }
    let degenerate = degenerate_lines(report);
    if !degenerate.is_empty() {
        out.push_str("Degenerate output (loud, by reason):\n");
        for line in degenerate {
            let _ = writeln!(out, "  {line}");
        }
    }
    let signals = confidence_lines(report);
    if !signals.is_empty() {
        out.push_str("Confidence signals:\n");
        for line in signals {
            let _ = writeln!(out, "  {line}");
        }
    }
    match width {
        Some(w) => wrap_lines(&out, usize::from(w)),
        None => out,
    }
}

/// Lines longer than `width` characters broken at spaces, each continuation indented
/// two past the line's own indent; a word longer than the line stays whole.
fn wrap_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.chars().count() <= width {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let next = " ".repeat(indent + 2);
        let mut current = " ".repeat(indent);
        let mut used = indent;
        let mut fresh = true;
        for word in line.split_whitespace() {
            let n = word.chars().count();
            if !fresh && used + 1 + n > width {
                out.push_str(&current);
                out.push('\n');
                current.clone_from(&next);
                used = next.len();
                fresh = true;
            }
            if !fresh {
                current.push(' ');
                used += 1;
            }
            current.push_str(word);
            used += n;
            fresh = false;
        }
        out.push_str(&current);
        out.push('\n');
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

    out.push_str("## Failure anatomy\n\n");
    let _ = writeln!(out, "| {} |", ANATOMY_COLUMNS.join(" | "));
    let align: Vec<&str> = (0..ANATOMY_COLUMNS.len())
        .map(|i| if (2..7).contains(&i) { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for row in &report.scorecard {
        let cells: Vec<String> = anatomy_cells(row).iter().map(|c| md_text(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str("\nCount · rate \\[95% interval\\].\n\n");
    let silent = mostly_silent_lines(report);
    if !silent.is_empty() {
        out.push_str("Mostly silent workflows (failures that look fine):\n\n");
        for line in silent {
            let _ = writeln!(out, "- {}", md_text(&line));
        }
        out.push('\n');
    }
    let degenerate = degenerate_lines(report);
    if !degenerate.is_empty() {
        out.push_str("Degenerate output (loud, by reason):\n\n");
        for line in degenerate {
            let _ = writeln!(out, "- {}", md_text(&line));
        }
        out.push('\n');
    }
    let signals = confidence_lines(report);
    if !signals.is_empty() {
        out.push_str("Confidence signals:\n\n");
        for line in signals {
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

/// Text for a terminal: control characters (escape sequences included) written as
/// `\u{..}` escapes, so model output cannot move the cursor or recolour the screen.
fn term(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn failures_title(list: &FailureList) -> String {
    let what = match list.filter {
        crate::failures::FailureFilter::All => "Failures".to_owned(),
        f => {
            let s = f.as_str();
            let mut c = s.chars();
            c.next()
                .map(|first| format!("{}{} failures", first.to_uppercase(), c.as_str()))
                .unwrap_or_default()
        }
    };
    format!(
        "{what} of run {} ({}), most common first",
        list.run_id, list.program
    )
}

fn pair_summary(p: &crate::failures::PairFailures) -> String {
    format!(
        "silent {} of {} results; silent share of failures {}",
        estimate(&p.silent_failure_rate),
        p.results,
        opt_estimate(p.silent_share_of_failures.as_ref())
    )
}

fn case_signals(c: &FailingCase) -> String {
    let hedge = match c.hedged {
        Some(true) => "yes",
        Some(false) => "no",
        None => NONE,
    };
    let logprob = c
        .mean_logprob
        .map_or_else(|| NONE.to_owned(), |v| format!("{v:.2}"));
    format!(
        "samples agree {}/{} · hedge {hedge} · mean logprob {logprob}",
        c.agreement.agreeing, c.agreement.answered
    )
}

/// What the sample's requests did, for a failed request or one retried: `4 attempts over
/// 1530 ms; last error server`. `None` for an answer on the first attempt.
fn request_line(c: &FailingCase) -> Option<String> {
    if c.error_class.is_none() && c.attempts <= 1 {
        return None;
    }
    let attempts = match c.attempts {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    };
    let last = c
        .error_class
        .as_deref()
        .map_or_else(|| "answered".to_owned(), |e| format!("last error {e}"));
    Some(format!("{attempts} over {} ms; {last}", c.latency_ms))
}

/// `proximity report --failures` as plain text: per pair, its silent rate and its
/// failing cases, each with what was expected beside what came out.
pub fn failures_table(list: &FailureList) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", failures_title(list));
    for p in &list.pairs {
        let _ = writeln!(out, "\n{} / {}: {}", p.persona, p.tool, pair_summary(p));
        if p.cases.is_empty() {
            out.push_str("  none\n");
        }
        for (i, c) in p.cases.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {} ({}, {}): {} in {} of {} samples",
                i + 1,
                term(&c.case_id),
                term(&c.workflow),
                term(&c.kind),
                c.verdict,
                c.failed_samples,
                c.samples
            );
            let expected = c.expected.as_deref().map_or_else(|| NONE.to_owned(), term);
            let _ = writeln!(out, "     expected: {expected}");
            let _ = writeln!(out, "     got:      {}", term(&format!("{:?}", c.output)));
            if let Some(d) = &c.detail {
                let _ = writeln!(out, "     why:      {}", term(d));
            } else {
                let _ = writeln!(out, "     why:      {}", term(&c.reason));
            }
            if let Some(line) = request_line(c) {
                let _ = writeln!(out, "     request:  {}", term(&line));
            }
            let _ = writeln!(out, "     signals:  {}", case_signals(c));
        }
    }
    out
}

/// `proximity report --failures` as JSON (documented in `docs/report-json.md`).
pub fn failures_json(list: &FailureList) -> String {
    // Plain structs with string keys: serialising them to a String cannot fail.
    #[allow(clippy::expect_used)]
    let mut out =
        serde_json::to_string_pretty(list).expect("a FailureList always serialises to JSON");
    out.push('\n');
    out
}

/// `proximity report --failures` as Markdown, outputs fenced.
pub fn failures_markdown(list: &FailureList) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md_text(&failures_title(list)));
    for p in &list.pairs {
        let _ = writeln!(out, "## {} / {}\n", md_text(&p.persona), md_text(&p.tool));
        let _ = writeln!(out, "{}\n", md_text(&pair_summary(p)));
        if p.cases.is_empty() {
            out.push_str("None.\n\n");
        }
        for (i, c) in p.cases.iter().enumerate() {
            let _ = writeln!(
                out,
                "### {}. {} ({}, {}): {} in {} of {} samples\n",
                i + 1,
                md_text(&c.case_id),
                md_text(&c.workflow),
                md_text(&c.kind),
                c.verdict,
                c.failed_samples,
                c.samples
            );
            let expected = c.expected.as_deref().unwrap_or(NONE);
            let _ = writeln!(out, "- expected: {}", md_text(expected));
            let why = c.detail.as_deref().unwrap_or(&c.reason);
            let _ = writeln!(out, "- why: {}", md_text(why));
            if let Some(line) = request_line(c) {
                let _ = writeln!(out, "- request: {}", md_text(&line));
            }
            let _ = writeln!(out, "- signals: {}\n", md_text(&case_signals(c)));
            if c.output.is_empty() {
                out.push_str("(empty output)\n\n");
            } else {
                out.push_str(&md_fence(&c.output));
                out.push('\n');
            }
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests;
