//! The downstream-contract assertions beyond JSON: `csv`, `markdown_table`, `format` and
//! `command` — their types and their parsing from the marked YAML tree, every mistake
//! located. Semantics live in `proximity-eval` (`assertions/contract.rs`,
//! `assertions/command.rs`) and are documented in `docs/assertions.md`.

use std::fmt;

use chrono::format::{Item, StrftimeItems};
use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, SourceMap};
use crate::suggest::{did_you_mean, one_of};
use crate::yaml::scalar;

type Res<T> = Result<T, Box<Diagnostic>>;

/// Seconds a `command` may run when the assertion names no `timeout_secs`.
pub const DEFAULT_COMMAND_TIMEOUT_SECS: f64 = 10.0;
/// The longest `timeout_secs` a `command` may ask for.
pub const MAX_COMMAND_TIMEOUT_SECS: f64 = 600.0;

/// Where a currency's symbol or code stands relative to the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolPosition {
    Before,
    After,
    Either,
}

impl SymbolPosition {
    pub const ALL: [&'static str; 3] = ["before", "after", "either"];

    fn parse(s: &str) -> Option<Self> {
        match s {
            "before" => Some(Self::Before),
            "after" => Some(Self::After),
            "either" => Some(Self::Either),
            _ => None,
        }
    }
}

/// How a number is written: its decimal separator and optional thousands separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberStyle {
    pub decimal: char,
    /// `None`: no grouping allowed (`1234.5`).
    pub thousands: Option<char>,
}

impl Default for NumberStyle {
    fn default() -> Self {
        Self {
            decimal: '.',
            thousands: None,
        }
    }
}

impl fmt::Display for NumberStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decimal {:?}", self.decimal.to_string())?;
        if let Some(t) = self.thousands {
            write!(f, ", thousands {:?}", t.to_string())?;
        }
        Ok(())
    }
}

/// What a `format` assertion requires of the output (or of the values a path selects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FormatSpec {
    /// A date, time or date-time in a strftime pattern (chrono's syntax).
    Date { pattern: String },
    /// A number in the given style.
    Number { style: NumberStyle },
    /// A currency symbol or code and an amount in the given style.
    Currency {
        symbol: String,
        style: NumberStyle,
        /// Exactly this many digits after the decimal separator, when set.
        decimals: Option<u8>,
        position: SymbolPosition,
    },
}

impl fmt::Display for FormatSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatSpec::Date { pattern } => write!(f, "date {pattern:?}"),
            FormatSpec::Number { style } => write!(f, "number ({style})"),
            FormatSpec::Currency {
                symbol,
                style,
                decimals,
                ..
            } => {
                write!(f, "currency {symbol:?} ({style}")?;
                if let Some(d) = decimals {
                    write!(f, ", {d} decimals")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Keys of the `csv` mapping form.
const CSV_KEYS: [&str; 2] = ["columns", "delimiter"];
/// Keys of the `markdown_table` mapping form.
const TABLE_KEYS: [&str; 1] = ["headers"];
/// Keys of a `format` mapping.
const FORMAT_KEYS: [&str; 4] = ["date", "number", "currency", "path"];
/// Keys of `format: { number: {...} }`.
const NUMBER_KEYS: [&str; 2] = ["decimal", "thousands"];
/// Keys of `format: { currency: {...} }`.
const CURRENCY_KEYS: [&str; 5] = ["symbol", "decimal", "thousands", "decimals", "position"];
/// Keys of the `command` mapping form.
const COMMAND_KEYS: [&str; 2] = ["argv", "timeout_secs"];

fn bad(sources: &SourceMap, node: &Node, key: &str, expected: &str) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::at(sources, node.span(), format!("bad value for `{key}`"))
            .key(key.to_owned())
            .expected(expected.to_owned()),
    )
}

/// Every key of `map` must be one of `allowed`.
fn known_keys(
    sources: &SourceMap,
    map: &MarkedMappingNode,
    name: &str,
    allowed: &[&str],
) -> Res<()> {
    for (k, _) in map.iter() {
        if !allowed.contains(&k.as_str()) {
            return Err(Box::new(
                Diagnostic::at(
                    sources,
                    k.span(),
                    format!("unknown key `{}` in `{name}`", k.as_str()),
                )
                .key(format!("{name}.{}", k.as_str()))
                .expected(one_of(allowed.iter().copied()))
                .hint(did_you_mean(k.as_str(), allowed.iter().copied())),
            ));
        }
    }
    Ok(())
}

fn strings(node: &Node) -> Option<Vec<String>> {
    node.as_sequence()?
        .iter()
        .map(|n| scalar(n).map(str::to_owned))
        .collect()
}

/// One character given as a one-character string.
fn one_char(sources: &SourceMap, node: &Node, key: &str) -> Res<char> {
    let s = scalar(node).ok_or_else(|| bad(sources, node, key, "a one-character string"))?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(bad(
            sources,
            node,
            key,
            &format!("a one-character string, found {s:?}"),
        )),
    }
}

/// `csv: [col, ...]` or `csv: { columns: [...], delimiter: ";" }` → (columns, delimiter).
pub fn parse_csv(sources: &SourceMap, value: &Node) -> Res<(Vec<String>, char)> {
    let expected = "a list of required columns, or `{ columns: [...], delimiter: \";\" }`";
    if let Some(columns) = strings(value) {
        return Ok((columns, ','));
    }
    let map = value
        .as_mapping()
        .ok_or_else(|| bad(sources, value, "csv", expected))?;
    known_keys(sources, map, "csv", &CSV_KEYS)?;
    let columns = match map.get_node("columns") {
        Some(n) => {
            strings(n).ok_or_else(|| bad(sources, n, "csv.columns", "a list of column names"))?
        }
        None => Vec::new(),
    };
    let delimiter = match map.get_node("delimiter") {
        Some(n) => {
            let c = one_char(sources, n, "csv.delimiter")?;
            if !c.is_ascii() || c == '"' || c == '\n' || c == '\r' {
                return Err(bad(
                    sources,
                    n,
                    "csv.delimiter",
                    "one ASCII character other than a quote or a newline, e.g. \";\" or \"\\t\"",
                ));
            }
            c
        }
        None => ',',
    };
    Ok((columns, delimiter))
}

/// `markdown_table: [h, ...]` or `markdown_table: { headers: [...] }`.
pub fn parse_markdown_table(sources: &SourceMap, value: &Node) -> Res<Vec<String>> {
    let expected = "a list of required headers, or `{ headers: [...] }`";
    if let Some(headers) = strings(value) {
        return Ok(headers);
    }
    let map = value
        .as_mapping()
        .ok_or_else(|| bad(sources, value, "markdown_table", expected))?;
    known_keys(sources, map, "markdown_table", &TABLE_KEYS)?;
    match map.get_node("headers") {
        Some(n) => strings(n).ok_or_else(|| {
            bad(
                sources,
                n,
                "markdown_table.headers",
                "a list of header names",
            )
        }),
        None => Ok(Vec::new()),
    }
}

fn number_style(
    sources: &SourceMap,
    map: &MarkedMappingNode,
    key: &str,
    span_node: &Node,
) -> Res<NumberStyle> {
    let mut style = NumberStyle::default();
    if let Some(n) = map.get_node("decimal") {
        style.decimal = one_char(sources, n, &format!("{key}.decimal"))?;
    }
    if let Some(n) = map.get_node("thousands") {
        style.thousands = Some(one_char(sources, n, &format!("{key}.thousands"))?);
    }
    let digit_or_sign = |c: char| c.is_ascii_digit() || c == '-' || c == '+';
    if digit_or_sign(style.decimal) || style.thousands.is_some_and(digit_or_sign) {
        return Err(bad(
            sources,
            span_node,
            key,
            "separators that are not digits or signs",
        ));
    }
    if style.thousands == Some(style.decimal) {
        return Err(bad(
            sources,
            span_node,
            key,
            "different `decimal` and `thousands` separators",
        ));
    }
    Ok(style)
}

/// `format: { date: "%Y-%m-%d" | number: ... | currency: ..., path: "$.x" }` → (spec, path).
pub fn parse_format(sources: &SourceMap, value: &Node) -> Res<(FormatSpec, Option<String>)> {
    let expected = "`{ date: \"%Y-%m-%d\" }`, `{ number: { decimal: \",\", thousands: \".\" } }` or `{ currency: { symbol: \"€\" } }`, optionally with `path: \"$.field\"`";
    let map = value
        .as_mapping()
        .ok_or_else(|| bad(sources, value, "format", expected))?;
    known_keys(sources, map, "format", &FORMAT_KEYS)?;
    let kinds: Vec<(&str, &Node)> = ["date", "number", "currency"]
        .into_iter()
        .filter_map(|k| map.get_node(k).map(|n| (k, n)))
        .collect();
    let [(kind, node)] = kinds.as_slice() else {
        return Err(Box::new(
            Diagnostic::at(
                sources,
                value.span(),
                "`format` needs exactly one of `date`, `number` and `currency`",
            )
            .key("format")
            .expected(expected.to_owned()),
        ));
    };
    let spec = match *kind {
        "date" => {
            let pattern = scalar(node).ok_or_else(|| {
                bad(
                    sources,
                    node,
                    "format.date",
                    "a strftime pattern such as \"%Y-%m-%d\"",
                )
            })?;
            let invalid = StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error));
            if invalid || !pattern.contains('%') {
                return Err(Box::new(
                    Diagnostic::at(sources, node.span(), "invalid date pattern")
                        .key("format.date")
                        .expected("a strftime pattern (chrono's syntax) such as \"%Y-%m-%d\" or \"%d/%m/%Y %H:%M\""),
                ));
            }
            FormatSpec::Date {
                pattern: pattern.to_owned(),
            }
        }
        "number" => {
            let style = match scalar(node) {
                Some("true") => NumberStyle::default(),
                Some(_) => {
                    return Err(bad(
                        sources,
                        node,
                        "format.number",
                        "`true`, or `{ decimal: \",\", thousands: \".\" }`",
                    ))
                }
                None => {
                    let m = node.as_mapping().ok_or_else(|| {
                        bad(sources, node, "format.number", "`true` or a mapping")
                    })?;
                    known_keys(sources, m, "format.number", &NUMBER_KEYS)?;
                    number_style(sources, m, "format.number", node)?
                }
            };
            FormatSpec::Number { style }
        }
        _ => {
            if let Some(symbol) = scalar(node) {
                if symbol.trim().is_empty() {
                    return Err(bad(
                        sources,
                        node,
                        "format.currency",
                        "a currency symbol or code",
                    ));
                }
                FormatSpec::Currency {
                    symbol: symbol.to_owned(),
                    style: NumberStyle::default(),
                    decimals: None,
                    position: SymbolPosition::Either,
                }
            } else {
                let m = node.as_mapping().ok_or_else(|| {
                    bad(
                        sources,
                        node,
                        "format.currency",
                        "a symbol or code (`EUR`), or `{ symbol: \"€\", decimal: \",\", decimals: 2 }`",
                    )
                })?;
                known_keys(sources, m, "format.currency", &CURRENCY_KEYS)?;
                let symbol = m
                    .get_node("symbol")
                    .and_then(scalar)
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| {
                        bad(
                            sources,
                            node,
                            "format.currency.symbol",
                            "a currency symbol or code, e.g. `€` or `EUR`",
                        )
                    })?;
                let decimals = match m.get_node("decimals") {
                    Some(n) => Some(
                        scalar(n)
                            .and_then(|s| s.trim().parse::<u8>().ok())
                            .filter(|d| *d <= 8)
                            .ok_or_else(|| {
                                bad(
                                    sources,
                                    n,
                                    "format.currency.decimals",
                                    "a whole number from 0 to 8",
                                )
                            })?,
                    ),
                    None => None,
                };
                let position = match m.get_node("position") {
                    Some(n) => {
                        let s = scalar(n).unwrap_or_default();
                        SymbolPosition::parse(s).ok_or_else(|| {
                            Box::new(
                                Diagnostic::at(
                                    sources,
                                    n.span(),
                                    format!("unknown position `{s}`"),
                                )
                                .key("format.currency.position")
                                .expected(one_of(SymbolPosition::ALL))
                                .hint(did_you_mean(s, SymbolPosition::ALL)),
                            )
                        })?
                    }
                    None => SymbolPosition::Either,
                };
                FormatSpec::Currency {
                    symbol: symbol.trim().to_owned(),
                    style: number_style(sources, m, "format.currency", node)?,
                    decimals,
                    position,
                }
            }
        }
    };
    let path = match map.get_node("path") {
        Some(n) => {
            let p = scalar(n)
                .ok_or_else(|| bad(sources, n, "format.path", "a JSONPath such as `$.due_date`"))?;
            if let Err(err) = serde_json_path::JsonPath::parse(p) {
                return Err(Box::new(
                    Diagnostic::at(sources, n.span(), "invalid JSONPath")
                        .key("format.path")
                        .expected(format!("an RFC 9535 JSONPath such as `$.due_date` ({err})")),
                ));
            }
            Some(p.to_owned())
        }
        None => None,
    };
    Ok((spec, path))
}

/// `command: [prog, arg, ...]` or `command: { argv: [...], timeout_secs: 5 }`.
pub fn parse_command(sources: &SourceMap, value: &Node) -> Res<(Vec<String>, f64)> {
    let expected = "an argument list such as `[python3, -c, \"...\"]`, or `{ argv: [...], timeout_secs: 10 }` (never a shell string)";
    let (argv_node, timeout) = if value.as_sequence().is_some() {
        (value, DEFAULT_COMMAND_TIMEOUT_SECS)
    } else if let Some(map) = value.as_mapping() {
        known_keys(sources, map, "command", &COMMAND_KEYS)?;
        let argv = map
            .get_node("argv")
            .ok_or_else(|| bad(sources, value, "command", expected))?;
        let timeout = match map.get_node("timeout_secs") {
            Some(n) => scalar(n)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|t| t.is_finite() && *t > 0.0 && *t <= MAX_COMMAND_TIMEOUT_SECS)
                .ok_or_else(|| {
                    bad(
                        sources,
                        n,
                        "command.timeout_secs",
                        "a number of seconds above 0 and at most 600",
                    )
                })?,
            None => DEFAULT_COMMAND_TIMEOUT_SECS,
        };
        (argv, timeout)
    } else {
        return Err(bad(sources, value, "command", expected));
    };
    let argv = strings(argv_node)
        .filter(|a| a.first().is_some_and(|p| !p.trim().is_empty()))
        .ok_or_else(|| bad(sources, argv_node, "command", expected))?;
    Ok((argv, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of `v:` in a one-line YAML document `v: <yaml>` (so columns are off by 3).
    fn node(yaml: &str) -> (SourceMap, Node) {
        let doc = format!("v: {yaml}");
        let mut sources = SourceMap::default();
        let id = sources.add("case.yaml".into(), doc.clone());
        let root = marked_yaml::parse_yaml(id, &doc).unwrap();
        let node = root.as_mapping().unwrap().get_node("v").unwrap().clone();
        (sources, node)
    }

    #[test]
    fn csv_forms() {
        let (s, n) = node("[sku, qty]");
        assert_eq!(
            parse_csv(&s, &n).unwrap(),
            (vec!["sku".into(), "qty".into()], ',')
        );
        let (s, n) = node("{ columns: [a], delimiter: \";\" }");
        assert_eq!(parse_csv(&s, &n).unwrap(), (vec!["a".into()], ';'));
        let (s, n) = node("{ columns: [a], delimiter: \"\\t\" }");
        assert_eq!(parse_csv(&s, &n).unwrap().1, '\t');
        let (s, n) = node("{ columns: [a], delimiter: \";;\" }");
        assert!(parse_csv(&s, &n).is_err());
        let (s, n) = node("{ colums: [a] }");
        let d = parse_csv(&s, &n).unwrap_err();
        assert_eq!(d.hint.as_deref(), Some("did you mean `columns`?"));
        assert_eq!((d.line, d.column), (1, 6));
    }

    #[test]
    fn format_forms() {
        let (s, n) = node("{ date: \"%Y-%m-%d\", path: \"$.due\" }");
        let (spec, path) = parse_format(&s, &n).unwrap();
        assert_eq!(
            spec,
            FormatSpec::Date {
                pattern: "%Y-%m-%d".into()
            }
        );
        assert_eq!(path.as_deref(), Some("$.due"));
        let (s, n) = node("{ number: { decimal: \",\", thousands: \".\" } }");
        assert_eq!(
            parse_format(&s, &n).unwrap().0,
            FormatSpec::Number {
                style: NumberStyle {
                    decimal: ',',
                    thousands: Some('.')
                }
            }
        );
        let (s, n) = node("{ currency: EUR }");
        assert!(matches!(
            parse_format(&s, &n).unwrap().0,
            FormatSpec::Currency { .. }
        ));
        let (s, n) = node("{ currency: { symbol: €, decimals: 2, position: befor } }");
        let d = parse_format(&s, &n).unwrap_err();
        assert_eq!(d.hint.as_deref(), Some("did you mean `before`?"));
        let (s, n) = node("{ date: \"%Q\" }");
        assert_eq!(
            parse_format(&s, &n).unwrap_err().message,
            "invalid date pattern"
        );
        let (s, n) = node("{ date: \"%Y\", number: true }");
        assert!(parse_format(&s, &n).is_err());
        let (s, n) = node("{ number: { decimal: \",\", thousands: \",\" } }");
        assert!(parse_format(&s, &n).is_err());
        let (s, n) = node("{ dat: \"%Y\" }");
        assert_eq!(
            parse_format(&s, &n).unwrap_err().hint.as_deref(),
            Some("did you mean `date`?")
        );
    }

    #[test]
    fn command_forms() {
        let (s, n) = node("[python3, -c, \"print(1)\"]");
        assert_eq!(
            parse_command(&s, &n).unwrap().1,
            DEFAULT_COMMAND_TIMEOUT_SECS
        );
        let (s, n) = node("{ argv: [cat], timeout_secs: 2.5 }");
        assert_eq!(parse_command(&s, &n).unwrap(), (vec!["cat".into()], 2.5));
        let (s, n) = node("\"cat | sh\"");
        assert!(parse_command(&s, &n).is_err(), "a shell string is refused");
        let (s, n) = node("[]");
        assert!(parse_command(&s, &n).is_err());
        let (s, n) = node("{ argv: [cat], timeout_secs: 0 }");
        assert!(parse_command(&s, &n).is_err());
        let (s, n) = node("{ argv: [cat], timeout: 3 }");
        assert_eq!(
            parse_command(&s, &n).unwrap_err().hint.as_deref(),
            Some("did you mean `timeout_secs`?")
        );
    }
}
