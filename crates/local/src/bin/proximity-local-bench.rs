//! Speed benchmark of the embedded model: load time, prompt and generation tokens per second,
//! and per-request latency on a fixed prompt set (about 200 prompt tokens and up to 48
//! generated tokens each, greedy), then the same requests submitted all at once (continuous
//! batching over `PROXIMITY_LOCAL_PARALLEL` slots) against one at a time.
//!
//! ```text
//! cargo run --release -p proximity-local --bin proximity-local-bench -- [MODEL.gguf] [ROUNDS]
//! ```
//! Without a path it resolves the model like a local tool does (`PROXIMITY_MODEL_PATH`, then
//! the pulled default).
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proximity_local::{load, models, ChatMessage, GenerateRequest};

const SYSTEM: &str = "You are a careful assistant for a logistics company. Answer briefly and \
precisely, using only the facts given. If the facts do not answer the question, say so.";

const TASKS: [&str; 8] = [
    "Summarise the delivery note: 14 pallets of ceramic tiles left the Rotterdam depot on Monday \
     at 06:40, two pallets were damaged during loading and returned, the remaining twelve reached \
     the Antwerp site on Tuesday afternoon after a four-hour delay at the border.",
    "Which city is the capital of France, and roughly how many people live there? Give the answer \
     in one sentence and mention the river that runs through the city.",
    "A customer writes: my parcel with tracking number ZX-4471 was marked delivered yesterday but \
     nothing arrived, the neighbours have not seen it either. Draft a polite two-sentence reply \
     promising an investigation within two working days.",
    "List three risks of storing lithium batteries in a warehouse that also holds paper goods and \
     suggest one mitigation for each risk. Keep every item under fifteen words.",
    "Convert this instruction into a JSON object with keys action, item and quantity: please \
     reorder forty boxes of A4 printer paper for the Leeds office before Friday.",
    "The truck leaves at 09:15 and the drive takes 3 hours and 50 minutes with one 25 minute break. \
     At what time does it arrive? Show the calculation in one short line.",
    "Classify the sentiment of this review as positive, negative or mixed and explain why in one \
     sentence: the driver was friendly but the box was crushed and two glasses were broken.",
    "Translate into plain English for a new employee: POD required, COD not applicable, ETA \
     subject to customs clearance, consignee to be notified 24h prior via EDI.",
];

struct Totals {
    prompt_tokens: u64,
    prompt_evaluated: u64,
    prompt_time: Duration,
    generated: u64,
    generation_time: Duration,
    latencies: Vec<Duration>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path: PathBuf = match args.next() {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => models::resolve_model_path(None, Path::new("."))?,
    };
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(2);

    let started = Instant::now();
    let model = load(&path)?;
    let load_time = started.elapsed();
    println!("model: {}", model.info().version);
    println!("file:  {}", model.info().path.display());
    println!(
        "load:  {:.2} s, context {} tokens, threads {}",
        load_time.as_secs_f64(),
        model.info().n_ctx_train,
        std::env::var(proximity_local::THREADS_ENV).unwrap_or_else(|_| "auto".into())
    );

    // Warm-up (first context allocation), not counted.
    model.generate(request(TASKS[0], 4))?;

    let mut t = Totals {
        prompt_tokens: 0,
        prompt_evaluated: 0,
        prompt_time: Duration::ZERO,
        generated: 0,
        generation_time: Duration::ZERO,
        latencies: Vec::new(),
    };
    let cpu_before_sequential = cpu_seconds();
    for round in 0..rounds {
        for (i, task) in TASKS.iter().enumerate() {
            // Vary the prompt per round so no round reuses a whole cached prompt.
            let task = format!("{task} (request {round}-{i})");
            let begun = Instant::now();
            let g = model.generate(request(&task, 48))?;
            t.latencies.push(begun.elapsed());
            t.prompt_tokens += u64::from(g.prompt_tokens);
            t.prompt_evaluated += u64::from(g.prompt_evaluated);
            t.prompt_time += g.prompt_time;
            t.generated += u64::from(g.generated_tokens);
            t.generation_time += g.generation_time;
        }
    }
    let cpu_before_batch = cpu_seconds();
    let n = t.latencies.len();
    t.latencies.sort();
    let mean = t.latencies.iter().sum::<Duration>() / u32::try_from(n.max(1))?;
    let p50 = t.latencies[n / 2];
    let max = t.latencies[n - 1];
    println!("requests: {n} ({rounds} rounds of {})", TASKS.len());
    println!(
        "prompt:   {} tokens ({} evaluated, rest reused from the KV cache), {:.0} tok/s evaluated",
        t.prompt_tokens,
        t.prompt_evaluated,
        t.prompt_evaluated as f64 / t.prompt_time.as_secs_f64()
    );
    println!(
        "generate: {} tokens, {:.1} tok/s",
        t.generated,
        t.generated as f64 / t.generation_time.as_secs_f64()
    );
    println!(
        "latency:  mean {:.0} ms, p50 {:.0} ms, max {:.0} ms per request (~{} prompt + up to 48 generated tokens)",
        mean.as_secs_f64() * 1e3,
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        t.prompt_tokens / n as u64
    );

    // The same requests again, all submitted at once: what continuous batching buys.
    let sequential: Duration = t.latencies.iter().sum();
    let sequential_cpu = cpu_before_batch - cpu_before_sequential;
    let cpu_before_together = cpu_seconds();
    let begun = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    for round in 0..rounds {
        for (i, task) in TASKS.iter().enumerate() {
            let task = format!("{task} (batched request {round}-{i})");
            let tx = tx.clone();
            model.submit(request(&task, 48), move |r| {
                let _ = tx.send(r);
            });
        }
    }
    drop(tx);
    let mut generated = 0u64;
    for r in rx {
        generated += u64::from(r?.generated_tokens);
    }
    let together = begun.elapsed();
    let together_cpu = cpu_seconds() - cpu_before_together;
    println!(
        "together: {n} requests submitted at once, {} slots: {:.2} s ({:.1} generated tok/s) vs {:.2} s one at a time: {:.2}x",
        proximity_local::slots(),
        together.as_secs_f64(),
        generated as f64 / together.as_secs_f64(),
        sequential.as_secs_f64(),
        sequential.as_secs_f64() / together.as_secs_f64()
    );
    if sequential_cpu > 0.0 && together_cpu > 0.0 {
        println!(
            "cpu time: {together_cpu:.2} s together vs {sequential_cpu:.2} s one at a time: {:.2}x (less sensitive than wall time to other load on the machine)",
            sequential_cpu / together_cpu
        );
    }
    Ok(())
}

/// User plus system CPU seconds of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = fs_err::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks are 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn request(task: &str, max_tokens: u32) -> GenerateRequest {
    // Pad the user turn to ~200 prompt tokens with a fixed context paragraph.
    let context = "Context: the company runs six depots, ships about nine hundred parcels a \
                   day, and uses the same carrier for all international routes. ";
    GenerateRequest {
        messages: vec![
            ChatMessage::new("system", SYSTEM),
            ChatMessage::new("user", format!("{context}{context}{context}{task}")),
        ],
        temperature: Some(0.0),
        max_tokens: Some(max_tokens),
        ..Default::default()
    }
}
