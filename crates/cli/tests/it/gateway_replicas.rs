//! Several `proximity gateway` processes on one PostgreSQL database, as behind a load
//! balancer: together they never spend more than a budget (reservations are atomic in the
//! database), every acknowledged request has its usage row, and a tier's rate limit holds
//! across the replicas (the buckets are in the database), not once per replica.
//!
//! Skipped (with a line saying so) when `PROXIMITY_TEST_DATABASE_URL` names no server.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::gateway_support::*;

const REPLICAS: usize = 3;

fn program(base: &str, budget_per_seat: f64, rpm: u32) -> String {
    format!(
        r#"version: 1
name: gw-replicas
tools:
  - id: gpt
    provider: openai
    model: primary-model
    base_url: {base}
    api_key_env: PROXIMITY_GW_TEST_KEY
    price: {{ input_per_mtok: 30, output_per_mtok: 60 }}
    params: {{ max_tokens: 20, max_attempts: 1 }}
tiers:
  - id: a
    tools: [gpt]
    budget_per_seat_month: {budget_per_seat}
    rate_limit: {{ requests_per_minute: {rpm} }}
personas:
  - id: pa
    headcount: 1
    tier: a
    workflows: [{{ id: triage, share: 1.0, floor: 0.5 }}]
"#
    )
}

/// A program directory on a fresh PostgreSQL database, or `None` (and a line on stderr)
/// without a test server.
async fn postgres_setup(test: &str, program_yaml: &str) -> Option<Setup> {
    let Some(url) = proximity_store::testing::fresh_postgres_url().await else {
        eprintln!("{test}: skipped, no PostgreSQL (set PROXIMITY_TEST_DATABASE_URL)");
        return None;
    };
    Some(Setup::with_database(program_yaml, &url))
}

/// Three gateways on the setup's database, each with a small pool (as a deployment
/// would size them against the server's `max_connections`).
fn replicas(setup: &Setup) -> Vec<Gateway> {
    (0..REPLICAS)
        .map(|_| setup.start_gateway_with(&["--database-pool-size", "8"]))
        .collect()
}

/// `n` concurrent requests, round-robin over `gateways`; the replies in request order.
async fn spread(gateways: &[Gateway], key: &str, n: usize) -> Vec<Reply> {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let key = Arc::new(key.to_owned());
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let url = gateways[i % gateways.len()].url.clone();
            let (c, key) = (c.clone(), key.clone());
            tokio::spawn(async move {
                let text = format!("request {i} wants a fairly long answer, please");
                post_chat(&c, &url, &key, &user("gpt", &text), None).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

/// Every 200 reply's request id has a usage row with status 200, and there are no others.
fn assert_acknowledged_are_recorded(ok: &[String], rows: &[proximity_store::UsageRecord]) {
    let recorded: HashSet<&str> = rows
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.id.as_str())
        .collect();
    let missing: Vec<&String> = ok
        .iter()
        .filter(|id| !recorded.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged without usage: {missing:?}"
    );
    assert_eq!(recorded.len(), ok.len(), "usage rows of 200s nobody got");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_on_one_postgres_never_overspend_a_budget() {
    let up = start_upstream().await;
    // Each answer costs about 0.0007 USD and reserves about 0.003 USD: 0.02 USD pays for
    // a few dozen of the 600 requests. The rate limit is far away (but still shared).
    let budget = 0.02;
    let Some(setup) = postgres_setup(
        "three_gateways_on_one_postgres_never_overspend_a_budget",
        &program(&up.base_url(), budget, 1_000_000),
    )
    .await
    else {
        return;
    };
    let key = setup.key("pa", &[]);
    let gateways = replicas(&setup);

    let replies = spread(&gateways, &key, 600).await;
    let mut ok = Vec::new();
    let mut refused = 0;
    for r in &replies {
        match r.status {
            200 => ok.push(r.request_id()),
            402 | 429 => refused += 1,
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert!(
        !ok.is_empty() && refused > 0,
        "{} served, {refused} refused: the budget did not bind",
        ok.len()
    );

    let rows = usage_rows(&setup).await;
    assert_acknowledged_are_recorded(&ok, &rows);
    let spent: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let max_one = rows.iter().map(|r| r.cost_usd).fold(0.0, f64::max);
    assert!(
        spent <= budget + REPLICAS as f64 * max_one,
        "spent {spent} of {budget} (most expensive request {max_one})"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == 402 || r.status == 429)
            .count(),
        refused,
        "every refusal is recorded too"
    );
    // The ledger agrees with the usage rows, and nothing is left reserved.
    let store = proximity_store::Store::connect(&setup.db_url())
        .await
        .unwrap();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (ledger_spent, reserved) = store.budget_state("persona:pa", &month).await.unwrap();
    store.close().await;
    assert!(
        (ledger_spent - spent).abs() < 1e-9,
        "ledger {ledger_spent} vs usage rows {spent}"
    );
    assert!(reserved.abs() < 1e-9, "{reserved} USD still reserved");
    let per_replica: Vec<usize> = (0..REPLICAS)
        .map(|g| {
            replies
                .iter()
                .enumerate()
                .filter(|(i, r)| i % REPLICAS == g && r.status == 200)
                .count()
        })
        .collect();
    eprintln!(
        "{} served {per_replica:?}, {refused} refused, spent {spent:.5} of {budget} USD",
        ok.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_rate_limit_holds_across_three_gateways() {
    let up = start_upstream().await;
    let rpm = 30;
    let Some(setup) = postgres_setup(
        "a_tier_rate_limit_holds_across_three_gateways",
        &program(&up.base_url(), 1000.0, rpm),
    )
    .await
    else {
        return;
    };
    let key = setup.key("pa", &[]);
    let gateways = replicas(&setup);

    // Three times the limit at once: per-replica buckets would admit all of it.
    let started = Instant::now();
    let replies = spread(&gateways, &key, 3 * rpm as usize).await;
    let elapsed = started.elapsed().as_secs_f64();
    let ok: Vec<String> = replies
        .iter()
        .filter(|r| r.status == 200)
        .map(Reply::request_id)
        .collect();
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    }
    // The bucket starts full (rpm) and refills rpm/60 a second while the requests run;
    // the replicas share this machine's clock, so the tolerance for skew is nothing.
    let refill = (elapsed * f64::from(rpm) / 60.0).ceil() as usize;
    let admitted = ok.len();
    assert!(
        admitted >= rpm as usize && admitted <= rpm as usize + refill,
        "{admitted} admitted by {REPLICAS} replicas under a limit of {rpm}/min \
         ({elapsed:.2}s, refill allowance {refill})"
    );
    let rows = usage_rows(&setup).await;
    assert_acknowledged_are_recorded(&ok, &rows);
    assert_eq!(
        rows.iter().filter(|r| r.status == 429).count(),
        replies.len() - admitted
    );
    eprintln!("{admitted} of {} admitted in {elapsed:.2}s", replies.len());
}
