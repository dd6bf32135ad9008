//! Production beside the suite: the failure rates of the gateway's live checks on real
//! answers (verdict counts per persona × tool × workflow, from the store) beside the
//! suite's for the same persona × tool × workflow in a run's [`Report`], each with its
//! 95% Wilson interval, and where the two disagree (their intervals do not overlap).

use std::fmt::Write as _;

use proximity_store::LiveCheckRow;
use serde::Serialize;

use crate::estimate::{tidy, Estimate};
use crate::report::Report;

/// The live checks of a window, compared with a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Production {
    /// The window's first and last day (UTC, included).
    pub since: String,
    pub until: String,
    pub rows: Vec<ProductionRow>,
}

/// One persona × tool × workflow with live checks in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductionRow {
    pub persona: String,
    pub tool: String,
    pub workflow: String,
    /// Answers checked, by verdict.
    pub checked: u64,
    pub pass: u64,
    pub structural: u64,
    pub silent: u64,
    pub loud: u64,
    /// Answers drawn for a check and skipped: the gateway's check queue was full.
    pub skipped: u64,
    /// Checked answers that did not pass, with its interval; `None` when none was checked.
    pub production_failure_rate: Option<Estimate>,
    /// One minus the suite's score of the workflow for this persona and tool in the run;
    /// `None` when the run has no results of it.
    pub suite_failure_rate: Option<Estimate>,
    /// Both rates are known and their 95% intervals do not overlap.
    pub disagrees: bool,
}

/// Compare the live checks `rows` (summed over the window `since`..=`until`) with the
/// suite's rates in `report`.
pub fn production(report: &Report, rows: &[LiveCheckRow], since: &str, until: &str) -> Production {
    let suite_score = |persona: &str, tool: &str, workflow: &str| {
        report
            .scorecard
            .iter()
            .find(|s| s.persona == persona && s.tool == tool)
            .and_then(|s| s.workflows.iter().find(|w| w.workflow == workflow))
            .map(|w| w.score)
    };
    production_from(suite_score, rows, since, until)
}

/// [`production`] with the suite's pass rate of a persona × tool × workflow from
/// `suite_score`.
pub fn production_from(
    suite_score: impl Fn(&str, &str, &str) -> Option<Estimate>,
    rows: &[LiveCheckRow],
    since: &str,
    until: &str,
) -> Production {
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let rows = rows
        .iter()
        .map(|r| {
            let checked = count(r.checked());
            let production = (checked > 0).then(|| Estimate::counts(count(r.failed()), checked));
            let suite = suite_score(&r.persona, &r.tool_id, &r.workflow).map(|s| failure_of(&s));
            let disagrees = match (&production, &suite) {
                (Some(p), Some(s)) => p.ci_low > s.ci_high || p.ci_high < s.ci_low,
                _ => false,
            };
            ProductionRow {
                persona: r.persona.clone(),
                tool: r.tool_id.clone(),
                workflow: r.workflow.clone(),
                checked,
                pass: count(r.pass),
                structural: count(r.structural),
                silent: count(r.silent),
                loud: count(r.loud),
                skipped: count(r.skipped),
                production_failure_rate: production,
                suite_failure_rate: suite,
                disagrees,
            }
        })
        .collect();
    Production {
        since: since.to_owned(),
        until: until.to_owned(),
        rows,
    }
}

/// The failure rate of a pass rate: `1 − value`, its interval mirrored.
fn failure_of(pass: &Estimate) -> Estimate {
    Estimate {
        value: tidy(1.0 - pass.value),
        ci_low: tidy(1.0 - pass.ci_high),
        ci_high: tidy(1.0 - pass.ci_low),
        n: pass.n,
        n_eff: pass.n_eff,
    }
}

fn rate(e: Option<&Estimate>) -> (String, String) {
    match e {
        Some(e) => (
            format!("{:.1}%", e.value * 100.0),
            format!("{:.1}–{:.1}%", e.ci_low * 100.0, e.ci_high * 100.0),
        ),
        None => ("-".to_owned(), "-".to_owned()),
    }
}

/// The comparison as the table and Markdown reports end with it.
pub fn render(p: &Production, markdown: bool) -> String {
    let mut out = String::new();
    let title = format!(
        "Production: live checks of real answers from {} to {} (UTC days)",
        p.since, p.until
    );
    let flagged = p.rows.iter().filter(|r| r.disagrees).count();
    let skipped: u64 = p.rows.iter().map(|r| r.skipped).sum();
    if markdown {
        let _ = writeln!(out, "## {title}\n");
        let _ = writeln!(out, "| persona | tool | workflow | checked | skipped | production failure | 95% interval | suite failure | 95% interval | flag |");
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---|---:|---|---|");
    } else {
        let _ = writeln!(out, "{title}\n");
        let _ = writeln!(
            out,
            "{:<20} {:<16} {:<20} {:>8} {:>8} {:>10} {:>14} {:>10} {:>14}  FLAG",
            "PERSONA",
            "TOOL",
            "WORKFLOW",
            "CHECKED",
            "SKIPPED",
            "PROD FAIL",
            "95% INTERVAL",
            "SUITE FAIL",
            "95% INTERVAL"
        );
    }
    for r in &p.rows {
        let (prod, prod_ci) = rate(r.production_failure_rate.as_ref());
        let (suite, suite_ci) = rate(r.suite_failure_rate.as_ref());
        let flag = if r.disagrees {
            "production and suite disagree"
        } else {
            ""
        };
        if markdown {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {prod} | {prod_ci} | {suite} | {suite_ci} | {flag} |",
                r.persona, r.tool, r.workflow, r.checked, r.skipped
            );
        } else {
            let line = format!(
                "{:<20} {:<16} {:<20} {:>8} {:>8} {prod:>10} {prod_ci:>14} {suite:>10} {suite_ci:>14}  {flag}",
                r.persona, r.tool, r.workflow, r.checked, r.skipped
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let _ = writeln!(
        out,
        "\n{flagged} flagged: the 95% intervals of the production and suite failure rates do not overlap."
    );
    if skipped > 0 {
        let _ = writeln!(
            out,
            "{skipped} answers drawn for a live check were skipped: the gateway's check queue was full (`--live-queue`)."
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite's pass rate: 90 of 100 on `p` × `t` × `w`, nothing elsewhere.
    fn suite(persona: &str, tool: &str, workflow: &str) -> Option<Estimate> {
        ((persona, tool, workflow) == ("p", "t", "w")).then(|| Estimate::counts(90, 100))
    }

    fn live(persona: &str, workflow: &str, pass: i64, silent: i64, skipped: i64) -> LiveCheckRow {
        LiveCheckRow {
            pass,
            silent,
            skipped,
            ..LiveCheckRow::new("2026-12-07", persona, "t", workflow)
        }
    }

    #[test]
    fn production_rates_sit_beside_the_suites_and_disagreement_is_flagged() {
        // 40 of 100 failed: about 31–50%, far above the suite's 10% (about 6–17%).
        let p = production_from(
            suite,
            &[live("p", "w", 60, 40, 3), live("p", "other", 1, 0, 0)],
            "2026-11-07",
            "2026-12-07",
        );
        let r = &p.rows[0];
        assert_eq!((r.checked, r.silent, r.skipped), (100, 40, 3));
        let prod = r.production_failure_rate.unwrap();
        assert_eq!(prod.value, 0.4);
        assert!(prod.ci_low > 0.3 && prod.ci_high < 0.5, "{prod:?}");
        let suite_rate = r.suite_failure_rate.unwrap();
        let pass = suite("p", "t", "w").unwrap();
        assert!((suite_rate.value - 0.1).abs() < 1e-9);
        assert!((suite_rate.ci_high - (1.0 - pass.ci_low)).abs() < 1e-9);
        assert!((suite_rate.ci_low - (1.0 - pass.ci_high)).abs() < 1e-9);
        assert!(suite_rate.ci_high < prod.ci_low);
        assert!(r.disagrees);
        // A workflow the run has no results of: no suite rate, no flag.
        assert_eq!(p.rows[1].suite_failure_rate, None);
        assert!(!p.rows[1].disagrees);
        let text = render(&p, false);
        assert!(text.contains("production and suite disagree"), "{text}");
        assert!(text.contains("1 flagged"), "{text}");
        assert!(
            text.contains("3 answers drawn for a live check were skipped"),
            "{text}"
        );
    }

    #[test]
    fn overlapping_intervals_agree() {
        // 2 of 20 failed: an interval around the suite's 10%.
        let p = production_from(suite, &[live("p", "w", 18, 2, 0)], "a", "b");
        assert!(!p.rows[0].disagrees, "{:?}", p.rows[0]);
        assert!(!render(&p, true).contains("disagree |"));
    }
}
