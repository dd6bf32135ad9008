//! The `tiers:` of `proximity.yaml`: each tier's tools checked against the declared ones.

use std::collections::HashMap;

use marked_yaml::types::MarkedMappingNode;

use super::Loader;
use crate::model::{Tier, DEFAULT_CAPTURE_SAMPLE};
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
            let capture_sample = self.capture_sample(&raw);
            out.push(Tier {
                id: raw.id.as_str().to_owned(),
                tools: raw.tools.iter().map(|t| t.as_str().to_owned()).collect(),
                budget_per_seat_month: raw.budget_per_seat_month,
                rate_limit: raw.rate_limit,
                data_classes: raw.data_classes,
                capture_sample,
            });
        }
        out
    }

    /// `capture` and `capture_sample`: the share captured when capture is on, within
    /// 0–1 (a located error otherwise, and for a sample given with capture off, which
    /// would silently capture nothing).
    fn capture_sample(&mut self, raw: &RawTier) -> Option<f64> {
        let on = raw.capture.as_ref().is_some_and(|c| **c);
        let sample = raw.capture_sample.as_ref();
        if let Some(s) = sample {
            if !(0.0..=1.0).contains(&**s) || s.is_nan() {
                let d = self
                    .diag(
                        s.span(),
                        format!(
                            "tier `{}`: capture_sample {} is out of range",
                            raw.id.as_str(),
                            **s
                        ),
                    )
                    .key("capture_sample")
                    .expected("a share of requests from 0 to 1, e.g. `0.1`");
                self.diags.push(d);
                return None;
            }
            if !on {
                let d = self
                    .diag(
                        s.span(),
                        format!(
                            "tier `{}` sets capture_sample without `capture: true`",
                            raw.id.as_str()
                        ),
                    )
                    .key("capture_sample")
                    .expected("`capture: true` beside it, or no capture_sample")
                    .hint(Some(
                        "capture is off by default: nothing would be captured".to_owned(),
                    ));
                self.diags.push(d);
                return None;
            }
        }
        on.then(|| sample.map_or(DEFAULT_CAPTURE_SAMPLE, |s| **s))
    }
}
