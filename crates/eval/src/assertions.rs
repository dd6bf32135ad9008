//! Evaluating a case's assertions on one output. Semantics: `docs/assertions.md`.

use async_trait::async_trait;
use proximity_program::Case;
use proximity_providers::{ChatRequest, ChatResponse, ProviderError};
use proximity_store::AssertionOutcome;

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
}

/// Outcomes of every assertion of the case, in `case.assertions.iter()` order.
pub async fn evaluate_all(output: &str, ctx: &Context<'_>) -> Vec<AssertionOutcome> {
    ctx.case
        .assertions
        .iter()
        .map(|a| AssertionOutcome {
            group: a.group.as_str().to_owned(),
            assertion: a.to_string(),
            passed: false,
            detail: format!("not evaluated yet (output of {} chars)", output.len()),
            judge_raw: None,
        })
        .collect()
}
