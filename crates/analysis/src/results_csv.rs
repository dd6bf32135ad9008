//! A run's results as CSV, one row per result, for spreadsheets: what `report --format
//! csv` writes. Rows are written as they come, so a run of any size streams through in
//! flat memory.
//!
//! Model output is untrusted, and a spreadsheet runs a cell that starts with `=`, `+`,
//! `-`, `@`, a tab or a carriage return as a formula (CSV injection). Such text cells get a
//! leading `'`, which spreadsheets show as text; numbers are written as numbers.

use std::io::Write;

use proximity_store::ResultRecord;

/// The columns, in order.
pub const COLUMNS: [&str; 23] = [
    "run_id",
    "persona",
    "workflow",
    "case_id",
    "kind",
    "source",
    "tool_id",
    "sample",
    "verdict",
    "reason",
    "assertions_passed",
    "assertions_failed",
    "failed_assertions",
    "error_class",
    "attempts",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cached",
    "model_version",
    "created_at",
    "output",
];

/// Writes results as CSV rows under a header.
pub struct ResultsCsv<W: Write> {
    writer: csv::Writer<W>,
    rows: u64,
}

/// Text a spreadsheet shows as text, never runs as a formula.
fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

impl<W: Write> ResultsCsv<W> {
    /// A writer that has written the header row.
    pub fn new(out: W) -> Result<Self, csv::Error> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(COLUMNS)?;
        Ok(Self { writer, rows: 0 })
    }

    /// One result's row.
    pub fn push(&mut self, r: &ResultRecord) -> Result<(), csv::Error> {
        let passed = r.assertions.iter().filter(|a| a.passed).count();
        let failed: Vec<&str> = r
            .assertions
            .iter()
            .filter(|a| !a.passed)
            .map(|a| a.assertion.as_str())
            .collect();
        let row = [
            cell(&r.run_id),
            cell(&r.persona),
            cell(&r.workflow),
            cell(&r.case_id),
            cell(&r.kind),
            cell(&r.source),
            cell(&r.tool_id),
            r.sample.to_string(),
            r.verdict.as_str().to_owned(),
            cell(&r.reason),
            passed.to_string(),
            failed.len().to_string(),
            cell(&failed.join("; ")),
            cell(r.error_class.as_deref().unwrap_or_default()),
            r.attempts.to_string(),
            r.latency_ms.to_string(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            // Full precision: a spreadsheet sums them, and $0.0000021 is not $0.00.
            format!("{}", r.cost_usd),
            r.cached.to_string(),
            cell(r.model_version.as_deref().unwrap_or_default()),
            r.created_at.to_rfc3339(),
            cell(&r.output),
        ];
        self.writer.write_record(&row)?;
        self.rows += 1;
        Ok(())
    }

    /// Flush and give back the number of rows written.
    pub fn finish(mut self) -> Result<u64, csv::Error> {
        self.writer.flush()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::fixture;

    #[test]
    fn rows_read_back_with_every_column_and_formulas_defused() {
        let mut r = fixture::result(
            "p",
            "gpt",
            "w",
            "edge",
            "c1",
            0,
            proximity_store::Verdict::Silent,
        );
        r.output = "=HYPERLINK(\"http://evil\",\"x\"), and a \"quote\"\nsecond line".into();
        r.cost_usd = 0.0000021;
        let mut out = Vec::new();
        let mut w = ResultsCsv::new(&mut out).unwrap();
        w.push(&r).unwrap();
        assert_eq!(w.finish().unwrap(), 1);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let headers: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(headers, COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let get = |name: &str| rows[0][COLUMNS.iter().position(|c| *c == name).unwrap()].to_owned();
        assert_eq!(get("case_id"), "c1");
        assert_eq!(get("verdict"), "silent");
        assert_eq!(get("cost_usd").parse::<f64>().unwrap(), 0.0000021);
        assert_eq!(
            get("output"),
            "'=HYPERLINK(\"http://evil\",\"x\"), and a \"quote\"\nsecond line"
        );
    }

    #[test]
    fn only_leading_formula_characters_are_defused() {
        assert_eq!(cell("-5 degrees"), "'-5 degrees");
        assert_eq!(cell("@sum"), "'@sum");
        assert_eq!(cell("a = b"), "a = b");
        assert_eq!(cell(""), "");
    }
}
