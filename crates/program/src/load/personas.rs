//! The `personas:` of `proximity.yaml`: each persona's tier, and its workflows (the work
//! mix), whose shares sum to 1, with their `live:` checks and `live_sample`.

use std::collections::HashMap;

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::Node;

use super::Loader;
use crate::assertion::{parse_groups, Assertions, LIVE_CHECK_KEYS};
use crate::diagnostic::Diagnostic;
use crate::model::{Persona, Workflow, DEFAULT_LIVE_SAMPLE};
use crate::raw::RawPersona;
use crate::suggest::{did_you_mean, one_of};

/// Default share of edge cases in a workflow's real work.
pub const DEFAULT_EDGE_SHARE: f64 = 0.4;

impl Loader {
    pub(super) fn personas(
        &mut self,
        map: &MarkedMappingNode,
        tier_ids: &[String],
    ) -> Vec<Persona> {
        let tier_ids: Vec<&str> = tier_ids.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for node in self.list(map, "personas") {
            let Some(raw) = self.item::<RawPersona>(node, "persona") else {
                if let Some(id) = node
                    .as_mapping()
                    .and_then(|m| m.get_scalar("id"))
                    .map(|id| id.as_str().to_owned())
                {
                    self.broken_personas.push(id);
                }
                continue;
            };
            if !self.dup_check(&mut seen, &raw.id, "persona") {
                continue;
            }
            if !tier_ids.contains(&raw.tier.as_str()) {
                let d = self
                    .diag(
                        raw.tier.span(),
                        format!(
                            "persona `{}` names unknown tier `{}`",
                            raw.id.as_str(),
                            raw.tier.as_str()
                        ),
                    )
                    .key("tier")
                    .expected(one_of(tier_ids.iter().copied()))
                    .hint(did_you_mean(&raw.tier, tier_ids.iter().copied()));
                self.diags.push(d);
            }
            let mut wf_seen = HashMap::new();
            let mut workflows = Vec::new();
            let mut total = 0.0;
            let wf_nodes: &[Node] = match node.as_mapping().and_then(|m| m.get_node("workflows")) {
                Some(Node::Sequence(seq)) => seq.as_slice(),
                _ => &[],
            };
            for (i, w) in raw.workflows.iter().enumerate() {
                let live = wf_nodes
                    .get(i)
                    .and_then(Node::as_mapping)
                    .and_then(|m| m.get_node("live"))
                    .map(|n| self.live_checks(n))
                    .unwrap_or_default();
                if let Some(sample) = &w.live_sample {
                    if !(0.0..=1.0).contains(&**sample) {
                        let d = self
                            .diag(
                                sample.span(),
                                format!("live_sample {} is out of range", **sample),
                            )
                            .key("live_sample")
                            .expected("a fraction from 0 to 1 (e.g. 0.1 checks one answer in ten)");
                        self.diags.push(d);
                    }
                }
                if !self.dup_check(&mut wf_seen, &w.id, "workflow") {
                    continue;
                }
                for (name, value) in [("share", &w.share), ("floor", &w.floor)] {
                    if !(0.0..=1.0).contains(&**value) {
                        let d = self
                            .diag(value.span(), format!("{name} {} is out of range", **value))
                            .key(name)
                            .expected("a fraction from 0 to 1 (e.g. 0.25 for 25%)");
                        self.diags.push(d);
                    }
                }
                if let Some(e) = &w.edge_share {
                    if !(0.0..=1.0).contains(&**e) {
                        let d = self
                            .diag(e.span(), format!("edge_share {} is out of range", **e))
                            .key("edge_share")
                            .expected("a fraction from 0 to 1");
                        self.diags.push(d);
                    }
                }
                total += *w.share;
                workflows.push(Workflow {
                    id: w.id.as_str().to_owned(),
                    name: w.name.clone(),
                    share: *w.share,
                    monthly_volume: w.monthly_volume,
                    floor: *w.floor,
                    edge_share: w
                        .edge_share
                        .as_ref()
                        .map(|e| **e)
                        .unwrap_or(DEFAULT_EDGE_SHARE),
                    live,
                    live_sample: w
                        .live_sample
                        .as_ref()
                        .map(|s| **s)
                        .unwrap_or(DEFAULT_LIVE_SAMPLE),
                });
            }
            if workflows.is_empty() {
                let d = self
                    .diag(
                        raw.workflows.span(),
                        format!("persona `{}` has no workflows", raw.id.as_str()),
                    )
                    .key("workflows")
                    .expected("at least one workflow with `id`, `share` and `floor`");
                self.diags.push(d);
            } else if (total - 1.0).abs() > 0.01 {
                let d = self
                    .diag(raw.workflows.span(), format!("workflow shares of persona `{}` sum to {total:.3}", raw.id.as_str()))
                    .key("workflows[].share")
                    .expected("shares that sum to 1 (±0.01): each is the fraction of the persona's real work");
                self.diags.push(d);
            }
            out.push(Persona {
                id: raw.id.as_str().to_owned(),
                name: raw.name.unwrap_or_else(|| raw.id.as_str().to_owned()),
                headcount: raw.headcount,
                tier: raw.tier.as_str().to_owned(),
                workflows,
            });
        }
        out
    }

    /// A workflow's `live:` checks: assertion groups parsed as a case's `assert:` is,
    /// each of a kind that needs no expected answer ([`LIVE_CHECK_KEYS`]).
    fn live_checks(&mut self, node: &Node) -> Assertions {
        let live = parse_groups(&self.sources, node, "live", &mut self.diags);
        for a in live.iter() {
            let key = a.check.key();
            if LIVE_CHECK_KEYS.contains(&key) {
                continue;
            }
            let d = Diagnostic {
                file: a.location.file.clone(),
                line: a.location.line,
                column: a.location.column,
                key: Some(format!("live.{}.{key}", a.group.as_str())),
                message: format!(
                    "`{key}` cannot be a live check: it needs an expected answer, and real traffic has none"
                ),
                expected: Some(one_of(LIVE_CHECK_KEYS.iter().copied().filter(|k| *k != "not"))),
                hint: None,
                snippet: None,
            };
            self.diags.push(d);
        }
        live
    }
}
