//! Every operation against a real store (SQLite, and PostgreSQL when a test server is
//! given) and a copy of `examples/acme`: what it writes, and what it refuses with which
//! hint. The CLI and the dashboard only render these answers.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use chrono::{Duration, Utc};
use proximity_ops::baselines::{self, AcceptBaseline};
use proximity_ops::capture;
use proximity_ops::decisions::{self, DecisionInput};
use proximity_ops::keys::{self, KeyRequest, KeyStatus};
use proximity_ops::notes::{self, NoteInput, PromoteRequest};
use proximity_ops::OpsError;
use proximity_program::Program;
use proximity_store::{CaptureFilter, CapturedMessage, NewCapture, NoteFilter};

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

/// A writable copy of the example program.
fn acme() -> (tempfile::TempDir, Program) {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme");
    copy_dir(&src, dir.path());
    let program = proximity_program::load(dir.path()).unwrap();
    (dir, program)
}

fn note() -> NoteInput {
    NoteInput {
        author: "dana".into(),
        persona: "support-agent".into(),
        tool: "acme-copilot".into(),
        workflow: Some("ticket-triage".into()),
        task: "triage a refund ticket".into(),
        what_happened: "it invented a 14-day policy".into(),
        outcome: "failed_silently".into(),
        prompt: Some("What is the refund window?".into()),
        ..NoteInput::default()
    }
}

fn input_error(e: OpsError) -> (String, Option<String>) {
    assert!(e.is_input(), "not an input error: {e:?}");
    let hint = e.hint().map(str::to_owned);
    (e.to_string(), hint)
}

#[tokio::test]
async fn notes_are_checked_the_same_for_every_caller_and_promoted_once() {
    for t in proximity_store::testing::stores().await {
        let (_dir, program) = acme();
        let store = &t.store;
        let now = Utc::now();

        // The dashboard's old copy let both of these through.
        let wrong_workflow = NoteInput {
            workflow: Some("invoice-extraction".into()),
            ..note()
        };
        let (msg, hint) = input_error(
            notes::add(store, &program, wrong_workflow, now)
                .await
                .unwrap_err(),
        );
        assert_eq!(
            msg,
            "unknown workflow of `support-agent` `invoice-extraction`"
        );
        assert!(hint.unwrap().contains("ticket-triage"));
        let no_story = NoteInput {
            what_happened: "  ".into(),
            ..note()
        };
        let (msg, _) = input_error(
            notes::add(store, &program, no_story, now)
                .await
                .unwrap_err(),
        );
        assert_eq!(msg, "`what_happened` must not be empty");
        let (msg, hint) = input_error(
            notes::add(
                store,
                &program,
                NoteInput {
                    persona: "suport-agent".into(),
                    ..note()
                },
                now,
            )
            .await
            .unwrap_err(),
        );
        assert_eq!(msg, "unknown persona `suport-agent`");
        assert!(hint.unwrap().starts_with("did you mean `support-agent`?"));
        assert!(notes::list(store, &NoteFilter::default())
            .await
            .unwrap()
            .is_empty());

        // Many at once: all or none.
        let bulk = vec![
            ("item 1".to_owned(), Ok(note())),
            (
                "item 2".to_owned(),
                Ok(NoteInput {
                    outcome: "meh".into(),
                    ..note()
                }),
            ),
            ("item 3".to_owned(), Err("not a JSON object".to_owned())),
        ];
        let (msg, _) = input_error(
            notes::add_all(store, &program, bulk, now)
                .await
                .unwrap_err(),
        );
        assert!(
            msg.starts_with("2 of the 3 notes are invalid; none was recorded"),
            "{msg}"
        );
        assert!(msg.contains("item 2: unknown outcome `meh`"), "{msg}");
        assert!(msg.contains("item 3: not a JSON object"), "{msg}");
        assert!(notes::list(store, &NoteFilter::default())
            .await
            .unwrap()
            .is_empty());

        let id = notes::add(store, &program, note(), now).await.unwrap();
        let no_assertion = PromoteRequest {
            note_id: id,
            ..PromoteRequest::default()
        };
        let (msg, hint) = input_error(
            notes::promote(store, &program, &no_assertion)
                .await
                .unwrap_err(),
        );
        assert!(msg.starts_with("no assertion given"));
        assert!(hint.is_some());
        let req = PromoteRequest {
            note_id: id,
            assertions: vec![("correct", "contains: 30 days".to_owned())],
            ..PromoteRequest::default()
        };
        let done = notes::promote(store, &program, &req).await.unwrap();
        assert_eq!(done.case_id, format!("field-note-{id}"));
        let suite = fs_err::read_to_string(&done.suite).unwrap();
        assert!(suite.contains(&format!("id: field-note-{id}")));
        let reloaded = proximity_program::load(&program.root).unwrap();
        assert!(reloaded.cases.iter().any(|c| c.id == done.case_id));
        let (msg, _) = input_error(notes::promote(store, &program, &req).await.unwrap_err());
        assert_eq!(
            msg,
            format!("note {id} was already promoted to case `field-note-{id}`")
        );
        let missing = PromoteRequest {
            note_id: 9999,
            ..req.clone()
        };
        let e = notes::promote(store, &program, &missing).await.unwrap_err();
        assert!(matches!(e, OpsError::NotFound { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn a_baseline_needs_a_name_and_a_finished_run() {
    for t in proximity_store::testing::stores().await {
        let (_dir, program) = acme();
        let ask = |run: &str, name: &str| AcceptBaseline {
            run: run.into(),
            name: name.into(),
            note: None,
            by: "test".into(),
        };
        let (msg, hint) = input_error(
            baselines::accept(&t.store, &program, &ask("r1", " "), Utc::now())
                .await
                .unwrap_err(),
        );
        assert_eq!(msg, "a baseline needs a name");
        assert!(hint.is_some());
        let (msg, hint) = input_error(
            baselines::accept(&t.store, &program, &ask("nope", "b1"), Utc::now())
                .await
                .unwrap_err(),
        );
        assert_eq!(msg, "no run `nope` in the store");
        assert!(hint.is_some());
    }
}

#[tokio::test]
async fn a_decision_cites_only_evidence_that_exists() {
    for t in proximity_store::testing::stores().await {
        let (_dir, program) = acme();
        let store = &t.store;
        let now = Utc::now();
        let mut d = DecisionInput {
            title: "Copilot for support".into(),
            statement: "Support agents use acme-copilot.".into(),
            personas: vec!["support-agent".into()],
            evidence: vec!["note:1".into()],
            ..DecisionInput::default()
        };
        let (msg, _) = input_error(decisions::add(store, &program, &d, now).await.unwrap_err());
        assert_eq!(msg, "evidence `note:1` is not in the store");
        let id = notes::add(store, &program, note(), now).await.unwrap();
        d.evidence = vec![format!("note:{id}")];
        d.tiers = vec!["gold".into()];
        let (msg, _) = input_error(decisions::add(store, &program, &d, now).await.unwrap_err());
        assert_eq!(msg, "unknown tier `gold`");
        d.tiers.clear();
        let decision = decisions::add(store, &program, &d, now).await.unwrap();
        let reviewed = decisions::review(store, &program, now, store)
            .await
            .unwrap();
        assert_eq!(reviewed.len(), 1);
        assert_eq!(reviewed[0].0.id, decision);
        assert_eq!(reviewed[0].0.decision.horizon_days, program.horizon_days);
    }
}

#[tokio::test]
async fn keys_expire_in_the_future_and_revoke_once() {
    for t in proximity_store::testing::stores().await {
        let (_dir, program) = acme();
        let store = &t.store;
        let now = Utc::now();
        let today = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let expired = KeyRequest {
            persona: "support-agent".into(),
            expires_at: Some(today),
            ..KeyRequest::default()
        };
        let (msg, hint) = input_error(
            keys::create(store, &program, &expired, now)
                .await
                .unwrap_err(),
        );
        assert!(msg.contains("not in the future"), "{msg}");
        assert!(hint.is_some());
        let bad_budget = KeyRequest {
            persona: "support-agent".into(),
            budget_usd: Some(f64::NAN),
            ..KeyRequest::default()
        };
        assert!(keys::create(store, &program, &bad_budget, now)
            .await
            .is_err());
        let ok = KeyRequest {
            persona: "support-agent".into(),
            expires_at: Some(now + Duration::days(1)),
            ..KeyRequest::default()
        };
        let new = keys::create(store, &program, &ok, now).await.unwrap();
        let listed = keys::list(store, now).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0.id, new.record.id);
        assert_eq!(listed[0].1, KeyStatus::Active);
        assert_eq!(listed[0].0.key_hash, keys::hash_key(&new.key));
        keys::revoke(store, &new.record.id, now).await.unwrap();
        assert_eq!(
            keys::list(store, now).await.unwrap()[0].1,
            KeyStatus::Revoked
        );
        let e = keys::revoke(store, &new.record.id, now).await.unwrap_err();
        assert!(matches!(e, OpsError::NotFound { .. }), "{e:?}");
    }
}

fn captured(workflow: &str, messages: &[(&str, &str)]) -> NewCapture {
    NewCapture {
        created_at: Utc::now(),
        request_id: "req".into(),
        persona: "support-agent".into(),
        tier: "standard".into(),
        tool: "acme-copilot".into(),
        workflow: workflow.into(),
        messages: messages
            .iter()
            .map(|(role, content)| CapturedMessage {
                role: (*role).into(),
                content: (*content).into(),
            })
            .collect(),
        answer: "Refunds take [EMAIL] 30 days.".into(),
    }
}

#[tokio::test]
async fn a_capture_is_promoted_once_through_the_notes_append() {
    for store in proximity_store::testing::stores().await {
        let store = &store.store;
        let (_dir, program) = acme();
        store
            .insert_captures(&[
                captured("ticket-triage", &[("user", "Refund for [EMAIL]?")]),
                captured(
                    "unknown",
                    &[
                        ("system", "Be brief."),
                        ("user", "Order {{ id }}: STAFF-100?"),
                    ],
                ),
                captured("ticket-triage", &[("user", "hi"), ("assistant", "hello")]),
            ])
            .await
            .unwrap();
        let all = capture::list(store, &CaptureFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
        let (first, unlabelled, ends_with_answer) = (all[0].id, all[1].id, all[2].id);
        let assertions = vec![("correct", "icontains: refund".to_owned())];

        let (msg, hint) = input_error(
            capture::promote(
                store,
                &program,
                &capture::PromoteRequest {
                    capture_id: first,
                    ..capture::PromoteRequest::default()
                },
            )
            .await
            .unwrap_err(),
        );
        assert!(msg.starts_with("no assertion given"), "{msg}");
        assert!(hint.is_some());

        let req = capture::PromoteRequest {
            capture_id: first,
            assertions: assertions.clone(),
            ..capture::PromoteRequest::default()
        };
        let done = capture::promote(store, &program, &req).await.unwrap();
        assert_eq!(done.case_id, format!("capture-{first}"));
        let reloaded = proximity_program::load(&program.root).unwrap();
        let case = reloaded
            .cases
            .iter()
            .find(|c| c.id == done.case_id)
            .unwrap();
        assert_eq!(case.workflow, "ticket-triage");
        assert_eq!(case.note, None);
        assert_eq!(case.messages.last().unwrap().content, "Refund for [EMAIL]?");
        let (msg, _) = input_error(capture::promote(store, &program, &req).await.unwrap_err());
        assert_eq!(
            msg,
            format!("capture {first} was already promoted to case `capture-{first}`")
        );

        // A request that named no workflow of the persona needs one; its system message
        // and template syntax are kept as written.
        let (msg, hint) = input_error(
            capture::promote(
                store,
                &program,
                &capture::PromoteRequest {
                    capture_id: unlabelled,
                    assertions: assertions.clone(),
                    ..capture::PromoteRequest::default()
                },
            )
            .await
            .unwrap_err(),
        );
        assert!(msg.contains("unknown"), "{msg}");
        assert!(hint.unwrap().contains("--workflow"));
        let program = proximity_program::load(&program.root).unwrap();
        let done = capture::promote(
            store,
            &program,
            &capture::PromoteRequest {
                capture_id: unlabelled,
                workflow: Some("ticket-triage".into()),
                case_id: Some("from-capture".into()),
                assertions: assertions.clone(),
                ..capture::PromoteRequest::default()
            },
        )
        .await
        .unwrap();
        let reloaded = proximity_program::load(&program.root).unwrap();
        let case = reloaded
            .cases
            .iter()
            .find(|c| c.id == done.case_id)
            .unwrap();
        assert_eq!(case.messages.len(), 2);
        assert_eq!(case.messages[1].content, "Order {{ id }}: STAFF-100?");

        // A conversation that ends with the answer is no case.
        let (msg, _) = input_error(
            capture::promote(
                store,
                &reloaded,
                &capture::PromoteRequest {
                    capture_id: ends_with_answer,
                    assertions,
                    ..capture::PromoteRequest::default()
                },
            )
            .await
            .unwrap_err(),
        );
        assert!(msg.contains("does not end with a user message"), "{msg}");
        let e = capture::promote(
            store,
            &reloaded,
            &capture::PromoteRequest {
                capture_id: 9999,
                ..req
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, OpsError::NotFound { .. }), "{e:?}");
    }
}
