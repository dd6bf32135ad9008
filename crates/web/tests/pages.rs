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
    assert!(body.contains("No decision log yet"));
    assert!(body.contains("No baselines yet"));
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
    assert!(body.contains("No persona"));

    // Promotion has not landed: the documented "not available yet" answer.
    let (status, headers, _) = post(
        &app,
        "/field-log/1/promote",
        &format!("csrf={csrf}"),
        origin,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/field-log?notice=unavailable");
    let (_, _, page) = get(&app, "/field-log?notice=unavailable").await;
    assert!(page.contains("Not available yet"));
}

#[tokio::test]
async fn admin_token_is_required_when_configured() {
    let (app, csrf, _dir) = router(Some("s3cret")).await;
    let cookie = format!("proximity_csrf={csrf}");
    let origin = Some("http://127.0.0.1:7777");
    let (_, _, page) = get(&app, "/field-log").await;
    assert!(page.contains("name=\"admin_token\""));
    let form = format!(
        "csrf={csrf}&author=a&role=leader&persona=support-agent&tool=local&task=x&outcome=worked"
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
