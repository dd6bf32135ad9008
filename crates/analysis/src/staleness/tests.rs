//! Each reason a decision goes stale, and a fresh decision that is not.

use chrono::{Duration, NaiveDate, TimeZone};
use proximity_store::{
    DriftSource, EvidenceKind, NewDecision, NewNote, NoteOutcome, NoteRole, StoreError,
};

use super::*;
use crate::fixture::{persona, program, tool, workflow};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .unwrap()
}

fn acme() -> Program {
    program(
        vec![
            tool("copilot", 2.5, 10.0, 30.0),
            tool("other", 0.0, 0.0, 0.0),
        ],
        vec![persona(
            "support",
            10,
            vec![workflow("w", 1.0, 0.8, 0.4, 100)],
        )],
    )
}

fn decision(created: DateTime<Utc>) -> DecisionRecord {
    DecisionRecord {
        id: 7,
        created_at: created,
        decision: NewDecision {
            title: "Standardise support on copilot".into(),
            statement: "Support agents use copilot.".into(),
            author: None,
            personas: vec!["support".into()],
            tools: vec!["copilot".into()],
            tiers: vec![],
            evidence: vec![Evidence {
                kind: EvidenceKind::Run,
                reference: "r1".into(),
            }],
            horizon_days: 30,
        },
    }
}

/// Evidence: run r1, `days_old` days old, measured copilot as the program has it now.
fn evidence(program: &Program, days_old: i64) -> ResolvedEvidence {
    let fp = version_fingerprint(
        &config_fingerprint(program.tool("copilot").unwrap()),
        Some("copilot-2025-03"),
    );
    ResolvedEvidence {
        times: vec![(
            Evidence {
                kind: EvidenceKind::Run,
                reference: "r1".into(),
            },
            Some(now() - Duration::days(days_old)),
        )],
        fingerprints: vec![(
            "r1".into(),
            "copilot".into(),
            fp,
            Some("copilot-2025-03".into()),
        )],
        drift: Vec::new(),
        ..Default::default()
    }
}

fn note(id: i64, tool: &str, outcome: NoteOutcome, created: DateTime<Utc>) -> NoteRecord {
    NoteRecord {
        id,
        created_at: created,
        note: NewNote {
            date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            author: "kim".into(),
            role: NoteRole::Practitioner,
            persona: "support".into(),
            tool: tool.into(),
            workflow: None,
            task: "reply".into(),
            what_happened: "invented a policy".into(),
            outcome,
            failure_mode: None,
            minutes_saved: 0.0,
            minutes_lost: 10.0,
            prompt: None,
            output: None,
        },
        promoted_case: None,
        promoted_suite: None,
    }
}

#[test]
fn fresh_decision_is_not_stale() {
    let p = acme();
    let d = decision(now() - Duration::days(2));
    let r = review(&p, &d, &evidence(&p, 5), &[], now());
    assert!(!r.stale, "{:?}", r.reasons);
}

#[test]
fn evidence_older_than_the_horizon_is_stale() {
    let p = acme();
    let d = decision(now() - Duration::days(2));
    let r = review(&p, &d, &evidence(&p, 45), &[], now());
    assert!(r.stale);
    assert_eq!(
        r.reasons,
        vec![StaleReason::EvidenceOld {
            evidence: "run:r1".into(),
            age_days: 45,
            horizon_days: 30
        }]
    );
}

#[test]
fn a_changed_tool_fingerprint_is_stale() {
    let measured = acme();
    let ev = evidence(&measured, 5);
    // Someone raised the temperature in the program after the run.
    let mut changed = acme();
    changed.tools[0].params.temperature = Some(0.9);
    let r = review(&changed, &decision(now()), &ev, &[], now());
    assert!(r.stale);
    assert!(
        matches!(&r.reasons[0], StaleReason::FingerprintChanged { tool, run, .. } if tool == "copilot" && run == "r1"),
        "{:?}",
        r.reasons
    );
    // A tool the decision does not cover may change freely.
    let mut other = acme();
    other.tools[1].params.temperature = Some(0.9);
    assert!(!review(&other, &decision(now()), &ev, &[], now()).stale);
}

/// A drift source that has found drift on one tool.
struct FakeDrift;

impl DriftSource for FakeDrift {
    async fn drift_findings(
        &self,
        tool: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DriftFinding>, StoreError> {
        Ok(if tool == "copilot" {
            vec![DriftFinding {
                tool: tool.into(),
                found_at: since + Duration::days(1),
                summary: "pass rate fell from 0.92 to 0.71".into(),
            }]
        } else {
            Vec::new()
        })
    }
}

#[tokio::test]
async fn drift_on_a_covered_tool_is_stale() {
    let p = acme();
    let d = decision(now() - Duration::days(3));
    let mut ev = evidence(&p, 5);
    ev.drift = collect_drift(&FakeDrift, &covered_tools(&d, &ev), d.created_at)
        .await
        .unwrap();
    let r = review(&p, &d, &ev, &[], now());
    assert_eq!(
        r.reasons,
        vec![StaleReason::Drift {
            tool: "copilot".into(),
            summary: "pass rate fell from 0.92 to 0.71".into()
        }]
    );
    // The store answers with what `proximity drift` recorded: nothing yet here.
    let store = proximity_store::Store::connect("sqlite::memory:")
        .await
        .unwrap();
    assert!(collect_drift(&store, &covered_tools(&d, &ev), d.created_at)
        .await
        .unwrap()
        .is_empty());
}

#[test]
fn newer_failure_notes_on_a_covered_pair_are_stale() {
    let p = acme();
    let made = now() - Duration::days(3);
    let d = decision(made);
    let notes = vec![
        // Before the decision: already weighed.
        note(
            1,
            "copilot",
            NoteOutcome::FailedSilently,
            made - Duration::days(1),
        ),
        // After, but it worked.
        note(2, "copilot", NoteOutcome::Worked, made + Duration::days(1)),
        // After, on a tool the decision does not cover.
        note(
            3,
            "other",
            NoteOutcome::FailedVisibly,
            made + Duration::days(1),
        ),
        // After, covered, failed silently: contradicts the decision.
        note(
            4,
            "copilot",
            NoteOutcome::FailedSilently,
            made + Duration::days(1),
        ),
    ];
    let r = review(&p, &d, &evidence(&p, 5), &notes, now());
    assert_eq!(
        r.reasons,
        vec![StaleReason::ContradictingNote {
            note: 4,
            persona: "support".into(),
            tool: "copilot".into(),
            outcome: "failed_silently".into()
        }]
    );
}

#[test]
fn missing_evidence_is_reported() {
    let p = acme();
    let mut ev = evidence(&p, 5);
    ev.times[0].1 = None;
    let r = review(&p, &decision(now()), &ev, &[], now());
    assert!(matches!(r.reasons[0], StaleReason::EvidenceMissing { .. }));
    assert!(r.reasons[0].describe().contains("run:r1"));
}

/// The cells of a run where support × `tool` passed `pass` of 20 routine cases of `w`.
fn cells(tool: &str, pass: i64) -> Vec<ScoreCell> {
    vec![ScoreCell {
        persona: "support".into(),
        tool_id: tool.into(),
        workflow: "w".into(),
        kind: "routine".into(),
        demo: false,
        n: 20,
        sum_w: 20.0,
        sum_w2: 20.0,
        sum_w_pass: pass as f64,
        pass,
        loud: 0,
        structural: 0,
        silent: 20 - pass,
        cost_usd: 0.0,
        spent_usd: 0.0,
        cached: 0,
    }]
}

#[test]
fn a_cited_run_below_floor_contradicts_the_decision() {
    let p = acme();
    let d = decision(now() - Duration::days(1));
    let mut ev = evidence(&p, 1);
    // 6 of 20 (30%) against the workflow's 80% floor.
    ev.run_cells = vec![("run:r1".into(), "r1".into(), cells("copilot", 6))];
    let r = review(&p, &d, &ev, &[], now());
    assert!(!r.stale, "fresh evidence is not stale: {r:?}");
    assert_eq!(r.contradicted_by.len(), 1, "{r:?}");
    let c = &r.contradicted_by[0];
    assert_eq!(
        (c.persona.as_str(), c.tool.as_str()),
        ("support", "copilot")
    );
    assert_eq!(
        c.describe(),
        "run:r1 contradicts it: support × copilot has 1 of 1 workflows below their floor (w at 30% against a 80% floor)"
    );

    // 18 of 20 meets the floor; another tool's failures are not this decision's.
    ev.run_cells = vec![
        ("run:r1".into(), "r1".into(), cells("copilot", 18)),
        ("run:r1".into(), "r1".into(), cells("other", 0)),
    ];
    assert!(review(&p, &d, &ev, &[], now()).contradicted_by.is_empty());

    // A decision naming no tool recommends none: nothing to contradict.
    let mut open = d.clone();
    open.decision.tools.clear();
    ev.run_cells = vec![("run:r1".into(), "r1".into(), cells("copilot", 0))];
    assert!(review(&p, &open, &ev, &[], now())
        .contradicted_by
        .is_empty());
}

#[test]
fn a_cited_plan_assigning_another_tool_contradicts_the_decision() {
    let p = acme();
    let d = decision(now() - Duration::days(1));
    let mut ev = evidence(&p, 1);
    let plan = |tool: &str| serde_json::json!({"personas": [{"persona": "support", "assignment": [{"workflow": "w", "tool": tool}]}]});
    ev.plans = vec![("plan:3".into(), plan("other"))];
    let r = review(&p, &d, &ev, &[], now());
    assert_eq!(r.contradicted_by.len(), 1, "{r:?}");
    assert_eq!(
        r.contradicted_by[0].finding,
        "the plan assigns support to other, not copilot"
    );
    ev.plans = vec![("plan:3".into(), plan("copilot"))];
    assert!(review(&p, &d, &ev, &[], now()).contradicted_by.is_empty());
}
