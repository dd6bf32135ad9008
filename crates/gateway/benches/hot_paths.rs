//! Criterion benchmarks of the gateway's per-request hot paths found by profiling it
//! (2026-11-26; bench/results/criterion.md): the usage journal append that makes a request's usage
//! durable before it is answered, parsing an OpenAI request body, and encoding a
//! streamed chunk as a server-sent event (once per token of a relayed stream).
//! `cargo bench -p proximity-gateway --bench hot_paths`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use proximity_gateway::journal::{Entry, Journal};
use proximity_gateway::wire;
use proximity_store::{Store, UsageRecord};
use serde_json::json;

fn entry(i: u64) -> Entry {
    Entry {
        usage: UsageRecord {
            id: format!("019abcdef012{i:012x}"),
            created_at: chrono::Utc::now(),
            key_id: Some("k-0123456789".into()),
            persona: Some("support-agent".into()),
            tier: Some("standard".into()),
            tool_id: "gpt-4o-mini".into(),
            served_by: Some("gpt-4o-mini".into()),
            tool_fingerprint: Some("3f2a9c0d11aa".into()),
            workflow: "triage".into(),
            input_tokens: 812,
            output_tokens: 96,
            cost_usd: 0.000_179_4,
            latency_ms: 640,
            ttft_ms: Some(210),
            status: 200,
            error_class: None,
            stream: false,
            attempts: 1,
        },
        month: "2026-11".into(),
        scopes: vec!["key:k-0123456789".into(), "persona:support-agent".into()],
    }
}

fn journal(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let store = rt
        .block_on(Store::connect(&format!("sqlite://{}", db.display())))
        .unwrap();
    let (journal, _) = rt.block_on(Journal::open(&store, &db)).unwrap();
    let mut n = 0u64;
    c.bench_function("journal_append", |b| {
        b.iter_custom(|iters| {
            // Appends are timed; moving them into the store (the flusher's work, off the
            // request's path) happens between chunks, untimed, so memory stays bounded.
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(10_000);
                let entries: Vec<Entry> = (0..chunk).map(|i| entry(n + i)).collect();
                n += chunk;
                let start = Instant::now();
                for e in entries {
                    journal.append(e).unwrap();
                }
                timed += start.elapsed();
                rt.block_on(journal.flush(&store)).unwrap();
                left -= chunk;
            }
            timed
        });
    });
}

fn wire_format(c: &mut Criterion) {
    let body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a support agent for Acme. Be brief."},
            {"role": "user", "content": "My order 1042 has not arrived; what can I do?"}
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "stream": true,
        "stream_options": {"include_usage": true}
    })
    .to_string();
    c.bench_function("parse_request", |b| {
        b.iter(|| wire::parse_request(std::hint::black_box(body.as_bytes())).unwrap());
    });
    c.bench_function("sse_chunk", |b| {
        b.iter(|| {
            wire::sse(&wire::chunk(
                "019abcdef012000000000001",
                1_764_000_000,
                "gpt-4o-mini",
                "3f2a9c0d11aa",
                json!({ "content": std::hint::black_box(" order") }),
                None,
            ))
        });
    });
}

criterion_group!(benches, journal, wire_format);
criterion_main!(benches);
