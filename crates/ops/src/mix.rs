//! The observed work mix and the weights evaluations rest on. `proximity mix` shows, per
//! persona, each workflow's declared share beside its observed share of gateway requests
//! ([`observe`]); `eval`, `report` and `plan` with `--weights observed` weigh the
//! real-work score and the planner by it ([`weigh`], [`price_plan`]).
//!
//! Observed shares are shares of all of a persona's answered requests in the window,
//! unlabelled ones (no `x-proximity-workflow`) and those of workflows the program does
//! not name included, so the rows of a persona sum to 1 and what cannot be compared is
//! shown. Reweighting uses the observed counts of the program's workflows only,
//! normalised to sum to 1 (the real-work score normalises by covered shares the same way).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use proximity_analysis::plan::PlanInput;
use proximity_analysis::stats::wilson_counts;
use proximity_program::Program;
use proximity_store::{MixCount, Store};
use serde::Serialize;

use crate::{ids, OpsError};

/// How requests without `x-proximity-workflow` are shown.
pub const UNLABELLED: &str = "unlabelled";
/// The workflow the gateway records for requests that name none.
pub const RECORDED_UNLABELLED: &str = "unknown";
/// How far (share points, 0..=1) a declared share may lie outside the observed 95%
/// interval before it is flagged.
pub const FLAG_MARGIN: f64 = 0.05;
/// The window of observed weights when none is given.
pub const DEFAULT_SINCE: &str = "30d";
/// Days per month for the observed monthly volume.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// The observed work mix of a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mix {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Answered requests of every persona shown.
    pub requests: u64,
    pub personas: Vec<PersonaMix>,
}

/// One persona's observed mix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaMix {
    pub persona: String,
    /// False for a persona seen in usage that the program no longer has.
    pub in_program: bool,
    pub requests: u64,
    /// The program's workflows in program order, then other observed workflow tags, then
    /// `unlabelled`.
    pub workflows: Vec<WorkflowMix>,
}

/// One workflow's declared and observed share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowMix {
    pub workflow: String,
    /// The share in `proximity.yaml`; `None` for traffic the program does not declare.
    pub declared_share: Option<f64>,
    pub declared_monthly_volume: Option<u64>,
    pub requests: u64,
    /// Share of the persona's requests; `None` when the persona has none.
    pub observed_share: Option<f64>,
    /// The 95% Wilson interval of the observed share.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Requests per 30 days at the window's rate.
    pub observed_monthly_volume: f64,
    pub input_tokens_per_request: Option<f64>,
    pub output_tokens_per_request: Option<f64>,
    pub flag: Option<MixFlag>,
}

/// Why a workflow's row needs a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MixFlag {
    /// The declared share lies more than [`FLAG_MARGIN`] outside the observed interval.
    OutsideInterval,
    /// Requests name a workflow the persona does not have in the program.
    NotInProgram,
}

impl MixFlag {
    pub fn describe(self) -> &'static str {
        match self {
            Self::OutsideInterval => "declared share outside the observed interval",
            Self::NotInProgram => "not in the program",
        }
    }
}

impl Mix {
    pub fn flagged(&self) -> usize {
        self.personas
            .iter()
            .flat_map(|p| &p.workflows)
            .filter(|w| w.flag.is_some())
            .count()
    }

    fn days(&self) -> f64 {
        ((self.until - self.since).num_seconds() as f64 / 86_400.0).max(1.0 / 24.0)
    }
}

/// The observed mix of requests made at or after `since` and before `until`, of
/// `persona` only when given.
pub async fn observe(
    store: &Store,
    program: &Program,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    persona: Option<&str>,
) -> Result<Mix, OpsError> {
    if let Some(p) = persona {
        ids::persona(program, p)?;
    }
    if since >= until {
        return Err(OpsError::invalid(format!(
            "the window starts at {since}, not before its end {until}"
        ))
        .with_hint("give `--since` a time in the past"));
    }
    let counts = store.usage_mix(since, until, persona).await?;
    Ok(build(program, since, until, persona, &counts))
}

/// The mix from the store's counts (see [`observe`]).
pub fn build(
    program: &Program,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    persona: Option<&str>,
    counts: &[MixCount],
) -> Mix {
    let mut mix = Mix {
        since,
        until,
        requests: 0,
        personas: Vec::new(),
    };
    let days = mix.days();
    let mut ids: Vec<(&str, bool)> = program
        .personas
        .iter()
        .filter(|p| persona.is_none_or(|x| x == p.id))
        .map(|p| (p.id.as_str(), true))
        .collect();
    for c in counts {
        if !ids.iter().any(|(id, _)| *id == c.persona) {
            ids.push((c.persona.as_str(), false));
        }
    }
    for (id, in_program) in ids {
        let declared = program.personas.iter().find(|p| p.id == id);
        let own: Vec<&MixCount> = counts.iter().filter(|c| c.persona == id).collect();
        let total: u64 = own.iter().map(|c| c.requests.max(0) as u64).sum();
        let mut tags: Vec<(String, Option<&proximity_program::Workflow>)> = declared
            .map(|p| {
                p.workflows
                    .iter()
                    .map(|w| (w.id.clone(), Some(w)))
                    .collect()
            })
            .unwrap_or_default();
        let mut extra: Vec<String> = own
            .iter()
            .map(|c| c.workflow.clone())
            .filter(|w| w != RECORDED_UNLABELLED && !tags.iter().any(|(t, _)| t == w))
            .collect();
        extra.sort();
        tags.extend(extra.into_iter().map(|w| (w, None)));
        // A workflow of the program named `unknown` takes the unlabelled requests too:
        // the usage rows cannot tell them apart.
        if own.iter().any(|c| c.workflow == RECORDED_UNLABELLED)
            && !tags.iter().any(|(t, _)| t == RECORDED_UNLABELLED)
        {
            tags.push((RECORDED_UNLABELLED.to_owned(), None));
        }
        let workflows = tags
            .into_iter()
            .map(|(tag, declared)| {
                let found = own.iter().find(|c| c.workflow == tag);
                let n = found.map_or(0, |c| c.requests.max(0) as u64);
                let per_request = |sum: i64| (n > 0).then(|| sum.max(0) as f64 / n as f64);
                let unlabelled = tag == RECORDED_UNLABELLED && declared.is_none();
                let (share, low, high) = if total > 0 {
                    let i = wilson_counts(n, total);
                    (Some(n as f64 / total as f64), Some(i.low), Some(i.high))
                } else {
                    (None, None, None)
                };
                let flag = match (declared, low, high) {
                    (None, _, _) if !unlabelled => Some(MixFlag::NotInProgram),
                    (Some(w), Some(low), Some(high))
                        if w.share < low - FLAG_MARGIN || w.share > high + FLAG_MARGIN =>
                    {
                        Some(MixFlag::OutsideInterval)
                    }
                    _ => None,
                };
                WorkflowMix {
                    workflow: if unlabelled {
                        UNLABELLED.to_owned()
                    } else {
                        tag
                    },
                    declared_share: declared.map(|w| w.share),
                    declared_monthly_volume: declared.map(|w| w.monthly_volume),
                    requests: n,
                    observed_share: share,
                    ci_low: low,
                    ci_high: high,
                    observed_monthly_volume: n as f64 * DAYS_PER_MONTH / days,
                    input_tokens_per_request: found.and_then(|c| per_request(c.input_tokens)),
                    output_tokens_per_request: found.and_then(|c| per_request(c.output_tokens)),
                    flag,
                }
            })
            .collect();
        mix.requests += total;
        mix.personas.push(PersonaMix {
            persona: id.to_owned(),
            in_program,
            requests: total,
            workflows,
        });
    }
    mix
}

/// Which shares and volumes evaluations are weighted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightChoice {
    /// The shares and monthly volumes in `proximity.yaml`.
    Declared,
    /// The observed mix of requests since this time.
    Observed { since: DateTime<Utc> },
}

/// What the weights of a scorecard or plan rest on, as the report states it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weights {
    /// `declared` or `observed`.
    pub source: &'static str,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Requests of the program's workflows the observed shares rest on.
    pub requests: u64,
    /// Personas with no requests of their workflows in the window: they keep their
    /// declared weights.
    pub declared_personas: Vec<String>,
}

impl Weights {
    /// One line for a person: which weights, which window, how many requests.
    pub fn describe(&self) -> String {
        match (self.since, self.until) {
            (Some(since), Some(until)) => {
                let mut s = format!(
                    "Weights: observed work mix from {} to {}, {} request{} of the program's workflows",
                    since.format("%Y-%m-%d %H:%M UTC"),
                    until.format("%Y-%m-%d %H:%M UTC"),
                    self.requests,
                    if self.requests == 1 { "" } else { "s" }
                );
                if !self.declared_personas.is_empty() {
                    s.push_str(&format!(
                        "; declared weights for {} (no requests)",
                        self.declared_personas.join(", ")
                    ));
                }
                s
            }
            _ => "Weights: declared shares and monthly volumes (proximity.yaml)".to_owned(),
        }
    }
}

/// The program to weigh evaluations by, the weights it carries, and the mix behind them.
#[derive(Debug, Clone)]
pub struct Weighted<'a> {
    pub program: Cow<'a, Program>,
    pub weights: Weights,
    pub mix: Option<Mix>,
}

/// `program` as `choice` weighs it: unchanged for declared weights; for observed ones,
/// each persona with requests of its workflows in the window gets their observed shares
/// and monthly volumes (a workflow without requests: share 0, volume 0).
pub async fn weigh<'a>(
    store: &Store,
    program: &'a Program,
    choice: WeightChoice,
    now: DateTime<Utc>,
) -> Result<Weighted<'a>, OpsError> {
    match choice {
        WeightChoice::Declared => Ok(Weighted {
            program: Cow::Borrowed(program),
            weights: Weights {
                source: "declared",
                since: None,
                until: None,
                requests: 0,
                declared_personas: Vec::new(),
            },
            mix: None,
        }),
        WeightChoice::Observed { since } => {
            let mix = observe(store, program, since, now, None).await?;
            let (program, weights) = reweight(program, &mix);
            Ok(Weighted {
                program: Cow::Owned(program),
                weights,
                mix: Some(mix),
            })
        }
    }
}

/// `program` with the observed shares and monthly volumes of `mix` (see [`weigh`]).
pub fn reweight(program: &Program, mix: &Mix) -> (Program, Weights) {
    let mut out = program.clone();
    let mut weights = Weights {
        source: "observed",
        since: Some(mix.since),
        until: Some(mix.until),
        requests: 0,
        declared_personas: Vec::new(),
    };
    for p in &mut out.personas {
        let observed = mix.personas.iter().find(|m| m.persona == p.id);
        let of = |id: &str| {
            observed
                .and_then(|m| m.workflows.iter().find(|w| w.workflow == id))
                .map(|w| (w.requests, w.observed_monthly_volume))
        };
        let total: u64 = p
            .workflows
            .iter()
            .filter_map(|w| of(&w.id))
            .map(|x| x.0)
            .sum();
        if total == 0 {
            weights.declared_personas.push(p.id.clone());
            continue;
        }
        weights.requests += total;
        for w in &mut p.workflows {
            let (n, volume) = of(&w.id).unwrap_or((0, 0.0));
            w.share = n as f64 / total as f64;
            w.monthly_volume = volume.round() as u64;
        }
    }
    (out, weights)
}

/// With observed weights, price each tool's requests by the observed tokens per request
/// of each workflow (the tool's price per million tokens), in place of the mean cost of
/// its evaluation; workflows without requests keep the evaluated cost.
pub fn price_plan(input: &mut PlanInput, program: &Program, mix: &Mix) {
    for p in &mut input.personas {
        let Some(observed) = mix.personas.iter().find(|m| m.persona == p.id) else {
            continue;
        };
        for (i, w) in p.workflows.iter().enumerate() {
            let Some(seen) = observed.workflows.iter().find(|x| x.workflow == w.id) else {
                continue;
            };
            let (Some(tin), Some(tout)) = (
                seen.input_tokens_per_request,
                seen.output_tokens_per_request,
            ) else {
                continue;
            };
            for t in &mut p.tools {
                let Some(price) = program.tool(&t.tool).map(|x| &x.price) else {
                    continue;
                };
                if let Some(cell) = t.cells.get_mut(i).and_then(Option::as_mut) {
                    cell.mean_cost_usd =
                        (tin * price.input_per_mtok + tout * price.output_per_mtok) / 1e6;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{Duration, TimeZone};

    use super::*;

    fn acme() -> Program {
        proximity_program::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme"),
        )
        .unwrap()
    }

    fn count(workflow: &str, requests: i64) -> MixCount {
        MixCount {
            persona: "support-agent".into(),
            workflow: workflow.into(),
            requests,
            input_tokens: requests * 300,
            output_tokens: requests * 50,
        }
    }

    fn window() -> (DateTime<Utc>, DateTime<Utc>) {
        let until = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
        (until - Duration::days(15), until)
    }

    /// Declared 0.35 / 0.40 / 0.25; observed 350 / 300 / 150 of 1,000 with 150
    /// unlabelled and 50 of a workflow the program lacks.
    fn observed() -> Mix {
        let (since, until) = window();
        let counts = [
            count("ticket-triage", 350),
            count("customer-reply", 300),
            count("policy-lookup", 150),
            count("unknown", 150),
            count("escalation", 50),
        ];
        build(&acme(), since, until, Some("support-agent"), &counts)
    }

    #[test]
    fn declared_shares_outside_the_observed_interval_and_undeclared_traffic_are_flagged() {
        let mix = observed();
        assert_eq!(mix.requests, 1000);
        let p = &mix.personas[0];
        let rows: Vec<(&str, Option<MixFlag>)> = p
            .workflows
            .iter()
            .map(|w| (w.workflow.as_str(), w.flag))
            .collect();
        assert_eq!(
            rows,
            vec![
                // 0.35 within [0.32, 0.38].
                ("ticket-triage", None),
                // 0.40 is more than 5 points above [0.27, 0.33].
                ("customer-reply", Some(MixFlag::OutsideInterval)),
                // 0.25 is above [0.13, 0.17] by 7.9 points.
                ("policy-lookup", Some(MixFlag::OutsideInterval)),
                ("escalation", Some(MixFlag::NotInProgram)),
                (UNLABELLED, None),
            ]
        );
        let triage = &p.workflows[0];
        assert_eq!(triage.observed_share, Some(0.35));
        let (low, high) = (triage.ci_low.unwrap(), triage.ci_high.unwrap());
        assert!(
            low < 0.35 && 0.35 < high && high - low < 0.07,
            "{low} {high}"
        );
        // 350 requests in 15 days: 700 a month; 300 tokens in and 50 out per request.
        assert!((triage.observed_monthly_volume - 700.0).abs() < 1e-9);
        assert_eq!(triage.input_tokens_per_request, Some(300.0));
        assert_eq!(triage.output_tokens_per_request, Some(50.0));
        assert_eq!(mix.flagged(), 3);
    }

    #[test]
    fn a_share_within_five_points_of_the_interval_is_not_flagged() {
        let (since, until) = window();
        // 0.25 declared; 21% observed of 10,000: interval about [0.202, 0.218], within
        // 5 points.
        let counts = [
            count("ticket-triage", 3900),
            count("customer-reply", 4000),
            count("policy-lookup", 2100),
        ];
        let mix = build(&acme(), since, until, Some("support-agent"), &counts);
        assert!(mix.personas[0].workflows.iter().all(|w| w.flag.is_none()));
    }

    #[test]
    fn observed_weights_are_the_program_workflows_shares_normalised() {
        let program = acme();
        let (reweighted, weights) = reweight(&program, &observed());
        let agent = reweighted
            .personas
            .iter()
            .find(|p| p.id == "support-agent")
            .unwrap();
        let shares: Vec<f64> = agent.workflows.iter().map(|w| w.share).collect();
        // 350 / 300 / 150 of the 800 requests of the program's workflows.
        assert_eq!(shares, vec![0.4375, 0.375, 0.1875]);
        assert_eq!(agent.workflows[0].monthly_volume, 700);
        assert_eq!(weights.requests, 800);
        // Every other persona had no requests and keeps its declared weights.
        assert_eq!(weights.declared_personas.len(), program.personas.len() - 1);
        let analyst = reweighted
            .personas
            .iter()
            .find(|p| p.id == "finance-analyst");
        let declared = program.personas.iter().find(|p| p.id == "finance-analyst");
        assert_eq!(
            analyst.unwrap().workflows[0].share,
            declared.unwrap().workflows[0].share
        );
        assert!(weights.describe().contains("800 requests"));
    }

    #[test]
    fn a_workflow_named_unknown_takes_the_unlabelled_requests_once() {
        let mut program = acme();
        let agent = program
            .personas
            .iter_mut()
            .find(|p| p.id == "support-agent")
            .unwrap();
        agent.workflows[2].id = RECORDED_UNLABELLED.into();
        let (since, until) = window();
        let counts = [count("ticket-triage", 40), count("unknown", 60)];
        let mix = build(&program, since, until, Some("support-agent"), &counts);
        let rows: Vec<(&str, u64)> = mix.personas[0]
            .workflows
            .iter()
            .map(|w| (w.workflow.as_str(), w.requests))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("ticket-triage", 40),
                ("customer-reply", 0),
                ("unknown", 60)
            ]
        );
    }

    #[test]
    fn a_persona_without_requests_shows_no_observed_share_and_no_flags() {
        let (since, until) = window();
        let mix = build(&acme(), since, until, Some("support-agent"), &[]);
        let p = &mix.personas[0];
        assert_eq!(p.requests, 0);
        assert!(p
            .workflows
            .iter()
            .all(|w| w.observed_share.is_none() && w.flag.is_none()));
    }
}
