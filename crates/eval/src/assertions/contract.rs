//! Downstream-contract checks beyond JSON: `csv`, `markdown_table` and `format` (dates,
//! numbers, currency amounts). `command` lives in [`super::command`]. Semantics:
//! `docs/assertions.md`, "Contracts".

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use proximity_program::contract::{FormatSpec, NumberStyle, SymbolPosition};
use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::json::parse_output;
use super::{excerpt, Finding};

/// The body of a single fenced code block that is the whole (trimmed) output, when its
/// info string is empty or one of `langs` (any case); `None` otherwise.
pub fn strip_fence_as<'a>(out: &'a str, langs: &[&str]) -> Option<&'a str> {
    let rest = out.strip_prefix("```")?;
    let (info, body) = rest.split_once('\n')?;
    let info = info.trim();
    if !(info.is_empty() || langs.iter().any(|l| info.eq_ignore_ascii_case(l))) {
        return None;
    }
    let inner = body.trim_end().strip_suffix("```")?;
    if inner.contains("```") {
        return None;
    }
    Some(inner.trim_matches('\n'))
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The output is CSV: a header row holding every column of `columns`, and every row with
/// the header's number of fields. A single fenced block (```` ```csv ```` or bare) is
/// stripped first, as for JSON.
pub fn csv(out: &str, columns: &[String], delimiter: char) -> Finding {
    let text = strip_fence_as(out, &["csv", "tsv"]).unwrap_or(out);
    let Ok(delim) = u8::try_from(delimiter) else {
        return Finding::fail(format!("delimiter {delimiter:?} is not one byte"));
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|f| f.trim().to_owned()).collect(),
        Err(e) => return Finding::fail(format!("not CSV ({e}): {}", excerpt(out))),
    };
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| !header.iter().any(|h| h == c.trim()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let noun = if missing.len() == 1 {
            "column"
        } else {
            "columns"
        };
        return Finding::fail(format!(
            "missing {noun} {} in header {}",
            quoted(&missing),
            quoted(&header)
        ));
    }
    let mut rows = 0_u64;
    for record in reader.records() {
        match record {
            Ok(_) => rows += 1,
            Err(e) => {
                let detail = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        pos,
                        expected_len,
                        len,
                    } => format!(
                        "line {} has {len} fields, the header has {expected_len}",
                        pos.as_ref().map_or(0, |p| p.line())
                    ),
                    _ => format!("not CSV ({e})"),
                };
                return Finding::fail(format!("{detail}: {}", excerpt(out)));
            }
        }
    }
    let noun = if rows == 1 { "row" } else { "rows" };
    Finding::pass(format!(
        "CSV with {} columns and {rows} {noun}",
        header.len()
    ))
}

/// Cells of one Markdown table line: split on `|` not escaped by a backslash, outer pipes
/// dropped, each cell trimmed.
fn table_cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '|' if !escaped => cells.push(std::mem::take(&mut cell)),
            '\\' if !escaped => {
                escaped = true;
                cell.push(c);
                continue;
            }
            c => cell.push(c),
        }
        escaped = false;
    }
    cells.push(cell);
    if line.starts_with('|') && !cells.is_empty() {
        cells.remove(0);
    }
    if line.ends_with('|') && !line.ends_with("\\|") {
        cells.pop();
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

fn is_delimiter_row(cells: &[String]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|c| {
            let c = c.trim_start_matches(':').trim_end_matches(':');
            !c.is_empty() && c.chars().all(|ch| ch == '-')
        })
}

/// The output holds a Markdown (GFM) table: a header row, a delimiter row with as many
/// cells, and body rows with as many cells, the header holding every one of `headers`.
/// The first table in the output is checked; prose around it is allowed.
pub fn markdown_table(out: &str, headers: &[String]) -> Finding {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .windows(2)
        .position(|w| w[0].contains('|') && is_delimiter_row(&table_cells(w[1])));
    let Some(start) = start else {
        return Finding::fail(format!(
            "no Markdown table (a header row, then a `| --- |` row): {}",
            excerpt(out)
        ));
    };
    let header = table_cells(lines[start]);
    let delimiter = table_cells(lines[start + 1]);
    if delimiter.len() != header.len() {
        return Finding::fail(format!(
            "the delimiter row has {} cells, the header has {}",
            delimiter.len(),
            header.len()
        ));
    }
    let missing: Vec<String> = headers
        .iter()
        .filter(|h| !header.iter().any(|c| c == h.trim()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let noun = if missing.len() == 1 {
            "header"
        } else {
            "headers"
        };
        return Finding::fail(format!(
            "missing {noun} {} in table header {}",
            quoted(&missing),
            quoted(&header)
        ));
    }
    let mut rows = 0_usize;
    for (i, line) in lines.iter().enumerate().skip(start + 2) {
        if line.trim().is_empty() || !line.contains('|') {
            break;
        }
        let cells = table_cells(line);
        if cells.len() != header.len() {
            return Finding::fail(format!(
                "table line {} has {} cells, the header has {}: {}",
                i + 1,
                cells.len(),
                header.len(),
                excerpt(line)
            ));
        }
        rows += 1;
    }
    let noun = if rows == 1 { "row" } else { "rows" };
    Finding::pass(format!(
        "Markdown table with {} columns and {rows} {noun}",
        header.len()
    ))
}

/// The output, or every value `path` selects in its JSON, parses as `spec`.
pub fn format(out: &str, spec: &FormatSpec, path: Option<&str>) -> Finding {
    let values: Vec<String> = match path {
        None => vec![out.to_owned()],
        Some(p) => {
            let json = match parse_output(out) {
                Ok(v) => v,
                Err(e) => return Finding::fail(e),
            };
            let query = match JsonPath::parse(p) {
                Ok(q) => q,
                Err(e) => return Finding::fail(format!("invalid JSONPath {p}: {e}")),
            };
            let nodes = query.query(&json).all();
            if nodes.is_empty() {
                return Finding::fail(format!("{p} matched nothing"));
            }
            let mut texts = Vec::with_capacity(nodes.len());
            for n in nodes {
                match n {
                    Value::String(s) => texts.push(s.clone()),
                    Value::Number(num) => texts.push(num.to_string()),
                    other => {
                        return Finding::fail(format!("{p} = {other}, not a string or a number"))
                    }
                }
            }
            texts
        }
    };
    let at = path.map(|p| format!("{p} = ")).unwrap_or_default();
    for v in &values {
        if let Err(why) = matches_spec(v, spec) {
            return Finding::fail(format!("{at}{} is not {spec}: {why}", excerpt(v)));
        }
    }
    match values.as_slice() {
        [one] => Finding::pass(format!("{at}{} is {spec}", excerpt(one))),
        many => Finding::pass(format!("{} values at {at}all {spec}", many.len())),
    }
}

fn matches_spec(text: &str, spec: &FormatSpec) -> Result<(), String> {
    match spec {
        FormatSpec::Date { pattern } => parse_date(text, pattern),
        FormatSpec::Number { style } => parse_number(text, style).map(|_| ()),
        FormatSpec::Currency {
            symbol,
            style,
            decimals,
            position,
        } => parse_currency(text, symbol, style, *decimals, *position).map(|_| ()),
    }
}

/// `text` parses with the strftime `pattern` as a date-time with offset, a date-time, a
/// date or a time (chrono).
pub fn parse_date(text: &str, pattern: &str) -> Result<(), String> {
    if DateTime::parse_from_str(text, pattern).is_ok()
        || NaiveDateTime::parse_from_str(text, pattern).is_ok()
        || NaiveDate::parse_from_str(text, pattern).is_ok()
        || NaiveTime::parse_from_str(text, pattern).is_ok()
    {
        return Ok(());
    }
    // The most specific reason chrono gives.
    let why = NaiveDate::parse_from_str(text, pattern)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Err(why)
}

/// The regex of an amount in `style`: optional sign, digits grouped by the thousands
/// separator (all groups of three) or not grouped at all, optional decimal part with
/// `decimals` digits exactly (any number when `None`).
fn amount_pattern(style: &NumberStyle, decimals: Option<u8>) -> String {
    let int = match style.thousands {
        Some(t) => format!(
            r"(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)",
            t = regex::escape(&t.to_string())
        ),
        None => r"\d+".to_owned(),
    };
    let d = regex::escape(&style.decimal.to_string());
    let frac = match decimals {
        None => format!(r"(?:{d}\d+)?"),
        Some(0) => String::new(),
        Some(n) => format!(r"{d}\d{{{n}}}"),
    };
    format!("{int}{frac}")
}

fn to_f64(amount: &str, style: &NumberStyle) -> Result<f64, String> {
    let mut plain: String = amount
        .chars()
        .filter(|c| Some(*c) != style.thousands)
        .collect();
    plain = plain.replace(style.decimal, ".").replace('−', "-");
    plain
        .parse::<f64>()
        .map_err(|e| format!("{plain:?} is not a number ({e})"))
}

/// `text` is a number written in `style`; its value.
pub fn parse_number(text: &str, style: &NumberStyle) -> Result<f64, String> {
    let re = Regex::new(&format!(r"^[+\-−]?{}$", amount_pattern(style, None)))
        .map_err(|e| e.to_string())?;
    if !re.is_match(text) {
        return Err(format!("expected digits written with {style}"));
    }
    to_f64(text, style)
}

/// `text` is `symbol` and an amount in `style`, the symbol where `position` says
/// (one optional space, regular or non-breaking, between them); the amount's value.
pub fn parse_currency(
    text: &str,
    symbol: &str,
    style: &NumberStyle,
    decimals: Option<u8>,
    position: SymbolPosition,
) -> Result<f64, String> {
    let sym = regex::escape(symbol);
    let amount = amount_pattern(style, decimals);
    let before =
        format!(r"^(?<s1>[+\-−]?){sym}[ \u{{a0}}\u{{202f}}]?(?<s2>[+\-−]?)(?<a>{amount})$");
    let after = format!(r"^(?<s1>[+\-−]?)(?<a>{amount})[ \u{{a0}}\u{{202f}}]?{sym}$");
    let patterns: Vec<&str> = match position {
        SymbolPosition::Before => vec![&before],
        SymbolPosition::After => vec![&after],
        SymbolPosition::Either => vec![&before, &after],
    };
    for p in patterns {
        let re = Regex::new(p).map_err(|e| e.to_string())?;
        if let Some(c) = re.captures(text) {
            let negative = ["s1", "s2"]
                .iter()
                .any(|s| c.name(s).is_some_and(|m| matches!(m.as_str(), "-" | "−")));
            let value = to_f64(c.name("a").map_or("", |m| m.as_str()), style)?;
            return Ok(if negative { -value } else { value });
        }
    }
    let place = match position {
        SymbolPosition::Before => "before",
        SymbolPosition::After => "after",
        SymbolPosition::Either => "before or after",
    };
    let digits = match decimals {
        Some(d) => format!(", {d} decimals"),
        None => String::new(),
    };
    Err(format!(
        "expected {symbol:?} {place} an amount written with {style}{digits}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn csv_passes_with_required_columns_and_even_rows() {
        let f = csv(
            "sku,qty,price\nA-1,2,3.50\nB-2,1,\"1,200.00\"\n",
            &cols(&["qty", "sku"]),
            ',',
        );
        assert!(f.passed, "{}", f.detail);
        assert_eq!(f.detail, "CSV with 3 columns and 2 rows");
        let f = csv("```csv\nsku;qty\nA;1\n```", &cols(&["sku"]), ';');
        assert!(f.passed, "{}", f.detail);
    }

    #[test]
    fn csv_fails_on_missing_column_or_ragged_row() {
        let f = csv("sku,amount\nA,1\n", &cols(&["sku", "qty"]), ',');
        assert!(!f.passed);
        assert_eq!(
            f.detail,
            r#"missing column "qty" in header "sku", "amount""#
        );
        let f = csv("sku,qty\nA,1\nB,2,3\n", &cols(&["sku"]), ',');
        assert!(!f.passed);
        assert!(
            f.detail
                .starts_with("line 3 has 3 fields, the header has 2"),
            "{}",
            f.detail
        );
        // Prose is a one-column "CSV" without the required columns.
        assert!(!csv("Sure! Here is the export.", &cols(&["sku"]), ',').passed);
        // Semicolon data read with a comma delimiter has one column.
        assert!(!csv("sku;qty\nA;1\n", &cols(&["sku", "qty"]), ',').passed);
    }

    #[test]
    fn markdown_table_checks_headers_and_cell_counts() {
        let out = "Here you go:\n\n| Item | Price |\n|:-----|------:|\n| Kettle | 49 |\n| Lamp \\| LED | 19 |\n\nAnything else?";
        let f = markdown_table(out, &cols(&["Item", "Price"]));
        assert!(f.passed, "{}", f.detail);
        assert_eq!(f.detail, "Markdown table with 2 columns and 2 rows");
        let f = markdown_table(out, &cols(&["SKU"]));
        assert!(!f.passed);
        assert_eq!(
            f.detail,
            r#"missing header "SKU" in table header "Item", "Price""#
        );
        let f = markdown_table("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n", &[]);
        assert!(!f.passed);
        assert!(
            f.detail.starts_with("table line 3 has 3 cells"),
            "{}",
            f.detail
        );
        let f = markdown_table("Item: Kettle, Price: 49", &cols(&["Item"]));
        assert!(!f.passed);
        assert!(f.detail.starts_with("no Markdown table"), "{}", f.detail);
        assert!(!markdown_table("| a | b |\n|---|\n", &[]).passed);
    }

    #[test]
    fn format_date() {
        let spec = FormatSpec::Date {
            pattern: "%Y-%m-%d".into(),
        };
        assert!(format("2025-04-30", &spec, None).passed);
        let f = format("30/04/2025", &spec, None);
        assert!(!f.passed);
        assert!(
            f.detail
                .starts_with(r#""30/04/2025" is not date "%Y-%m-%d""#),
            "{}",
            f.detail
        );
        assert!(!format("2025-02-30", &spec, None).passed, "no such day");
        let dt = FormatSpec::Date {
            pattern: "%Y-%m-%dT%H:%M:%S%:z".into(),
        };
        assert!(format("2025-04-02T09:14:07+00:00", &dt, None).passed);
        let json = r#"{"due_date": "2025-04-30", "issued": "15/05/2025"}"#;
        assert!(format(json, &spec, Some("$.due_date")).passed);
        let f = format(json, &spec, Some("$.issued"));
        assert!(!f.passed);
        assert!(f.detail.starts_with("$.issued = "), "{}", f.detail);
        let f = format(r#"{"due_date": null}"#, &spec, Some("$.due_date"));
        assert_eq!(f.detail, "$.due_date = null, not a string or a number");
        assert!(!format(json, &spec, Some("$.nope")).passed);
    }

    #[test]
    fn format_number() {
        let en = NumberStyle {
            decimal: '.',
            thousands: Some(','),
        };
        let de = NumberStyle {
            decimal: ',',
            thousands: Some('.'),
        };
        assert_eq!(parse_number("1,234.50", &en), Ok(1234.5));
        assert_eq!(parse_number("-1234.5", &en), Ok(-1234.5));
        assert_eq!(parse_number("1.234,50", &de), Ok(1234.5));
        assert!(parse_number("1,234.50", &de).is_err());
        assert!(parse_number("12,34.5", &en).is_err(), "groups of three");
        assert!(parse_number("1234 EUR", &en).is_err());
        let spec = FormatSpec::Number { style: en };
        assert!(format(r#"{"total": 1536.7}"#, &spec, Some("$.total")).passed);
        assert!(!format("about 12", &spec, None).passed);
    }

    #[test]
    fn format_currency() {
        let de = NumberStyle {
            decimal: ',',
            thousands: Some('.'),
        };
        let en = NumberStyle {
            decimal: '.',
            thousands: Some(','),
        };
        assert_eq!(
            parse_currency("1.536,70 €", "€", &de, Some(2), SymbolPosition::Either),
            Ok(1536.7)
        );
        assert_eq!(
            parse_currency("-€5.00", "€", &en, Some(2), SymbolPosition::Before),
            Ok(-5.0)
        );
        assert_eq!(
            parse_currency("EUR 2,450.00", "EUR", &en, None, SymbolPosition::Before),
            Ok(2450.0)
        );
        assert!(parse_currency("1.536,7 €", "€", &de, Some(2), SymbolPosition::Either).is_err());
        assert!(parse_currency("GBP 312.40", "EUR", &en, None, SymbolPosition::Either).is_err());
        assert!(parse_currency("312.40 EUR", "EUR", &en, None, SymbolPosition::Before).is_err());
        let spec = FormatSpec::Currency {
            symbol: "EUR".into(),
            style: en,
            decimals: Some(2),
            position: SymbolPosition::Either,
        };
        let f = format(r#"{"amount": "GBP 312.40"}"#, &spec, Some("$.amount"));
        assert!(!f.passed);
        assert!(
            f.detail.contains("expected \"EUR\" before or after"),
            "{}",
            f.detail
        );
    }
}
