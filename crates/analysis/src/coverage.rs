//! Proximity coverage: per persona × tool, when a leader last used the tool first-hand
//! in that persona's work (field notes with role `leader`), and the persona contexts no
//! leader has tried within the horizon.

use chrono::{Duration, NaiveDate};
use proximity_program::Program;
use proximity_store::{NoteRecord, NoteRole};
use serde::Serialize;

/// One persona × tool of the persona's tier (or with notes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    pub persona: String,
    pub tool: String,
    pub last_leader_note: Option<NaiveDate>,
    /// Leader notes within the horizon.
    pub leader_notes: usize,
    /// Practitioner notes within the horizon.
    pub practitioner_notes: usize,
    /// A leader note within the horizon.
    pub current: bool,
}

/// Per persona: whether any leader tried any of its tools within the horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaCoverage {
    pub persona: String,
    pub last_leader_note: Option<NaiveDate>,
    /// No leader note within the horizon: decisions about this persona are made at a
    /// distance.
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub today: NaiveDate,
    pub horizon_days: u32,
    pub rows: Vec<CoverageRow>,
    pub personas: Vec<PersonaCoverage>,
}

/// Coverage of the program's personas by leaders' field notes, as of `today`.
pub fn coverage(program: &Program, notes: &[NoteRecord], today: NaiveDate) -> Coverage {
    let cutoff = today - Duration::days(i64::from(program.horizon_days));
    let mut rows = Vec::new();
    let mut personas = Vec::new();
    for p in &program.personas {
        let mut tools: Vec<String> = program
            .tools_for_persona(&p.id)
            .iter()
            .map(|t| t.id.clone())
            .collect();
        for n in notes.iter().filter(|n| n.note.persona == p.id) {
            if !tools.contains(&n.note.tool) {
                tools.push(n.note.tool.clone());
            }
        }
        let mut last_any: Option<NaiveDate> = None;
        for tool in tools {
            let pair: Vec<&NoteRecord> = notes
                .iter()
                .filter(|n| n.note.persona == p.id && n.note.tool == tool)
                .collect();
            let leader = |n: &&&NoteRecord| n.note.role == NoteRole::Leader;
            let last = pair.iter().filter(leader).map(|n| n.note.date).max();
            let recent = |n: &&&NoteRecord| n.note.date >= cutoff;
            let leader_notes = pair.iter().filter(leader).filter(recent).count();
            let practitioner_notes = pair
                .iter()
                .filter(|n| n.note.role == NoteRole::Practitioner)
                .filter(recent)
                .count();
            last_any = last_any.max(last);
            rows.push(CoverageRow {
                persona: p.id.clone(),
                tool,
                last_leader_note: last,
                leader_notes,
                practitioner_notes,
                current: leader_notes > 0,
            });
        }
        personas.push(PersonaCoverage {
            persona: p.id.clone(),
            last_leader_note: last_any,
            flagged: last_any.is_none_or(|d| d < cutoff),
        });
    }
    Coverage {
        today,
        horizon_days: program.horizon_days,
        rows,
        personas,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fixture::{persona, program, tool, workflow};
    use chrono::Utc;
    use proximity_program::Tier;
    use proximity_store::{NewNote, NoteOutcome};

    fn note(persona: &str, tool: &str, role: NoteRole, date: NaiveDate) -> NoteRecord {
        NoteRecord {
            id: 1,
            created_at: Utc::now(),
            note: NewNote {
                date,
                author: "a".into(),
                role,
                persona: persona.into(),
                tool: tool.into(),
                workflow: None,
                task: "t".into(),
                what_happened: "x".into(),
                outcome: NoteOutcome::Worked,
                failure_mode: None,
                minutes_saved: 1.0,
                minutes_lost: 0.0,
                prompt: None,
                output: None,
            },
            promoted_case: None,
            promoted_suite: None,
        }
    }

    #[test]
    fn flags_personas_no_leader_tried_within_the_horizon() {
        let mut p = program(
            vec![tool("a", 0.0, 0.0, 0.0), tool("b", 0.0, 0.0, 0.0)],
            vec![
                persona("support", 1, vec![workflow("w", 1.0, 0.5, 0.4, 1)]),
                persona("finance", 1, vec![workflow("w", 1.0, 0.5, 0.4, 1)]),
            ],
        );
        p.tiers = vec![Tier {
            id: "standard".into(),
            tools: vec!["a".into(), "b".into()],
            budget_per_seat_month: None,
            rate_limit: None,
            data_classes: vec![],
            capture_sample: None,
        }];
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let d = |days: i64| today - Duration::days(days);
        let notes = vec![
            note("support", "a", NoteRole::Leader, d(10)),
            note("support", "a", NoteRole::Practitioner, d(3)),
            // A leader, but long ago; and a practitioner recently.
            note("finance", "a", NoteRole::Leader, d(200)),
            note("finance", "b", NoteRole::Practitioner, d(1)),
        ];
        let c = coverage(&p, &notes, today);
        assert_eq!(c.rows.len(), 4);
        let support_a = &c.rows[0];
        assert_eq!(support_a.last_leader_note, Some(d(10)));
        assert_eq!(
            (support_a.leader_notes, support_a.practitioner_notes),
            (1, 1)
        );
        assert!(support_a.current);
        assert!(!c.rows[1].current, "support × b: no leader note");
        assert!(!c.personas[0].flagged);
        assert!(
            c.personas[1].flagged,
            "finance: last leader note 200 days ago"
        );
        assert_eq!(c.personas[1].last_leader_note, Some(d(200)));
    }
}
