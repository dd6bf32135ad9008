//! Tool fingerprints: a short hash of everything that decides how a tool behaves.
//!
//! The configuration fingerprint covers provider, model, endpoint, parameters,
//! capabilities, context window and price (not the id: renaming a tool does not change
//! it). The version fingerprint adds the model version the provider reports, so an
//! upstream model update is a new version of the tool even when the program is unchanged.

use sha2::{Digest, Sha256};

use crate::model::Tool;

fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..8])
}

/// What a tool's configuration fingerprint covers, as JSON (drift compares it field by
/// field to say what changed).
pub fn config_value(tool: &Tool) -> serde_json::Value {
    let mut value = serde_json::to_value(tool).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("id");
        obj.remove("description");
        // Where the gateway falls back to is routing, not how this tool behaves.
        obj.remove("fallback");
    }
    value
}

/// The fingerprint of a tool's configuration as written in the program.
pub fn config_fingerprint(tool: &Tool) -> String {
    short_hash(config_value(tool).to_string().as_bytes())
}

/// The fingerprint of a tool version: configuration plus the reported model version.
pub fn version_fingerprint(config_fingerprint: &str, reported_model: Option<&str>) -> String {
    let text = format!("{config_fingerprint}\n{}", reported_model.unwrap_or(""));
    short_hash(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Price, ProviderKind, ToolParams};

    fn tool() -> Tool {
        Tool {
            id: "a".into(),
            provider: ProviderKind::Openai,
            model: Some("gpt".into()),
            base_url: None,
            api_key_env: None,
            model_path: None,
            params: ToolParams::default(),
            capabilities: vec![],
            context_window: None,
            price: Price::default(),
            description: None,
            fallback: None,
        }
    }

    #[test]
    fn id_does_not_change_fingerprint() {
        let a = tool();
        let mut b = tool();
        b.id = "renamed".into();
        assert_eq!(config_fingerprint(&a), config_fingerprint(&b));
    }

    #[test]
    fn params_change_fingerprint() {
        let a = tool();
        let mut b = tool();
        b.params.temperature = Some(0.7);
        assert_ne!(config_fingerprint(&a), config_fingerprint(&b));
    }

    #[test]
    fn reported_model_changes_version() {
        let fp = config_fingerprint(&tool());
        assert_ne!(
            version_fingerprint(&fp, Some("gpt-2026-01")),
            version_fingerprint(&fp, Some("gpt-2026-06"))
        );
        assert_eq!(fp.len(), 16);
    }
}
