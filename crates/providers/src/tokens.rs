//! Counting tokens the way a tool's model counts them, for probes that must fill a context
//! window to a given fraction: the local model's own vocabulary, tiktoken's encodings for
//! OpenAI models (`o200k_base`, `cl100k_base`, … bundled in the `tiktoken-rs` crate, no
//! network), and a documented estimate (4 characters a token) for everything else.
//!
//! Counts are of plain text: chat templates add a few tokens per message, which callers
//! keep room for (see `docs/probes.md`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use proximity_program::{ProviderKind, Tool};
use tiktoken_rs::tokenizer::Tokenizer;
use tiktoken_rs::CoreBPE;

use crate::error::{ErrorClass, ProviderError};
use crate::local::Local;

/// Characters per token of the estimate used when a tool's tokenizer is unknown.
pub const CHARS_PER_TOKEN: usize = 4;

/// How a [`TokenCounter`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMethod {
    /// The local GGUF model's own tokenizer: exact.
    LocalModel,
    /// A tiktoken encoding (by name): exact for the OpenAI models that use it.
    Tiktoken(&'static str),
    /// Characters / 4: an estimate (see [`CountMethod::describe`]).
    Estimate,
}

impl CountMethod {
    /// Whether counts are the model's own.
    pub fn is_exact(self) -> bool {
        !matches!(self, Self::Estimate)
    }

    /// A short description for reports and run configs.
    pub fn describe(self) -> String {
        match self {
            Self::LocalModel => "local model tokenizer".to_owned(),
            Self::Tiktoken(name) => format!("tiktoken {name}"),
            Self::Estimate => format!("estimate: characters / {CHARS_PER_TOKEN}"),
        }
    }
}

impl fmt::Display for CountMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Counts the tokens of text for one tool.
#[derive(Clone)]
pub enum TokenCounter {
    /// The embedded model's vocabulary.
    Local(Arc<Local>),
    /// A tiktoken encoding.
    Tiktoken {
        name: &'static str,
        bpe: &'static CoreBPE,
    },
    /// Characters / [`CHARS_PER_TOKEN`], rounded up.
    Estimate,
}

impl fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenCounter({})", self.method())
    }
}

impl TokenCounter {
    pub fn method(&self) -> CountMethod {
        match self {
            Self::Local(_) => CountMethod::LocalModel,
            Self::Tiktoken { name, .. } => CountMethod::Tiktoken(name),
            Self::Estimate => CountMethod::Estimate,
        }
    }

    /// Tokens of `text` (no chat template). The local model counts on its worker
    /// thread: from async code, call this inside a blocking task.
    pub fn count(&self, text: &str) -> Result<u32, ProviderError> {
        match self {
            Self::Local(local) => local.count_tokens(text),
            Self::Tiktoken { bpe, .. } => {
                let n = bpe.encode_ordinary(text).len();
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }
            Self::Estimate => Ok(estimate_tokens(text)),
        }
    }
}

/// The estimate: characters / 4, rounded up.
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(CHARS_PER_TOKEN)).unwrap_or(u32::MAX)
}

/// The tiktoken encoding of an OpenAI model name, when it is known (`o200k_base` for
/// gpt-4o, gpt-4.1, gpt-5 and the o-series; `cl100k_base` for gpt-4 and gpt-3.5).
pub fn tiktoken_for_model(model: &str) -> Option<(&'static str, &'static CoreBPE)> {
    let name = model.rsplit('/').next().unwrap_or(model);
    let (label, tokenizer) = match tiktoken_rs::tokenizer::get_tokenizer(name)? {
        Tokenizer::O200kBase => ("o200k_base", Tokenizer::O200kBase),
        Tokenizer::Cl100kBase => ("cl100k_base", Tokenizer::Cl100kBase),
        // Older encodings (p50k, r50k, gpt2) and harmony: not chat models we count for.
        _ => return None,
    };
    let bpe = tiktoken_rs::bpe_for_tokenizer(tokenizer).ok()?;
    Some((label, bpe))
}

/// The counter for a tool: the local model's tokenizer for `local` tools (the model is
/// loaded, shared with the provider), tiktoken for OpenAI-compatible tools whose model
/// tiktoken knows, the estimate otherwise.
pub fn counter_for(tool: &Tool, program_root: &Path) -> Result<TokenCounter, ProviderError> {
    match tool.provider {
        ProviderKind::Local => Ok(TokenCounter::Local(Arc::new(Local::new(
            tool,
            program_root,
        )?))),
        ProviderKind::Openai => Ok(tool
            .model
            .as_deref()
            .and_then(tiktoken_for_model)
            .map_or(TokenCounter::Estimate, |(name, bpe)| {
                TokenCounter::Tiktoken { name, bpe }
            })),
        ProviderKind::Anthropic | ProviderKind::Scripted => Ok(TokenCounter::Estimate),
    }
}

/// The context window of a tool: `context_window` from the program, else the local
/// model's (capped) window, else an error naming the key to set.
pub fn context_window_of(tool: &Tool, counter: &TokenCounter) -> Result<u32, ProviderError> {
    if let TokenCounter::Local(local) = counter {
        return Ok(local.context_window());
    }
    tool.context_window.ok_or_else(|| {
        ProviderError::new(
            ErrorClass::Config,
            format!(
                "tool `{}` has no `context_window`: set it in proximity.yaml to the window in tokens",
                tool.id
            ),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tool(provider: ProviderKind, model: Option<&str>) -> Tool {
        Tool {
            id: "t".into(),
            provider,
            model: model.map(str::to_owned),
            base_url: None,
            api_key_env: None,
            model_path: None,
            params: Default::default(),
            capabilities: vec![],
            context_window: Some(8000),
            price: Default::default(),
            description: None,
            fallback: None,
        }
    }

    #[test]
    fn openai_models_get_their_tiktoken_encoding() {
        let root = Path::new(".");
        let c = counter_for(&tool(ProviderKind::Openai, Some("gpt-4o-mini")), root).unwrap();
        assert_eq!(c.method(), CountMethod::Tiktoken("o200k_base"));
        let c = counter_for(&tool(ProviderKind::Openai, Some("gpt-4.1")), root).unwrap();
        assert_eq!(c.method(), CountMethod::Tiktoken("o200k_base"));
        let c = counter_for(&tool(ProviderKind::Openai, Some("o3-mini")), root).unwrap();
        assert_eq!(c.method(), CountMethod::Tiktoken("o200k_base"));
        let c = counter_for(&tool(ProviderKind::Openai, Some("gpt-4")), root).unwrap();
        assert_eq!(c.method(), CountMethod::Tiktoken("cl100k_base"));
        let c = counter_for(&tool(ProviderKind::Openai, Some("gpt-3.5-turbo")), root).unwrap();
        assert_eq!(c.method(), CountMethod::Tiktoken("cl100k_base"));
        // A gateway-style name keeps working.
        let c = counter_for(&tool(ProviderKind::Openai, Some("openai/gpt-4o")), root).unwrap();
        assert_eq!(c.method(), CountMethod::Tiktoken("o200k_base"));
    }

    #[test]
    fn unknown_models_fall_back_to_the_estimate() {
        let root = Path::new(".");
        for t in [
            tool(ProviderKind::Openai, Some("llama-3.1-8b-instruct")),
            tool(ProviderKind::Openai, None),
            tool(ProviderKind::Anthropic, Some("claude-sonnet-4")),
            tool(ProviderKind::Scripted, None),
        ] {
            let c = counter_for(&t, root).unwrap();
            assert_eq!(c.method(), CountMethod::Estimate);
            assert!(!c.method().is_exact());
        }
    }

    #[test]
    fn tiktoken_counts_known_strings_without_network() {
        // The ranks are bundled in the crate: no download happens here.
        let c = counter_for(&tool(ProviderKind::Openai, Some("gpt-4o")), Path::new(".")).unwrap();
        assert_eq!(c.count("hello world").unwrap(), 2);
        assert_eq!(c.count("").unwrap(), 0);
        let c = counter_for(&tool(ProviderKind::Openai, Some("gpt-4")), Path::new(".")).unwrap();
        assert_eq!(c.count("hello world").unwrap(), 2);
    }

    #[test]
    fn the_estimate_is_characters_over_four_rounded_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        // Characters, not bytes.
        assert_eq!(estimate_tokens("éééé"), 1);
    }

    #[test]
    fn a_window_is_required_unless_the_local_model_knows_it() {
        let mut t = tool(ProviderKind::Openai, Some("gpt-4o"));
        assert_eq!(
            context_window_of(&t, &TokenCounter::Estimate).unwrap(),
            8000
        );
        t.context_window = None;
        let e = context_window_of(&t, &TokenCounter::Estimate).unwrap_err();
        assert!(e.message.contains("context_window"), "{}", e.message);
    }
}
