//! End-to-end: a deterministic run on a `scripted` tool, reported in every format.
#![allow(clippy::unwrap_used)]

use crate::common::*;

const PROGRAM: &str = r#"version: 1
name: snapshot
tools:
  - id: vendor
    provider: scripted
    price: { input_per_mtok: 2.5, output_per_mtok: 10, seat_per_month: 30 }
    params:
      rules:
        - when: capital of france
          reply: Paris
        - when: "17 * 23"
          reply: "The answer is 381."
        - when: invoice
          reply: "total: 12"
        - when: refund
          reply: "I'm not sure, maybe 14 days?"
      default_reply: "I don't know."
tiers:
  - id: basic
    tools: [vendor]
personas:
  - id: agent
    name: Support agent
    headcount: 10
    tier: basic
    workflows:
      - { id: lookup, share: 0.5, floor: 0.8 }
      - { id: math, share: 0.3, floor: 0.5 }
      - { id: extract, share: 0.2, floor: 0.9 }
"#;

const SUITE: &str = r#"persona: agent
cases:
  - id: capital-demo
    workflow: lookup
    source: demo
    prompt: What is the capital of France?
    assert:
      correct: [{ contains: Paris }]
  - id: capital
    workflow: lookup
    prompt: Remind me, capital of France?
    assert:
      correct: [{ contains: Paris }]
  - id: refund
    workflow: lookup
    kind: edge
    prompt: How long is the refund window?
    assert:
      correct: [{ contains: "30" }]
  - id: mult
    workflow: math
    kind: edge
    prompt: What is 17 * 23?
    assert:
      correct: [{ numeric: 391 }]
  - id: invoice
    workflow: extract
    prompt: Extract the invoice total as JSON.
    assert:
      contract: [{ is_json: true }]
"#;

fn normalise(text: &str) -> String {
    let run_id = regex_lite(text);
    let mut t = text.to_owned();
    if let Some(id) = run_id {
        t = t.replace(&id, "[RUN]");
    }
    // Timestamps and latencies vary between runs.
    let mut out = String::new();
    for line in t.lines() {
        let line = match line.find("started ") {
            Some(i) if line.starts_with("Run ") => {
                let end = line[i..].find(')').map(|e| i + e).unwrap_or(line.len());
                format!("{}started [TIME]{}", &line[..i], &line[end..])
            }
            _ if line.starts_with('│') && !line.contains("persona") => {
                // The p50/p95 latency column (9th) depends on the machine's load.
                let mut cells: Vec<String> = line.split('┆').map(str::to_owned).collect();
                if let Some(cell) = cells.get_mut(8) {
                    let width = cell.chars().count();
                    *cell = format!("{:>width$}", "[ms] ");
                }
                cells.join("┆")
            }
            _ => line.to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The run id (YYYYMMDD-HHMMSS-xxxx) in a text.
fn regex_lite(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '"')
        .find(|w| {
            w.len() == 20
                && w.as_bytes()[8] == b'-'
                && w.as_bytes()[15] == b'-'
                && w[..8].chars().all(|c| c.is_ascii_digit())
        })
        .map(str::to_owned)
}

#[test]
fn scorecard_table_snapshot() {
    let p = TempProgram::new(PROGRAM, &[("s.yaml", SUITE)]);
    let out = run(proximity(p.path()).args(["eval", "-q"]));
    // `math` (0%) and `extract` (0%) are below their floors: the CI gate says 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("silent"));
    let report = run(proximity(p.path()).arg("report"));
    assert!(report.status.success());
    assert_eq!(stdout(&report), table, "report prints what eval printed");
    insta::assert_snapshot!("scorecard_table", normalise(&table));

    // In a 72-column terminal the scorecard fits: one block per pair instead of the table.
    assert!(
        table.lines().any(|l| l.chars().count() > 72),
        "wider unwrapped"
    );
    let narrow = stdout(&run(proximity(p.path()).arg("report").env("COLUMNS", "72")));
    for line in narrow.lines() {
        assert!(line.chars().count() <= 72, "{line:?}\n{narrow}");
    }
    // Times and latencies vary between runs.
    let narrow = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        .unwrap()
        .replace_all(&normalise(&narrow), "[TIME]")
        .into_owned();
    let narrow = regex::Regex::new(r"p50/p95 ms \d+/\d+")
        .unwrap()
        .replace_all(&narrow, "p50/p95 ms [ms]")
        .into_owned();
    insta::assert_snapshot!("scorecard_table_72_columns", narrow);
}

#[test]
fn every_format_renders() {
    let p = TempProgram::new(PROGRAM, &[("s.yaml", SUITE)]);
    let _ = run(proximity(p.path()).args(["eval", "-q"]));
    let json = report_json(p.path());
    let row = &json["scorecard"][0];
    assert_eq!(row["persona"], "agent");
    assert_eq!(row["tool"], "vendor");
    assert_eq!(row["verdicts"]["silent"], 1, "the confident wrong product");
    assert_eq!(row["verdicts"]["structural"], 1, "`total: 12` is not JSON");
    assert_eq!(row["verdicts"]["loud"], 1, "the hedged refund answer");
    assert_eq!(row["demo_score"]["value"], 1.0);
    let below: Vec<&str> = row["below_floor"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["workflow"].as_str().unwrap())
        .collect();
    assert_eq!(below, ["lookup", "math", "extract"]);

    let md = run(proximity(p.path()).args(["report", "--format", "markdown"]));
    assert!(stdout(&md).contains("| agent"), "{}", stdout(&md));
    let out_file = p.path().join("out/junit.xml");
    let junit = run(proximity(p.path())
        .args(["report", "--format", "junit", "--out"])
        .arg(&out_file));
    assert!(junit.status.success(), "{}", stderr(&junit));
    let xml = fs_err::read_to_string(out_file).unwrap();
    assert!(
        xml.contains("<testsuite") && xml.contains("failure"),
        "{xml}"
    );
}

#[test]
fn csv_has_a_row_per_result_that_a_spreadsheet_reads_as_text() {
    // A reply that a spreadsheet would run as a formula.
    let program = PROGRAM.replace(
        "default_reply: \"I don't know.\"",
        "default_reply: \"=HYPERLINK(\\\"http://x\\\", \\\"a, b\\\")\"",
    );
    let suite = format!(
        "{SUITE}  - id: formula\n    workflow: lookup\n    prompt: Anything else?\n    assert:\n      correct: [{{ contains: yes }}]\n"
    );
    let p = TempProgram::new(&program, &[("s.yaml", &suite)]);
    let eval = run(proximity(p.path()).args(["eval", "-q", "--format", "csv"]));
    assert_eq!(eval.status.code(), Some(1), "{}", stderr(&eval));
    let report = run(proximity(p.path()).args(["report", "--format", "csv"]));
    assert!(report.status.success(), "{}", stderr(&report));
    assert_eq!(
        stdout(&report),
        stdout(&eval),
        "eval prints what report prints"
    );

    let mut reader = csv::Reader::from_reader(report.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6, "one row per result");
    let by_case = |id: &str| rows.iter().find(|r| &r[col("case_id")] == id).unwrap();
    assert_eq!(&by_case("mult")[col("verdict")], "silent");
    assert_eq!(&by_case("invoice")[col("verdict")], "structural");
    assert_eq!(&by_case("invoice")[col("failed_assertions")], "is_json");
    assert_eq!(&by_case("capital")[col("output")], "Paris");
    assert_eq!(&by_case("capital")[col("tool_id")], "vendor");
    assert!(by_case("capital")[col("cost_usd")].parse::<f64>().unwrap() > 0.0);
    assert_eq!(
        &by_case("formula")[col("output")],
        "'=HYPERLINK(\"http://x\", \"a, b\")"
    );

    let file = p.path().join("out/results.csv");
    let to_file = run(proximity(p.path())
        .args(["report", "--format", "csv", "--out"])
        .arg(&file));
    assert!(to_file.status.success(), "{}", stderr(&to_file));
    assert!(
        stderr(&to_file).contains("wrote 6 results to"),
        "{}",
        stderr(&to_file)
    );
    assert_eq!(fs_err::read(&file).unwrap(), report.stdout);

    let refused =
        run(proximity(p.path()).args(["report", "--failures", "silent", "--format", "csv"]));
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("not csv"), "{}", stderr(&refused));
}
