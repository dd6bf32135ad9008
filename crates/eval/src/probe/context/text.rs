//! The text of the context-fill probe's cases: the made-up facts and their questions,
//! the filler they are planted in (documents or the built-in corpus, cut into sentences
//! and shuffled deterministically), and the prompt that carries both.

use proximity_program::{Document, Program};

use super::{Depth, CORPUS, DOCUMENT_NAME, MIN_DOCUMENT_CHARS};

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
    pub(super) fn longest() -> Self {
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
    pub(super) fn units(&self, seed: u64, sample: u32) -> impl Iterator<Item = String> + '_ {
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
