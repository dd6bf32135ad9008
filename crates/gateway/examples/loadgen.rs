//! A small load generator for `bench/gateway_overhead.sh`: sends chat completions to a
//! gateway at a fixed rate (open loop) for a while, and reports client latency, the
//! gateway's own `x-proximity-overhead-ms`, and the rate it sustained.
//!
//! Usage: `loadgen URL KEY MODEL RPS SECONDS [CONNECTIONS]`; prints one JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Samples {
    latency_ms: Vec<f64>,
    overhead_ms: Vec<f64>,
    ok: u64,
    errors: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        return Err("usage: loadgen URL KEY MODEL RPS SECONDS [CONNECTIONS]".into());
    }
    let url = format!("{}/v1/chat/completions", args[1].trim_end_matches('/'));
    let key = args[2].clone();
    let model = args[3].clone();
    let rps: f64 = args[4].parse()?;
    let secs: f64 = args[5].parse()?;
    let conns: usize = args.get(6).map(|c| c.parse()).transpose()?.unwrap_or(64);
    let body =
        format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"Say ok."}}]}}"#);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()?;
    let samples = Arc::new(Mutex::new(Samples::default()));
    let permits = Arc::new(tokio::sync::Semaphore::new(conns));
    let total = (rps * secs) as u64;
    let interval = Duration::from_secs_f64(1.0 / rps);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    let mut dropped = 0u64;
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        // Open loop: when every connection is busy the request is counted as not sent.
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            dropped += 1;
            continue;
        };
        let (client, url, key, body, samples) = (
            client.clone(),
            url.clone(),
            key.clone(),
            body.clone(),
            samples.clone(),
        );
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = client
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let mut s = samples.lock().await;
            match r {
                Ok(r) if r.status().is_success() => {
                    let overhead = r
                        .headers()
                        .get("x-proximity-overhead-ms")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<f64>().ok());
                    drop(s);
                    let ok = r.bytes().await.is_ok();
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    let mut s = samples.lock().await;
                    if ok {
                        s.ok += 1;
                        s.latency_ms.push(ms);
                        if let Some(o) = overhead {
                            s.overhead_ms.push(o);
                        }
                    } else {
                        s.errors += 1;
                    }
                }
                _ => s.errors += 1,
            }
            drop(permit);
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut s = samples.lock().await;
    s.latency_ms.sort_by(f64::total_cmp);
    s.overhead_ms.sort_by(f64::total_cmp);
    let line = format!(
        r#"{{"target_rps":{rps},"seconds":{elapsed:.2},"ok":{},"errors":{},"not_sent":{dropped},"achieved_rps":{:.0},"latency_ms":{{"p50":{:.3},"p99":{:.3}}},"overhead_ms":{{"p50":{:.3},"p99":{:.3},"max":{:.3}}}}}"#,
        s.ok,
        s.errors,
        s.ok as f64 / elapsed,
        pct(&s.latency_ms, 0.5),
        pct(&s.latency_ms, 0.99),
        pct(&s.overhead_ms, 0.5),
        pct(&s.overhead_ms, 0.99),
        s.overhead_ms.last().copied().unwrap_or(f64::NAN),
    );
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}
