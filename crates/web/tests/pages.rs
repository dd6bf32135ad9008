//! Router tests without a socket (`app().oneshot`): each page renders from a seeded
//! store, model output is escaped, security headers are set, writes need the CSRF token,
//! the same origin and (when set) the admin token.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt as _;
use proximity_store::{
    BaselineRecord, BaselineTool, Evidence, EvidenceKind, NewDecision, NewDriftFinding, NewNote,
    NoteOutcome, NoteRole,
};
use proximity_web::{app, AppState, Security};
use tower::ServiceExt as _;

const HOST: &str = "127.0.0.1:7777";

async fn router(token: Option<&str>) -> (Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (program, store) = common::seeded(dir.path()).await;
    let security = Security::new(HOST.parse().unwrap(), token.map(str::to_owned));
    let csrf = security.csrf_token().to_owned();
    let state = Arc::new(AppState::new(program, store, security));
    (app(state), csrf, dir)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = app
        .clone()
        .oneshot(
            Request::get(uri)
                .header(header::HOST, HOST)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

async fn post(
    app: &Router,
    uri: &str,
    body: &str,
    origin: Option<&str>,
    cookie: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::post(uri)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        req = req.header(header::ORIGIN, o);
    }
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn every_page_renders_with_security_headers() {
    let (app, _, _dir) = router(None).await;
    for uri in [
        "/",
        "/?run=r1",
        "/runs",
        "/persona/support-agent",
        "/tool/acme-copilot",
        "/run/r1",
        "/run/r1?verdict=silent&kind=edge",
        "/field-log",
        "/decisions",
        "/usage",
    ] {
        let (status, headers, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{uri}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let cookie = headers[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(!body.contains("<script"), "{uri} has a script");
    }
}

#[tokio::test]
async fn overview_shows_heatmap_with_intervals_and_key_figures() {
    let (app, _, _dir) = router(None).await;
    let (_, _, body) = get(&app, "/").await;
    assert!(body.contains("<svg class=\"heatmap\""));
    assert!(body.contains("support-agent × acme-copilot: real-work score"));
    assert!(body.contains("95% interval"));
    assert!(body.contains("Silent-failure rate"));
    assert!(body.contains("Cost per month"));
    assert!(body.contains("No decision is due for review"));
    assert!(body.contains("No drift found"));
    assert!(
        body.contains("Decisions made at a distance"),
        "no leader notes yet"
    );
}

#[tokio::test]
async fn model_output_renders_inert_everywhere() {
    let (app, _, _dir) = router(None).await;
    let program = common::acme();
    let case = &program.cases[0].id;
    for uri in [
        "/run/r1?verdict=silent".to_owned(),
        format!("/run/r1/result/acme-copilot/{case}/10"),
        format!("/run/r1/result/acme-copilot/{case}/11"),
    ] {
        let (status, _, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(!body.contains(common::XSS_SCRIPT), "{uri}: raw script");
        assert!(!body.contains("<img"), "{uri}: raw img");
        assert!(!body.contains("<script"), "{uri}: a script tag");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
                || body.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
            "{uri}: the escaped text is shown"
        );
    }
}

#[tokio::test]
async fn run_filters_are_applied_on_the_server() {
    let (app, _, _dir) = router(None).await;
    let (_, _, all) = get(&app, "/run/r1").await;
    let (_, _, silent) = get(&app, "/run/r1?verdict=silent").await;
    assert!(silent.contains("class=\"v-silent\""));
    assert!(!silent.contains("class=\"v-pass\""));
    assert!(all.contains("class=\"v-pass\"") || all.contains("Page 1 of"));
    let (status, _, body) = get(&app, "/run/r1?verdict=bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Unknown verdict"));
    let (status, _, _) = get(&app, "/run/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&app, "/persona/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn field_note_post_needs_csrf_and_same_origin_then_is_listed_escaped() {
    let (app, csrf, _dir) = router(None).await;
    let cookie = format!("proximity_csrf={csrf}");
    let form = format!(
        "csrf={csrf}&author=ana&role=practitioner&persona=support-agent&tool=local&task=refund+policy&what_happened=%3Cscript%3Ealert(1)%3C%2Fscript%3E&outcome=failed_silently&failure_mode=hallucination&minutes_lost=10"
    );
    let origin = Some("http://127.0.0.1:7777");

    let (status, _, _) = post(&app, "/field-log", &form, origin, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no cookie");
    let (status, _, _) = post(
        &app,
        "/field-log",
        "csrf=nope&task=x",
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "forged token");
    let (status, _, _) = post(
        &app,
        "/field-log",
        &form,
        Some("http://evil.example"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "cross origin");
    let (_, _, page) = get(&app, "/field-log").await;
    assert!(
        page.contains("No field notes yet"),
        "nothing written so far"
    );

    let (status, headers, _) = post(&app, "/field-log", &form, origin, Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/field-log?notice=added");
    let (_, _, page) = get(&app, "/field-log?notice=added").await;
    assert!(page.contains("The note was added"));
    assert!(page.contains("refund policy"));
    assert!(page.contains("failed_silently"));
    assert!(
        page.contains("&lt;script&gt;alert(1)"),
        "the note's text, escaped"
    );
    assert!(!page.contains("<script"));
    let (_, _, page) = get(&app, "/field-log?notice=%3Cscript%3E").await;
    assert!(!page.contains("<script"), "notices are codes, never echoed");

    let (status, _, body) = post(
        &app,
        "/field-log",
        &format!("csrf={csrf}&author=ana&role=practitioner&persona=nobody&tool=local&task=x&outcome=worked"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Unknown persona `nobody`."), "{body}");
    assert!(
        body.contains("One of: support-agent"),
        "the hint names the personas: {body}"
    );

    // Promotion needs a confirmed assertion; nothing is written without one.
    let (status, _, body) = post(
        &app,
        "/field-log/1/promote",
        &format!("csrf={csrf}"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("No assertion given"), "{body}");
}

#[tokio::test]
async fn admin_token_is_required_when_configured() {
    let (app, csrf, _dir) = router(Some("s3cret")).await;
    let cookie = format!("proximity_csrf={csrf}");
    let origin = Some("http://127.0.0.1:7777");
    let (_, _, page) = get(&app, "/field-log").await;
    assert!(page.contains("name=\"admin_token\""));
    let form = format!(
        "csrf={csrf}&author=a&role=leader&persona=support-agent&tool=local&task=x&what_happened=y&outcome=worked"
    );
    let (status, _, _) = post(&app, "/field-log", &form, origin, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(
        &app,
        "/field-log",
        &format!("{form}&admin_token=s3cret"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn read_only_beyond_loopback_without_token() {
    let dir = tempfile::tempdir().unwrap();
    let (program, store) = common::seeded(dir.path()).await;
    let security = Security::new("0.0.0.0:7777".parse().unwrap(), None);
    let csrf = security.csrf_token().to_owned();
    let app = app(Arc::new(AppState::new(program, store, security)));
    let (_, _, page) = get(&app, "/field-log").await;
    assert!(page.contains("read-only"));
    assert!(!page.contains("id=\"add-note\""));
    let (status, _, body) = post(
        &app,
        "/field-log",
        &format!("csrf={csrf}&task=x"),
        Some("http://127.0.0.1:7777"),
        Some(&format!("proximity_csrf={csrf}")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("read-only"));
}

#[tokio::test]
async fn dns_rebinding_hosts_are_refused_on_loopback() {
    let (app, _, _dir) = router(None).await;
    let res = app
        .oneshot(
            Request::get("/")
                .header(header::HOST, "evil.example:7777")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tool_page_draws_the_context_fill_curve_of_the_latest_probe() {
    let dir = tempfile::tempdir().unwrap();
    let (program, store) = common::seeded(dir.path()).await;
    let mut probe = common::run("probe1", "2026-03-02T10:00:00Z");
    probe.config = serde_json::json!({"probe": {"kind": "context", "tool": "local", "window": 8192, "usable": 8000}});
    store.create_run(&probe).await.unwrap();
    for (fill, tokens, passed) in [(0, 10, 4), (25, 2000, 4), (50, 4000, 3), (90, 7200, 0)] {
        for s in 0..4 {
            let mut r = common::result_for(&program, "probe1", 0, "local", s);
            r.case_id = format!("ctx-f{fill}-t{tokens}-d-middle-s{s}");
            r.verdict = if s < passed {
                proximity_store::Verdict::Pass
            } else {
                proximity_store::Verdict::Silent
            };
            store.insert_result(&r).await.unwrap();
        }
    }
    let security = Security::new(HOST.parse().unwrap(), None);
    let app = app(Arc::new(AppState::new(program, store, security)));
    let (status, _, body) = get(&app, "/tool/local").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<svg class=\"chart\""), "the curve");
    assert_eq!(body.matches("<circle").count(), 4, "a point per fill");
    assert!(
        body.contains("Effective context: <strong>2000 tokens"),
        "{body}"
    );
    assert!(body.contains("probe1"));
    // The probe run is not the overview's run.
    let (_, _, overview) = get(&app, "/").await;
    assert!(overview.contains("r1") && !overview.contains("Run <a href=\"/run/probe1\""));
}

/// Copy the example program into `to`, so a test may write its suites.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn decisions_show_their_stale_reasons_and_are_due_on_the_overview() {
    let dir = tempfile::tempdir().unwrap();
    let (program, store) = common::seeded(dir.path()).await;
    let decision = NewDecision {
        title: "Support standardises on acme-copilot".into(),
        statement: "Support uses acme-copilot for triage.".into(),
        author: Some("lead".into()),
        personas: vec!["support-agent".into()],
        tools: vec!["acme-copilot".into()],
        tiers: vec![],
        evidence: vec![Evidence {
            kind: EvidenceKind::Run,
            reference: "r1".into(),
        }],
        horizon_days: 30,
    };
    store
        .insert_decision(&decision, common::at("2026-03-02T00:00:00Z"))
        .await
        .unwrap();
    let security = Security::new(HOST.parse().unwrap(), None);
    let app = app(Arc::new(AppState::new(program, store, security)));

    let (status, _, page) = get(&app, "/decisions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Support standardises on acme-copilot"));
    assert!(
        page.contains("evidence run:r1 is") && page.contains("(horizon 30)"),
        "the evidence-age reason: {page}"
    );
    assert!(page.contains("2026-04-01"), "review by = decided + horizon");
    // The whole record: statement, author, scope and evidence.
    assert!(page.contains("Support uses acme-copilot for triage."));
    assert!(page.contains("by lead"));
    assert!(page.contains("personas support-agent; tools acme-copilot"));
    assert!(page.contains("<code>run:r1</code>"));
    assert!(
        !page.contains("fingerprint "),
        "stale reasons in words, not hashes"
    );
    // Its own run has support × acme-copilot below a floor: the evidence contradicts it.
    assert!(
        page.contains("contradicted by its evidence")
            && page.contains("run:r1 contradicts it: support-agent × acme-copilot has"),
        "{page}"
    );
    let (_, _, overview) = get(&app, "/").await;
    assert!(overview
        .contains("<strong>Support standardises on acme-copilot</strong>: evidence run:r1 is"));
}

#[tokio::test]
async fn drift_findings_and_the_risk_baseline_appear_on_the_overview_and_tool_page() {
    let dir = tempfile::tempdir().unwrap();
    let (program, store) = common::seeded(dir.path()).await;
    // A risk probe in the baseline run (passed) and a newer one (failed).
    let mut probe = common::result_for(&program, "r1", 0, "acme-copilot", 20);
    probe.workflow = "risk-injection".into();
    probe.verdict = proximity_store::Verdict::Pass;
    store.insert_result(&probe).await.unwrap();
    store
        .insert_baseline(&BaselineRecord {
            name: "march".into(),
            run_id: "r1".into(),
            accepted_at: common::at("2026-03-02T00:00:00Z"),
            accepted_by: "lead".into(),
            note: None,
            tools: vec![BaselineTool {
                tool_id: "acme-copilot".into(),
                tool_fingerprint: probe.tool_fingerprint.clone(),
                config_fingerprint: None,
                model_version: None,
                config: None,
                results: 1,
                passed: 1,
            }],
        })
        .await
        .unwrap();
    // The newer one is a risk-probe run, as `proximity probe risk` records it.
    let mut r2 = common::run("r2", "2026-04-01T10:00:00Z");
    r2.config = serde_json::json!({"probe": {"kind": "risk"}});
    store.create_run(&r2).await.unwrap();
    let mut later = common::result_for(&program, "r2", 0, "acme-copilot", 0);
    later.workflow = "risk-injection".into();
    later.verdict = proximity_store::Verdict::Silent;
    store.insert_result(&later).await.unwrap();
    store
        .insert_drift_findings(
            chrono::Utc::now(),
            &[NewDriftFinding {
                tool: "acme-copilot".into(),
                baseline: "march".into(),
                run_id: Some("r1".into()),
                kind: "vendor_update".into(),
                summary: "model version changed from v1 to v2".into(),
            }],
        )
        .await
        .unwrap();
    let security = Security::new(HOST.parse().unwrap(), None);
    let app = app(Arc::new(AppState::new(program, store, security)));
    let (_, _, overview) = get(&app, "/").await;
    assert!(overview.contains("<strong>acme-copilot</strong>"));
    assert!(overview.contains("vendor_update: model version changed from v1 to v2"));
    assert!(!overview.contains("No drift found"));
    let (_, _, tool) = get(&app, "/tool/acme-copilot").await;
    assert!(tool.contains("Drift timeline"));
    assert!(tool.contains("vendor_update: model version changed from v1 to v2"));
    assert!(tool.contains("Baseline <em>march</em>"), "{tool}");
    assert!(tool.contains("run <code>r2</code>"));
    assert!(
        tool.contains(
            "<td>injection</td><td class=\"num\">1 of 1 passed</td><td class=\"num\">0 of 1 passed</td>"
        ),
        "{tool}"
    );
    let (_, _, other) = get(&app, "/tool/local").await;
    assert!(other.contains("No drift found on this tool"));
}

#[tokio::test]
async fn promote_appends_the_case_keeping_old_bytes_and_the_suite_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("acme");
    copy_dir(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme"),
        &root,
    );
    let program = proximity_program::load(&root).unwrap();
    let (_, store) = common::seeded(dir.path()).await;
    let id = store
        .insert_note(
            &NewNote {
                date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
                author: "ana".into(),
                role: NoteRole::Practitioner,
                persona: "support-agent".into(),
                tool: "acme-copilot".into(),
                workflow: Some("ticket-triage".into()),
                task: "triage a refund ticket".into(),
                what_happened: "it invented a 60-day window".into(),
                outcome: NoteOutcome::FailedSilently,
                failure_mode: None,
                minutes_saved: 0.0,
                minutes_lost: 5.0,
                prompt: Some("Label this ticket: refund after 20 days".into()),
                output: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // A note without a prompt cannot become a case here: no form, the cli's way instead.
    let bare = store
        .insert_note(
            &NewNote {
                date: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
                author: "bo".into(),
                role: NoteRole::Practitioner,
                persona: "support-agent".into(),
                tool: "acme-copilot".into(),
                workflow: Some("ticket-triage".into()),
                task: "triage".into(),
                what_happened: "fine".into(),
                outcome: NoteOutcome::Worked,
                failure_mode: None,
                minutes_saved: 3.0,
                minutes_lost: 0.0,
                prompt: None,
                output: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let suite = proximity_program::promote::suite_for(&program, "support-agent").unwrap();
    let before = fs_err::read(&suite).unwrap();
    let security = Security::new(HOST.parse().unwrap(), None);
    let csrf = security.csrf_token().to_owned();
    let app = app(Arc::new(AppState::new(program, store, security)));
    let cookie = format!("proximity_csrf={csrf}");
    let origin = Some("http://127.0.0.1:7777");
    let uri = format!("/field-log/{id}/promote");

    let (status, _, _) = post(
        &app,
        &uri,
        "csrf=nope&must_contain=refund",
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "forged token");
    let (status, _, _) = post(&app, &uri, &format!("csrf={csrf}"), origin, Some(&cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no assertion");
    assert_eq!(fs_err::read(&suite).unwrap(), before, "nothing written yet");

    let (status, headers, _) = post(
        &app,
        &uri,
        &format!("csrf={csrf}&must_contain=billing%3A+refund"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/field-log?notice=promoted");
    let after = fs_err::read(&suite).unwrap();
    assert!(after.starts_with(&before), "old bytes kept");
    let appended = String::from_utf8(after[before.len()..].to_vec()).unwrap();
    assert!(
        appended.contains(&format!("- id: field-note-{id}")),
        "{appended}"
    );
    assert!(
        appended.contains("- contains: \"billing: refund\""),
        "{appended}"
    );
    let reloaded = proximity_program::load(&root).unwrap();
    let case = reloaded
        .cases
        .iter()
        .find(|c| c.id == format!("field-note-{id}"))
        .unwrap();
    assert_eq!(case.workflow, "ticket-triage");
    assert_eq!(case.note.as_deref(), Some(id.to_string().as_str()));
    let (_, _, page) = get(&app, "/field-log?notice=promoted").await;
    assert!(page.contains(&format!("case <code>field-note-{id}</code>")));
    assert!(!page.contains(&format!("action=\"/field-log/{bare}/promote\"")));
    assert!(page.contains(&format!("proximity note promote {bare} --workflow")));

    let (status, _, _) = post(
        &app,
        &uri,
        &format!("csrf={csrf}&must_abstain=on"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "already promoted");
    assert_eq!(fs_err::read(&suite).unwrap(), after);
}

#[tokio::test]
async fn standardise_section_lists_below_floor_workflows_from_the_planner() {
    let (app, _, _dir) = router(None).await;
    let (_, _, page) = get(&app, "/persona/support-agent").await;
    assert!(page.contains("If standardised on one tool"));
    assert!(
        page.contains("month, silent-failure rate"),
        "the planner's summary: {page}"
    );
    assert!(
        page.contains("ticket-triage (score") && page.contains("vs floor 90%"),
        "a below-floor workflow from the what-if: {page}"
    );
}

#[tokio::test]
async fn a_run_is_accepted_as_an_immutable_baseline_from_the_tool_page() {
    let dir = tempfile::tempdir().unwrap();
    let (program, store) = common::seeded(dir.path()).await;
    let security = Security::new(HOST.parse().unwrap(), None);
    let csrf = security.csrf_token().to_owned();
    let state = Arc::new(AppState::new(program, store.clone(), security));
    let app = app(state);
    let cookie = format!("proximity_csrf={csrf}");
    let origin = Some("http://127.0.0.1:7777");

    let (status, _, page) = get(&app, "/tool/acme-copilot").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"accept-baseline\""),
        "the form is offered"
    );

    let form =
        |token: &str, name: &str| format!("csrf={token}&tool=acme-copilot&run=r1&name={name}");
    let (status, _, _) = post(
        &app,
        "/baseline/accept",
        &form("forged", "review"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        store.baselines().await.unwrap().is_empty(),
        "nothing written"
    );

    let (status, headers, _) = post(
        &app,
        "/baseline/accept",
        &form(&csrf, "review"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        "/tool/acme-copilot?notice=accepted"
    );
    let baselines = store.baselines().await.unwrap();
    assert_eq!(baselines.len(), 1);
    assert_eq!(baselines[0].run_id, "r1");
    assert!(baselines[0]
        .tools
        .iter()
        .any(|t| t.tool_id == "acme-copilot"));

    // Immutable: the same name again is refused, and a missing run is a bad request.
    let (status, _, _) = post(
        &app,
        "/baseline/accept",
        &form(&csrf, "review"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = post(
        &app,
        "/baseline/accept",
        &format!("csrf={csrf}&tool=acme-copilot&run=nope&name=other"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(store.baselines().await.unwrap().len(), 1);
}
