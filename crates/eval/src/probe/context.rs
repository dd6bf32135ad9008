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
use crate::runner::{self, Progress, RunOptions, RunSummary};

/// The workflow of context-fill results.
pub const WORKFLOW: &str = "context-fill";
/// The `kind` of the `probe` object in a run's config.
pub const KIND: &str = "context";
/// Fills (percent of the usable window) when none are given.
pub const DEFAULT_FILLS: [u32; 5] = [0, 25, 50, 75, 90];
/// Repeats per point (each a different fact and filler order) when none are given.
pub const DEFAULT_SAMPLES: u32 = 4;
/// `--refine` bisects until the knee lies between two fills this many points apart.
pub const REFINE_RESOLUTION: u32 = 5;
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
pub const CORPUS: &str = include_str!("corpus.txt");

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
    pub resolution: u32,
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
            refine: false,
            max_tokens_budget: None,
        }
    }
}

/// Tokens of context at `fill` percent of `usable`.
pub fn fill_tokens(usable: u32, fill: u32) -> u32 {
    u32::try_from(u64::from(usable) * u64::from(fill.min(100)) / 100).unwrap_or(u32::MAX)
}

/// The id of a generated case.
pub fn case_id(fill: u32, tokens: u32, depth: Depth, sample: u32) -> String {
    format!("ctx-f{fill}-t{tokens}-d-{}-s{sample}", depth.as_str())
}

/// Bisection steps needed to bring a gap of `gap` points down to `resolution`.
pub fn bisection_steps(gap: u32, resolution: u32) -> u32 {
    let resolution = resolution.max(1);
    let mut width = gap;
    let mut steps = 0;
    while width > resolution {
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

/// A deterministic 64-bit mixer (SplitMix64). Hand-written rather than `rand` so that the
/// generated cases (and so their cache keys) stay the same across dependency upgrades.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A small deterministic stream of numbers.
struct Stream(u64);

impl Stream {
    fn new(parts: &[u64]) -> Self {
        Self(parts.iter().fold(0x5EED, |acc, &p| mix(acc ^ mix(p))))
    }

    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let n = items.len().max(1) as u64;
        items
            .get(usize::try_from(self.next() % n).unwrap_or(0))
            .copied()
            .unwrap_or("")
    }
}

const NAME_HEADS: [&str; 16] = [
    "Mar", "Vel", "Thorn", "Ash", "Bryn", "Cal", "Dun", "Fen", "Gal", "Hol", "Kes", "Lun", "Mor",
    "Pel", "Quen", "Sel",
];
const NAME_TAILS: [&str; 12] = [
    "wick", "mere", "holt", "brook", "stead", "ford", "gate", "by", "ton", "combe", "ley", "well",
];
const PLACES: [&str; 8] = [
    "Archive",
    "Observatory",
    "Lighthouse",
    "Ferry Company",
    "Seed Bank",
    "Weather Station",
    "Glassworks",
    "Rowing Club",
];
const ATTRIBUTES: [&str; 4] = [
    "registration number",
    "catalogue number",
    "permit number",
    "account number",
];

/// A planted fact and the question that asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// e.g. `Thornmere Observatory`.
    pub entity: String,
    /// A five-digit number: what the answer must contain.
    pub code: String,
    /// The sentence planted in the context.
    pub statement: String,
    pub question: String,
}

impl Fact {
    fn from_parts(entity: String, attribute: &str, code: String) -> Self {
        Self {
            statement: format!("The {attribute} of the {entity} is {code}."),
            question: format!(
                "What is the {attribute} of the {entity}? Reply with the number only."
            ),
            entity,
            code,
        }
    }

    /// The fact of `(seed, sample, depth)`.
    pub fn generate(seed: u64, sample: u32, depth: Depth) -> Self {
        let mut s = Stream::new(&[seed, u64::from(sample), depth.index(), 0xFAC7]);
        let entity = format!(
            "{}{} {}",
            s.pick(&NAME_HEADS),
            s.pick(&NAME_TAILS),
            s.pick(&PLACES)
        );
        let attribute = s.pick(&ATTRIBUTES);
        let code = (10_000 + s.next() % 90_000).to_string();
        Self::from_parts(entity, attribute, code)
    }

    /// The longest question any fact can have (for the reserve).
    fn longest() -> Self {
        let longest = |items: &[&'static str]| {
            items
                .iter()
                .copied()
                .max_by_key(|s| s.len())
                .unwrap_or_default()
        };
        let entity = format!(
            "{}{} {}",
            longest(&NAME_HEADS),
            longest(&NAME_TAILS),
            longest(&PLACES)
        );
        Self::from_parts(entity, longest(&ATTRIBUTES), "99999".to_owned())
    }
}

/// The user message of a case: the context as a document block, then the question.
pub fn prompt(context: &str, question: &str) -> String {
    let doc = Document {
        path: DOCUMENT_NAME.to_owned(),
        content: context.to_owned(),
    };
    format!(
        "Read the document below, then answer the question after it.\n\n{}\n\nQuestion: {question}",
        proximity_program::prompt::format_documents(&[doc])
    )
}

/// Filler text cut into sentences, grouped in paragraphs.
#[derive(Debug, Clone)]
pub struct Filler {
    paragraphs: Vec<Vec<String>>,
    /// Where it came from, for the run's config.
    pub source: String,
}

/// Longest piece of filler counted at once.
const MAX_UNIT_CHARS: usize = 400;

impl Filler {
    /// The built-in corpus.
    pub fn builtin() -> Self {
        Self::from_text(CORPUS, "built-in corpus".to_owned())
    }

    /// Filler from documents (deduplicated by path); `None` when they hold fewer than
    /// [`MIN_DOCUMENT_CHARS`] characters together.
    pub fn from_documents<'a>(documents: impl IntoIterator<Item = &'a Document>) -> Option<Self> {
        let mut seen = std::collections::BTreeSet::new();
        let mut text = String::new();
        for d in documents {
            if seen.insert(d.path.clone()) {
                text.push_str(d.content.trim());
                text.push_str("\n\n");
            }
        }
        if text.trim().chars().count() < MIN_DOCUMENT_CHARS {
            return None;
        }
        let names: Vec<&str> = seen.iter().map(String::as_str).collect();
        Some(Self::from_text(
            &text,
            format!("documents: {}", names.join(", ")),
        ))
    }

    /// The filler for `tool`: the documents of the cases whose persona may use it (only
    /// `persona`'s when given), else the built-in corpus.
    pub fn for_tool(program: &Program, tool: &str, persona: Option<&str>) -> Self {
        let docs = program
            .cases
            .iter()
            .filter(|c| match persona {
                Some(p) => c.persona == p,
                None => program
                    .tools_for_persona(&c.persona)
                    .iter()
                    .any(|t| t.id == tool),
            })
            .flat_map(|c| c.documents.iter());
        Self::from_documents(docs).unwrap_or_else(Self::builtin)
    }

    fn from_text(text: &str, source: String) -> Self {
        let paragraphs = text
            .split("\n\n")
            .map(sentences)
            .filter(|p| !p.is_empty())
            .collect();
        Self { paragraphs, source }
    }

    /// Pieces of filler in the order of `(seed, sample)`, each with the separator that
    /// joins it to the one before, repeating the text as often as needed.
    fn units(&self, seed: u64, sample: u32) -> impl Iterator<Item = String> + '_ {
        let mut order: Vec<usize> = (0..self.paragraphs.len()).collect();
        let mut s = Stream::new(&[seed, u64::from(sample), 0xF111]);
        // Fisher–Yates.
        for i in (1..order.len()).rev() {
            let j = usize::try_from(s.next() % (i as u64 + 1)).unwrap_or(0);
            order.swap(i, j);
        }
        let paragraphs = &self.paragraphs;
        std::iter::repeat_n(order, if paragraphs.is_empty() { 0 } else { usize::MAX })
            .flatten()
            .flat_map(move |p| {
                paragraphs[p].iter().enumerate().map(|(i, sentence)| {
                    let sep = if i == 0 { "\n\n" } else { " " };
                    format!("{sep}{sentence}")
                })
            })
    }
}

/// Sentences of a paragraph (line breaks folded), long ones cut at spaces.
fn sentences(paragraph: &str) -> Vec<String> {
    let text = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let ends = matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| *n == ' ');
        if ends || (current.len() >= MAX_UNIT_CHARS && chars.peek() == Some(&' ')) {
            out.push(current.trim().to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Insert `fact` among `units` at `depth`; the text starts with no separator.
pub fn plant(units: &[String], fact: &str, depth: Depth) -> String {
    let at = (depth.fraction() * units.len() as f64).round() as usize;
    let at = at.min(units.len());
    let mut text = String::new();
    for u in &units[..at] {
        text.push_str(u);
    }
    text.push(' ');
    text.push_str(fact);
    for u in &units[at..] {
        text.push_str(u);
    }
    text.trim_start().to_owned()
}

/// A generated case and the tokens of its prompt (system prompt and user message, no
/// template).
#[derive(Debug, Clone)]
pub struct ProbeCase {
    pub case: Case,
    pub fill: u32,
    pub depth: Depth,
    pub prompt_tokens: u32,
    /// Tokens of the context actually built (target: `fill_tokens(usable, fill)`).
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

    /// The cases of one fill: every depth × sample.
    pub fn cases_at(&mut self, fill: u32) -> Result<Vec<ProbeCase>, ProbeError> {
        if fill > 100 {
            return Err(ProbeError::BadFill(fill));
        }
        let target = fill_tokens(self.config.usable, fill);
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
                "a fact planted at the {} of a context filled to {fill}% ({target} tokens)",
                depth.as_str()
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
            location: Location::default(),
        }
    }

    /// Tokens one request of `case` is expected to cost: its prompt, the chat template
    /// ([`TEMPLATE_MARGIN`]: some templates add a default system prompt) and `max_tokens`
    /// of answer.
    pub fn request_tokens(&self, case: &ProbeCase) -> u64 {
        u64::from(case.prompt_tokens) + u64::from(TEMPLATE_MARGIN) + u64::from(self.answer_tokens)
    }

    /// The worst case `--refine` can add: the most bisection steps any gap of the grid
    /// needs, each `depths × samples` requests no larger than the top fill's.
    pub fn refine_allowance(&self) -> u64 {
        if !self.config.refine {
            return 0;
        }
        let steps = self
            .config
            .fills
            .windows(2)
            .map(|w| bisection_steps(w[1] - w[0], self.config.resolution))
            .max()
            .unwrap_or(0);
        let top = self.config.fills.last().copied().unwrap_or(0);
        let per_request =
            u64::from(fill_tokens(self.config.usable, top)) + u64::from(self.config.reserve);
        u64::from(steps)
            * self.config.depths.len() as u64
            * u64::from(self.config.samples)
            * per_request
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
    /// Fills run, in the order they were run (the grid, then refinement steps).
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
    fill: u32,
) -> Result<(ContextProbe, Vec<ProbeCase>), ProbeError> {
    let tool = probe.config.tool.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let cases = probe.cases_at(fill);
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
        let (p, mut c) = generate(probe, fill).await?;
        probe = p;
        cases.append(&mut c);
    }
    let estimate = probe.estimate(&cases);
    probe.config.estimated_tokens = estimate;
    budget::check(estimate, probe.config.max_tokens_budget)?;
    Ok((probe, cases, estimate))
}

/// Run a prepared probe through the runner into one new run: the grid, then (with
/// `refine`) one fill at a time as `next_fill` asks, until it answers `None`, the budget
/// is reached or `cancel` fires. `next_fill` sees the run's results so far.
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
    let mut fills: Vec<u32> = probe.config.fills.clone();
    let mut synthetic = program.clone();
    synthetic.cases = cases.into_iter().map(|c| c.case).collect();
    let mut extra = serde_json::Map::new();
    extra.insert(
        "probe".to_owned(),
        serde_json::to_value(&probe.config).unwrap_or_default(),
    );
    let mut summary = runner::start_with_config(
        &synthetic,
        store,
        options.clone(),
        extra,
        stop.clone(),
        &watch,
    )
    .await?;
    while probe.config.refine && summary.status == RunStatus::Finished && !stop.is_cancelled() {
        let results = store.results(&summary.run_id).await?;
        let Some(fill) = next_fill(&results) else {
            break;
        };
        if fill > 100 || fills.contains(&fill) {
            break;
        }
        fills.push(fill);
        let (p, more) = generate(probe, fill).await?;
        probe = p;
        synthetic.cases.extend(more.into_iter().map(|c| c.case));
        summary = runner::extend(
            &synthetic,
            store,
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proximity_program::ProviderKind;

    fn tool(max_tokens: Option<u32>, system: Option<&str>) -> Tool {
        Tool {
            id: "t".into(),
            provider: ProviderKind::Openai,
            model: Some("gpt-4o".into()),
            base_url: None,
            api_key_env: None,
            model_path: None,
            params: proximity_program::ToolParams {
                max_tokens,
                system: system.map(str::to_owned),
                ..Default::default()
            },
            capabilities: vec![],
            context_window: Some(4000),
            price: Default::default(),
            description: None,
            fallback: None,
        }
    }

    fn counter() -> TokenCounter {
        proximity_providers::tokens::counter_for(&tool(None, None), std::path::Path::new("."))
            .unwrap()
    }

    fn probe(window: u32, settings: &Settings) -> ContextProbe {
        ContextProbe::new(
            &tool(Some(16), Some("Be brief.")),
            counter(),
            window,
            Filler::builtin(),
            settings,
        )
        .unwrap()
    }

    #[test]
    fn planting_puts_the_fact_at_the_start_middle_or_end() {
        let units: Vec<String> = ["One.", " Two.", " Three.", " Four."]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            plant(&units, "FACT.", Depth::Start),
            "FACT.One. Two. Three. Four."
        );
        assert_eq!(
            plant(&units, "FACT.", Depth::Middle),
            "One. Two. FACT. Three. Four."
        );
        assert_eq!(
            plant(&units, "FACT.", Depth::End),
            "One. Two. Three. Four. FACT."
        );
        assert_eq!(plant(&[], "FACT.", Depth::Middle), "FACT.");
    }

    #[test]
    fn fill_arithmetic_keeps_the_reserve_free() {
        assert_eq!(fill_tokens(1000, 0), 0);
        assert_eq!(fill_tokens(1000, 50), 500);
        assert_eq!(fill_tokens(999, 90), 899);
        assert_eq!(fill_tokens(1000, 150), 1000);
        let p = probe(4000, &Settings::default());
        let c = &p.config;
        assert_eq!(c.usable + c.reserve, 4000);
        // max_tokens 16, "Be brief." and the question scaffold, and the template margin.
        assert!(
            c.reserve > 16 + TEMPLATE_MARGIN && c.reserve < 120,
            "{}",
            c.reserve
        );
        assert_eq!(c.fills, vec![0, 25, 50, 75, 90]);
        assert_eq!(c.counting, "tiktoken o200k_base");
    }

    #[test]
    fn contexts_hit_their_target_and_prompts_fit_the_window() {
        let mut p = probe(4000, &Settings::default());
        let usable = p.config.usable;
        for fill in [0, 25, 50, 90, 100] {
            let cases = p.cases_at(fill).unwrap();
            assert_eq!(cases.len(), 3 * DEFAULT_SAMPLES as usize);
            let target = fill_tokens(usable, fill);
            for c in &cases {
                let code = &c.case.vars["code"];
                let user = &c.case.messages[0].content;
                assert!(user.contains(code.as_str()), "{}", c.case.id);
                assert!(
                    c.context_tokens <= target.max(20),
                    "{} > {target}",
                    c.context_tokens
                );
                // Within a sentence or so of the target.
                assert!(
                    c.context_tokens + 60 >= target,
                    "{}: {} tokens for a target of {target}",
                    c.case.id,
                    c.context_tokens
                );
                // Room for the answer and the template.
                assert!(
                    c.prompt_tokens + 16 + TEMPLATE_MARGIN <= 4000,
                    "{}",
                    c.prompt_tokens
                );
                assert_eq!(c.case.workflow, WORKFLOW);
                assert_eq!(c.case.persona, PERSONA);
                assert!(c.case.id.starts_with(&format!("ctx-f{fill}-t{target}-d-")));
            }
        }
    }

    #[test]
    fn the_fact_sits_at_its_depth_in_a_full_context() {
        let mut p = probe(4000, &Settings::default());
        for c in p.cases_at(75).unwrap() {
            let doc = &c.case.documents[0].content;
            let pos = doc.find(&c.case.vars["code"]).unwrap() as f64 / doc.len() as f64;
            let want = c.depth.fraction();
            assert!((pos - want).abs() < 0.1, "{}: at {pos:.2}", c.case.id);
        }
    }

    #[test]
    fn facts_differ_by_sample_and_depth_but_not_by_fill() {
        let a = Fact::generate(0, 0, Depth::Middle);
        assert_eq!(a, Fact::generate(0, 0, Depth::Middle));
        assert_ne!(a.code, Fact::generate(0, 1, Depth::Middle).code);
        assert_ne!(a.code, Fact::generate(0, 0, Depth::End).code);
        assert_ne!(a.code, Fact::generate(1, 0, Depth::Middle).code);
        assert_eq!(a.code.len(), 5);
        let mut p = probe(4000, &Settings::default());
        let at =
            |p: &mut ContextProbe, fill| p.cases_at(fill).unwrap()[0].case.vars["code"].clone();
        assert_eq!(at(&mut p, 0), at(&mut p, 90));
    }

    #[test]
    fn the_four_characters_estimate_is_within_its_stated_error_on_the_corpus() {
        // docs/probes.md states the estimate's error; this pins it on the built-in corpus.
        let est = f64::from(proximity_providers::tokens::estimate_tokens(CORPUS));
        for model in ["gpt-4o", "gpt-4"] {
            let (_, bpe) = proximity_providers::tokens::tiktoken_for_model(model).unwrap();
            let exact = bpe.encode_ordinary(CORPUS).len() as f64;
            let error = (est - exact) / exact;
            assert!(
                error.abs() < 0.25,
                "{model}: {est} vs {exact} ({error:+.3})"
            );
        }
    }

    #[test]
    fn fills_are_validated_and_include_the_baseline() {
        assert_eq!(normalize_fills(&[50, 25, 50]).unwrap(), vec![0, 25, 50]);
        assert!(matches!(
            normalize_fills(&[101]),
            Err(ProbeError::BadFill(101))
        ));
    }

    #[test]
    fn a_window_without_room_is_refused() {
        let err = ContextProbe::new(
            &tool(Some(256), None),
            counter(),
            300,
            Filler::builtin(),
            &Settings::default(),
        )
        .err()
        .unwrap();
        assert!(matches!(
            err,
            ProbeError::WindowTooSmall { window: 300, .. }
        ));
    }

    #[test]
    fn documents_become_filler_when_there_are_enough() {
        let short = Document {
            path: "a.md".into(),
            content: "Too short.".into(),
        };
        assert!(Filler::from_documents([&short]).is_none());
        let long = Document {
            path: "b.md".into(),
            content: "The ledger lists entries. ".repeat(100),
        };
        let f = Filler::from_documents([&short, &long, &long]).unwrap();
        assert_eq!(f.source, "documents: a.md, b.md");
        let first: Vec<String> = f.units(0, 0).take(3).collect();
        assert!(first
            .iter()
            .all(|u| u.contains("ledger") || u.contains("short")));
    }

    #[test]
    fn the_estimate_counts_prompts_answers_and_the_refine_allowance() {
        let mut p = probe(4000, &Settings::default());
        let cases = p.cases_at(50).unwrap();
        let per: u64 = cases
            .iter()
            .map(|c| u64::from(c.prompt_tokens) + u64::from(TEMPLATE_MARGIN) + 16)
            .sum();
        assert_eq!(p.estimate(&cases), per);
        let mut refine = probe(
            4000,
            &Settings {
                refine: true,
                ..Settings::default()
            },
        );
        let cases = refine.cases_at(50).unwrap();
        // The widest gap (25 points) takes 3 steps to come within 5: 25 → 13 → 7 → 4.
        assert_eq!(bisection_steps(25, 5), 3);
        assert_eq!(bisection_steps(5, 5), 0);
        assert!(refine.estimate(&cases) > per + 3 * 12 * 2000);
    }
}
