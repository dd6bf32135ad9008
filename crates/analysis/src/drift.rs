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
//! `docs/drift.md` documents the method and the JSON shape.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use proximity_program::fingerprint::{config_fingerprint, config_value, version_fingerprint};
use proximity_program::Program;
use proximity_store::{BaselineTool, ResultRecord, Verdict};
use serde::Serialize;
use serde_json::Value;

use crate::paired::{self, holm, mcnemar_exact, newcombe_paired, PairedCounts};
use crate::stats::{percentile, percentile_u64, Interval};

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

/// The fields of two configurations that differ: objects are walked key by key
/// (`params.temperature`), anything else is compared whole (`capabilities`).
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

fn fingerprint_change(
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

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn signed_points(x: f64) -> String {
    format!("{:+.1} pts", x * 100.0)
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

/// The report as stable, pretty JSON.
pub fn json(report: &DriftReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

fn excerpt(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = collapsed.chars().take(max).collect();
    if collapsed.chars().count() > max {
        short.push('…');
    }
    format!("{short:?}")
}

fn comparison_line(out: &mut String, c: &Comparison) {
    let _ = writeln!(
        out,
        "  {:<22} {:>4} cases  {:>6} → {:>6}  {:>10}  95% CI [{:+.1}, {:+.1}]  flips -{} +{}  p {:.4}  adj {:.4}{}",
        c.name,
        c.cases,
        percent(c.before),
        percent(c.after),
        signed_points(c.difference),
        c.interval.low * 100.0,
        c.interval.high * 100.0,
        c.pass_to_fail,
        c.fail_to_pass,
        c.p_value,
        c.p_adjusted,
        if c.significant { "  DRIFT" } else { "" }
    );
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The report as text for a terminal.
pub fn table(report: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "drift since baseline `{}` (runs: {}; α = {} family-wise per tool: overall, then Holm across workflows and families)",
        report.baseline,
        report.runs.join(", "),
        report.alpha
    );
    for t in &report.tools {
        let _ = writeln!(
            out,
            "\ntool `{}`: {}",
            t.tool,
            if t.drift { "DRIFT" } else { "no drift" }
        );
        for f in &t.findings {
            let _ = writeln!(out, "  ! {}: {}", f.kind, f.summary);
        }
        let _ = writeln!(
            out,
            "  {} paired cases ({} only in the baseline, {} only now)",
            t.paired_cases, t.baseline_only, t.current_only
        );
        comparison_line(&mut out, &t.overall);
        if !t.workflows.is_empty() {
            let _ = writeln!(out, "  per workflow:");
            for c in &t.workflows {
                comparison_line(&mut out, c);
            }
        }
        if !t.families.is_empty() {
            let _ = writeln!(out, "  per safety probe family:");
            for c in &t.families {
                comparison_line(&mut out, c);
            }
        }
        let (b, a) = (&t.shape.before, &t.shape.after);
        let _ = writeln!(out, "  output shape            before → after");
        let _ = writeln!(
            out,
            "    length median/p90     {}/{} → {}/{} chars",
            opt(b.median_chars),
            opt(b.p90_chars),
            opt(a.median_chars),
            opt(a.p90_chars)
        );
        let _ = writeln!(
            out,
            "    refusal rate          {} → {}",
            percent(b.refusal_rate),
            percent(a.refusal_rate)
        );
        let _ = writeln!(
            out,
            "    valid JSON            {} → {}",
            b.json_valid_share.map_or_else(|| "-".to_owned(), percent),
            a.json_valid_share.map_or_else(|| "-".to_owned(), percent)
        );
        let _ = writeln!(
            out,
            "    latency p50/p90       {}/{} → {}/{} ms",
            opt(b.latency_p50_ms),
            opt(b.latency_p90_ms),
            opt(a.latency_p50_ms),
            opt(a.latency_p90_ms)
        );
        let _ = writeln!(
            out,
            "    cost per request      ${:.6} → ${:.6}",
            b.cost_per_request_usd, a.cost_per_request_usd
        );
        let fp = &t.fingerprint;
        let _ = writeln!(
            out,
            "  configuration {} → {}{}",
            opt(fp.before_config_fingerprint.as_deref()),
            opt(fp.after_config_fingerprint.as_deref()),
            if fp.config_changed { " (changed)" } else { "" }
        );
        for f in &fp.changed_fields {
            let _ = writeln!(out, "    {}: {} → {}", f.field, f.before, f.after);
        }
        let _ = writeln!(
            out,
            "  model version {} → {}{}",
            if fp.before_model_versions.is_empty() {
                "-".to_owned()
            } else {
                fp.before_model_versions.join(", ")
            },
            if fp.after_model_versions.is_empty() {
                "-".to_owned()
            } else {
                fp.after_model_versions.join(", ")
            },
            if fp.vendor_update {
                " (silent vendor update)"
            } else {
                ""
            }
        );
        if !t.flips.is_empty() {
            let _ = writeln!(out, "  flipped cases:");
            for f in &t.flips {
                let _ = writeln!(
                    out,
                    "    {} [{}] {}",
                    f.case,
                    f.workflow,
                    f.direction.replace('_', " ")
                );
                let _ = writeln!(
                    out,
                    "      before ({}/{} pass, {}): {}",
                    f.before.passes,
                    f.before.samples,
                    f.before.verdict,
                    excerpt(&f.before.output, 70)
                );
                let _ = writeln!(
                    out,
                    "      after  ({}/{} pass, {}): {}",
                    f.after.passes,
                    f.after.samples,
                    f.after.verdict,
                    excerpt(&f.after.output, 70)
                );
            }
        }
    }
    for m in &report.missing_tools {
        let _ = writeln!(out, "\ntool `{m}`: no results now (not compared)");
    }
    let _ = writeln!(
        out,
        "\n{}",
        if report.drift {
            "drift found"
        } else {
            "no drift found"
        }
    );
    out
}

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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn result(case: &str, workflow: &str, sample: u32, pass: bool, version: &str) -> ResultRecord {
        ResultRecord {
            run_id: "r".into(),
            case_id: case.into(),
            tool_id: "t".into(),
            sample,
            persona: "p".into(),
            workflow: workflow.into(),
            kind: "routine".into(),
            source: "synthetic".into(),
            case_weight: 1.0,
            tool_fingerprint: format!("fp-{version}"),
            model_version: Some(version.into()),
            output: if pass { "Paris".into() } else { "Lyon".into() },
            error_class: None,
            error_message: None,
            input_tokens: 10,
            output_tokens: 2,
            cost_usd: 0.001,
            latency_ms: 100,
            attempts: 1,
            cached: false,
            verdict: if pass { Verdict::Pass } else { Verdict::Silent },
            reason: String::new(),
            assertions: vec![],
            mean_logprob: None,
            hedged: None,
            created_at: Utc::now(),
        }
    }

    fn no_family(_: &ResultRecord) -> Option<String> {
        None
    }

    fn never(_: &str) -> bool {
        false
    }

    fn configs(fp: &str, model: &str) -> BTreeMap<String, ToolConfig> {
        BTreeMap::from([(
            "t".to_owned(),
            ToolConfig {
                fingerprint: Some(fp.into()),
                value: Some(serde_json::json!({"model": model, "params": {"temperature": 0.0}})),
            },
        )])
    }

    fn run(
        before: &[ResultRecord],
        after: &[ResultRecord],
        bc: &BTreeMap<String, ToolConfig>,
        ac: &BTreeMap<String, ToolConfig>,
    ) -> DriftReport {
        compare(&DriftInput {
            baseline: "b",
            before,
            after,
            before_configs: bc,
            after_configs: ac,
            family_of: &no_family,
            refused: &never,
            alpha: ALPHA,
        })
    }

    #[test]
    fn unchanged_results_are_not_drift() {
        let rs: Vec<ResultRecord> = (0..30)
            .map(|i| result(&format!("c{i}"), "w", 0, i % 5 != 0, "v1"))
            .collect();
        let c = configs("a", "m");
        let r = run(&rs, &rs, &c, &c);
        assert!(!r.drift);
        let t = &r.tools[0];
        assert_eq!(t.paired_cases, 30);
        assert!(t.flips.is_empty());
        assert_eq!(t.overall.p_value, 1.0);
    }

    #[test]
    fn a_drop_on_many_cases_is_quality_drift_with_flips() {
        let before: Vec<ResultRecord> = (0..40)
            .map(|i| {
                result(
                    &format!("c{i}"),
                    if i < 20 { "a" } else { "b" },
                    0,
                    true,
                    "v1",
                )
            })
            .collect();
        let after: Vec<ResultRecord> = (0..40)
            .map(|i| {
                result(
                    &format!("c{i}"),
                    if i < 20 { "a" } else { "b" },
                    0,
                    i >= 8,
                    "v1",
                )
            })
            .collect();
        let c = configs("a", "m");
        let r = run(&before, &after, &c, &c);
        let t = &r.tools[0];
        assert!(t.quality_drift && r.drift);
        assert_eq!(t.flips.len(), 8);
        assert!(t.flips.iter().all(|f| f.direction == "pass_to_fail"));
        assert_eq!(t.flips[0].before.output, "Paris");
        assert_eq!(t.flips[0].after.output, "Lyon");
        assert_eq!(t.workflows.len(), 2);
        // All the drop is in workflow `a`: significant there, not in `b`.
        assert!(t.workflows[0].significant && !t.workflows[1].significant);
        assert!(t.overall.interval.high < 0.0);
        assert_eq!(t.findings[0].kind, "quality");
        assert!(!t.fingerprint.vendor_update && !t.fingerprint.config_changed);
    }

    #[test]
    fn samples_are_aggregated_per_case_by_majority() {
        // Three samples per case; one failing sample in each case is noise, not drift.
        let mut before = Vec::new();
        let mut after = Vec::new();
        for i in 0..20 {
            for s in 0..3 {
                before.push(result(&format!("c{i}"), "w", s, s != 0, "v1"));
                after.push(result(&format!("c{i}"), "w", s, s != 2, "v1"));
            }
        }
        let c = configs("a", "m");
        let r = run(&before, &after, &c, &c);
        let t = &r.tools[0];
        assert_eq!(t.overall.cases, 20, "cases, not samples");
        assert!(t.flips.is_empty());
        assert!(!r.drift);
        assert_eq!(t.shape.before.results, 60);
    }

    #[test]
    fn another_model_version_under_the_same_config_is_a_vendor_update() {
        let before: Vec<ResultRecord> = (0..10)
            .map(|i| result(&format!("c{i}"), "w", 0, true, "m-2025-01"))
            .collect();
        let after: Vec<ResultRecord> = (0..10)
            .map(|i| result(&format!("c{i}"), "w", 0, true, "m-2025-06"))
            .collect();
        let c = configs("a", "m");
        let r = run(&before, &after, &c, &c);
        let t = &r.tools[0];
        assert!(t.fingerprint.vendor_update && !t.fingerprint.config_changed);
        assert!(!t.quality_drift);
        assert_eq!(t.findings.len(), 1);
        assert_eq!(t.findings[0].kind, "vendor_update");
        assert!(r.drift);
    }

    #[test]
    fn config_change_names_the_fields() {
        let rs: Vec<ResultRecord> = (0..10)
            .map(|i| result(&format!("c{i}"), "w", 0, true, "v1"))
            .collect();
        let before = configs("a", "m");
        let mut after = configs("b", "m");
        if let Some(t) = after.get_mut("t") {
            t.value = Some(
                serde_json::json!({"model": "m", "params": {"temperature": 0.7},
                "capabilities": ["chat", "tools"]}),
            );
        }
        let r = run(&rs, &rs, &before, &after);
        let fp = &r.tools[0].fingerprint;
        assert!(fp.config_changed && !fp.vendor_update);
        let fields: Vec<&str> = fp.changed_fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["capabilities", "params.temperature"]);
        assert_eq!(r.tools[0].findings[0].kind, "config_change");
    }

    #[test]
    fn table_snapshot() {
        let before: Vec<ResultRecord> = (0..12)
            .map(|i| {
                result(
                    &format!("c{i:02}"),
                    if i < 6 { "a" } else { "b" },
                    0,
                    true,
                    "v1",
                )
            })
            .collect();
        let mut after: Vec<ResultRecord> = (0..12)
            .map(|i| {
                result(
                    &format!("c{i:02}"),
                    if i < 6 { "a" } else { "b" },
                    0,
                    i >= 7,
                    "v2",
                )
            })
            .collect();
        for r in &mut after {
            r.latency_ms = 250;
        }
        let c = configs("a", "m");
        let r = run(&before, &after, &c, &c);
        insta::assert_snapshot!(table(&r));
    }

    #[test]
    fn tools_without_results_now_are_listed_missing() {
        let rs = vec![result("c", "w", 0, true, "v1")];
        let c = configs("a", "m");
        let r = run(&rs, &[], &c, &c);
        assert_eq!(r.missing_tools, ["t"]);
        assert!(r.tools.is_empty() && !r.drift);
    }
}
