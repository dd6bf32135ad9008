//! The response cache as a run uses it: what an answer is stored as, and the key of a
//! request.

use proximity_providers::{ChatRequest, ChatResponse};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A cached provider answer with the latency it took when it was paid for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CachedAnswer {
    pub(crate) response: ChatResponse,
    pub(crate) latency_ms: u64,
    pub(crate) attempts: u32,
}

/// The cache key of a request: tool configuration, request and sample, plus the run id
/// when the cache is bypassed (so a resumed `--no-cache` run still never pays twice).
pub(crate) fn cache_key(
    config_fp: &str,
    request: &ChatRequest,
    sample: u32,
    scope: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(config_fp.as_bytes());
    h.update(b"\n");
    h.update(
        serde_json::to_string(request)
            .unwrap_or_default()
            .as_bytes(),
    );
    h.update(format!("\n{sample}\n{scope}").as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use proximity_program::{Message, Role};

    use super::*;

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: text.to_owned(),
            }],
            temperature: None,
            top_p: None,
            max_tokens: None,
            seed: None,
            stop: Vec::new(),
            grammar: None,
            logprobs: false,
            json_schema: None,
            tools: Vec::new(),
            tool_choice: None,
        }
    }

    #[test]
    fn the_key_changes_with_each_of_its_parts_and_only_them() {
        let base = cache_key("fp", &request("q"), 0, "");
        assert_eq!(base, cache_key("fp", &request("q"), 0, ""));
        assert_eq!(base.len(), 64);
        for other in [
            cache_key("fp2", &request("q"), 0, ""),
            cache_key("fp", &request("q2"), 0, ""),
            cache_key("fp", &request("q"), 1, ""),
            cache_key("fp", &request("q"), 0, "run-1"),
        ] {
            assert_ne!(base, other);
        }
    }
}
