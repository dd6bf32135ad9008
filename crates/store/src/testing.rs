//! Test support for this crate and the ones above it (and their benchmarks), behind the
//! `testing` feature that only their `[dev-dependencies]` enable: a fresh, empty store on
//! each backend the machine offers, and a usage row to write to it. SQLite is always
//! there; PostgreSQL when `PROXIMITY_TEST_DATABASE_URL` names a server (each store gets a
//! database of its own, created on that server), and its absence is a failure when
//! `PROXIMITY_REQUIRE_POSTGRES=1` (as in CI).

use std::ops::Deref;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use crate::{Backend, Store, UsageRecord};

/// The server the PostgreSQL tests create their databases on.
pub const POSTGRES_URL_ENV: &str = "PROXIMITY_TEST_DATABASE_URL";
/// Set to `1` to make a missing PostgreSQL server a test failure instead of a skip.
pub const REQUIRE_POSTGRES_ENV: &str = "PROXIMITY_REQUIRE_POSTGRES";

/// A store for one test, with what keeps it alive.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// The URL of the PostgreSQL server for tests, `None` when there is none (a panic when
/// one is required).
pub fn postgres_server() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var(REQUIRE_POSTGRES_ENV).as_deref() != Ok("1"),
                "{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is not set: start one with \
                 `export {POSTGRES_URL_ENV}=$(scripts/pg start)`"
            );
            None
        }
    }
}

/// A new, empty database on the test server; its URL. `None` without a server.
pub async fn fresh_postgres_url() -> Option<String> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let server = postgres_server()?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "proximity_test_{}_{}_{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let options = PgConnectOptions::from_str(&server)
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_ENV}=`{server}`: {e}"));
    let mut admin = options
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at `{server}`: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = admin.close().await;
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server.as_str(), String::new()),
    };
    let (root, _db) = base
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{POSTGRES_URL_ENV} has no database part: `{server}`"));
    Some(format!("{root}/{name}{query}"))
}

/// A fresh SQLite store in a temporary directory.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("proximity.db").display());
    let store = Store::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    TestStore {
        store,
        url,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL store, `None` without a test server.
pub async fn postgres() -> Option<TestStore> {
    let url = fresh_postgres_url().await?;
    // Small pools: many tests run at once against one server.
    let options = crate::ConnectOptions {
        max_connections: Some(4),
        ..crate::ConnectOptions::default()
    };
    let store = Store::connect_with(&url, &options)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    Some(TestStore {
        store,
        url,
        _dir: None,
    })
}

/// A fresh store on every backend available: SQLite, then PostgreSQL when there is a
/// server. Each is announced on stderr, so a failure says which backend it was.
pub async fn stores() -> Vec<TestStore> {
    let mut out = vec![sqlite().await];
    out.extend(postgres().await);
    out
}

/// Announce which backend the following assertions run on (shown when a test fails).
pub fn on(store: &Store) -> Backend {
    let b = store.backend();
    #[allow(clippy::print_stderr)]
    {
        eprintln!("--- on {}", b.as_str());
    }
    b
}

/// A usage row: a 200 answer of tool `gpt` to key `k` of persona `p` in tier `t`, 10
/// tokens in and 5 out, costing `cost`.
pub fn usage_record(id: &str, cost: f64, created_at: chrono::DateTime<chrono::Utc>) -> UsageRecord {
    UsageRecord {
        id: id.into(),
        created_at,
        key_id: Some("k".into()),
        persona: Some("p".into()),
        tier: Some("t".into()),
        tool_id: "gpt".into(),
        served_by: Some("gpt".into()),
        tool_fingerprint: Some("f".into()),
        workflow: "unknown".into(),
        input_tokens: 10,
        output_tokens: 5,
        cost_usd: cost,
        latency_ms: 3,
        ttft_ms: Some(2),
        status: 200,
        error_class: None,
        stream: false,
        attempts: 1,
    }
}
