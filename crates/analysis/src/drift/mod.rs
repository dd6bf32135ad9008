//! Drift: what changed for each tool between a baseline's results and results of the
//! same cases now. Pure functions over stored results and tool configurations.
//!
//! - **Quality**: per case, the samples are aggregated first (a case passes when a strict
//!   majority of its samples pass), so samples never count as independent cases. The
//!   cases present on both sides are paired; pass rates before and after, their difference
//!   with Newcombe's paired hybrid score interval (method 10) and the exact McNemar test
//!   on the discordant cases, overall, per workflow (when there are several) and per
//!   safety probe family. Quality drift is declared when the overall test is significant
//!   at α ([`crate::paired::ALPHA`] = 0.05); only then are the workflows and families
//!   tested, their p-values Holm–Bonferroni-adjusted together at α, to say where (serial
//!   gatekeeping: the family-wise false-alarm rate per tool stays at most α).
//! - **Flips**: the paired cases whose aggregated outcome changed, both outputs side by side.
//! - **Output shape**: length (median / p90 characters), refusal rate, JSON validity share
//!   (of results with a JSON contract), latency (p50 / p90) and cost per request.
//! - **Fingerprint**: which configuration fields changed, and whether the provider reports
//!   another model version under the same configuration: a silent vendor update.
//!
//! `docs/drift.md` documents the method and the JSON shape. The configuration comparison
//! is in `fingerprint`, the JSON and table renderings in `render`; this module holds
//! the report's types and the comparison itself.

use std::collections::{BTreeMap, BTreeSet};

use proximity_program::fingerprint::{config_fingerprint, config_value, version_fingerprint};
use proximity_program::Program;
use proximity_store::{BaselineTool, ResultRecord, Verdict};
use serde::Serialize;
use serde_json::Value;

use crate::paired::{self, holm, mcnemar_exact, newcombe_paired, PairedCounts};
use crate::stats::{percentile, percentile_u64, Interval};

mod fingerprint;
mod render;

pub use fingerprint::changed_fields;
use fingerprint::fingerprint_change;
pub use render::{json, table};
use render::{percent, signed_points};

/// A tool's configuration as fingerprinted, when known.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolConfig {
    pub fingerprint: Option<String>,
    /// `proximity_program::fingerprint::config_value` of the tool.
    pub value: Option<Value>,
}

/// What [`compare`] needs.
pub struct DriftInput<'a> {
    /// The baseline's name.
    pub baseline: &'a str,
    /// The baseline's results.
    pub before: &'a [ResultRecord],
    /// Results of the same cases now.
    pub after: &'a [ResultRecord],
    /// Configuration per tool id at the baseline and now.
    pub before_configs: &'a BTreeMap<String, ToolConfig>,
    pub after_configs: &'a BTreeMap<String, ToolConfig>,
    /// The safety probe family of a result's case (`injection`, `canary`, …), if any.
    pub family_of: &'a dyn Fn(&ResultRecord) -> Option<String>,
    /// Whether an output is a refusal.
    pub refused: &'a dyn Fn(&str) -> bool,
    /// Family-wise significance level per tool.
    pub alpha: f64,
}

/// The drift report of `proximity drift` (stable JSON, see `docs/drift.md`).
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub baseline: String,
    /// The runs the "after" results come from.
    pub runs: Vec<String>,
    pub alpha: f64,
    pub method: Method,
    pub tools: Vec<ToolDrift>,
    /// Tools of the baseline without results now.
    pub missing_tools: Vec<String>,
    /// Any tool drifted (quality, configuration or a silent vendor update).
    pub drift: bool,
}

/// How the numbers were computed (names, for the reader of the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub aggregation: &'static str,
    pub test: &'static str,
    pub interval: &'static str,
    pub correction: &'static str,
}

impl Default for Method {
    fn default() -> Self {
        Self {
            aggregation: "per case: pass when a strict majority of its samples pass",
            test: "exact McNemar (two-sided binomial on discordant pairs)",
            interval: "Newcombe hybrid score interval for paired proportions (method 10), 95%",
            correction: "serial gatekeeping: overall at alpha, then Holm-Bonferroni across the \
                         workflows and safety families of a tool",
        }
    }
}

/// Everything that changed for one tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolDrift {
    pub tool: String,
    /// Cases on both sides (paired).
    pub paired_cases: u64,
    /// Cases only in the baseline / only now (not compared).
    pub baseline_only: u64,
    pub current_only: u64,
    pub overall: Comparison,
    pub workflows: Vec<Comparison>,
    pub families: Vec<Comparison>,
    /// The overall comparison is significant at α.
    pub quality_drift: bool,
    pub flips: Vec<Flip>,
    pub shape: ShapeChange,
    pub fingerprint: FingerprintChange,
    /// Quality drift, a configuration change or a silent vendor update.
    pub drift: bool,
    /// One sentence per finding (`kind`, `summary`).
    pub findings: Vec<Finding>,
}

/// One finding on a tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `quality`, `config_change` or `vendor_update`.
    pub kind: &'static str,
    pub summary: String,
}

/// A before/after comparison of pass rates on paired cases.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// `overall`, or the workflow / family name.
    pub name: String,
    pub cases: u64,
    pub before: f64,
    pub after: f64,
    /// `after − before`.
    pub difference: f64,
    pub interval: Interval,
    pub pass_to_fail: u64,
    pub fail_to_pass: u64,
    pub p_value: f64,
    /// The overall comparison's own p-value; a workflow's or family's Holm-adjusted
    /// across the workflows and families of the tool.
    pub p_adjusted: f64,
    pub significant: bool,
}

/// A case whose aggregated outcome changed.
#[derive(Debug, Clone, Serialize)]
pub struct Flip {
    pub case: String,
    pub workflow: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `pass_to_fail` or `fail_to_pass`.
    pub direction: &'static str,
    pub before: FlipSide,
    pub after: FlipSide,
}

/// One side of a flip: the first sample's output and verdict, and the sample tally.
#[derive(Debug, Clone, Serialize)]
pub struct FlipSide {
    pub passes: u32,
    pub samples: u32,
    pub verdict: Verdict,
    pub reason: String,
    pub output: String,
}

/// Output shape before and after.
#[derive(Debug, Clone, Serialize)]
pub struct ShapeChange {
    pub before: Shape,
    pub after: Shape,
}

/// The shape of a tool's outputs over all samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Shape {
    pub results: u64,
    pub median_chars: Option<f64>,
    pub p90_chars: Option<f64>,
    pub refusal_rate: f64,
    /// Share of results with a JSON contract whose output parses as JSON.
    pub json_valid_share: Option<f64>,
    pub latency_p50_ms: Option<u64>,
    pub latency_p90_ms: Option<u64>,
    pub cost_per_request_usd: f64,
}

/// What changed in a tool's fingerprint.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FingerprintChange {
    pub before_config_fingerprint: Option<String>,
    pub after_config_fingerprint: Option<String>,
    pub config_changed: bool,
    /// The configuration fields that differ (empty when the baseline's configuration is
    /// unknown).
    pub changed_fields: Vec<FieldChange>,
    pub before_model_versions: Vec<String>,
    pub after_model_versions: Vec<String>,
    pub model_version_changed: bool,
    /// Same configuration, another reported model version.
    pub vendor_update: bool,
}

/// One configuration field that changed (`model`, `params.temperature`, `capabilities`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// A case's samples, aggregated.
#[derive(Debug, Clone)]
struct CaseOutcome<'a> {
    pass: bool,
    passes: u32,
    samples: u32,
    first: &'a ResultRecord,
    family: Option<String>,
}

fn aggregate<'a>(
    results: impl Iterator<Item = &'a ResultRecord>,
    family_of: &dyn Fn(&ResultRecord) -> Option<String>,
) -> BTreeMap<String, CaseOutcome<'a>> {
    let mut out: BTreeMap<String, CaseOutcome<'a>> = BTreeMap::new();
    for r in results {
        let passed = u32::from(r.verdict == Verdict::Pass);
        out.entry(r.case_id.clone())
            .and_modify(|c| {
                c.passes += passed;
                c.samples += 1;
                if r.sample < c.first.sample {
                    c.first = r;
                }
            })
            .or_insert_with(|| CaseOutcome {
                pass: false,
                passes: passed,
                samples: 1,
                first: r,
                family: family_of(r),
            });
    }
    for c in out.values_mut() {
        c.pass = 2 * c.passes > c.samples;
    }
    out
}

fn comparison(name: &str, counts: &PairedCounts) -> Comparison {
    Comparison {
        name: name.to_owned(),
        cases: counts.n(),
        before: counts.before_rate(),
        after: counts.after_rate(),
        difference: counts.difference(),
        interval: newcombe_paired(counts),
        pass_to_fail: counts.pass_to_fail,
        fail_to_pass: counts.fail_to_pass,
        p_value: mcnemar_exact(counts.pass_to_fail, counts.fail_to_pass),
        p_adjusted: 1.0,
        significant: false,
    }
}

fn shape(results: &[&ResultRecord], refused: &dyn Fn(&str) -> bool) -> Shape {
    if results.is_empty() {
        return Shape::default();
    }
    let n = results.len();
    let chars: Vec<f64> = results
        .iter()
        .map(|r| r.output.chars().count() as f64)
        .collect();
    let latencies: Vec<u64> = results.iter().map(|r| r.latency_ms).collect();
    let json_results: Vec<&&ResultRecord> = results
        .iter()
        .filter(|r| {
            r.assertions.iter().any(|a| {
                a.group == "contract"
                    && (a.assertion.starts_with("is_json")
                        || a.assertion.starts_with("json_schema")
                        || a.assertion.starts_with("json_path"))
            })
        })
        .collect();
    let json_valid_share = (!json_results.is_empty()).then(|| {
        let valid = json_results
            .iter()
            .filter(|r| serde_json::from_str::<Value>(r.output.trim()).is_ok())
            .count();
        valid as f64 / json_results.len() as f64
    });
    Shape {
        results: n as u64,
        median_chars: percentile(&chars, 50.0),
        p90_chars: percentile(&chars, 90.0),
        refusal_rate: results.iter().filter(|r| refused(&r.output)).count() as f64 / n as f64,
        json_valid_share,
        latency_p50_ms: percentile_u64(&latencies, 50.0),
        latency_p90_ms: percentile_u64(&latencies, 90.0),
        cost_per_request_usd: results.iter().map(|r| r.cost_usd).sum::<f64>() / n as f64,
    }
}

fn tool_drift(
    tool: &str,
    before: &[&ResultRecord],
    after: &[&ResultRecord],
    input: &DriftInput<'_>,
) -> ToolDrift {
    let b = aggregate(before.iter().copied(), input.family_of);
    let a = aggregate(after.iter().copied(), input.family_of);
    let mut overall = PairedCounts::default();
    let mut workflows: BTreeMap<String, PairedCounts> = BTreeMap::new();
    let mut families: BTreeMap<String, PairedCounts> = BTreeMap::new();
    let mut flips = Vec::new();
    for (id, bc) in &b {
        let Some(ac) = a.get(id) else { continue };
        overall.add(bc.pass, ac.pass);
        workflows
            .entry(bc.first.workflow.clone())
            .or_default()
            .add(bc.pass, ac.pass);
        if let Some(f) = &bc.family {
            families.entry(f.clone()).or_default().add(bc.pass, ac.pass);
        }
        if bc.pass != ac.pass {
            let side = |c: &CaseOutcome<'_>| FlipSide {
                passes: c.passes,
                samples: c.samples,
                verdict: c.first.verdict,
                reason: c.first.reason.clone(),
                output: c.first.output.clone(),
            };
            flips.push(Flip {
                case: id.clone(),
                workflow: bc.first.workflow.clone(),
                family: bc.family.clone(),
                direction: if bc.pass {
                    "pass_to_fail"
                } else {
                    "fail_to_pass"
                },
                before: side(bc),
                after: side(ac),
            });
        }
    }
    let mut overall = comparison("overall", &overall);
    // One workflow is the overall comparison again: test it once.
    let mut workflows: Vec<Comparison> = if workflows.len() > 1 {
        workflows
            .iter()
            .map(|(name, c)| comparison(name, c))
            .collect()
    } else {
        Vec::new()
    };
    let mut families: Vec<Comparison> = families
        .iter()
        .map(|(name, c)| comparison(name, c))
        .collect();
    // Serial gatekeeping: the overall comparison is tested at α; only when it is
    // significant are the workflows and families tested, Holm-adjusted together at α.
    // Strong family-wise control at α per tool (nothing is declared unless the overall
    // test rejects, and Holm controls the second family).
    overall.p_adjusted = overall.p_value;
    overall.significant = overall.cases > 0 && overall.p_value <= input.alpha;
    let raw: Vec<f64> = workflows
        .iter()
        .chain(families.iter())
        .map(|c| c.p_value)
        .collect();
    let mut adj = holm(&raw).into_iter();
    for c in workflows.iter_mut().chain(families.iter_mut()) {
        c.p_adjusted = adj.next().unwrap_or(1.0);
        c.significant = overall.significant && c.cases > 0 && c.p_adjusted <= input.alpha;
    }
    let quality_drift = overall.significant;
    let fingerprint = fingerprint_change(
        before,
        after,
        input.before_configs.get(tool),
        input.after_configs.get(tool),
    );
    let mut findings = Vec::new();
    if quality_drift {
        let which: Vec<String> = std::iter::once(&overall)
            .chain(workflows.iter())
            .chain(families.iter())
            .filter(|c| c.significant)
            .map(|c| {
                format!(
                    "{} {} → {} ({}, adjusted p = {:.4})",
                    c.name,
                    percent(c.before),
                    percent(c.after),
                    signed_points(c.difference),
                    c.p_adjusted
                )
            })
            .collect();
        findings.push(Finding {
            kind: "quality",
            summary: format!("pass rate changed: {}", which.join("; ")),
        });
    }
    if fingerprint.config_changed {
        let fields: Vec<&str> = fingerprint
            .changed_fields
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        findings.push(Finding {
            kind: "config_change",
            summary: if fields.is_empty() {
                "the tool's configuration changed (the baseline's configuration is unknown)"
                    .to_owned()
            } else {
                format!("configuration changed: {}", fields.join(", "))
            },
        });
    }
    if fingerprint.vendor_update {
        findings.push(Finding {
            kind: "vendor_update",
            summary: format!(
                "silent vendor update: same configuration, the provider now reports model \
                 version {} (was {})",
                fingerprint.after_model_versions.join(", "),
                fingerprint.before_model_versions.join(", ")
            ),
        });
    }
    let paired_cases = overall.cases;
    ToolDrift {
        tool: tool.to_owned(),
        paired_cases,
        baseline_only: b.len() as u64 - paired_cases,
        current_only: a.len() as u64 - paired_cases,
        overall,
        workflows,
        families,
        quality_drift,
        flips,
        shape: ShapeChange {
            before: shape(before, input.refused),
            after: shape(after, input.refused),
        },
        drift: !findings.is_empty(),
        fingerprint,
        findings,
    }
}

fn by_tool(rs: &[ResultRecord]) -> BTreeMap<String, Vec<&ResultRecord>> {
    let mut m: BTreeMap<String, Vec<&ResultRecord>> = BTreeMap::new();
    for r in rs {
        m.entry(r.tool_id.clone()).or_default().push(r);
    }
    m
}

/// Compare a baseline's results with results of the same cases now, per tool.
pub fn compare(input: &DriftInput<'_>) -> DriftReport {
    let before = by_tool(input.before);
    let after = by_tool(input.after);
    let mut tools = Vec::new();
    let mut missing_tools = Vec::new();
    for (tool, b) in &before {
        match after.get(tool) {
            Some(a) => tools.push(tool_drift(tool, b, a, input)),
            None => missing_tools.push(tool.clone()),
        }
    }
    let runs: BTreeSet<String> = input.after.iter().map(|r| r.run_id.clone()).collect();
    DriftReport {
        baseline: input.baseline.to_owned(),
        runs: runs.into_iter().collect(),
        alpha: input.alpha,
        method: Method::default(),
        drift: tools.iter().any(|t| t.drift),
        tools,
        missing_tools,
    }
}

/// The default α of [`DriftInput::alpha`].
pub const ALPHA: f64 = paired::ALPHA;

/// The configuration of `tool_id` in `program` when it is the one that produced results
/// fingerprinted `tool_fingerprint` with `model_version` (recomputed and compared).
pub fn matching_config(
    program: &Program,
    tool_id: &str,
    tool_fingerprint: &str,
    model_version: Option<&str>,
) -> ToolConfig {
    let Some(tool) = program.tool(tool_id) else {
        return ToolConfig::default();
    };
    let cfp = config_fingerprint(tool);
    if version_fingerprint(&cfp, model_version) == tool_fingerprint {
        ToolConfig {
            fingerprint: Some(cfp),
            value: Some(config_value(tool)),
        }
    } else {
        ToolConfig::default()
    }
}

/// What a baseline pins of a run: one row per (tool, version fingerprint) of its results,
/// with the tool's configuration where the program still produces that fingerprint.
pub fn baseline_tools(program: &Program, results: &[ResultRecord]) -> Vec<BaselineTool> {
    let mut groups: BTreeMap<(String, String), BaselineTool> = BTreeMap::new();
    for r in results {
        let t = groups
            .entry((r.tool_id.clone(), r.tool_fingerprint.clone()))
            .or_insert_with(|| {
                let config = matching_config(
                    program,
                    &r.tool_id,
                    &r.tool_fingerprint,
                    r.model_version.as_deref(),
                );
                BaselineTool {
                    tool_id: r.tool_id.clone(),
                    tool_fingerprint: r.tool_fingerprint.clone(),
                    config_fingerprint: config.fingerprint,
                    model_version: r.model_version.clone(),
                    config: config.value,
                    results: 0,
                    passed: 0,
                }
            });
        t.results += 1;
        t.passed += u64::from(r.verdict == Verdict::Pass);
        if t.model_version.is_none() {
            t.model_version = r.model_version.clone();
        }
    }
    groups.into_values().collect()
}

#[cfg(test)]
mod tests;
