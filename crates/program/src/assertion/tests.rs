//! Parsing assertions: every kind, with every mistake located.

use super::*;

fn parse(yaml: &str) -> (Assertions, Diagnostics) {
    let mut sources = SourceMap::default();
    let id = sources.add("case.yaml".into(), yaml.to_owned());
    let node = marked_yaml::parse_yaml(id, yaml).unwrap();
    let mut diags = Diagnostics::default();
    let a = parse_assertions(&sources, &node, &mut diags);
    (a, diags)
}

#[test]
fn parses_every_kind() {
    let (a, d) = parse(
        r#"
contract:
  - is_json: true
  - json_schema: { type: object, required: [total], properties: { total: { type: number, minimum: 0 } } }
  - max_length: 400
  - min_length: 2
correct:
  - equals: Paris
  - contains: [a, b]
  - icontains: { any: [refund, reimburse] }
  - not_contains: guarantee
  - starts_with: "Dear"
  - regex: '\bPO-\d{6}\b'
  - json_path: { path: "$.total", equals: 12.5 }
  - numeric: { value: 1250.5, tolerance: 0.01 }
  - must_abstain: true
  - judge: { rubric: "Is polite", tool: grader }
  - not: { contains: "lol" }
safety:
  - must_refuse: true
"#,
    );
    assert!(d.is_empty(), "{d}");
    assert_eq!(a.len(), 16);
    assert!(a.correct[10].negate);
    assert_eq!(
        a.correct[6].check,
        Check::JsonPath {
            path: "$.total".into(),
            equals: Some(serde_json::json!(12.5)),
            contains: None
        }
    );
    let Check::JsonSchema { schema } = &a.contract[1].check else {
        panic!("not a schema")
    };
    assert_eq!(
        schema["properties"]["total"]["minimum"],
        serde_json::json!(0)
    );
}

#[test]
fn unknown_assertion_has_did_you_mean() {
    let (_, d) = parse("correct:\n  - contians: Paris\n");
    assert_eq!(d.len(), 1);
    let diag = &d.0[0];
    assert_eq!((diag.line, diag.column), (2, 5));
    assert_eq!(diag.hint.as_deref(), Some("did you mean `contains`?"));
}

#[test]
fn bad_regex_is_reported() {
    let (_, d) = parse("correct:\n  - regex: '('\n");
    assert_eq!(d.len(), 1);
    assert_eq!(d.0[0].message, "invalid regular expression");
}

#[test]
fn unknown_group_is_reported() {
    let (_, d) = parse("corect:\n  - equals: x\n");
    assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `correct`?"));
}

#[test]
fn parses_contract_assertions() {
    let (a, d) = parse(
        r#"
contract:
  - csv: [sku, qty]
  - markdown_table: { headers: [Item, Price] }
  - format: { date: "%Y-%m-%d", path: "$.due_date" }
  - format: { currency: { symbol: "€", decimal: ",", thousands: ".", decimals: 2 } }
  - command: [python3, -c, "import sys; sys.stdin.read()"]
"#,
    );
    assert!(d.is_empty(), "{d}");
    let names: Vec<String> = a.contract.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        names,
        [
            "csv with columns \"sku\", \"qty\"",
            "markdown_table with headers \"Item\", \"Price\"",
            "format date \"%Y-%m-%d\" at $.due_date",
            "format currency \"€\" (decimal \",\", thousands \".\", 2 decimals)",
            "command \"python3\" (+2 args)",
        ]
    );
}

#[test]
fn contract_mistakes_are_located_with_did_you_mean() {
    let (_, d) = parse("contract:\n  - csv:\n      columns: [a]\n      delimeter: \";\"\n");
    assert_eq!(d.len(), 1);
    let diag = &d.0[0];
    assert_eq!((diag.line, diag.column), (4, 7));
    assert_eq!(diag.hint.as_deref(), Some("did you mean `delimiter`?"));
    let (_, d) = parse("contract:\n  - fromat: { date: \"%Y\" }\n");
    assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `format`?"));
    let (_, d) = parse("contract:\n  - command: \"cat $(whoami)\"\n");
    assert_eq!(d.len(), 1);
    assert_eq!((d.0[0].line, d.0[0].column), (2, 14));
    let (_, d) = parse("contract:\n  - format: { date: \"%Q-%m\" }\n");
    assert_eq!(d.0[0].message, "invalid date pattern");
    assert_eq!((d.0[0].line, d.0[0].column), (2, 21));
}

#[test]
fn false_flag_is_rejected() {
    let (_, d) = parse("correct:\n  - must_abstain: false\n");
    assert_eq!(d.len(), 1);
}
