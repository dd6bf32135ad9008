//! The context-fill probe: a made-up fact (a number tied to a made-up entity, so no model
//! can know it) planted at depths (start, middle, end) of a context filled to fractions
//! of the tool's window, and a question asking for it; the case passes when the answer
//! contains the number.
//!
//! Fill arithmetic: the window keeps room (the **reserve**) for `max_tokens` of answer,
//! the system prompt, the question and its scaffold, and a chat-template margin; a fill
//! of `f`% is `f`% of what is left (the **usable** tokens), counted with the tool's own
//! tokenizer where known ([`proximity_providers::tokens`]). The filler comes from the
//! documents the program's cases carry for the tool's personas, or from a built-in
//! corpus of neutral prose (`corpus.txt`), repeated as needed.
//!
//! Cases are generated deterministically from `(seed, sample, depth)` (a fact) and
//! `(seed, sample)` (the filler's order), so the same fact is asked at every fill: the
//! curve compares like with like. Case ids carry the point:
//! `ctx-f{fill}-t{tokens}-d-{depth}-s{sample}`.
//!
//! Refinement (on by default) bisects between the last good and the first bad fill, in
//! hundredths of a percent, until the bracket is within [`REFINE_RESOLUTION`]% of the
//! good fill's tokens ([`next_refine`]); [`ContextProbe::refine_bound`] states before the
//! probe starts how many requests and tokens it can add at most.

use std::collections::{BTreeMap, HashMap};

use proximity_program::{
    Assertion, Assertions, Case, CaseKind, CaseSource, Check, Document, Group, Location, Match,
    Message, Program, Role, Tool,
};
use proximity_providers::tokens::TokenCounter;
use proximity_store::{ResultRecord, RunStatus, Store};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::budget::{self, TokenBudget};
use super::{ProbeError, PERSONA};
use crate::runner::{self, Cases, Progress, RunOptions, RunSpec, RunSummary};

mod text;
pub use text::{plant, prompt, Fact, Filler};

/// The workflow of context-fill results.
pub const WORKFLOW: &str = "context-fill";
/// The `kind` of the `probe` object in a run's config.
pub const KIND: &str = "context";
/// Fills (percent of the usable window) when none are given.
pub const DEFAULT_FILLS: [u32; 5] = [0, 25, 50, 75, 90];
/// Repeats per point (each a different fact and filler order) when none are given.
pub const DEFAULT_SAMPLES: u32 = 4;
/// Refinement bisects until the knee lies between two fills whose contexts differ by at
/// most this percent of the good fill's tokens (so the effective context is within this
/// percent of the knee, whatever the knee's size).
pub const REFINE_RESOLUTION: u32 = 5;
/// ... or by at most this many tokens (about a sentence of filler: contexts end within a
/// sentence of their target, so a finer bracket measures nothing new).
pub const REFINE_MIN_TOKENS: u32 = 16;
/// Fills are kept in hundredths of a percent: the grid's whole percents × 100, and the
/// points refinement bisects to between them.
pub const FILL_SCALE: u32 = 100;
/// Tokens kept for the chat template (role markers, separators) and for token merges
/// at the joins of pieces counted apart.
pub const TEMPLATE_MARGIN: u32 = 32;
/// Answer tokens reserved when the tool sets no `max_tokens`.
pub const DEFAULT_ANSWER_TOKENS: u32 = 256;
/// Documents shorter than this together are not enough filler: the corpus is used.
pub const MIN_DOCUMENT_CHARS: usize = 2000;
/// Name of the document block the context is sent in.
pub const DOCUMENT_NAME: &str = "context.txt";

/// The built-in filler: neutral descriptive prose written for Proximity.
pub const CORPUS: &str = include_str!("../corpus.txt");

/// Where in the context the fact is planted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    Start,
    Middle,
    End,
}

impl Depth {
    pub const ALL: [Depth; 3] = [Self::Start, Self::Middle, Self::End];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Middle => "middle",
            Self::End => "end",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Self::Start),
            "middle" => Some(Self::Middle),
            "end" => Some(Self::End),
            _ => None,
        }
    }

    /// Position in the context, 0 (first) to 1 (last).
    pub fn fraction(self) -> f64 {
        match self {
            Self::Start => 0.0,
            Self::Middle => 0.5,
            Self::End => 1.0,
        }
    }

    fn index(self) -> u64 {
        match self {
            Self::Start => 0,
            Self::Middle => 1,
            Self::End => 2,
        }
    }
}

/// The grid and how it was measured: the `probe` object of the run's config (see
/// `docs/probes.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextProbeConfig {
    /// Always [`KIND`].
    pub kind: String,
    pub tool: String,
    /// The tool's context window in tokens.
    pub window: u32,
    /// Tokens kept for the answer, system prompt, question and template.
    pub reserve: u32,
    /// `window - reserve`: what a fill of 100% would be.
    pub usable: u32,
    /// Fills asked for, percent of `usable` (refinement adds more).
    pub fills: Vec<u32>,
    pub depths: Vec<Depth>,
    pub samples: u32,
    pub seed: u64,
    pub refine: bool,
    /// Refinement stops once the bracket is within this percent of the good fill's tokens.
    pub resolution: u32,
    /// ... or within this many tokens.
    #[serde(default)]
    pub resolution_min_tokens: u32,
    /// The most bisection steps refinement can take (0 without `refine`), each
    /// `depths × samples` requests: stated before the probe starts.
    #[serde(default)]
    pub refine_max_steps: u32,
    /// How tokens are counted (`tiktoken o200k_base`, `local model tokenizer`, …).
    pub counting: String,
    /// Whether counts are the model's own (false: the 4-characters estimate).
    pub counting_exact: bool,
    /// Where the filler comes from.
    pub filler: String,
    pub max_tokens_budget: Option<u64>,
    /// Tokens the probe was estimated to send before it ran.
    pub estimated_tokens: u64,
}

/// What the caller chooses.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub fills: Vec<u32>,
    pub depths: Vec<Depth>,
    pub samples: u32,
    pub seed: u64,
    pub refine: bool,
    pub max_tokens_budget: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fills: DEFAULT_FILLS.to_vec(),
            depths: Depth::ALL.to_vec(),
            samples: DEFAULT_SAMPLES,
            seed: 0,
            refine: true,
            max_tokens_budget: None,
        }
    }
}

/// Tokens of context at `fill` percent of `usable`.
pub fn fill_tokens(usable: u32, fill: u32) -> u32 {
    fill_tokens_at(usable, fill.min(100) * FILL_SCALE)
}

/// Tokens of context at `hundredths` hundredths of a percent of `usable`.
pub fn fill_tokens_at(usable: u32, hundredths: u32) -> u32 {
    let scale = u64::from(100 * FILL_SCALE);
    let h = u64::from(hundredths).min(scale);
    u32::try_from(u64::from(usable) * h / scale).unwrap_or(u32::MAX)
}

/// A fill in hundredths of a percent as the case ids and reports write it: `25`, `12.5`,
/// `9.77`.
pub fn fill_label(hundredths: u32) -> String {
    let (whole, frac) = (hundredths / FILL_SCALE, hundredths % FILL_SCALE);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// The id of a generated case (`hundredths`: the fill in hundredths of a percent).
pub fn case_id(hundredths: u32, tokens: u32, depth: Depth, sample: u32) -> String {
    format!(
        "ctx-f{}-t{tokens}-d-{}-s{sample}",
        fill_label(hundredths),
        depth.as_str()
    )
}

/// The refinement rule: given the last good fill `good` and the first bad fill `bad` above
/// it (hundredths of a percent) with their contexts' target tokens, the fill to measure
/// next (halfway between), or `None` when the bracket is narrow enough: within
/// `resolution` percent of the good fill's tokens, or `min_tokens`, or one hundredth of a
/// percent.
pub fn next_refine(
    (good, good_tokens): (u32, u64),
    (bad, bad_tokens): (u32, u64),
    resolution: u32,
    min_tokens: u32,
) -> Option<u32> {
    if bad <= good.saturating_add(1) {
        return None;
    }
    let width = bad_tokens.saturating_sub(good_tokens);
    let enough = (good_tokens * u64::from(resolution) / 100).max(u64::from(min_tokens));
    (width > enough).then(|| good + (bad - good) / 2)
}

/// The most bisection steps [`next_refine`] can take between the grid's neighbours `good`
/// and `bad` (hundredths of a percent of `usable`). An upper bound: the bracket halves at
/// each step (rounded up, as when the good side moves), its width in tokens is rounded up,
/// and the relative rule is taken at `good` (a knee just above it narrows the least).
pub fn refine_steps(usable: u32, good: u32, bad: u32, resolution: u32, min_tokens: u32) -> u32 {
    let scale = u64::from(100 * FILL_SCALE);
    let good_tokens = u64::from(fill_tokens_at(usable, good));
    let enough = (good_tokens * u64::from(resolution) / 100).max(u64::from(min_tokens));
    let mut width = bad.saturating_sub(good);
    let mut steps = 0;
    while width > 1 && (u64::from(usable) * u64::from(width)).div_ceil(scale) > enough {
        width = width.div_ceil(2);
        steps += 1;
    }
    steps
}

/// Sorted, deduplicated fills with 0 (the baseline every fill is compared with) included.
pub fn normalize_fills(fills: &[u32]) -> Result<Vec<u32>, ProbeError> {
    let mut out = vec![0];
    for &f in fills {
        if f > 100 {
            return Err(ProbeError::BadFill(f));
        }
        out.push(f);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A generated case and the tokens of its prompt (system prompt and user message, no
/// template).
#[derive(Debug, Clone)]
pub struct ProbeCase {
    pub case: Case,
    /// Hundredths of a percent of the usable window.
    pub fill: u32,
    pub depth: Depth,
    pub prompt_tokens: u32,
    /// Tokens of the context actually built (target: `fill_tokens_at(usable, fill)`).
    pub context_tokens: u32,
}

/// Generates the cases of one tool's probe, counting with the tool's tokenizer.
pub struct ContextProbe {
    pub config: ContextProbeConfig,
    counter: TokenCounter,
    filler: Filler,
    counts: HashMap<String, u32>,
    system_tokens: u32,
    answer_tokens: u32,
}

impl ContextProbe {
    /// Plan a probe of `tool` with a `window`-token context. Counts tokens: with the local
    /// model, call this from a blocking task.
    pub fn new(
        tool: &Tool,
        counter: TokenCounter,
        window: u32,
        filler: Filler,
        settings: &Settings,
    ) -> Result<Self, ProbeError> {
        if settings.depths.is_empty() {
            return Err(ProbeError::NoDepths);
        }
        let fills = normalize_fills(&settings.fills)?;
        let count = |text: &str| {
            counter.count(text).map_err(|source| ProbeError::Tokens {
                tool: tool.id.clone(),
                source,
            })
        };
        let system_tokens = match &tool.params.system {
            Some(s) => count(s)?,
            None => 0,
        };
        let answer_tokens = tool.params.max_tokens.unwrap_or(DEFAULT_ANSWER_TOKENS);
        let scaffold = count(&prompt("", &Fact::longest().question))?;
        let reserve = answer_tokens
            .saturating_add(system_tokens)
            .saturating_add(scaffold)
            .saturating_add(TEMPLATE_MARGIN);
        // A fill of 0 still holds the fact: leave room for at least some context.
        if window <= reserve.saturating_add(32) {
            return Err(ProbeError::WindowTooSmall { window, reserve });
        }
        let method = counter.method();
        let config = ContextProbeConfig {
            kind: KIND.to_owned(),
            tool: tool.id.clone(),
            window,
            reserve,
            usable: window - reserve,
            fills,
            depths: settings.depths.clone(),
            samples: settings.samples.max(1),
            seed: settings.seed,
            refine: settings.refine,
            resolution: REFINE_RESOLUTION,
            resolution_min_tokens: REFINE_MIN_TOKENS,
            refine_max_steps: 0,
            counting: method.describe(),
            counting_exact: method.is_exact(),
            filler: filler.source.clone(),
            max_tokens_budget: settings.max_tokens_budget,
            estimated_tokens: 0,
        };
        Ok(Self {
            config,
            counter,
            filler,
            counts: HashMap::new(),
            system_tokens,
            answer_tokens,
        })
    }

    fn count(&self, text: &str) -> Result<u32, ProbeError> {
        self.counter
            .count(text)
            .map_err(|source| ProbeError::Tokens {
                tool: self.config.tool.clone(),
                source,
            })
    }

    fn count_cached(&mut self, unit: &str) -> Result<u32, ProbeError> {
        if let Some(&n) = self.counts.get(unit) {
            return Ok(n);
        }
        let n = self.count(unit)?;
        self.counts.insert(unit.to_owned(), n);
        Ok(n)
    }

    /// A context of at most `target` tokens (never less than the fact itself) with the
    /// fact planted at `depth`; returns it and its token count.
    pub fn build_context(
        &mut self,
        target: u32,
        fact: &Fact,
        depth: Depth,
        sample: u32,
    ) -> Result<(String, u32), ProbeError> {
        let fact_tokens = self.count(&fact.statement)?;
        let room = target.saturating_sub(fact_tokens);
        let mut units: Vec<String> = Vec::new();
        let mut unit_tokens: Vec<u32> = Vec::new();
        let mut sum = 0u32;
        if room > 0 {
            let filler = self.filler.clone();
            for unit in filler.units(self.config.seed, sample) {
                let n = self.count_cached(&unit)?;
                // Every piece holds at least one token, so more pieces than tokens means a
                // counter that counts nothing: stop rather than loop forever.
                if sum.saturating_add(n) > room || units.len() > room as usize {
                    break;
                }
                sum += n;
                units.push(unit);
                unit_tokens.push(n);
            }
        }
        // Pieces counted apart can merge or split at their joins: check the whole and
        // drop filler until it fits.
        let cap = target.max(fact_tokens);
        loop {
            let text = plant(&units, &fact.statement, depth);
            let n = self.count(&text)?;
            if n <= cap || units.is_empty() {
                return Ok((text, n));
            }
            let mut over = n - cap;
            while over > 0 {
                let Some(t) = unit_tokens.pop() else { break };
                units.pop();
                over = over.saturating_sub(t.max(1));
            }
        }
    }

    /// The cases of one fill (percent): every depth × sample.
    pub fn cases_at(&mut self, fill: u32) -> Result<Vec<ProbeCase>, ProbeError> {
        if fill > 100 {
            return Err(ProbeError::BadFill(fill));
        }
        self.cases_at_hundredths(fill * FILL_SCALE)
    }

    /// The cases of one fill in hundredths of a percent (refinement's points between the
    /// grid's): every depth × sample.
    pub fn cases_at_hundredths(&mut self, fill: u32) -> Result<Vec<ProbeCase>, ProbeError> {
        if fill > 100 * FILL_SCALE {
            return Err(ProbeError::BadFill(fill / FILL_SCALE));
        }
        let target = fill_tokens_at(self.config.usable, fill);
        let mut out = Vec::new();
        for depth in self.config.depths.clone() {
            for sample in 0..self.config.samples {
                let fact = Fact::generate(self.config.seed, sample, depth);
                let (context, context_tokens) = self.build_context(target, &fact, depth, sample)?;
                let user = prompt(&context, &fact.question);
                let prompt_tokens = self.count(&user)?.saturating_add(self.system_tokens);
                let case = self.case(fill, target, depth, sample, &fact, context, user);
                out.push(ProbeCase {
                    case,
                    fill,
                    depth,
                    prompt_tokens,
                    context_tokens,
                });
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn case(
        &self,
        fill: u32,
        target: u32,
        depth: Depth,
        sample: u32,
        fact: &Fact,
        context: String,
        user: String,
    ) -> Case {
        let vars = BTreeMap::from([
            ("fill".to_owned(), fill.to_string()),
            ("tokens".to_owned(), target.to_string()),
            ("depth".to_owned(), depth.as_str().to_owned()),
            ("entity".to_owned(), fact.entity.clone()),
            ("code".to_owned(), fact.code.clone()),
        ]);
        Case {
            id: case_id(fill, target, depth, sample),
            persona: PERSONA.to_owned(),
            workflow: WORKFLOW.to_owned(),
            kind: CaseKind::Routine,
            source: CaseSource::Synthetic,
            description: Some(format!(
                "a fact planted at the {} of a context filled to {}% ({target} tokens)",
                depth.as_str(),
                fill_label(fill)
            )),
            messages: vec![Message {
                role: Role::User,
                content: user,
            }],
            vars,
            documents: vec![Document {
                path: DOCUMENT_NAME.to_owned(),
                content: context,
            }],
            assertions: Assertions {
                correct: vec![Assertion {
                    check: Check::Contains {
                        values: vec![fact.code.clone()],
                        mode: Match::Any,
                        ignore_case: true,
                    },
                    negate: false,
                    group: Group::Correct,
                    location: Location::default(),
                }],
                ..Assertions::default()
            },
            weight: 1.0,
            tags: vec![PERSONA.to_owned(), WORKFLOW.to_owned()],
            note: None,
            tools: Vec::new(),
            tool_choice: None,
            location: Location::default(),
        }
    }

    /// Tokens one request of `case` is expected to cost: its prompt, the chat template
    /// ([`TEMPLATE_MARGIN`]: some templates add a default system prompt) and `max_tokens`
    /// of answer.
    pub fn request_tokens(&self, case: &ProbeCase) -> u64 {
        u64::from(case.prompt_tokens) + u64::from(TEMPLATE_MARGIN) + u64::from(self.answer_tokens)
    }

    /// Requests one fill takes: every depth × sample.
    pub fn requests_per_fill(&self) -> u64 {
        self.config.depths.len() as u64 * u64::from(self.config.samples)
    }

    /// The worst case refinement can add, `(steps, tokens)`: it bisects one gap of the grid
    /// (the one above the effective fill), so the most any gap can take, its steps
    /// ([`refine_steps`]) × [`Self::requests_per_fill`] requests no larger than the gap's
    /// top fill plus the reserve. `(0, 0)` without `refine`.
    pub fn refine_bound(&self) -> (u32, u64) {
        if !self.config.refine {
            return (0, 0);
        }
        let c = &self.config;
        c.fills
            .windows(2)
            .map(|w| {
                let steps = refine_steps(
                    c.usable,
                    w[0] * FILL_SCALE,
                    w[1] * FILL_SCALE,
                    c.resolution,
                    c.resolution_min_tokens,
                );
                let per_request = u64::from(fill_tokens(c.usable, w[1])) + u64::from(c.reserve);
                let tokens = u64::from(steps) * self.requests_per_fill() * per_request;
                (steps, tokens)
            })
            .fold((0, 0), |(s, t), (s2, t2)| (s.max(s2), t.max(t2)))
    }

    /// The worst case refinement can add in tokens (see [`Self::refine_bound`]).
    pub fn refine_allowance(&self) -> u64 {
        self.refine_bound().1
    }

    /// Estimated tokens of `cases` plus the refinement allowance.
    pub fn estimate(&self, cases: &[ProbeCase]) -> u64 {
        cases
            .iter()
            .map(|c| self.request_tokens(c))
            .sum::<u64>()
            .saturating_add(self.refine_allowance())
    }
}

/// How a probe run ended.
#[derive(Debug, Clone)]
pub struct ProbeRun {
    pub summary: RunSummary,
    pub config: ContextProbeConfig,
    /// Fills run, hundredths of a percent, in the order they were run (the grid, then
    /// refinement steps).
    pub fills: Vec<u32>,
    /// Tokens really sent and received (answers from the cache excluded).
    pub tokens_used: u64,
    /// Stopped because the token budget was reached.
    pub budget_reached: bool,
}

/// Generate the cases of `fill` on a blocking thread (the local model counts on its
/// worker), giving the probe back.
async fn generate(
    mut probe: ContextProbe,
    hundredths: u32,
) -> Result<(ContextProbe, Vec<ProbeCase>), ProbeError> {
    let tool = probe.config.tool.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let cases = probe.cases_at_hundredths(hundredths);
        (probe, cases)
    })
    .await;
    match joined {
        Ok((probe, cases)) => Ok((probe, cases?)),
        Err(e) => Err(ProbeError::Tokens {
            tool,
            source: proximity_providers::ProviderError::new(
                proximity_providers::ErrorClass::Server,
                format!("case generation stopped: {e}"),
            ),
        }),
    }
}

/// Generate the grid's cases and the estimate of what the probe will send, refusing it
/// when the estimate passes the token budget. Nothing is sent.
pub async fn prepare(
    probe: ContextProbe,
) -> Result<(ContextProbe, Vec<ProbeCase>, u64), ProbeError> {
    let mut probe = probe;
    let mut cases = Vec::new();
    for fill in probe.config.fills.clone() {
        let (p, mut c) = generate(probe, fill * FILL_SCALE).await?;
        probe = p;
        cases.append(&mut c);
    }
    probe.config.refine_max_steps = probe.refine_bound().0;
    let estimate = probe.estimate(&cases);
    probe.config.estimated_tokens = estimate;
    budget::check(estimate, probe.config.max_tokens_budget)?;
    Ok((probe, cases, estimate))
}

/// Run a prepared probe through the runner into one new run: the grid, then (with
/// `refine`) one fill at a time (hundredths of a percent) as `next_fill` asks, until it
/// answers `None`, the budget is reached, `cancel` fires or the stated most steps
/// (`refine_max_steps`) are taken. `next_fill` sees the run's results so far; each step is
/// announced through `progress`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    program: &Program,
    store: &Store,
    probe: ContextProbe,
    cases: Vec<ProbeCase>,
    options: RunOptions,
    cancel: CancellationToken,
    progress: &dyn Progress,
    next_fill: &(dyn Fn(&[ResultRecord]) -> Option<u32> + Sync),
) -> Result<ProbeRun, ProbeError> {
    let mut probe = probe;
    let stop = cancel.child_token();
    let watch = TokenBudget::new(progress, probe.config.max_tokens_budget, stop.clone());
    let mut fills: Vec<u32> = probe.config.fills.iter().map(|f| f * FILL_SCALE).collect();
    let mut steps = 0u32;
    let mut synthetic = program.clone();
    synthetic.cases = cases.into_iter().map(|c| c.case).collect();
    let spec = RunSpec::new(Cases::Held(&synthetic), options.clone()).with_config(
        "probe",
        serde_json::to_value(&probe.config).unwrap_or_default(),
    );
    let mut summary = runner::start(store, spec, stop.clone(), &watch).await?;
    while probe.config.refine && summary.status == RunStatus::Finished && !stop.is_cancelled() {
        let results = store.results(&summary.run_id).await?;
        let Some(fill) = next_fill(&results) else {
            break;
        };
        if fill > 100 * FILL_SCALE
            || fills.contains(&fill)
            || steps >= probe.config.refine_max_steps
        {
            break;
        }
        steps += 1;
        fills.push(fill);
        progress.notice(&format!(
            "refine: step {steps} of at most {}: fill {}% ({} tokens), {} requests",
            probe.config.refine_max_steps,
            fill_label(fill),
            fill_tokens_at(probe.config.usable, fill),
            probe.requests_per_fill(),
        ));
        let (p, more) = generate(probe, fill).await?;
        probe = p;
        synthetic.cases.extend(more.into_iter().map(|c| c.case));
        summary = runner::extend(
            store,
            Cases::Held(&synthetic),
            &summary.run_id,
            &options,
            stop.clone(),
            &watch,
        )
        .await?;
    }
    let budget_reached = watch.tripped();
    if budget_reached && summary.status != RunStatus::Finished {
        store
            .set_run_status(&summary.run_id, RunStatus::BudgetExhausted, None)
            .await?;
        summary.status = RunStatus::BudgetExhausted;
    }
    Ok(ProbeRun {
        summary,
        config: probe.config,
        fills,
        tokens_used: watch.used(),
        budget_reached,
    })
}

#[cfg(test)]
mod tests;
