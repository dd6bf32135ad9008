//! The rollup agrees with the rows it sums, on both backends: per group and per day,
//! for a window starting mid-day, with rows written one at a time and in batches, and a row
//! written twice counted once.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};

use crate::dashboard::UsageSeries;
use crate::testing::usage_record;
use crate::usage::{UsageEntry, UsageGroup, UsageRecord};

fn row(i: usize) -> UsageRecord {
    let day0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut r = usage_record(
        &format!("u{i}"),
        0.0001 * (i % 7) as f64,
        day0 + chrono::Duration::minutes(97 * i as i64),
    );
    r.persona = (!i.is_multiple_of(5)).then(|| ["p", "q"][i % 2].to_owned());
    r.tier = r.persona.as_ref().map(|p| format!("tier-{p}"));
    r.tool_id = ["a", "b", "c"][i % 3].into();
    r.workflow = ["w1", "w2"][i % 2].into();
    r.status = [200, 200, 429, 500, 200][i % 5];
    r.latency_ms = 10 + i as u64;
    r
}

/// (requests, errors, tokens in, cost, latency sum) per group, from the rows themselves.
fn brute(
    rows: &[UsageRecord],
    key: impl Fn(&UsageRecord) -> String,
) -> BTreeMap<String, (i64, i64, i64, f64, f64)> {
    let mut out: BTreeMap<String, (i64, i64, i64, f64, f64)> = BTreeMap::new();
    for r in rows {
        let e = out.entry(key(r)).or_default();
        e.0 += 1;
        e.1 += i64::from(r.status >= 400);
        e.2 += r.input_tokens as i64;
        e.3 += r.cost_usd;
        e.4 += r.latency_ms as f64;
    }
    out
}

#[tokio::test]
async fn summaries_and_days_equal_the_rows_they_sum() {
    for s in crate::testing::stores().await {
        crate::testing::on(&s);
        let rows: Vec<UsageRecord> = (0..400).map(row).collect();
        // One at a time, then a batch, then a retried write of a row already there.
        for r in &rows[..50] {
            s.record_usage(r, "2026-11", &[]).await.unwrap();
        }
        let batch: Vec<UsageEntry> = rows[50..]
            .iter()
            .map(|u| UsageEntry {
                usage: u.clone(),
                month: "2026-11".into(),
                scopes: Vec::new(),
            })
            .collect();
        s.record_usages(Arc::new(batch)).await.unwrap();
        s.record_usage(&rows[3], "2026-11", &[]).await.unwrap();

        for since in [
            None,
            Some(rows[123].created_at + chrono::Duration::minutes(5)),
        ] {
            let kept: Vec<UsageRecord> = rows
                .iter()
                .filter(|r| since.is_none_or(|t| r.created_at >= t))
                .cloned()
                .collect();
            let want = brute(&kept, |r| {
                r.persona.clone().unwrap_or_else(|| "(no key)".into())
            });
            let got = s.usage_summary(since, UsageGroup::Persona).await.unwrap();
            assert_eq!(got.len(), want.len(), "{since:?}");
            for g in &got {
                let w = want[&g.group_key];
                assert_eq!(
                    (g.requests, g.errors, g.input_tokens),
                    (w.0, w.1, w.2),
                    "{}",
                    g.group_key
                );
                assert!((g.cost_usd - w.3).abs() < 1e-9);
                assert!((g.mean_latency_ms - w.4 / w.0 as f64).abs() < 1e-9);
            }
            let want = brute(&kept, |r| {
                format!("{} {}", r.created_at.format("%Y-%m-%d"), r.tool_id)
            });
            let days = s.usage_days(since, UsageSeries::Tool).await.unwrap();
            assert_eq!(days.len(), want.len());
            for d in &days {
                let w = want[&format!("{} {}", d.day, d.group_key)];
                assert_eq!((d.requests, d.errors, d.input_tokens), (w.0, w.1, w.2));
                let limited = kept
                    .iter()
                    .filter(|r| {
                        r.status == 429
                            && r.tool_id == d.group_key
                            && r.created_at.format("%Y-%m-%d").to_string() == d.day
                    })
                    .count();
                assert_eq!(d.rate_limited, limited as i64);
            }
        }
    }
}
