//! The JSON Schema shapes of what the loader parses by hand on the marked YAML tree — the
//! `assert:` groups and their assertions ([`crate::assertion`]), a case's `tools` and
//! `tool_choice` (`load::case_tools`) — for [`crate::schema`]. They mirror the parsers key
//! by key (a test checks that every key of [`CHECK_KEYS`] has a shape); nothing here is
//! ever built or deserialized.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use crate::assertion::{CHECK_KEYS, LIVE_CHECK_KEYS};

/// The `assert:` mapping of a case: assertions by what they protect.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AssertGroups {
    /// Structure a downstream consumer needs (failures are `structural`).
    #[serde(default)]
    contract: Vec<AssertItem>,
    /// Content (failures are `silent` unless the answer is visibly off).
    #[serde(default)]
    correct: Vec<AssertItem>,
    /// Refusals, leaks, PII.
    #[serde(default)]
    safety: Vec<AssertItem>,
}

/// One assertion: a one-key mapping such as `- contains: Paris`, or `- not: {...}`.
#[derive(Debug)]
pub struct AssertItem;

impl JsonSchema for AssertItem {
    fn schema_name() -> Cow<'static, str> {
        "Assertion".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut variants: Vec<Value> = Vec::new();
        for key in CHECK_KEYS {
            let value = if key == "not" {
                generator.subschema_for::<AssertItem>()
            } else {
                check_value(generator, key)
            };
            let mut properties = serde_json::Map::new();
            properties.insert(key.to_owned(), value.to_value());
            variants.push(serde_json::json!({
                "type": "object",
                "properties": properties,
                "required": [key],
                "additionalProperties": false,
            }));
        }
        json_schema!({
            "description": "One assertion: a one-key mapping such as `contains: Paris`, or `not:` around another. See docs/assertions.md.",
            "oneOf": variants,
        })
    }
}

/// The `live:` mapping of a workflow: the checks the gateway applies to real answers, by
/// what they protect, each of a kind that needs no expected answer.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LiveGroups {
    /// Structure a downstream consumer needs (failures are `structural`).
    #[serde(default)]
    contract: Vec<LiveItem>,
    /// Content, judged by a rubric (failures are `silent` unless visibly off).
    #[serde(default)]
    correct: Vec<LiveItem>,
    /// Leaks and PII.
    #[serde(default)]
    safety: Vec<LiveItem>,
}

/// One live check: a one-key mapping of [`LIVE_CHECK_KEYS`], or `not:` around one.
#[derive(Debug)]
pub struct LiveItem;

impl JsonSchema for LiveItem {
    fn schema_name() -> Cow<'static, str> {
        "LiveCheck".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut variants: Vec<Value> = Vec::new();
        for key in LIVE_CHECK_KEYS {
            let value = if key == "not" {
                generator.subschema_for::<LiveItem>()
            } else {
                check_value(generator, key)
            };
            let mut properties = serde_json::Map::new();
            properties.insert(key.to_owned(), value.to_value());
            variants.push(serde_json::json!({
                "type": "object",
                "properties": properties,
                "required": [key],
                "additionalProperties": false,
            }));
        }
        json_schema!({
            "description": "One live check: an assertion that needs no expected answer (`is_json`, `json_schema`, `max_length`, `regex`, `not_contains`, `judge`), or `not:` around one. See docs/live.md.",
            "oneOf": variants,
        })
    }
}

/// The schema of the value of assertion `key`, as [`crate::assertion`] parses it.
pub(crate) fn check_value(generator: &mut SchemaGenerator, key: &str) -> Schema {
    match key {
        "equals" => generator.subschema_for::<EqualsValue>(),
        "contains" | "icontains" => generator.subschema_for::<ContainsValue>(),
        "not_contains" => generator.subschema_for::<OneOrMany>(),
        "starts_with" => generator.subschema_for::<Scalar>(),
        "regex" => json_schema!({ "type": "string", "format": "regex" }),
        "max_length" | "min_length" => generator.subschema_for::<u64>(),
        "is_json" | "must_refuse" | "must_abstain" | "no_tool_calls" => {
            json_schema!({ "const": true, "description": "`true`; negate with `not:`." })
        }
        "json_schema" => json_schema!({ "type": "object", "description": "A JSON Schema." }),
        "json_path" => generator.subschema_for::<JsonPathValue>(),
        "numeric" => generator.subschema_for::<NumericValue>(),
        "judge" => generator.subschema_for::<JudgeValue>(),
        "csv" => generator.subschema_for::<CsvValue>(),
        "markdown_table" => generator.subschema_for::<TableValue>(),
        "format" => generator.subschema_for::<FormatValue>(),
        "command" => generator.subschema_for::<CommandValue>(),
        "called" => generator.subschema_for::<CalledValue>(),
        "not_called" => generator.subschema_for::<FunctionName>(),
        "tool_calls" => generator.subschema_for::<ToolCallsValue>(),
        // A key added to the parser and not here: the schema allows any value, and
        // `every_check_key_has_a_value_shape` fails.
        _ => Schema::default(),
    }
}

/// A YAML scalar: the parser reads strings, numbers and booleans alike as text.
#[derive(Debug)]
pub struct Scalar;

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrMany {
    One(Scalar),
    /// Every one must match.
    Many(#[schemars(length(min = 1))] Vec<Scalar>),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum EqualsValue {
    Text(Scalar),
    Options(EqualsOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EqualsOptions {
    value: Scalar,
    #[serde(default)]
    ignore_case: bool,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ContainsValue {
    /// One text, or a list of which all must appear.
    Values(OneOrMany),
    Any(AnyOf),
    All(AllOf),
}

/// Any of these.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AnyOf {
    any: OneOrMany,
}

/// All of these.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AllOf {
    all: OneOrMany,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JsonPathValue {
    /// An RFC 9535 JSONPath such as `$.total`.
    path: String,
    /// The value the path must select.
    equals: Option<Value>,
    /// Text the selected value must contain.
    contains: Option<Scalar>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum NumericValue {
    Exact(f64),
    Within(NumericOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NumericOptions {
    value: f64,
    tolerance: Option<f64>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum JudgeValue {
    /// The rubric.
    Rubric(String),
    WithTool(JudgeOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JudgeOptions {
    rubric: String,
    /// The grading tool (default: `judge_tool`).
    tool: Option<String>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum CsvValue {
    /// Required columns.
    Columns(Vec<Scalar>),
    Options(CsvOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CsvOptions {
    columns: Option<Vec<Scalar>>,
    #[schemars(length(equal = 1))]
    delimiter: Option<String>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum TableValue {
    /// Required headers.
    Headers(Vec<Scalar>),
    Options(TableOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TableOptions {
    headers: Option<Vec<Scalar>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NumberStyleValue {
    #[schemars(length(equal = 1))]
    decimal: Option<String>,
    #[schemars(length(equal = 1))]
    thousands: Option<String>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum NumberValue {
    Default(TrueOnly),
    Style(NumberStyleValue),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum CurrencyValue {
    /// A symbol or code, such as `€` or `EUR`.
    Symbol(String),
    Options(CurrencyOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CurrencyOptions {
    symbol: String,
    #[schemars(length(equal = 1))]
    decimal: Option<String>,
    #[schemars(length(equal = 1))]
    thousands: Option<String>,
    #[schemars(range(max = 8))]
    decimals: Option<u8>,
    position: Option<SymbolPositionValue>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum SymbolPositionValue {
    Before,
    After,
    Either,
}

/// `true`.
struct TrueOnly;

impl JsonSchema for TrueOnly {
    fn schema_name() -> Cow<'static, str> {
        "True".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": true })
    }
}

/// `format:` needs exactly one of `date`, `number` and `currency`; `path` is optional.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum FormatValue {
    Date(DateFormat),
    Number(NumberFormat),
    Currency(CurrencyFormat),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DateFormat {
    /// A strftime pattern (chrono's syntax) such as `%Y-%m-%d`.
    date: String,
    /// A JSONPath selecting the values to check, such as `$.due_date`.
    path: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NumberFormat {
    number: NumberValue,
    /// A JSONPath selecting the values to check.
    path: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CurrencyFormat {
    currency: CurrencyValue,
    /// A JSONPath selecting the values to check.
    path: Option<String>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum CommandValue {
    /// The program and its arguments (never a shell string).
    Argv(#[schemars(length(min = 1))] Vec<Scalar>),
    Options(CommandOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CommandOptions {
    #[schemars(length(min = 1))]
    argv: Vec<Scalar>,
    #[schemars(range(max = 600))]
    timeout_secs: Option<f64>,
}

/// A function name as OpenAI accepts it.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct FunctionName(#[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))] String);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum CalledValue {
    /// The function must be called, with any arguments.
    Name(FunctionName),
    Options(CalledOptions),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CalledOptions {
    name: FunctionName,
    /// The arguments the call must have.
    arguments: Option<serde_json::Map<String, Value>>,
    /// `subset` (default): these arguments at least; `exact`: these and no others.
    #[serde(rename = "match")]
    matching: Option<ArgumentsMatch>,
    /// A JSON Schema the arguments must meet.
    schema: Option<serde_json::Map<String, Value>>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ArgumentsMatch {
    Subset,
    Exact,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ToolCallsValue {
    /// Exactly this many calls.
    Exactly(u64),
    Range(CallRange),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CallRange {
    min: Option<u64>,
    max: Option<u64>,
}

/// A function a case offers the tool: bare, or as OpenAI writes it
/// (`{ type: function, function: { … } }`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum FunctionDef {
    Bare(Function),
    OpenAi(OpenAiFunction),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Function {
    name: FunctionName,
    description: Option<String>,
    /// A JSON Schema of the arguments.
    parameters: Option<serde_json::Map<String, Value>>,
    strict: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct OpenAiFunction {
    #[serde(rename = "type")]
    kind: Option<FunctionKind>,
    function: Function,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum FunctionKind {
    Function,
}

/// `auto`, `none`, `required`, or `{ name: <a function in tools> }`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ToolChoiceValue {
    Word(ToolChoiceWord),
    Named(NamedChoice),
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ToolChoiceWord {
    Auto,
    None,
    Required,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NamedChoice {
    name: FunctionName,
}
