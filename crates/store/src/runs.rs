//! The records of runs and their results as the store hands them out: [`RunRecord`],
//! [`ResultRecord`] with its [`Verdict`] and [`AssertionOutcome`]s, and [`RunStatus`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a result failed, or that it passed (see DESIGN.md, "Verdict").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Error, timeout, refusal, empty: the user sees it failed.
    Loud,
    /// A contract assertion failed: it breaks what consumes it downstream.
    Structural,
    /// Well-formed, no hedge, but a correctness assertion failed: plausible and wrong.
    Silent,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [Self::Pass, Self::Loud, Self::Structural, Self::Silent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Loud => "loud",
            Self::Structural => "structural",
            Self::Silent => "silent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pass" => Some(Self::Pass),
            "loud" => Some(Self::Loud),
            "structural" => Some(Self::Structural),
            "silent" => Some(Self::Silent),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an output is degenerate: visibly broken whatever it says, so a failing one is loud
/// with its own reason, never silent (`docs/assertions.md`, "Degenerate output"). The
/// reason of such a result starts with [`Degeneracy::reason_prefix`], which is how the
/// failure anatomy counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Degeneracy {
    /// The output ends in a unit repeated over and over.
    RepetitionLoop,
    /// Cut at `max_tokens` before any answer was complete.
    CutOff,
    /// The output mostly repeats the prompt.
    Echo,
    /// An error object where an answer was due.
    ErrorObject,
}

impl Degeneracy {
    pub const ALL: [Degeneracy; 4] = [
        Self::RepetitionLoop,
        Self::CutOff,
        Self::Echo,
        Self::ErrorObject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RepetitionLoop => "repetition_loop",
            Self::CutOff => "cut_off",
            Self::Echo => "echo",
            Self::ErrorObject => "error_object",
        }
    }

    /// How the reason of a result with this degeneracy starts.
    pub fn reason_prefix(self) -> &'static str {
        match self {
            Self::RepetitionLoop => "degenerate: repetition loop",
            Self::CutOff => "degenerate: cut off at max_tokens",
            Self::Echo => "degenerate: echo of the prompt",
            Self::ErrorObject => "degenerate: error object",
        }
    }

    /// The degeneracy a result's reason names, if any.
    pub fn of_reason(reason: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| reason.starts_with(d.reason_prefix()))
    }
}

/// Loud results by [`Degeneracy`]: the failure anatomy's `degenerate` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DegenerateCounts {
    pub repetition_loop: u64,
    pub cut_off: u64,
    pub echo: u64,
    pub error_object: u64,
}

impl DegenerateCounts {
    /// Count a result whose verdict and reason are given (only loud ones count).
    pub fn add(&mut self, verdict: Verdict, reason: &str) {
        if verdict != Verdict::Loud {
            return;
        }
        match Degeneracy::of_reason(reason) {
            Some(Degeneracy::RepetitionLoop) => self.repetition_loop += 1,
            Some(Degeneracy::CutOff) => self.cut_off += 1,
            Some(Degeneracy::Echo) => self.echo += 1,
            Some(Degeneracy::ErrorObject) => self.error_object += 1,
            None => {}
        }
    }

    pub fn total(&self) -> u64 {
        self.repetition_loop + self.cut_off + self.echo + self.error_object
    }
}

/// The outcome of one assertion on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionOutcome {
    /// `contract`, `correct` or `safety`.
    pub group: String,
    /// The assertion as written, e.g. `contains "Paris"`.
    pub assertion: String,
    pub passed: bool,
    /// Why it passed or failed, e.g. `"Paris" not found`.
    pub detail: String,
    /// A judge's raw grading, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_raw: Option<String>,
}

/// Lifecycle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    /// Stopped by Ctrl-C or killed; resumable with `--resume`.
    Interrupted,
    /// Stopped before the estimated spend passed `--budget`; resumable.
    BudgetExhausted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Interrupted => "interrupted",
            Self::BudgetExhausted => "budget_exhausted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "finished" => Some(Self::Finished),
            "interrupted" => Some(Self::Interrupted),
            "budget_exhausted" => Some(Self::BudgetExhausted),
            _ => None,
        }
    }
}

/// One evaluation of tools × cases × samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub program: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    /// What was asked: tools, persona filter, samples, budget (JSON, for resume).
    pub config: serde_json::Value,
    /// Work items planned (cases × tools × samples).
    pub planned: u64,
}

/// One sample's output and everything judged about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub run_id: String,
    pub case_id: String,
    pub tool_id: String,
    /// 0-based sample index.
    pub sample: u32,
    pub persona: String,
    pub workflow: String,
    /// `routine` or `edge`.
    pub kind: String,
    /// `field`, `demo` or `synthetic`.
    pub source: String,
    pub case_weight: f64,
    /// Fingerprint of the tool version (configuration + reported model version).
    pub tool_fingerprint: String,
    pub model_version: Option<String>,
    pub output: String,
    /// The error class when the provider failed (`timeout`, `rate_limited`, ...).
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// What the response costs at the tool's prices (paid once; see `cached`).
    pub cost_usd: f64,
    pub latency_ms: u64,
    pub attempts: u32,
    /// Served from the response cache: not paid again in this run.
    pub cached: bool,
    pub verdict: Verdict,
    /// Why this verdict, in a sentence.
    pub reason: String,
    pub assertions: Vec<AssertionOutcome>,
    /// Mean log-probability of the generated tokens, where the provider returned them.
    pub mean_logprob: Option<f64>,
    /// Whether the output matched the hedge lexicon (`proximity_eval::detect`); `None` when
    /// not recorded (a provider error, or a result stored before it was recorded).
    #[serde(default)]
    pub hedged: Option<bool>,
    /// The functions the answer called, in order (empty when it called none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallRecord>,
    pub created_at: DateTime<Utc>,
}

/// One function call of an answer, as the provider returned it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    #[serde(default)]
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON text, not necessarily valid.
    #[serde(default)]
    pub arguments: String,
}
