//! Reservations, settlement and usage rows on both backends: spend is counted once, the
//! limit holds, the background writer commits and closes with the store.
#![allow(clippy::unwrap_used)]

use super::*;

fn usage(id: &str, cost: f64) -> UsageRecord {
    crate::testing::usage_record(id, cost, Utc::now())
}

#[tokio::test]
async fn reservations_stop_at_the_limit_and_settle_at_the_real_cost() {
    for s in crate::testing::stores().await {
        crate::testing::on(&s);
        let lines = [BudgetLine {
            scope: "persona:p".into(),
            limit_usd: 1.0,
        }];
        let now = Utc::now();
        let r1 = s.reserve("a", "2026-11", &lines, 0.6, now).await.unwrap();
        assert!(matches!(r1, Reservation::Reserved { .. }));
        let r2 = s.reserve("b", "2026-11", &lines, 0.6, now).await.unwrap();
        assert!(matches!(r2, Reservation::Exhausted { reserved_usd, .. } if reserved_usd == 0.6));
        s.settle(&usage("a", 0.1), Some("a")).await.unwrap();
        assert_eq!(
            s.budget_state("persona:p", "2026-11").await.unwrap(),
            (0.1, 0.0)
        );
        let r3 = s.reserve("c", "2026-11", &lines, 0.6, now).await.unwrap();
        assert!(matches!(r3, Reservation::Reserved { .. }));
        // A reservation never settled (its gateway died) is released later.
        let later = now + chrono::Duration::seconds(1);
        assert_eq!(s.release_reservations_before(later).await.unwrap(), 1);
        assert_eq!(
            s.budget_state("persona:p", "2026-11").await.unwrap(),
            (0.1, 0.0)
        );
        assert_eq!(s.usage(None).await.unwrap().len(), 1);
        // Its request settles after all: the spend counts, nothing stays reserved.
        s.settle(&usage("c", 0.2), Some("c")).await.unwrap();
        let (spent, reserved) = s.budget_state("persona:p", "2026-11").await.unwrap();
        assert!(
            (spent - 0.3).abs() < 1e-9 && reserved == 0.0,
            "{spent} {reserved}"
        );
        assert_eq!(s.release_reservations_before(later).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn recorded_usage_adds_its_spend_once() {
    for s in crate::testing::stores().await {
        crate::testing::on(&s);
        let scopes = ["key:k".to_owned(), "persona:p".to_owned()];
        s.record_usage(&usage("a", 0.25), "2026-11", &scopes)
            .await
            .unwrap();
        // Written twice (a retried write): one row, one spend.
        s.record_usage(&usage("a", 0.25), "2026-11", &scopes)
            .await
            .unwrap();
        s.record_usage(&usage("b", 0.5), "2026-11", &scopes[1..])
            .await
            .unwrap();
        s.record_usage(&usage("free", 0.0), "2026-11", &scopes)
            .await
            .unwrap();
        assert_eq!(s.usage(None).await.unwrap().len(), 3);
        assert_eq!(
            s.budget_state("key:k", "2026-11").await.unwrap(),
            (0.25, 0.0)
        );
        assert_eq!(
            s.budget_state("persona:p", "2026-11").await.unwrap(),
            (0.75, 0.0)
        );
        // A settlement of an id already written is refused, not counted twice.
        assert!(s.settle(&usage("b", 0.5), None).await.is_err());
        assert_eq!(
            s.budget_state("persona:p", "2026-11").await.unwrap(),
            (0.75, 0.0)
        );
    }
}

#[tokio::test]
async fn many_usage_rows_written_at_once_count_each_spend_once() {
    for s in crate::testing::stores().await {
        crate::testing::on(&s);
        let scopes = ["persona:p".to_owned()];
        // 600 at once (more than one statement's worth on SQLite), one of them twice,
        // 50 of them written before.
        let mut ids: Vec<String> = (0..600).map(|i| format!("r{i}")).collect();
        ids.push("r7".into());
        let store: &Store = &s;
        let scopes = &scopes;
        for id in &ids[100..150] {
            store
                .record_usage(&usage(id, 0.001), "2026-11", scopes)
                .await
                .unwrap();
        }
        let writes = ids.iter().map(|id| {
            let u = usage(id, 0.001);
            async move { store.record_usage(&u, "2026-11", scopes).await }
        });
        for written in futures::future::join_all(writes).await {
            written.unwrap();
        }
        assert_eq!(s.usage(None).await.unwrap().len(), 600);
        let (spent, _) = s.budget_state("persona:p", "2026-11").await.unwrap();
        assert!((spent - 0.6).abs() < 1e-9, "{spent}");
    }
}

#[tokio::test]
async fn a_batch_of_usage_rows_counts_each_spend_once() {
    for s in crate::testing::stores().await {
        crate::testing::on(&s);
        let entry = |id: &str, cost: f64, scopes: &[&str]| UsageEntry {
            usage: usage(id, cost),
            month: "2026-11".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        // Written before: its spend is not added again.
        s.record_usage(&usage("r3", 0.001), "2026-11", &["persona:p".to_owned()])
            .await
            .unwrap();
        // 1,200 rows (many statements' worth on SQLite), one of them twice, and one
        // with a second budget.
        let mut batch: Vec<UsageEntry> = (0..1200)
            .map(|i| entry(&format!("r{i}"), 0.001, &["persona:p"]))
            .collect();
        batch.push(entry("r7", 0.001, &["persona:p"]));
        batch.push(entry("k", 0.5, &["persona:p", "key:k"]));
        s.record_usages(std::sync::Arc::new(batch)).await.unwrap();
        s.record_usages(std::sync::Arc::new(Vec::new()))
            .await
            .unwrap();
        assert_eq!(s.usage(None).await.unwrap().len(), 1201);
        let (spent, _) = s.budget_state("persona:p", "2026-11").await.unwrap();
        assert!((spent - 1.7).abs() < 1e-9, "{spent}");
        assert_eq!(
            s.budget_state("key:k", "2026-11").await.unwrap(),
            (0.5, 0.0)
        );
    }
}

/// The scheduling policy of each of this process's threads whose name starts with
/// `prefix` (Linux: field 41 of `/proc/self/task/*/stat`; 5 is `SCHED_IDLE`).
#[cfg(target_os = "linux")]
fn thread_policies(prefix: &str) -> Vec<u32> {
    let mut policies = Vec::new();
    for task in fs_err::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let Ok(comm) = fs_err::read_to_string(dir.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if !comm.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = fs_err::read_to_string(dir.join("stat")) else {
            continue;
        };
        // Fields after the name, which ends at the last `)`, start with field 3.
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        let policy = rest.split_whitespace().nth(41 - 3).unwrap();
        policies.push(policy.parse().unwrap());
    }
    policies
}

/// Usage rows at background priority are committed by a connection whose SQLite
/// thread is scheduled `SCHED_IDLE`, between rows at normal priority, each spend
/// counted once; closing the store closes that connection too.
#[tokio::test]
async fn background_usage_rows_are_committed_by_an_idle_priority_thread() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let s = Store::connect(&url).await.unwrap();
    let entries = |from: usize| {
        std::sync::Arc::new(
            (from..from + 100)
                .map(|i| UsageEntry {
                    usage: usage(&format!("r{i}"), 0.01),
                    month: "2026-11".into(),
                    scopes: vec!["persona:p".into()],
                })
                .collect::<Vec<_>>(),
        )
    };
    s.record_usages_at(entries(0), WritePriority::Background)
        .await
        .unwrap();
    s.record_usages_at(entries(100), WritePriority::Normal)
        .await
        .unwrap();
    // Again, and overlapping: rows already written do not count twice.
    s.record_usages_at(entries(150), WritePriority::Background)
        .await
        .unwrap();
    assert_eq!(s.usage(None).await.unwrap().len(), 250);
    let (spent, _) = s.budget_state("persona:p", "2026-11").await.unwrap();
    assert!((spent - 2.5).abs() < 1e-9, "{spent}");
    #[cfg(target_os = "linux")]
    {
        let policies = thread_policies(crate::writer_conn::BACKGROUND_THREAD);
        assert!(!policies.is_empty(), "no background SQLite thread");
        assert!(
            policies.iter().all(|p| *p == 5),
            "a background SQLite thread not at SCHED_IDLE: {policies:?}"
        );
    }
    tokio::time::timeout(std::time::Duration::from_secs(5), s.close())
        .await
        .expect("close waited on a writer connection");
}

/// The writer keeps a connection of its own between batches: the pool still serves
/// every reader, even a pool of one, and closing the store waits for the writer to
/// close its connection (it hangs if the writer is not told).
#[tokio::test]
async fn the_ledger_writer_keeps_a_connection_and_closes_it_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    for pool in [1, 2, 4] {
        let options = crate::ConnectOptions {
            max_connections: Some(pool),
            acquire_timeout: std::time::Duration::from_secs(5),
            ..crate::ConnectOptions::default()
        };
        let s = Store::connect_with(&url, &options).await.unwrap();
        let scopes = ["persona:p".to_owned()];
        for i in 0..3 {
            let id = format!("{pool}-{i}");
            s.record_usage(&usage(&id, 0.25), "2026-11", &scopes)
                .await
                .unwrap();
            // Readers get a connection while the writer holds one.
            assert!(s.usage(None).await.unwrap().iter().any(|u| u.id == id));
            let (spent, _) = s.budget_state("persona:p", "2026-11").await.unwrap();
            assert!(spent > 0.0, "pool {pool}: {spent}");
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), s.close())
            .await
            .unwrap_or_else(|_| panic!("pool of {pool}: close waited on the writer"));
    }
}

#[tokio::test]
async fn all_scopes_or_none_are_reserved() {
    for s in crate::testing::stores().await {
        crate::testing::on(&s);
        let lines = [
            BudgetLine {
                scope: "persona:p".into(),
                limit_usd: 10.0,
            },
            BudgetLine {
                scope: "key:k".into(),
                limit_usd: 0.5,
            },
        ];
        let r = s.reserve("a", "m", &lines, 1.0, Utc::now()).await.unwrap();
        assert!(matches!(r, Reservation::Exhausted { ref scope, .. } if scope == "key:k"));
        assert_eq!(s.budget_state("persona:p", "m").await.unwrap(), (0.0, 0.0));
    }
}

#[tokio::test]
async fn summaries_group_and_sum() {
    for s in crate::testing::stores().await {
        crate::testing::on(&s);
        s.settle(&usage("a", 0.25), None).await.unwrap();
        let mut b = usage("b", 0.5);
        b.status = 502;
        s.settle(&b, None).await.unwrap();
        let rows = s.usage_summary(None, UsageGroup::Tool).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].group_key, "gpt");
        assert_eq!(rows[0].requests, 2);
        assert_eq!(rows[0].errors, 1);
        assert!((rows[0].cost_usd - 0.75).abs() < 1e-9);
    }
}
