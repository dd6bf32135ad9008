//! Serving concurrent requests on a small CPU: a queue (one sequence at a time, what the
//! `local` provider does) against parallel sequences decoded together in one context.
//! Same model, prompts and greedy decoding for both; reports wall time and tokens/s.
//!
//! ```text
//! cargo run --release -p proximity-local --bin proximity-local-parallel-bench -- [MODEL.gguf] [PARALLEL] [THREADS]
//! ```
#![allow(clippy::print_stdout)]

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use proximity_local::models;

type Error = Box<dyn std::error::Error>;

const MAX_NEW: usize = 48;

const TASKS: [&str; 8] = [
    "Summarise in one sentence: 14 pallets left Rotterdam on Monday, two were damaged and returned.",
    "Which city is the capital of France? Answer in one sentence.",
    "Draft a two-sentence reply to a customer whose parcel ZX-4471 was marked delivered but never arrived.",
    "List three risks of storing lithium batteries next to paper goods.",
    "Turn into JSON with keys action, item, quantity: reorder forty boxes of A4 paper.",
    "The truck leaves at 09:15 and drives 3 hours 50 minutes. When does it arrive?",
    "Is this review positive, negative or mixed: friendly driver, crushed box, broken glasses?",
    "Explain for a new employee: POD required, COD not applicable, ETA subject to customs.",
];

fn argmax(logits: &[f32]) -> LlamaToken {
    let mut best = 0usize;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    LlamaToken(i32::try_from(best).unwrap_or(0))
}

fn prompt(model: &LlamaModel, task: &str) -> Result<Vec<LlamaToken>, Error> {
    let template = model.chat_template(None)?;
    let chat = vec![
        LlamaChatMessage::new("system".into(), "Answer briefly.".into())?,
        LlamaChatMessage::new("user".into(), task.into())?,
    ];
    let text = model.apply_chat_template(&template, &chat, true)?;
    Ok(model.vocab().tokenize(text.as_bytes(), true, true))
}

fn context<'a>(
    model: &'a LlamaModel,
    backend: &LlamaBackend,
    seqs: u32,
    threads: i32,
) -> Result<LlamaContext<'a>, Error> {
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(512 * seqs))
        .with_n_batch(512 * seqs)
        .with_n_ubatch(512)
        .with_n_seq_max(seqs)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    Ok(model.new_context(backend, params)?)
}

/// One request after another in one sequence. Returns generated tokens.
fn queue(model: &LlamaModel, backend: &LlamaBackend, threads: i32) -> Result<usize, Error> {
    let mut ctx = context(model, backend, 1, threads)?;
    let mut generated = 0;
    for task in TASKS {
        ctx.clear_kv_cache();
        let tokens = prompt(model, task)?;
        let mut batch = LlamaBatch::new(512, 1);
        let last = tokens.len() - 1;
        for (i, t) in tokens.iter().enumerate() {
            batch.add(*t, i32::try_from(i)?, &[0], i == last)?;
        }
        ctx.decode(&mut batch)?;
        let start = i32::try_from(tokens.len())?;
        let mut index = batch.n_tokens() - 1;
        for pos in start..start + i32::try_from(MAX_NEW)? {
            let token = argmax(ctx.get_logits_ith(index));
            if model.vocab().is_eog(token) {
                break;
            }
            generated += 1;
            batch.clear();
            batch.add(token, pos, &[0], true)?;
            ctx.decode(&mut batch)?;
            index = 0;
        }
    }
    Ok(generated)
}

/// `parallel` sequences decoded together, in rounds of `parallel` requests.
fn parallel(
    model: &LlamaModel,
    backend: &LlamaBackend,
    threads: i32,
    parallel: usize,
) -> Result<usize, Error> {
    let mut ctx = context(model, backend, u32::try_from(parallel)?, threads)?;
    let mut generated = 0;
    for round in TASKS.chunks(parallel) {
        ctx.clear_kv_cache();
        let mut batch = LlamaBatch::new(512 * parallel, i32::try_from(parallel)?);
        // seq id, next position, logits index in the last batch, still running
        let mut state: Vec<(i32, i32, i32, bool)> = Vec::new();
        for (s, task) in round.iter().enumerate() {
            let tokens = prompt(model, task)?;
            let seq = i32::try_from(s)?;
            let last = tokens.len() - 1;
            for (i, t) in tokens.iter().enumerate() {
                batch.add(*t, i32::try_from(i)?, &[seq], i == last)?;
            }
            state.push((
                seq,
                i32::try_from(tokens.len())?,
                batch.n_tokens() - 1,
                true,
            ));
        }
        ctx.decode(&mut batch)?;
        for _ in 0..MAX_NEW {
            let mut next = Vec::new();
            for st in state.iter_mut().filter(|s| s.3) {
                let token = argmax(ctx.get_logits_ith(st.2));
                if model.vocab().is_eog(token) {
                    st.3 = false;
                } else {
                    generated += 1;
                    next.push((st.0, token));
                }
            }
            if next.is_empty() {
                break;
            }
            batch.clear();
            for (seq, token) in next {
                let st = state
                    .iter_mut()
                    .find(|s| s.0 == seq)
                    .ok_or("lost a sequence")?;
                batch.add(token, st.1, &[seq], true)?;
                st.1 += 1;
                st.2 = batch.n_tokens() - 1;
            }
            ctx.decode(&mut batch)?;
        }
    }
    Ok(generated)
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let path: PathBuf = match args.next() {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => models::resolve_model_path(None, Path::new("."))?,
    };
    let par: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(4);
    let threads: i32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    // llama.cpp's own logging goes to `tracing`, which this binary does not print.
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
    let backend = LlamaBackend::init()?;
    let model = LlamaModel::load_from_file(&backend, &path, &LlamaModelParams::default())?;
    println!(
        "{} requests, up to {MAX_NEW} generated tokens each, greedy, {threads} thread(s)",
        TASKS.len()
    );
    // Warm-up.
    queue(&model, &backend, threads)?;
    let t = Instant::now();
    let n = queue(&model, &backend, threads)?;
    let q = t.elapsed().as_secs_f64();
    println!(
        "queue:                 {q:.2} s, {n} tokens, {:.1} tok/s",
        n as f64 / q
    );
    let t = Instant::now();
    let n = parallel(&model, &backend, threads, par)?;
    let p = t.elapsed().as_secs_f64();
    println!(
        "parallel ({par} sequences): {p:.2} s, {n} tokens, {:.1} tok/s",
        n as f64 / p
    );
    println!("parallel / queue wall time: {:.2}", p / q);
    Ok(())
}
