//! What changed in a tool's configuration between baseline and now: the fields that
//! differ, and whether the provider reports another model version under the same
//! configuration (a silent vendor update).

use std::collections::BTreeSet;

use proximity_store::ResultRecord;
use serde_json::Value;

use super::{FieldChange, FingerprintChange, ToolConfig};

/// The fields of two configurations that differ: objects are walked key by key
/// (`params.temperature`), lists of objects item by item (`params.rules[3].reply`),
/// anything else is compared whole (`capabilities`).
pub fn changed_fields(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn walk(prefix: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(
                    &path,
                    b.get(k).unwrap_or(&Value::Null),
                    a.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        // Lists of objects (a scripted tool's `params.rules`) item by item, so one
        // changed rule reads `params.rules[3].reply`, not the whole list twice.
        (Value::Array(b), Value::Array(a))
            if before != after
                && b.iter().chain(a.iter()).all(Value::is_object)
                && !(b.is_empty() && a.is_empty()) =>
        {
            for i in 0..b.len().max(a.len()) {
                walk(
                    &format!("{prefix}[{i}]"),
                    b.get(i).unwrap_or(&Value::Null),
                    a.get(i).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if before != after => out.push(FieldChange {
            field: prefix.to_owned(),
            before: before.clone(),
            after: after.clone(),
        }),
        _ => {}
    }
}

fn model_versions(results: &[&ResultRecord]) -> BTreeSet<String> {
    results
        .iter()
        .filter_map(|r| r.model_version.clone())
        .collect()
}

pub(super) fn fingerprint_change(
    before: &[&ResultRecord],
    after: &[&ResultRecord],
    before_config: Option<&ToolConfig>,
    after_config: Option<&ToolConfig>,
) -> FingerprintChange {
    let bm = model_versions(before);
    let am = model_versions(after);
    let model_version_changed = !bm.is_empty() && !am.is_empty() && bm != am;
    let bfp = before_config.and_then(|c| c.fingerprint.clone());
    let afp = after_config.and_then(|c| c.fingerprint.clone());
    let changed_fields = match (
        before_config.and_then(|c| c.value.as_ref()),
        after_config.and_then(|c| c.value.as_ref()),
    ) {
        (Some(b), Some(a)) => changed_fields(b, a),
        _ => Vec::new(),
    };
    let config_changed = match (&bfp, &afp) {
        (Some(b), Some(a)) => b != a,
        // Configuration unknown on a side: the version fingerprints differ while the
        // reported model versions do not.
        _ => {
            let bv: BTreeSet<&str> = before.iter().map(|r| r.tool_fingerprint.as_str()).collect();
            let av: BTreeSet<&str> = after.iter().map(|r| r.tool_fingerprint.as_str()).collect();
            bv != av && !model_version_changed
        }
    };
    FingerprintChange {
        before_config_fingerprint: bfp,
        after_config_fingerprint: afp,
        config_changed,
        changed_fields,
        before_model_versions: bm.into_iter().collect(),
        after_model_versions: am.into_iter().collect(),
        model_version_changed,
        vendor_update: model_version_changed && !config_changed,
    }
}
