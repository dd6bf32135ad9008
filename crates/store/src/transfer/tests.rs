//! Every table of the schema is exported or skipped, on both backends; exports round-trip;
//! imports name what is wrong and keep what was committed.

use super::*;
use crate::testing;

/// The tables and columns the migrations created, as (table, [(column, kind, nullable)]).
async fn schema(store: &Store) -> Vec<(String, Vec<(String, Option<Kind>, bool)>)> {
    let mut out = Vec::new();
    let tables: Vec<(String,)> = with_pool!(store, |pool| match store.backend() {
        Backend::Sqlite => sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Backend::Postgres => sqlx::query_as(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                   AND table_name <> '_sqlx_migrations' ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    });
    for (table,) in tables {
        let columns: Vec<(String, String, bool)> =
            with_pool!(store, |pool| match store.backend() {
                Backend::Sqlite => {
                    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                        "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)",
                    )
                    .bind(&table)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    rows.into_iter()
                        .map(|(n, t, notnull, pk)| (n, t, notnull == 0 && pk == 0))
                        .collect()
                }
                Backend::Postgres => {
                    let rows: Vec<(String, String, String)> = sqlx::query_as(
                        "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT),
                                CAST(is_nullable AS TEXT)
                         FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = $1",
                    )
                    .bind(&table)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    rows.into_iter()
                        .map(|(n, t, nullable)| (n, t, nullable == "YES"))
                        .collect()
                }
            });
        let columns = columns
            .into_iter()
            .map(|(name, ty, nullable)| {
                let kind = match ty.to_ascii_lowercase().as_str() {
                    "text" => Some(Kind::Text),
                    // SQLite's INTEGER and BIGINT are both 64-bit; PostgreSQL's
                    // `integer` is not, and would not decode as i64.
                    "bigint" => Some(Kind::Integer),
                    "integer" if store.backend() == Backend::Sqlite => Some(Kind::Integer),
                    "double precision" => Some(Kind::Real),
                    "boolean" => Some(Kind::Bool),
                    _ => None,
                };
                (name, kind, nullable)
            })
            .collect();
        out.push((table, columns));
    }
    out
}

#[tokio::test]
async fn every_table_of_the_schema_is_exported_or_explicitly_skipped() {
    for store in testing::stores().await {
        testing::on(&store);
        let schema = schema(&store).await;
        for (name, columns) in &schema {
            if is_skipped(name) {
                continue;
            }
            let Some(spec) = table(name) else {
                panic!(
                    "table `{name}` is neither exported nor skipped: add it to \
                         transfer::TABLES (in foreign-key order) or to transfer::SKIPPED"
                );
            };
            for (column, kind, nullable) in columns {
                let Some(c) = spec.column(column) else {
                    panic!("`{name}.{column}` is missing from transfer::TABLES");
                };
                assert_eq!(
                    (Some(c.kind), c.nullable),
                    (*kind, *nullable),
                    "`{name}.{column}`: transfer::TABLES disagrees with the schema"
                );
            }
            for c in spec.columns {
                assert!(
                    columns.iter().any(|(n, _, _)| n == c.name),
                    "transfer::TABLES has `{name}.{}`, the schema does not",
                    c.name
                );
            }
        }
        for spec in TABLES {
            assert!(
                schema.iter().any(|(n, _)| n == spec.name),
                "transfer::TABLES has `{}`, the schema does not",
                spec.name
            );
            for key in spec.order_by {
                assert!(spec.column(key).is_some(), "{}: order by {key}", spec.name);
            }
        }
    }
}

/// Rows in every exported table, with NULLs, both booleans, reals that need every
/// digit, a 64-bit integer past 2^53, and keys whose order differs between byte
/// order and a locale's.
const SEED: &[&str] = &[
        "INSERT INTO runs (id, program, started_at, finished_at, status, config, planned) VALUES
            ('r-a', 'acme', '2026-11-20T10:00:00+00:00', NULL, 'running', '{\"samples\":1}', 9007199254740993),
            ('r-B', 'acme', '2026-11-20T09:00:00+00:00', '2026-11-20T09:30:00+00:00', 'finished', '{}', 4),
            ('r-é', 'acme', '2026-11-21T09:00:00+00:00', NULL, 'interrupted', '{}', 0)",
        "INSERT INTO results (run_id, case_id, tool_id, sample, persona, workflow, kind, source,
            case_weight, tool_fingerprint, model_version, output, error_class, error_message,
            input_tokens, output_tokens, cost_usd, latency_ms, attempts, cached, verdict, reason,
            assertions, mean_logprob, created_at, hedged) VALUES
            ('r-B', 'c1', 'gpt', 0, 'p', 'w', 'edge', 'demo', 0.1, 'fp1', NULL,
             'Zoë said \"Paris\"
on two lines, it''s fine', NULL, NULL, 100, 10, 0.000123456789012345, 12, 1, FALSE, 'pass', '', '[]',
             -0.25, '2026-11-20T09:01:00+00:00', NULL),
            ('r-B', 'c1', 'gpt', 1, 'p', 'w', 'edge', 'demo', 1e-300, 'fp1', 'm-1', '', 'server',
             'boom', 0, 0, 0.0, 5, 3, TRUE, 'error', 'server error', '[]', NULL,
             '2026-11-20T09:02:00+00:00', TRUE),
            ('r-B', 'C2', 'gpt', 0, 'p', 'w', 'core', 'demo', 2.5, 'fp1', 'm-1', 'x', NULL, NULL,
             7, 8, 1.5, 9, 1, FALSE, 'silent', 'wrong', '[{\"group\":\"correct\"}]', -1.0,
             '2026-11-20T09:03:00+00:00', FALSE),
            ('r-a', 'c1', 'gpt', 0, 'p', 'w', 'edge', 'demo', 1.0, 'fp2', NULL, 'y', NULL, NULL,
             1, 1, 0.3333333333333333, 1, 1, FALSE, 'pass', '', '[]', NULL,
             '2026-11-20T10:01:00+00:00', NULL)",
        "INSERT INTO response_cache (key, tool_fingerprint, response, created_at) VALUES
            ('a1', 'fp1', '{\"text\":\"b\"}', '2026-11-20T09:00:00+00:00'),
            ('B2', 'fp1', '{\"text\":\"a\"}', '2026-11-20T09:00:00+00:00')",
        "INSERT INTO virtual_keys (id, key_hash, persona, name, created_at, expires_at, revoked_at,
            budget_usd) VALUES
            ('key_1', 'h1', 'p', 'alice', '2026-11-20T09:00:00+00:00', NULL, NULL, NULL),
            ('key_2', 'h2', 'p', NULL, '2026-11-20T09:00:00+00:00', '2027-01-01T00:00:00+00:00',
             '2026-11-22T00:00:00+00:00', 12.75)",
        "INSERT INTO gateway_usage (id, created_at, key_id, persona, tier, tool_id, served_by,
            tool_fingerprint, workflow, input_tokens, output_tokens, cost_usd, latency_ms,
            ttft_ms, status, error_class, stream, attempts) VALUES
            ('u1', '2026-11-20T09:00:00+00:00', 'key_1', 'p', 't', 'gpt', 'gpt', 'fp1', 'w', 10,
             20, 0.0007, 300, 40, 200, NULL, TRUE, 1),
            ('u2', '2026-11-20T09:00:01+00:00', NULL, NULL, NULL, 'gpt', NULL, NULL, 'w', 0, 0,
             0.0, 3, NULL, 429, 'rate_limited', FALSE, 2)",
        "INSERT INTO budget_ledger (scope, month, spent_usd, reserved_usd) VALUES
            ('persona:p', '2026-11', 0.0007, 0.02), ('key:key_1', '2026-11', 0.0007, 0.0)",
        "INSERT INTO budget_reservations (id, month, scopes, amount_usd, created_at, released)
            VALUES ('res1', '2026-11', '[\"persona:p\"]', 0.02, '2026-11-20T09:00:00+00:00',
                    FALSE)",
        "INSERT INTO field_notes (id, created_at, date, author, role, persona, tool, workflow,
            task, what_happened, outcome, failure_mode, minutes_saved, minutes_lost, prompt,
            output, promoted_case, promoted_suite) VALUES
            (1, '2026-11-20T09:00:00+00:00', '2026-11-20', 'ana', 'practitioner', 'p', 'gpt',
             'w', 'task', 'it worked', 'worked', NULL, 12.5, 0.0, NULL, NULL, NULL, NULL),
            (7, '2026-11-20T09:00:00+00:00', '2026-11-20', 'bo', 'leader', 'p', 'gpt', NULL,
             'task', 'made it up', 'failed_silently', 'hallucination', 0.0, 30.0, 'q', 'a',
             'note-7', 'suites/s.yaml')",
        "INSERT INTO captures (id, created_at, request_id, persona, tier, tool, workflow,
            messages, answer, promoted_case, promoted_suite) VALUES
            (2, '2026-11-20T09:00:00+00:00', 'req1', 'p', 't', 'gpt', 'w',
             '[{\"role\":\"user\",\"content\":\"mail [EMAIL]\"}]', 'done', NULL, NULL),
            (5, '2026-11-20T09:00:00+00:00', 'req2', 'p', 't', 'gpt', 'unknown', '[]', '',
             'capture-5', 'suites/s.yaml')",
        "INSERT INTO plans (id, created_at, runs, body) VALUES
            (3, '2026-11-20T09:00:00+00:00', '[\"r-B\"]', '{\"plan\":true}')",
        "INSERT INTO decisions (id, created_at, author, title, statement, personas, tools, tiers,
            horizon_days) VALUES
            (2, '2026-11-20T09:00:00+00:00', NULL, 'Standardise', 'Use gpt', '[\"p\"]',
             '[\"gpt\"]', '[\"t\"]', 90)",
        "INSERT INTO decision_evidence (decision_id, kind, reference) VALUES
            (2, 'run', 'r-B'), (2, 'note', '7'), (2, 'baseline', 'Base')",
        "INSERT INTO baselines (name, run_id, accepted_at, accepted_by, note) VALUES
            ('base', 'r-B', '2026-11-20T10:00:00+00:00', 'ana', NULL),
            ('Base', 'r-B', '2026-11-20T10:00:00+00:00', 'ana', 'with a note')",
        "INSERT INTO baseline_tools (baseline, tool_id, tool_fingerprint, config_fingerprint,
            model_version, config, results, passed) VALUES
            ('base', 'gpt', 'fp1', 'cfg1', 'm-1', '{\"model\":\"x\"}', 3, 1),
            ('Base', 'gpt', 'fp1', NULL, NULL, NULL, 3, 2)",
        "INSERT INTO drift_findings (id, found_at, tool, baseline, run_id, kind, summary) VALUES
            (4, '2026-11-21T00:00:00+00:00', 'gpt', 'base', 'r-a', 'quality', 'pass rate fell'),
            (5, '2026-11-21T00:00:00+00:00', 'gpt', 'Base', NULL, 'vendor_update', 'm-2')",
        "INSERT INTO live_checks (day, persona, tool_id, workflow, pass, structural, silent,
            loud, skipped) VALUES
            ('2026-11-21', 'p', 'gpt', 'triage', 40, 1, 3, 2, 5),
            ('2026-11-22', 'p', 'gpt', 'triage', 7, 0, 0, 0, 0)",
    ];

async fn seed(store: &Store) {
    for sql in SEED {
        with_pool!(store, |pool| {
            sqlx::query(sql)
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{e}: {sql}"));
        });
    }
}

/// On PostgreSQL, give `response_cache.key` a locale's collation (as in a database
/// created with `LC_COLLATE=en_US.UTF-8`, where `a1` sorts before `B2`), to see that
/// exports sort text in byte order whatever the database's collation.
async fn localize(store: &Store) {
    if let crate::Pool::Postgres(pool) = &store.pool {
        let icu: Option<(i64,)> = sqlx::query_as(
            "SELECT CAST(1 AS BIGINT) FROM pg_collation WHERE collname = 'und-x-icu'",
        )
        .fetch_optional(pool)
        .await
        .unwrap();
        if icu.is_some() {
            sqlx::query(
                "ALTER TABLE response_cache ALTER COLUMN key TYPE TEXT COLLATE \"und-x-icu\"",
            )
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

async fn export(store: &Store) -> (String, Counts) {
    let mut out = Vec::new();
    let counts = store.export_jsonl(&mut out, &mut |_, _| {}).await.unwrap();
    (String::from_utf8(out).unwrap(), counts)
}

/// The header as JSON and the lines after it.
fn split(export: &str) -> (Value, &str) {
    let (header, body) = export.split_once('\n').unwrap();
    (serde_json::from_str(header).unwrap(), body)
}

async fn next_id(store: &Store, table: &str) -> i64 {
    let sql = match table {
        "plans" => {
            "INSERT INTO plans (created_at, runs, body) VALUES ('t', '[]', '{}') RETURNING id"
        }
        "decisions" => {
            "INSERT INTO decisions (created_at, title, statement, personas, tools, tiers,
                horizon_days) VALUES ('t', 't', 's', '[]', '[]', '[]', 1) RETURNING id"
        }
        _ => unreachable!(),
    };
    with_pool!(store, |pool| {
        let (id,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await.unwrap();
        id
    })
}

#[tokio::test]
async fn export_then_import_round_trips_on_both_backends() {
    let mut bodies = Vec::new();
    for source in testing::stores().await {
        let from = testing::on(&source);
        localize(&source).await;
        seed(&source).await;
        let (first, counts) = export(&source).await;
        assert_eq!(counts.len(), TABLES.len());
        for (table, n) in &counts {
            assert!(*n > 0, "the seed has no row in `{table}`");
        }
        let (header, body) = split(&first);
        assert_eq!(header["proximity_export"], 1);
        assert_eq!(header["schema_version"], latest_known_version());
        assert_eq!(header["source_backend"], from.as_str());
        assert!(body.contains("\"planned\":9007199254740993"), "{body}");
        assert!(body.contains("\"case_weight\":1e-300"), "{body}");
        assert!(body.contains("\"hedged\":null"), "{body}");
        // Byte order: `r-B` < `r-a` < `r-é`, `C2` < `c1`, `Base` < `base`, `B2` < `a1`.
        let runs: Vec<&str> = body
            .lines()
            .filter(|l| l.starts_with("{\"table\":\"runs\""))
            .collect();
        assert!(
            runs[0].contains("\"r-B\"") && runs[2].contains("\"r-é\""),
            "{runs:?}"
        );
        let b2 = body.find("\"key\":\"B2\"").unwrap();
        assert!(b2 < body.find("\"key\":\"a1\"").unwrap(), "{body}");
        for batch_rows in [2, 500] {
            for target in testing::stores().await {
                let to = testing::on(&target);
                localize(&target).await;
                let options = ImportOptions {
                    batch_rows,
                    ..ImportOptions::default()
                };
                let mut seen = Vec::new();
                let imported = target
                    .import_jsonl(first.as_bytes(), &options, &mut |t, n| {
                        seen.push((t.to_owned(), n))
                    })
                    .await
                    .unwrap();
                assert_eq!(
                    imported, counts,
                    "{from:?} -> {to:?}, batches of {batch_rows}"
                );
                assert_eq!(seen, counts);
                let (second, _) = export(&target).await;
                let (header2, body2) = split(&second);
                assert_eq!(header2["source_backend"], to.as_str());
                assert_eq!(header2["schema_version"], header["schema_version"]);
                assert_eq!(body2, body, "{from:?} -> {to:?}: the data changed");
                // Identity ids were kept and new rows get ids after them.
                assert_eq!(next_id(&target, "plans").await, 4);
                assert_eq!(next_id(&target, "decisions").await, 3);
            }
        }
        bodies.push(body.to_owned());
    }
    // The same rows export to the same bytes from either backend.
    for b in &bodies[1..] {
        assert_eq!(b, &bodies[0]);
    }
}

fn header() -> String {
    format!(
            "{{\"proximity_export\":1,\"schema_version\":{},\"source_backend\":\"sqlite\",\"exported_at\":\"x\"}}\n",
            latest_known_version()
        )
}

async fn import(store: &Store, text: &str, merge: bool) -> Result<Counts, TransferError> {
    let options = ImportOptions {
        merge,
        ..ImportOptions::default()
    };
    store
        .import_jsonl(text.as_bytes(), &options, &mut |_, _| {})
        .await
}

#[tokio::test]
async fn import_names_the_malformed_line_and_what_was_expected() {
    let store = testing::sqlite().await;
    let run = r#"{"table":"runs","row":{"id":"r","program":"p","started_at":"t","finished_at":null,"status":"finished","config":"{}","planned":1}}"#;
    let cases = [
        (
            format!("{}{run}\n\n[1, 2]\n", header()),
            "line 4: expected a JSON object with \"table\" and \"row\"",
        ),
        (
            format!("{}{run}\n{{\"table\": \"runs\", ", header()),
            "line 3: expected a JSON object with \"table\" and \"row\" (",
        ),
        (
            format!("{}{{\"table\":\"nope\",\"row\":{{}}}}\n", header()),
            "line 2: unknown table `nope`",
        ),
        (
            format!(
                "{}{}\n",
                header(),
                run.replace("\"planned\":1", "\"planned\":1.5")
            ),
            "line 2: `runs.planned` must be an integer; found 1.5",
        ),
        (
            format!("{}{}\n", header(), run.replace(",\"planned\":1", "")),
            "line 2: `runs.planned` must be an integer; it is missing",
        ),
        (
            format!(
                "{}{}\n",
                header(),
                run.replace("\"planned\":1", "\"planned\":1,\"extra\":2")
            ),
            "line 2: table `runs` has no column `extra`",
        ),
        (
            format!(
                "{}{}\n",
                header(),
                run.replace("\"program\":\"p\"", "\"program\":null")
            ),
            "line 2: `runs.program` must be a string; found null",
        ),
        (format!("{run}\n"), "line 1: expected the export header"),
    ];
    for (text, expected) in cases {
        let err = import(&store, &text, false).await.unwrap_err().to_string();
        assert!(err.starts_with(expected), "{err}\n  expected: {expected}");
    }
    let newer = header().replace(
        &format!(":{},", latest_known_version()),
        &format!(":{},", latest_known_version() + 1),
    );
    assert!(matches!(
        import(&store, &newer, false).await,
        Err(TransferError::NewerSchema { .. })
    ));
    assert!(matches!(
        import(&store, "", false).await,
        Err(TransferError::Empty)
    ));
    // A missing nullable column (an export from before it existed) is NULL.
    let old = run.replace("\"finished_at\":null,", "");
    let counts = import(&store, &format!("{}{old}\n", header()), false)
        .await
        .unwrap();
    assert_eq!(counts, vec![("runs".to_owned(), 1)]);
}

#[tokio::test]
async fn a_store_with_rows_needs_merge_and_merging_adds_only_what_is_missing() {
    for store in testing::stores().await {
        testing::on(&store);
        let source = testing::sqlite().await;
        seed(&source).await;
        let (full, _) = export(&source).await;
        // The target holds one of the runs already.
        with_pool!(store, |pool| {
            sqlx::query(SEED[0]).execute(pool).await.unwrap();
        });
        let err = import(&store, &full, false).await.unwrap_err();
        assert!(
            matches!(&err, TransferError::NotEmpty { tables } if tables == "runs"),
            "{err}"
        );
        assert!(err.to_string().contains("--merge"), "{err}");
        import(&store, &full, true).await.unwrap();
        assert_eq!(split(&export(&store).await.0).1, split(&full).1);
        // Merging the same export again changes nothing.
        import(&store, &full, true).await.unwrap();
        assert_eq!(split(&export(&store).await.0).1, split(&full).1);
    }
}

#[tokio::test]
async fn a_refused_batch_names_its_lines_and_what_was_committed() {
    for store in testing::stores().await {
        testing::on(&store);
        let run = r#"{"table":"runs","row":{"id":"r","program":"p","started_at":"t","finished_at":null,"status":"finished","config":"{}","planned":1}}"#;
        // A baseline of a run the export does not have: a foreign key refuses it.
        let orphan = r#"{"table":"baselines","row":{"name":"b","run_id":"nope","accepted_at":"t","accepted_by":"a","note":null}}"#;
        let text = format!("{}{run}\n{orphan}\n", header());
        let err = import(&store, &text, false).await.unwrap_err();
        let TransferError::Insert {
            table,
            first,
            last,
            committed,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!((*table, *first, *last, *committed), ("baselines", 3, 3, 1));
        assert!(err.to_string().contains("--merge"), "{err}");
    }
}

#[tokio::test]
async fn schema_version_is_the_newest_migration() {
    for store in testing::stores().await {
        testing::on(&store);
        assert_eq!(
            store.schema_version().await.unwrap(),
            Some(latest_known_version())
        );
    }
}
