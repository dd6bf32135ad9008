//! The context-fill curve of a probe run: accuracy per fill × depth with Wilson 95%
//! intervals, pooled per fill, and the **effective context** — the largest fill whose
//! accuracy (every depth together), and that of every smaller fill, stays within
//! [`TOLERANCE`] of the empty-context accuracy, and the bracket refinement narrows (the
//! effective fill and the first fill above it, [`knee_bracket`]). Also the renderings (table, JSON, Markdown) `proximity probe context` and `proximity report`
//! print. Pure functions over a run record and its results: no I/O.
//!
//! A probe run is recognised by its config's `probe.kind == "context"`; each result's
//! point is read from its case id, `ctx-f{fill}-t{tokens}-d-{depth}-s{sample}` (see
//! `docs/probes.md`); fills are percents with up to two decimals ([`Fill`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
use proximity_store::{ResultRecord, RunRecord, Verdict};
use serde::{Serialize, Serializer};

use crate::stats::wilson_counts;

/// How far (in accuracy, 0..=1) a fill may fall below the empty context and still count.
pub const TOLERANCE: f64 = 0.10;

/// A fill: percent of the usable window, kept in hundredths of a percent (the grid's
/// whole percents, and the points refinement bisects to between them). Written `25`,
/// `12.5`, `9.77`; in JSON an integer when whole, else a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fill(u32);

impl Fill {
    /// A whole percent.
    pub const fn percent(p: u32) -> Self {
        Self(p * 100)
    }

    pub const fn from_hundredths(h: u32) -> Self {
        Self(h)
    }

    pub const fn hundredths(self) -> u32 {
        self.0
    }

    /// Read `25`, `12.5` or `9.77` (at most two decimals).
    pub fn parse(s: &str) -> Option<Self> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) || s.ends_with('.') {
            return None;
        }
        let whole: u32 = whole.parse().ok()?;
        let frac: u32 = match frac.len() {
            0 => 0,
            1 => frac.parse::<u32>().ok()? * 10,
            _ => frac.parse().ok()?,
        };
        whole.checked_mul(100)?.checked_add(frac).map(Self)
    }
}

impl std::fmt::Display for Fill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        match frac {
            0 => write!(f, "{whole}"),
            d if d % 10 == 0 => write!(f, "{whole}.{}", d / 10),
            d => write!(f, "{whole}.{d:02}"),
        }
    }
}

impl From<Fill> for f64 {
    fn from(fill: Fill) -> f64 {
        f64::from(fill.0) / 100.0
    }
}

impl Serialize for Fill {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(100) {
            s.serialize_u32(self.0 / 100)
        } else {
            s.serialize_f64(f64::from(*self))
        }
    }
}

/// The point a probe case measures, read from its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseKey {
    pub fill: Fill,
    pub tokens: u64,
    pub depth: String,
    pub sample: u32,
}

/// Read `ctx-f50-t3975-d-middle-s2`.
pub fn parse_case_id(id: &str) -> Option<CaseKey> {
    let rest = id.strip_prefix("ctx-f")?;
    let (fill, rest) = rest.split_once("-t")?;
    let (tokens, rest) = rest.split_once("-d-")?;
    let (depth, sample) = rest.rsplit_once("-s")?;
    if depth.is_empty() {
        return None;
    }
    Some(CaseKey {
        fill: Fill::parse(fill)?,
        tokens: tokens.parse().ok()?,
        depth: depth.to_owned(),
        sample: sample.parse().ok()?,
    })
}

/// Accuracy at one fill and depth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Percent of the usable window.
    pub fill: Fill,
    /// Tokens of context at this fill.
    pub tokens: u64,
    pub depth: String,
    pub accuracy: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: u64,
    pub passed: u64,
}

/// Accuracy at one fill, every depth together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillAccuracy {
    pub fill: Fill,
    pub tokens: u64,
    pub accuracy: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: u64,
    /// Within [`TOLERANCE`] of the empty context.
    pub within_tolerance: bool,
}

/// Round to 12 decimals to drop float noise (as the scorecard's JSON does).
fn r12(v: f64) -> f64 {
    (v * 1e12).round() / 1e12
}

fn depth_rank(depth: &str) -> u8 {
    match depth {
        "start" => 0,
        "middle" => 1,
        "end" => 2,
        _ => 3,
    }
}

/// The points of a probe's results (results whose case id is not a probe's are ignored).
pub fn points(results: &[ResultRecord]) -> Vec<Point> {
    let mut groups: BTreeMap<(Fill, u8, String), (u64, u64, u64)> = BTreeMap::new();
    for r in results {
        let Some(key) = parse_case_id(&r.case_id) else {
            continue;
        };
        let g = groups
            .entry((key.fill, depth_rank(&key.depth), key.depth))
            .or_insert((key.tokens, 0, 0));
        g.1 += 1;
        if r.verdict == Verdict::Pass {
            g.2 += 1;
        }
    }
    groups
        .into_iter()
        .map(|((fill, _, depth), (tokens, n, passed))| {
            let ci = wilson_counts(passed, n);
            Point {
                fill,
                tokens,
                depth,
                accuracy: r12(passed as f64 / n.max(1) as f64),
                ci_low: r12(ci.low),
                ci_high: r12(ci.high),
                n,
                passed,
            }
        })
        .collect()
}

/// Accuracy per fill (depths pooled), ascending by fill, each marked against the
/// empty-context accuracy (`within_tolerance` is false everywhere without a fill 0).
pub fn by_fill(points: &[Point]) -> Vec<FillAccuracy> {
    let mut fills: BTreeMap<Fill, (u64, u64, u64)> = BTreeMap::new();
    for p in points {
        let f = fills.entry(p.fill).or_insert((p.tokens, 0, 0));
        f.1 += p.n;
        f.2 += p.passed;
    }
    let baseline = fills
        .get(&Fill::default())
        .filter(|f| f.1 > 0)
        .map(|f| f.2 as f64 / f.1 as f64);
    fills
        .into_iter()
        .map(|(fill, (tokens, n, passed))| {
            let accuracy = r12(passed as f64 / n.max(1) as f64);
            let ci = wilson_counts(passed, n);
            FillAccuracy {
                fill,
                tokens,
                accuracy,
                ci_low: r12(ci.low),
                ci_high: r12(ci.high),
                n,
                within_tolerance: baseline.is_some_and(|b| accuracy >= b - TOLERANCE - 1e-9),
            }
        })
        .collect()
}

/// The empty-context accuracy (fill 0, depths pooled).
pub fn baseline_accuracy(points: &[Point]) -> Option<f64> {
    by_fill(points)
        .into_iter()
        .find(|f| f.fill == Fill::default() && f.n > 0)
        .map(|f| f.accuracy)
}

/// The largest fill that, with every smaller fill, stays within [`TOLERANCE`] of the
/// empty context. `None` without a fill-0 point, or when the empty context is never
/// answered (accuracy 0: there is nothing to lose, so no knee to find).
pub fn effective_fill(points: &[Point]) -> Option<Fill> {
    let baseline = baseline_accuracy(points)?;
    if baseline <= 0.0 {
        return None;
    }
    by_fill(points)
        .into_iter()
        .take_while(|f| f.within_tolerance)
        .last()
        .map(|f| f.fill)
}

/// The effective context in tokens: the context size at [`effective_fill`].
pub fn effective_context(points: &[Point]) -> Option<u64> {
    let fill = effective_fill(points)?;
    by_fill(points)
        .into_iter()
        .find(|f| f.fill == fill)
        .map(|f| f.tokens)
}

/// Where the knee lies: the effective fill and the first fill measured above it (which
/// fell below the tolerance). Refinement bisects between the two. `None` without an
/// effective fill, or when no fill above it was measured (every fill held).
pub fn knee_bracket(points: &[Point]) -> Option<(FillAccuracy, FillAccuracy)> {
    let good = effective_fill(points)?;
    let fills = by_fill(points);
    let at = fills.iter().position(|f| f.fill == good)?;
    let above = fills.get(at + 1)?.clone();
    Some((fills[at].clone(), above))
}

/// Whether a run is a context-fill probe.
pub fn is_context_probe(run: &RunRecord) -> bool {
    run.config
        .get("probe")
        .and_then(|p| p.get("kind"))
        .and_then(|k| k.as_str())
        == Some("context")
}

fn probe_str<'a>(run: &'a RunRecord, key: &str) -> Option<&'a str> {
    run.config.get("probe")?.get(key)?.as_str()
}

fn probe_u64(run: &RunRecord, key: &str) -> Option<u64> {
    run.config.get("probe")?.get(key)?.as_u64()
}

/// The curve of a context-fill probe run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    pub run_id: String,
    pub status: String,
    pub tool: String,
    /// The tool's window in tokens.
    pub window: Option<u64>,
    /// Tokens a fill of 100% stands for (the window less the reserve).
    pub usable: Option<u64>,
    /// How tokens were counted.
    pub counting: Option<String>,
    /// Whether counts are the model's own (false: the 4-characters estimate).
    pub counting_exact: bool,
    pub filler: Option<String>,
    pub points: Vec<Point>,
    pub fills: Vec<FillAccuracy>,
    pub baseline_accuracy: Option<f64>,
    pub effective_fill: Option<Fill>,
    pub effective_context_tokens: Option<u64>,
    /// The first fill measured above the effective one (below the tolerance): the knee
    /// lies between the two. `None` when every fill held.
    pub first_below_fill: Option<Fill>,
    /// Tokens of context at `first_below_fill`.
    pub first_below_tokens: Option<u64>,
}

/// The curve of `run`, or `None` when it is not a context-fill probe.
pub fn curve(run: &RunRecord, results: &[ResultRecord]) -> Option<Curve> {
    if !is_context_probe(run) {
        return None;
    }
    let points = points(results);
    let above = knee_bracket(&points).map(|(_, above)| above);
    Some(Curve {
        run_id: run.id.clone(),
        status: run.status.as_str().to_owned(),
        tool: probe_str(run, "tool").unwrap_or_default().to_owned(),
        window: probe_u64(run, "window"),
        usable: probe_u64(run, "usable"),
        counting: probe_str(run, "counting").map(str::to_owned),
        counting_exact: run
            .config
            .get("probe")
            .and_then(|p| p.get("counting_exact"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        filler: probe_str(run, "filler").map(str::to_owned),
        fills: by_fill(&points),
        baseline_accuracy: baseline_accuracy(&points),
        effective_fill: effective_fill(&points),
        effective_context_tokens: effective_context(&points),
        first_below_fill: above.as_ref().map(|a| a.fill),
        first_below_tokens: above.map(|a| a.tokens),
        points,
    })
}

/// The newest context-fill probe run of `tool`.
pub fn latest_context_run<'a>(runs: &'a [RunRecord], tool: &str) -> Option<&'a RunRecord> {
    runs.iter()
        .filter(|r| is_context_probe(r) && probe_str(r, "tool") == Some(tool))
        .max_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)))
}

/// A tool's latest effective context in tokens, from its newest context-fill probe run:
/// `runs` as stored, `results_of` the results of the run it picks. (The store is read by
/// the caller; see `proximity_cli::commands::probe::latest_effective_context`.)
pub fn latest_effective_context<'a>(
    runs: &'a [RunRecord],
    tool: &str,
    results_of: impl FnOnce(&'a RunRecord) -> Vec<ResultRecord>,
) -> Option<u64> {
    let run = latest_context_run(runs, tool)?;
    let results = results_of(run);
    curve(run, &results)?.effective_context_tokens
}

const NONE: &str = "—";

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

fn with_ci(accuracy: f64, low: f64, high: f64) -> String {
    format!(
        "{:.0}% [{:.0}–{:.0}]",
        accuracy * 100.0,
        low * 100.0,
        high * 100.0
    )
}

/// `12345` → `12,345`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bar(accuracy: f64) -> String {
    let full = (accuracy.clamp(0.0, 1.0) * 20.0).round() as usize;
    format!("{}{}", "█".repeat(full), "·".repeat(20 - full))
}

fn depths(curve: &Curve) -> Vec<String> {
    let mut d: Vec<String> = curve.points.iter().map(|p| p.depth.clone()).collect();
    d.sort_by_key(|d| (depth_rank(d), d.clone()));
    d.dedup();
    d
}

fn cell(curve: &Curve, fill: Fill, depth: &str) -> String {
    curve
        .points
        .iter()
        .find(|p| p.fill == fill && p.depth == depth)
        .map_or_else(|| NONE.to_owned(), |p| format!("{}/{}", p.passed, p.n))
}

fn headline(curve: &Curve) -> String {
    match (curve.effective_context_tokens, curve.effective_fill) {
        (Some(tokens), Some(fill)) => {
            let of_window = curve
                .window
                .map(|w| format!(" of a {} window", thousands(w)))
                .unwrap_or_default();
            let mut s = format!(
                "Effective context: {} tokens{of_window} (fill {fill}%): accuracy stays within {:.0} points of the empty context's {}.",
                thousands(tokens),
                TOLERANCE * 100.0,
                pct(curve.baseline_accuracy.unwrap_or(0.0))
            );
            match (curve.first_below_fill, curve.first_below_tokens) {
                (Some(above), Some(above_tokens)) => {
                    let _ = write!(
                        s,
                        "\nThe knee lies between {} and {} tokens: fill {above}%, the next one measured, falls below.",
                        thousands(tokens),
                        thousands(above_tokens),
                    );
                }
                _ => s.push_str("\nEvery fill measured stays within: the knee, if any, lies above the largest."),
            }
            s
        }
        _ => match curve.baseline_accuracy {
            None => "Effective context: unknown (no fill-0 point to compare with).".to_owned(),
            Some(_) => "Effective context: unknown (the empty context is never answered right: nothing to lose, no knee to find).".to_owned(),
        },
    }
}

fn subtitle(curve: &Curve) -> String {
    let mut s = format!(
        "Context fill of `{}` (run {}, {})",
        curve.tool, curve.run_id, curve.status
    );
    if let (Some(w), Some(u)) = (curve.window, curve.usable) {
        let _ = write!(
            s,
            ": window {} tokens, {} usable",
            thousands(w),
            thousands(u)
        );
    }
    if let Some(c) = &curve.counting {
        let _ = write!(s, "; counted with {c}");
        if !curve.counting_exact {
            s.push_str(" (±25%)");
        }
    }
    s
}

/// A terminal table: one row per fill, passes per depth, pooled accuracy with its Wilson
/// interval and a bar.
pub fn table(curve: &Curve) -> String {
    let depths = depths(curve);
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let mut header = vec!["fill".to_owned(), "tokens".to_owned()];
    header.extend(depths.iter().cloned());
    header.extend([
        "accuracy [95% CI]".to_owned(),
        "curve".to_owned(),
        String::new(),
    ]);
    t.set_header(header);
    for f in &curve.fills {
        let mut row = vec![format!("{}%", f.fill), thousands(f.tokens)];
        row.extend(depths.iter().map(|d| cell(curve, f.fill, d)));
        row.push(with_ci(f.accuracy, f.ci_low, f.ci_high));
        row.push(bar(f.accuracy));
        row.push(
            if Some(f.fill) == curve.effective_fill {
                "◀ effective"
            } else if !f.within_tolerance && curve.baseline_accuracy.is_some() {
                "below"
            } else {
                ""
            }
            .to_owned(),
        );
        t.add_row(row);
    }
    for i in 1..=depths.len() + 2 {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    format!("{}\n{t}\n{}\n", subtitle(curve), headline(curve))
}

/// Markdown: the same table for pull requests and wikis.
pub fn markdown(curve: &Curve) -> String {
    let depths = depths(curve);
    let mut s = format!("### {}\n\n", subtitle(curve));
    let _ = write!(s, "| fill | tokens |");
    for d in &depths {
        let _ = write!(s, " {d} |");
    }
    s.push_str(" accuracy [95% CI] |\n|---:|---:|");
    for _ in &depths {
        s.push_str("---:|");
    }
    s.push_str("---:|\n");
    for f in &curve.fills {
        let _ = write!(s, "| {}% | {} |", f.fill, thousands(f.tokens));
        for d in &depths {
            let _ = write!(s, " {} |", cell(curve, f.fill, d));
        }
        let _ = writeln!(s, " {} |", with_ci(f.accuracy, f.ci_low, f.ci_high));
    }
    let _ = writeln!(s, "\n{}", headline(curve));
    s
}

/// Stable JSON (documented in `docs/probes.md`).
pub fn json(curve: &Curve) -> String {
    serde_json::to_string_pretty(curve).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn point(fill: u32, depth: &str, passed: u64, n: u64) -> Point {
        Point {
            fill: Fill::percent(fill),
            tokens: u64::from(fill) * 100,
            depth: depth.to_owned(),
            accuracy: passed as f64 / n as f64,
            ci_low: 0.0,
            ci_high: 1.0,
            n,
            passed,
        }
    }

    #[test]
    fn case_ids_round_trip() {
        assert_eq!(
            parse_case_id("ctx-f50-t3975-d-middle-s2"),
            Some(CaseKey {
                fill: Fill::percent(50),
                tokens: 3975,
                depth: "middle".into(),
                sample: 2
            })
        );
        assert_eq!(
            parse_case_id("ctx-f9.77-t1554-d-end-s0").map(|k| k.fill),
            Some(Fill::from_hundredths(977))
        );
        assert_eq!(parse_case_id("capital"), None);
        assert_eq!(parse_case_id("ctx-fx-t1-d-end-s0"), None);
    }

    #[test]
    fn effective_context_is_the_last_fill_within_ten_points_of_empty() {
        // 90%, 85% (within 10), 75% (15 below): effective = fill 25.
        let pts = vec![
            point(0, "start", 9, 10),
            point(25, "start", 17, 20),
            point(50, "start", 15, 20),
            point(75, "start", 18, 20),
        ];
        assert_eq!(effective_fill(&pts), Some(Fill::percent(25)));
        assert_eq!(effective_context(&pts), Some(2500));
        // A later recovery does not count: the curve must stay within.
        let fills = by_fill(&pts);
        assert!(fills[3].within_tolerance && !fills[2].within_tolerance);
    }

    #[test]
    fn depths_are_pooled_per_fill() {
        // At fill 50 the start is lost but middle and end hold: 2/3 pooled, not within
        // 10 points of 100%.
        let pts = vec![
            point(0, "start", 4, 4),
            point(0, "end", 4, 4),
            point(50, "start", 0, 4),
            point(50, "end", 4, 4),
        ];
        assert_eq!(effective_fill(&pts), Some(Fill::percent(0)));
        assert_eq!(effective_context(&pts), Some(0));
        let all_good = vec![point(0, "start", 4, 4), point(50, "start", 4, 4)];
        assert_eq!(effective_context(&all_good), Some(5000));
    }

    #[test]
    fn no_baseline_or_a_hopeless_one_gives_no_effective_context() {
        assert_eq!(effective_context(&[point(50, "end", 4, 4)]), None);
        assert_eq!(
            effective_context(&[point(0, "end", 0, 4), point(50, "end", 0, 4)]),
            None
        );
    }

    #[test]
    fn fills_read_write_and_serialize_with_up_to_two_decimals() {
        for (text, h) in [
            ("0", 0),
            ("25", 2500),
            ("12.5", 1250),
            ("9.77", 977),
            ("0.05", 5),
        ] {
            let fill = Fill::parse(text).unwrap();
            assert_eq!(fill.hundredths(), h, "{text}");
            assert_eq!(fill.to_string(), text);
        }
        for bad in ["", ".5", "5.", "1.234", "x", "-1", "1.x"] {
            assert_eq!(Fill::parse(bad), None, "{bad}");
        }
        assert_eq!(serde_json::json!(Fill::percent(25)), serde_json::json!(25));
        assert_eq!(
            serde_json::json!(Fill::from_hundredths(977)),
            serde_json::json!(9.77)
        );
        assert!(Fill::from_hundredths(977) < Fill::percent(10));
        assert_eq!(f64::from(Fill::from_hundredths(1250)), 12.5);
    }

    #[test]
    fn the_knee_is_bracketed_by_the_effective_fill_and_the_next_one() {
        let mut pts = vec![
            point(0, "end", 4, 4),
            point(25, "end", 4, 4),
            point(50, "end", 0, 4),
            point(75, "end", 0, 4),
        ];
        let (good, above) = knee_bracket(&pts).unwrap();
        assert_eq!(
            (good.fill, above.fill),
            (Fill::percent(25), Fill::percent(50))
        );
        // A point between narrows it, whichever way it falls.
        let mut mid = point(0, "end", 4, 4);
        mid.fill = Fill::from_hundredths(3750);
        mid.tokens = 3750;
        pts.push(mid);
        let (good, above) = knee_bracket(&pts).unwrap();
        assert_eq!(
            (good.fill, above.fill),
            (Fill::from_hundredths(3750), Fill::percent(50))
        );
        assert_eq!(effective_context(&pts), Some(3750));
        // Nothing to bracket when every fill holds, or without a baseline.
        let flat = vec![point(0, "end", 4, 4), point(90, "end", 4, 4)];
        assert!(knee_bracket(&flat).is_none());
        assert!(knee_bracket(&[point(50, "end", 4, 4)]).is_none());
    }

    #[test]
    fn the_newest_probe_run_of_a_tool_is_found() {
        let run = |id: &str, secs: i64, probe: serde_json::Value| RunRecord {
            id: id.into(),
            program: "p".into(),
            started_at: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            finished_at: None,
            status: proximity_store::RunStatus::Finished,
            config: serde_json::json!({ "probe": probe }),
            planned: 0,
        };
        let runs = vec![
            run("a", 10, serde_json::json!({"kind": "context", "tool": "x"})),
            run("b", 30, serde_json::json!({"kind": "context", "tool": "y"})),
            run("c", 20, serde_json::json!({"kind": "context", "tool": "x"})),
            run("d", 40, serde_json::json!({"kind": "risk", "tool": "x"})),
        ];
        assert_eq!(latest_context_run(&runs, "x").unwrap().id, "c");
        assert!(latest_context_run(&runs, "z").is_none());
        let tokens = latest_effective_context(&runs, "x", |r| {
            assert_eq!(r.id, "c");
            Vec::new()
        });
        assert_eq!(tokens, None);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1024), "1,024");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
