//! The `tiers:` of `proximity.yaml`: each tier's tools checked against the declared ones.

use std::collections::HashMap;

use marked_yaml::types::MarkedMappingNode;

use super::Loader;
use crate::model::Tier;
use crate::raw::RawTier;
use crate::suggest::{did_you_mean, one_of};

impl Loader {
    pub(super) fn tiers(&mut self, map: &MarkedMappingNode, tool_ids: &[String]) -> Vec<Tier> {
        let tool_ids: Vec<&str> = tool_ids.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for node in self.list(map, "tiers") {
            let Some(raw) = self.item::<RawTier>(node, "tier") else {
                continue;
            };
            if !self.dup_check(&mut seen, &raw.id, "tier") {
                continue;
            }
            for t in &raw.tools {
                if !tool_ids.contains(&t.as_str()) {
                    let d = self
                        .diag(
                            t.span(),
                            format!(
                                "tier `{}` names unknown tool `{}`",
                                raw.id.as_str(),
                                t.as_str()
                            ),
                        )
                        .key("tools")
                        .expected(one_of(tool_ids.iter().copied()))
                        .hint(did_you_mean(t, tool_ids.iter().copied()));
                    self.diags.push(d);
                }
            }
            out.push(Tier {
                id: raw.id.as_str().to_owned(),
                tools: raw.tools.iter().map(|t| t.as_str().to_owned()).collect(),
                budget_per_seat_month: raw.budget_per_seat_month,
                rate_limit: raw.rate_limit,
                data_classes: raw.data_classes,
            });
        }
        out
    }
}
