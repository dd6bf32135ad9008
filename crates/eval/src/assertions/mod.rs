//! Evaluating a case's assertions on one output. Semantics: `docs/assertions.md`.
//!
//! [`evaluate_all`] runs every assertion of a case, in `case.assertions.iter()` order, and
//! returns one [`AssertionOutcome`] each. Comparisons see the output trimmed of surrounding
//! whitespace (except `command`, which gets the output byte for byte). The checks live in
//! submodules by family: [`text`], [`json`], [`numeric`], [`judge`], [`contract`] (`csv`,
//! `markdown_table`, `format`) and [`command`]; `must_refuse` and `must_abstain` use
//! [`crate::detect`].

pub mod command;
pub mod contract;
pub mod json;
pub mod judge;
pub mod numeric;
pub mod text;
pub mod tools;

use async_trait::async_trait;
use proximity_program::{Assertion, Case, Check, ToolCall};
use proximity_providers::{ChatRequest, ChatResponse, ProviderError};
use proximity_store::AssertionOutcome;

use crate::detect;

/// Sends a grading request to another tool of the program (for `judge` assertions).
#[async_trait]
pub trait Judge: Send + Sync {
    async fn complete(
        &self,
        tool_id: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError>;
}

/// What an assertion may need besides the output.
pub struct Context<'a> {
    pub case: &'a Case,
    pub judge: Option<&'a dyn Judge>,
    /// The program's `judge_tool`, for judges that name none.
    pub default_judge_tool: Option<&'a str>,
    /// The provider flagged the answer as a refusal (`ChatResponse::refused`); counts for
    /// `must_refuse`.
    pub provider_refused: bool,
    /// The functions the answer calls.
    pub tool_calls: &'a [ToolCall],
}

impl<'a> Context<'a> {
    /// A context with no judge and no provider refusal flag.
    pub fn new(case: &'a Case) -> Self {
        Self {
            case,
            judge: None,
            default_judge_tool: None,
            provider_refused: false,
            tool_calls: &[],
        }
    }

    /// Record the functions the answer calls.
    pub fn with_tool_calls(mut self, calls: &'a [ToolCall]) -> Self {
        self.tool_calls = calls;
        self
    }

    /// Grade `judge` assertions through `judge`, with `default_tool` for those naming none.
    pub fn with_judge(mut self, judge: &'a dyn Judge, default_tool: Option<&'a str>) -> Self {
        self.judge = Some(judge);
        self.default_judge_tool = default_tool;
        self
    }

    /// Record whether the provider flagged the answer as a refusal.
    pub fn with_provider_refused(mut self, refused: bool) -> Self {
        self.provider_refused = refused;
        self
    }
}

/// What one check found, before negation.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub passed: bool,
    /// Why, in a short phrase that quotes at most [`EXCERPT_CHARS`] of the output.
    pub detail: String,
    /// A judge's raw grading.
    pub judge_raw: Option<String>,
}

impl Finding {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self {
            passed: true,
            detail: detail.into(),
            judge_raw: None,
        }
    }

    pub fn fail(detail: impl Into<String>) -> Self {
        Self {
            passed: false,
            detail: detail.into(),
            judge_raw: None,
        }
    }

    fn new(passed: bool, detail: impl Into<String>) -> Self {
        Self {
            passed,
            detail: detail.into(),
            judge_raw: None,
        }
    }
}

/// Outcomes of every assertion of the case, in `case.assertions.iter()` order.
pub async fn evaluate_all(output: &str, ctx: &Context<'_>) -> Vec<AssertionOutcome> {
    let mut outcomes = Vec::with_capacity(ctx.case.assertions.len());
    for assertion in ctx.case.assertions.iter() {
        outcomes.push(evaluate(assertion, output, ctx).await);
    }
    outcomes
}

/// The outcome of one assertion on one output, negation applied.
pub async fn evaluate(assertion: &Assertion, output: &str, ctx: &Context<'_>) -> AssertionOutcome {
    let finding = check(&assertion.check, output, ctx).await;
    let (passed, detail) = if assertion.negate {
        (!finding.passed, format!("negated: {}", finding.detail))
    } else {
        (finding.passed, finding.detail)
    };
    AssertionOutcome {
        group: assertion.group.as_str().to_owned(),
        assertion: assertion.to_string(),
        passed,
        detail,
        judge_raw: finding.judge_raw,
    }
}

/// Run one check, without negation.
pub async fn check(check: &Check, output: &str, ctx: &Context<'_>) -> Finding {
    let out = output.trim();
    match check {
        Check::Equals { value, ignore_case } => text::equals(out, value, *ignore_case),
        Check::Contains {
            values,
            mode,
            ignore_case,
        } => text::contains(out, values, *mode, *ignore_case),
        Check::NotContains {
            values,
            ignore_case,
        } => text::not_contains(out, values, *ignore_case),
        Check::StartsWith { value } => text::starts_with(out, value),
        Check::Regex { pattern } => text::regex(out, pattern),
        Check::MaxLength { chars } => text::max_length(out, *chars),
        Check::MinLength { chars } => text::min_length(out, *chars),
        Check::IsJson => json::is_json(out),
        Check::JsonSchema { schema } => json::json_schema(out, schema),
        Check::JsonPath {
            path,
            equals,
            contains,
        } => json::json_path(out, path, equals.as_ref(), contains.as_deref()),
        Check::Numeric { value, tolerance } => numeric::numeric(out, *value, *tolerance),
        Check::MustRefuse => must_refuse(out, ctx.provider_refused),
        Check::MustAbstain => must_abstain(out),
        Check::Judge { rubric, tool } => judge::judge(out, rubric, tool.as_deref(), ctx).await,
        Check::Csv { columns, delimiter } => contract::csv(out, columns, *delimiter),
        Check::MarkdownTable { headers } => contract::markdown_table(out, headers),
        Check::Format { spec, path } => contract::format(out, spec, path.as_deref()),
        Check::Command { argv, timeout_secs } => {
            command::command(output, argv, *timeout_secs).await
        }
        Check::Called {
            name,
            arguments,
            exact,
            schema,
        } => tools::called(
            ctx.tool_calls,
            name,
            arguments.as_ref(),
            *exact,
            schema.as_ref(),
        ),
        Check::NotCalled { name } => tools::not_called(ctx.tool_calls, name),
        Check::NoToolCalls => tools::no_tool_calls(ctx.tool_calls),
        Check::ToolCallCount { min, max } => tools::count(ctx.tool_calls, *min, *max),
    }
}

fn must_refuse(out: &str, provider_refused: bool) -> Finding {
    if provider_refused {
        Finding::pass("the provider flagged a refusal")
    } else if detect::is_refusal(out) {
        Finding::pass(format!("refused: {}", excerpt(out)))
    } else {
        Finding::fail(format!("complied instead of refusing: {}", excerpt(out)))
    }
}

fn must_abstain(out: &str) -> Finding {
    match (detect::is_abstention(out), detect::is_guess(out)) {
        (true, false) => Finding::pass(format!("abstained: {}", excerpt(out))),
        (true, true) => Finding::fail(format!(
            "says it cannot know but guesses anyway: {}",
            excerpt(out)
        )),
        (false, _) => Finding::fail(format!("answered instead of abstaining: {}", excerpt(out))),
    }
}

/// How many characters of the output a detail quotes.
pub const EXCERPT_CHARS: usize = 80;

/// The text quoted in a detail: whitespace runs collapsed, at most [`EXCERPT_CHARS`]
/// characters (then `…`), in double quotes with escapes.
pub fn excerpt(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = collapsed.chars().take(EXCERPT_CHARS).collect();
    if collapsed.chars().count() > EXCERPT_CHARS {
        short.push('…');
    }
    format!("{short:?}")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Cases for tests, written as the YAML of their `assert:` block.

    use std::path::PathBuf;

    use proximity_program::diagnostic::{Diagnostics, SourceMap};
    use proximity_program::{Case, CaseKind, CaseSource, Location, Message, Role};

    /// A case asking `question`, with the assertions of `assert_yaml`.
    pub fn case(assert_yaml: &str, question: &str) -> Case {
        let mut sources = SourceMap::default();
        let id = sources.add(PathBuf::from("suite.yaml"), assert_yaml.to_owned());
        let node = marked_yaml::parse_yaml(id, assert_yaml).unwrap();
        let mut diags = Diagnostics::default();
        let assertions =
            proximity_program::assertion::parse_assertions(&sources, &node, &mut diags);
        assert!(diags.is_empty(), "bad test assertions: {diags}");
        Case {
            id: "c1".into(),
            persona: "analyst".into(),
            workflow: "w".into(),
            kind: CaseKind::Routine,
            source: CaseSource::Synthetic,
            description: None,
            messages: vec![
                Message {
                    role: Role::System,
                    content: "Be brief.".into(),
                },
                Message {
                    role: Role::User,
                    content: question.into(),
                },
            ],
            vars: Default::default(),
            documents: vec![],
            assertions,
            weight: 1.0,
            tags: vec![],
            note: None,
            tools: Vec::new(),
            tool_choice: None,
            location: Location::default(),
        }
    }

    /// A case with one assertion in `group` (e.g. `correct`, `- contains: Paris`).
    pub fn one(group: &str, item: &str) -> Case {
        case(&format!("{group}:\n  - {item}\n"), "Question?")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{case, one};
    use super::*;

    fn run(case: &Case, output: &str) -> Vec<AssertionOutcome> {
        let ctx = Context::new(case);
        futures::executor::block_on(evaluate_all(output, &ctx))
    }

    fn single(group: &str, item: &str, output: &str) -> AssertionOutcome {
        let c = one(group, item);
        let mut v = run(&c, output);
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn outcomes_follow_case_order_with_group_and_display() {
        let c = case(
            "safety:\n  - not_contains: secret\ncontract:\n  - max_length: 10\ncorrect:\n  - contains: Paris\n",
            "Capital of France?",
        );
        let v = run(&c, "Paris");
        let names: Vec<_> = v
            .iter()
            .map(|o| (o.group.as_str(), o.assertion.as_str(), o.passed))
            .collect();
        assert_eq!(
            names,
            [
                ("contract", "max_length 10", true),
                ("correct", "contains \"Paris\"", true),
                ("safety", "not_contains \"secret\"", true),
            ]
        );
    }

    #[test]
    fn negation_flips_and_says_so() {
        let o = single("correct", "not: { contains: lol }", "lol, Paris");
        assert!(!o.passed);
        assert_eq!(o.assertion, "not contains \"lol\"");
        assert!(o.detail.starts_with("negated: "), "{}", o.detail);
        let o = single("correct", "not: { contains: lol }", "Paris");
        assert!(o.passed);
        assert!(
            o.detail.starts_with("negated: \"lol\" not found"),
            "{}",
            o.detail
        );
    }

    #[test]
    fn must_refuse_passes_on_refusal_text_or_provider_flag() {
        let c = one("safety", "must_refuse: true");
        assert!(run(&c, "I'm sorry, but I can't help with that.")[0].passed);
        let o = &run(&c, "Sure! Step 1: ...")[0];
        assert!(!o.passed);
        assert!(
            o.detail.starts_with("complied instead of refusing"),
            "{}",
            o.detail
        );
        let ctx = Context::new(&c).with_provider_refused(true);
        let v = futures::executor::block_on(evaluate_all("", &ctx));
        assert!(v[0].passed);
        assert_eq!(v[0].detail, "the provider flagged a refusal");
    }

    #[test]
    fn negated_must_refuse_catches_over_refusal() {
        let o = single(
            "safety",
            "not: { must_refuse: true }",
            "I cannot assist with that.",
        );
        assert!(!o.passed);
        assert!(
            single(
                "safety",
                "not: { must_refuse: true }",
                "Here is the summary."
            )
            .passed
        );
    }

    #[test]
    fn must_abstain_needs_abstention_without_a_guess() {
        let item = "must_abstain: true";
        assert!(
            single(
                "correct",
                item,
                "The document does not mention the CEO's salary."
            )
            .passed
        );
        let o = single("correct", item, "The CEO earns $250,000.");
        assert!(!o.passed);
        assert!(
            o.detail.starts_with("answered instead of abstaining"),
            "{}",
            o.detail
        );
        let o = single(
            "correct",
            item,
            "I don't know for sure, but my best guess is $250,000.",
        );
        assert!(!o.passed);
        assert!(
            o.detail.starts_with("says it cannot know but guesses"),
            "{}",
            o.detail
        );
        assert!(!single("correct", "not: { must_abstain: true }", "I don't know.").passed);
    }

    /// Every assertion kind, as YAML, with an output that passes and one that fails.
    const KINDS: &[(&str, &str, &str)] = &[
        ("equals: Paris", " Paris\n", "Paris, France"),
        (
            "equals: { value: paris, ignore_case: true }",
            "PARIS",
            "Lyon",
        ),
        (
            "contains: [refund, 14 days]",
            "refund in 14 days",
            "refund soon",
        ),
        (
            "icontains: { any: [refund, reimburse] }",
            "We REIMBURSE",
            "No.",
        ),
        ("not_contains: guarantee", "We try.", "We Guarantee it."),
        ("starts_with: Dear", "  Dear Ms Smith", "Hi Dear"),
        ("regex: '^PO-\\d{3}$'", "PO-123\n", "PO-1234"),
        ("max_length: 5", "héllo", "héllo!"),
        ("min_length: 3", "abc", "ab"),
        ("is_json: true", "```json\n{\"a\": 1}\n```", "{a: 1}"),
        (
            "json_schema: { type: object, required: [total] }",
            "{\"total\": 1}",
            "{\"sum\": 1}",
        ),
        (
            "json_path: { path: '$.total', equals: 2 }",
            "{\"total\": 2.0}",
            "{\"total\": 3}",
        ),
        (
            "numeric: { value: 42, tolerance: 0.5 }",
            "6 x 7 = 42.4",
            "42 or 43",
        ),
        (
            "must_refuse: true",
            "I cannot assist with that.",
            "Sure, here it is.",
        ),
        ("must_abstain: true", "I don't know.", "It is 42."),
        ("csv: [sku, qty]", "sku,qty\nA,1", "sku;qty\nA;1"),
        (
            "markdown_table: [Item]",
            "| Item |\n|---|\n| Kettle |",
            "Item: Kettle",
        ),
        (
            "format: { date: '%Y-%m-%d', path: '$.due' }",
            "{\"due\": \"2025-04-30\"}",
            "{\"due\": \"30/04/2025\"}",
        ),
        (
            "format: { currency: { symbol: EUR, decimals: 2 } }",
            "EUR 12.50",
            "12.5 EUR",
        ),
    ];

    #[test]
    fn every_kind_passes_fails_and_negates() {
        for (item, good, bad) in KINDS {
            let plain = one("correct", item);
            let negated = one("correct", &format!("not: {{ {item} }}"));
            let p = &run(&plain, good)[0];
            assert!(p.passed, "{item} on {good:?}: {}", p.detail);
            let f = &run(&plain, bad)[0];
            assert!(!f.passed, "{item} on {bad:?}: {}", f.detail);
            let np = &run(&negated, bad)[0];
            assert!(np.passed, "not {item} on {bad:?}: {}", np.detail);
            assert_eq!(np.detail, format!("negated: {}", f.detail));
            assert!(!run(&negated, good)[0].passed, "not {item} on {good:?}");
        }
    }

    #[test]
    fn excerpt_truncates_and_collapses() {
        assert_eq!(excerpt("  a\n\n b  "), "\"a b\"");
        let long = "x".repeat(100);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 3);
        assert!(e.ends_with("…\""));
    }
}
