//! Friction against benefit, from the field log: per persona × tool, the minutes saved
//! and lost per note, the net hours per month at the persona's volume, what a net hour
//! saved costs, and where friction outweighs the benefit.
//!
//! Method (`docs/decisions.md`, "Friction"): each note is one task; its net is minutes
//! saved minus minutes lost. The mean net per task gets a 95% Student-t interval over
//! the notes (n − 1 degrees of freedom; none with fewer than two notes), and is scaled
//! by the persona's monthly volume (Σ of its workflows' `monthly_volume`) to hours per
//! month. It rests on n notes — people's own estimates — and says so.

use std::collections::BTreeMap;

use proximity_program::Program;
use proximity_store::NoteRecord;
use serde::Serialize;

/// One persona × tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrictionRow {
    pub persona: String,
    pub tool: String,
    /// Notes it rests on.
    pub n: usize,
    pub mean_minutes_saved: f64,
    pub mean_minutes_lost: f64,
    /// Mean of per-note (saved − lost).
    pub mean_net_minutes: f64,
    /// 95% t-interval of the mean net minutes; `None` with fewer than two notes.
    pub net_minutes_ci: Option<(f64, f64)>,
    /// Tasks per month of the persona.
    pub monthly_volume: u64,
    pub net_hours_per_month: f64,
    pub net_hours_ci: Option<(f64, f64)>,
    /// The tool's monthly cost for the persona, where known (plan evidence or seats).
    pub monthly_cost_usd: Option<f64>,
    /// Monthly cost over net hours saved; `None` unless net hours are positive.
    pub cost_per_net_hour_usd: Option<f64>,
    /// Net hours are negative: "friction cost outweighs efficiency benefit".
    pub friction_outweighs_benefit: bool,
}

/// The two-sided 95% Student-t quantile for `df` degrees of freedom.
pub fn t_quantile_95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        31..=40 => 2.021,
        41..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// Mean and 95% t-interval of `values`; no interval with fewer than two.
pub fn mean_t_interval(values: &[f64]) -> (f64, Option<(f64, f64)>) {
    let n = values.len();
    if n == 0 {
        return (0.0, None);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t_quantile_95(n - 1) * (var / n as f64).sqrt();
    (mean, Some((mean - half, mean + half)))
}

/// Friction per persona × tool of `notes`. `monthly_cost` gives the tool's monthly cost
/// for a persona where the caller knows it (from measured tokens); otherwise seats ×
/// headcount is used when the tool is in the program.
pub fn friction(
    program: &Program,
    notes: &[NoteRecord],
    monthly_cost: &BTreeMap<(String, String), f64>,
) -> Vec<FrictionRow> {
    let mut groups: BTreeMap<(String, String), Vec<&NoteRecord>> = BTreeMap::new();
    for n in notes {
        groups
            .entry((n.note.persona.clone(), n.note.tool.clone()))
            .or_default()
            .push(n);
    }
    let mut out = Vec::new();
    for ((persona, tool), group) in groups {
        let count = group.len();
        let saved: f64 = group.iter().map(|n| n.note.minutes_saved).sum::<f64>() / count as f64;
        let lost: f64 = group.iter().map(|n| n.note.minutes_lost).sum::<f64>() / count as f64;
        let nets: Vec<f64> = group
            .iter()
            .map(|n| n.note.minutes_saved - n.note.minutes_lost)
            .collect();
        let (mean_net, ci) = mean_t_interval(&nets);
        let p = program.persona(&persona);
        let volume: u64 = p.map_or(0, |p| p.workflows.iter().map(|w| w.monthly_volume).sum());
        let to_hours = |m: f64| m * volume as f64 / 60.0;
        let net_hours = to_hours(mean_net);
        let cost = monthly_cost
            .get(&(persona.clone(), tool.clone()))
            .copied()
            .or_else(|| {
                let t = program.tool(&tool)?;
                Some(t.price.seat_per_month * f64::from(p?.headcount))
            });
        out.push(FrictionRow {
            persona,
            tool,
            n: count,
            mean_minutes_saved: saved,
            mean_minutes_lost: lost,
            mean_net_minutes: mean_net,
            net_minutes_ci: ci,
            monthly_volume: volume,
            net_hours_per_month: net_hours,
            net_hours_ci: ci.map(|(l, h)| (to_hours(l), to_hours(h))),
            monthly_cost_usd: cost,
            cost_per_net_hour_usd: cost.filter(|_| net_hours > 0.0).map(|c| c / net_hours),
            friction_outweighs_benefit: mean_net < 0.0,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fixture::{persona, program, tool, workflow};
    use chrono::{NaiveDate, Utc};
    use proximity_store::{NewNote, NoteOutcome, NoteRole};

    fn note(tool: &str, saved: f64, lost: f64) -> NoteRecord {
        NoteRecord {
            id: 1,
            created_at: Utc::now(),
            note: NewNote {
                date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
                author: "a".into(),
                role: NoteRole::Practitioner,
                persona: "a".into(),
                tool: tool.into(),
                workflow: None,
                task: "t".into(),
                what_happened: "x".into(),
                outcome: NoteOutcome::Worked,
                failure_mode: None,
                minutes_saved: saved,
                minutes_lost: lost,
                prompt: None,
                output: None,
            },
            promoted_case: None,
            promoted_suite: None,
        }
    }

    #[test]
    fn t_interval_matches_a_hand_computation() {
        // Nets 10, 20, 30: mean 20, s = 10, half = 4.303 × 10 / √3 = 24.843.
        let (m, ci) = mean_t_interval(&[10.0, 20.0, 30.0]);
        assert!((m - 20.0).abs() < 1e-12);
        let (lo, hi) = ci.unwrap();
        assert!((lo - (20.0 - 24.8434)).abs() < 1e-3, "{lo}");
        assert!((hi - (20.0 + 24.8434)).abs() < 1e-3, "{hi}");
        assert_eq!(mean_t_interval(&[5.0]), (5.0, None));
    }

    #[test]
    fn net_hours_cost_per_hour_and_friction() {
        let p = program(
            vec![tool("good", 0.0, 0.0, 30.0), tool("bad", 0.0, 0.0, 10.0)],
            vec![persona("a", 2, vec![workflow("w", 1.0, 0.5, 0.4, 600)])],
        );
        let notes = vec![
            note("good", 15.0, 5.0),
            note("good", 20.0, 0.0),
            note("bad", 5.0, 25.0),
        ];
        let mut cost = BTreeMap::new();
        cost.insert(("a".to_owned(), "good".to_owned()), 120.0);
        let rows = friction(&p, &notes, &cost);
        assert_eq!(rows.len(), 2);
        let bad = &rows[0];
        assert_eq!(bad.tool, "bad");
        assert!(bad.friction_outweighs_benefit);
        // −20 minutes × 600 tasks / 60 = −200 hours; seats 10 × 2 = 20 USD.
        assert!((bad.net_hours_per_month + 200.0).abs() < 1e-9);
        assert_eq!(bad.monthly_cost_usd, Some(20.0));
        assert_eq!(bad.cost_per_net_hour_usd, None);
        assert_eq!(bad.net_minutes_ci, None);
        let good = &rows[1];
        // Nets 10 and 20: mean 15 → 150 hours; 120 USD / 150 h.
        assert!((good.net_hours_per_month - 150.0).abs() < 1e-9);
        assert!((good.cost_per_net_hour_usd.unwrap() - 0.8).abs() < 1e-9);
        assert!(!good.friction_outweighs_benefit);
        let (lo, hi) = good.net_hours_ci.unwrap();
        assert!(lo < 150.0 && hi > 150.0);
    }
}
