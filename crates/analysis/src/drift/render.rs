//! The drift report rendered: as stable JSON, and as the table `proximity drift` prints.

use std::fmt::Write as _;

use super::{Comparison, DriftReport};

pub(super) fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub(super) fn signed_points(x: f64) -> String {
    format!("{:+.1} pts", x * 100.0)
}

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
