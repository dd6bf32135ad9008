//! Budgets against the two attacks measured on 2026-12-07, on SQLite (reservations in
//! memory, and in the store with `--shared-limits`) and on PostgreSQL when
//! `PROXIMITY_TEST_DATABASE_URL` names a server, three runs each:
//!
//! - an upstream that ignores `max_tokens` (bills 200 output tokens when asked for 1)
//!   under concurrent requests overspends by at most one request's real cost;
//! - a stream that outlives the stale-reservation sweeper's cutoff keeps its
//!   reservation (renewed), so the budget still counts it.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use http_body_util::BodyExt;
use proximity_gateway::{app, auth, budget, AppState, Loaded, Options};
use proximity_providers::{
    ChatRequest, ChatResponse, ChatStream, Provider, ProviderError, StreamEnd, StreamEvent, Usage,
};
use proximity_store::testing::TestStore;
use serde_json::json;
use tower::ServiceExt;

/// $1 per thousand tokens either way; a $1 monthly budget.
const PROGRAM: &str = r#"version: 1
name: gw
tools:
  - id: up
    provider: scripted
    price: { input_per_mtok: 1000, output_per_mtok: 1000 }
    params: { default_reply: "x" }
tiers:
  - id: t
    tools: [up]
    budget_per_seat_month: 1.0
personas:
  - id: p
    headcount: 1
    tier: t
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
"#;

const LIMIT_USD: f64 = 1.0;
const GREEDY_OUTPUT: u64 = 200;
const GREEDY_INPUT: u64 = 10;

/// Bills 200 output tokens whatever `max_tokens` says, a little later.
struct Greedy;

#[async_trait::async_trait]
impl Provider for Greedy {
    async fn complete(&self, _: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(ChatResponse {
            text: "x".repeat(800),
            usage: Usage {
                input_tokens: GREEDY_INPUT,
                output_tokens: GREEDY_OUTPUT,
            },
            ..Default::default()
        })
    }
}

/// Streams one delta every 100 ms for `secs` seconds.
struct Slow {
    secs: u64,
}

#[async_trait::async_trait]
impl Provider for Slow {
    async fn complete(&self, _: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        unreachable!("only streamed")
    }

    async fn complete_stream(&self, _: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let n = self.secs * 10;
        let deltas = futures::stream::unfold(0, move |i| async move {
            if i == n {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok(StreamEvent::Delta("word ".into())), i + 1))
        });
        let done = futures::stream::once(async {
            Ok(StreamEvent::Done(StreamEnd {
                usage: Some(Usage {
                    input_tokens: 10,
                    output_tokens: 10,
                }),
                ..Default::default()
            }))
        });
        Ok(Box::pin(futures::StreamExt::chain(deltas, done)))
    }
}

/// Each backend to run on: a name, a fresh store, and whether reservations live in it.
async fn backends() -> Vec<(&'static str, TestStore, bool)> {
    let mut out = vec![
        ("sqlite", proximity_store::testing::sqlite().await, false),
        (
            "sqlite --shared-limits",
            proximity_store::testing::sqlite().await,
            true,
        ),
    ];
    if let Some(pg) = proximity_store::testing::postgres().await {
        out.push(("postgres", pg, true));
    }
    out
}

async fn gateway(
    store: &TestStore,
    shared: bool,
    provider: Arc<dyn Provider>,
    renew_every: Duration,
) -> (Arc<AppState>, axum::Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("proximity.yaml"), PROGRAM).unwrap();
    fs_err::create_dir_all(dir.path().join("suites")).unwrap();
    let program = proximity_program::load(dir.path()).unwrap();
    let options = Options {
        shared_limits: shared,
        renew_every,
        deadline: Duration::from_secs(30),
        ..Options::default()
    };
    let loaded = Loaded::new(program).with_provider("up", provider);
    let state = Arc::new(
        AppState::new(loaded, store.store.clone(), options)
            .await
            .unwrap(),
    );
    let k = auth::generate("p", None, None, None, Utc::now());
    store.insert_key(&k.record).await.unwrap();
    (state.clone(), app(state), k.key, dir)
}

fn chat(key: &str, stream: bool) -> Request<Body> {
    Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"model": "up", "max_tokens": 1, "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        ))
        .unwrap()
}

async fn spent(state: &AppState, store: &TestStore) -> (f64, f64) {
    state.ledger.flush().await.unwrap();
    store
        .budget_state("persona:p", &budget::month(Utc::now()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_ignoring_max_tokens_overspends_by_at_most_one_request() {
    let one_request = (GREEDY_INPUT + GREEDY_OUTPUT) as f64 / 1000.0;
    for run in 0..3 {
        for (name, store, shared) in backends().await {
            let (state, app, key, _dir) =
                gateway(&store, shared, Arc::new(Greedy), Duration::from_secs(20)).await;
            let (before, _) = spent(&state, &store).await;
            let requests = (0..40).map(|_| {
                let app = app.clone();
                let req = chat(&key, false);
                tokio::spawn(async move { app.oneshot(req).await.unwrap().status() })
            });
            let statuses = futures::future::join_all(requests).await;
            let ok = statuses
                .iter()
                .filter(|s| *s.as_ref().unwrap() == StatusCode::OK)
                .count();
            let refused = statuses
                .iter()
                .filter(|s| {
                    matches!(
                        *s.as_ref().unwrap(),
                        StatusCode::PAYMENT_REQUIRED | StatusCode::TOO_MANY_REQUESTS
                    )
                })
                .count();
            assert_eq!(ok + refused, 40, "{name} run {run}: {statuses:?}");
            let (after, reserved) = spent(&state, &store).await;
            eprintln!(
                "{name} run {run}: {ok} served, spent {before:.3} -> {after:.3} of {LIMIT_USD}"
            );
            assert!(
                after <= LIMIT_USD + one_request + 1e-9,
                "{name} run {run}: spent {after} of {LIMIT_USD} (one request costs {one_request})"
            );
            assert!(
                reserved.abs() < 1e-9,
                "{name} run {run}: {reserved} left reserved"
            );
            if run == 0 {
                assert!(ok >= 1, "{name}: the budget served nothing");
            }
            drop(state);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outliving_the_sweeper_cutoff_keeps_its_reservation() {
    for run in 0..3 {
        for (name, store, shared) in backends().await {
            if !shared {
                continue; // reservations in memory: no sweeper to outlive
            }
            let (state, app, key, _dir) = gateway(
                &store,
                shared,
                Arc::new(Slow { secs: 2 }),
                Duration::from_millis(100),
            )
            .await;
            let (before, _) = spent(&state, &store).await;
            let response = app.clone().oneshot(chat(&key, true)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let reading =
                tokio::spawn(
                    async move { response.into_body().collect().await.unwrap().to_bytes() },
                );
            // A sweeper with a 500 ms cutoff, running while the 2 s stream is alive.
            for _ in 0..12 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let cutoff = Utc::now() - chrono::Duration::milliseconds(500);
                let released = store.release_reservations_before(cutoff).await.unwrap();
                assert_eq!(
                    released, 0,
                    "{name} run {run}: a live reservation was released"
                );
            }
            let (_, reserved) = spent(&state, &store).await;
            assert!(
                reserved > 0.0,
                "{name} run {run}: the live stream holds nothing"
            );
            let body = reading.await.unwrap();
            assert!(body.ends_with(b"data: [DONE]\n\n"), "{name} run {run}");
            let (after, reserved) = spent(&state, &store).await;
            assert!(
                (after - before - 0.02).abs() < 1e-9,
                "{name} run {run}: {before} -> {after}"
            );
            assert!(
                reserved.abs() < 1e-9,
                "{name} run {run}: {reserved} left reserved"
            );
            assert_eq!(state.guard.live(), 0);
        }
    }
}
