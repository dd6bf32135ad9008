//! Continuous batching on one llama.cpp context: the worker thread's loop.
//!
//! The context holds up to [`slots()`] sequences in one unified KV cache. Each request takes a
//! free **slot** (a sequence id); every step builds one batch with the next token of each
//! generating slot and as many prompt tokens of the slots still reading their prompt as fit,
//! and calls `llama_decode` once. On a small CPU this beats serving requests one at a time:
//! the weights are read from memory once per step for all sequences (see
//! `bench/README.md`, "queue vs parallel sequences").
//!
//! Each sequence has its own part of the KV cache (llama.cpp's non-unified cache): attention
//! for one request never touches another's cells, so a greedy answer is the same token for
//! token whatever else is decoded beside it (`tests/real_model.rs` checks this). A unified
//! cache would let one long request use the whole context, but makes results depend on the
//! batch's other sequences.
//!
//! Admission: a request takes a free slot when its prompt plus `max_tokens` fits a
//! sequence's share of the context; otherwise it waits, in arrival order, for the running
//! requests to finish, and the context is rebuilt with larger shares (doubling, up to the
//! model's window). Idle slots keep their tokens, and a request goes to the free slot that
//! shares the longest prefix with it, so a common system prompt is evaluated once per slot.
//!
//! Failures: a decode error fails the requests in that batch and clears the cache; a panic in
//! llama.cpp's bindings fails every running request and rebuilds the context. Neither takes
//! the worker down.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::error::LocalError;
use crate::grammar::grammar_text;
use crate::request::{
    ChatMessage, FinishReason, GenerateRequest, Generation, DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE, DEFAULT_TOP_P,
};

/// Environment variable setting how many requests one model decodes together.
pub const PARALLEL_ENV: &str = "PROXIMITY_LOCAL_PARALLEL";
/// Sequences decoded together when [`PARALLEL_ENV`] is unset.
pub const DEFAULT_PARALLEL: u32 = 4;
/// Tokens evaluated per `llama_decode` call.
const BATCH: u32 = 512;
/// Context sizes are rounded up to this, so a context is rarely rebuilt.
const CONTEXT_STEP: u32 = 1024;
/// The smallest window a sequence gets: an ordinary prompt and answer.
const MIN_SEQUENCE: u32 = 1024;

pub(crate) type Reply = Box<dyn FnOnce(Result<Generation, LocalError>) + Send>;

/// Work for the model's worker thread.
pub(crate) enum Job {
    Generate {
        request: Box<GenerateRequest>,
        cancelled: Option<Arc<AtomicBool>>,
        reply: Reply,
    },
    /// Count the tokens of plain text (no chat template, no special tokens).
    CountTokens {
        text: String,
        reply: Box<dyn FnOnce(u32) + Send>,
    },
}

/// How many requests one model decodes together: [`PARALLEL_ENV`] or [`DEFAULT_PARALLEL`].
pub fn slots() -> u32 {
    std::env::var(PARALLEL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PARALLEL)
        .min(64)
}

/// A request being served.
struct Active {
    request: Box<GenerateRequest>,
    cancelled: Option<Arc<AtomicBool>>,
    reply: Reply,
    /// The templated prompt.
    prompt: Vec<LlamaToken>,
    /// Prompt tokens taken from the cache rather than evaluated.
    reused: usize,
    max_new: u32,
    sampler: LlamaSampler,
    /// Index of this sequence's logits in the last decoded batch, when it has some to sample.
    logits: Option<i32>,
    /// A sampled token not yet decoded.
    pending: Option<LlamaToken>,
    bytes: Vec<u8>,
    logprobs: Vec<f64>,
    generated: u32,
    admitted: Instant,
    prompt_time: Option<Duration>,
}

impl Active {
    fn is_cancelled(&self) -> bool {
        self.cancelled
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// One sequence of the context.
struct Slot {
    seq: i32,
    /// Tokens this sequence holds in the KV cache, in position order.
    cached: Vec<LlamaToken>,
    active: Option<Active>,
}

/// The worker's state: the model, its context and the slots.
pub(crate) struct Scheduler<'m> {
    backend: &'static LlamaBackend,
    model: &'m LlamaModel,
    template: LlamaChatTemplate,
    n_ctx_train: u32,
    threads: i32,
    ctx: Option<LlamaContext<'m>>,
    slots: Vec<Slot>,
    waiting: VecDeque<Job>,
}

impl<'m> Scheduler<'m> {
    pub(crate) fn new(
        backend: &'static LlamaBackend,
        model: &'m LlamaModel,
        n_ctx_train: u32,
        threads: i32,
    ) -> Self {
        let template = model.chat_template(None).ok().unwrap_or_else(|| {
            tracing::warn!("the model has no chat template; using ChatML");
            // A literal without NUL bytes: cannot fail.
            LlamaChatTemplate::new("chatml").unwrap_or_else(|_| unreachable!())
        });
        let n = i32::try_from(slots()).unwrap_or(1);
        Self {
            backend,
            model,
            template,
            n_ctx_train,
            threads,
            ctx: None,
            slots: (0..n)
                .map(|seq| Slot {
                    seq,
                    cached: Vec::new(),
                    active: None,
                })
                .collect(),
            waiting: VecDeque::new(),
        }
    }

    /// Serve jobs until every sender is gone and the last request has finished.
    pub(crate) fn serve(mut self, jobs: &mpsc::Receiver<Job>) {
        loop {
            let busy = self.slots.iter().any(|s| s.active.is_some());
            if !busy && self.waiting.is_empty() {
                match jobs.recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(_) => return,
                }
            }
            while let Ok(job) = jobs.try_recv() {
                self.waiting.push_back(job);
            }
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.admit();
                self.step();
            }));
            if step.is_err() {
                self.fail_all(|| LocalError::Inference("llama.cpp call panicked".into()));
                self.ctx = None;
                for slot in &mut self.slots {
                    slot.cached.clear();
                }
            }
        }
    }

    /// Move waiting jobs into free slots while they fit.
    fn admit(&mut self) {
        while let Some(job) = self.waiting.pop_front() {
            let (request, cancelled, reply) = match job {
                Job::CountTokens { text, reply } => {
                    let n = self.model.vocab().tokenize(text.as_bytes(), false, false);
                    reply(u32::try_from(n.len()).unwrap_or(u32::MAX));
                    continue;
                }
                Job::Generate {
                    request,
                    cancelled,
                    reply,
                } => (request, cancelled, reply),
            };
            if cancelled
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                reply(Err(LocalError::Cancelled));
                continue;
            }
            match self.prepare(&request) {
                Err(e) => reply(Err(e)),
                Ok((prompt, max_new)) => {
                    let job = Job::Generate {
                        request,
                        cancelled,
                        reply,
                    };
                    if let Err(job) = self.place(job, prompt, max_new) {
                        // No room now: keep arrival order and wait for running requests.
                        self.waiting.push_front(job);
                        return;
                    }
                }
            }
        }
    }

    /// Template and tokenize the prompt; check it fits the window.
    fn prepare(&self, req: &GenerateRequest) -> Result<(Vec<LlamaToken>, u32), LocalError> {
        let tokens = prompt_tokens(self.model, &self.template, &req.messages)?;
        let prompt_tokens = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        let window = req
            .context_window
            .map_or(self.n_ctx_train, |w| w.min(self.n_ctx_train));
        if prompt_tokens >= window || tokens.is_empty() {
            return Err(LocalError::ContextOverflow {
                prompt_tokens,
                window,
            });
        }
        let max_new = req
            .max_tokens
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .min(window - prompt_tokens);
        Ok((tokens, max_new))
    }

    /// Put a prepared request in a free slot, or give it back when there is no room yet.
    fn place(&mut self, job: Job, prompt: Vec<LlamaToken>, max_new: u32) -> Result<(), Job> {
        let Job::Generate {
            request,
            cancelled,
            reply,
        } = job
        else {
            return Ok(());
        };
        let needed = prompt.len() + max_new as usize;
        let busy = self.slots.iter().any(|s| s.active.is_some());
        if needed > self.per_sequence() {
            if busy {
                return Err(Job::Generate {
                    request,
                    cancelled,
                    reply,
                });
            }
            // Nothing is running: rebuild the context big enough.
            if let Err(e) = self.rebuild(u32::try_from(needed).unwrap_or(u32::MAX)) {
                reply(Err(e));
                return Ok(());
            }
        }
        let Some(free) = self.pick_slot(&prompt) else {
            return Err(Job::Generate {
                request,
                cancelled,
                reply,
            });
        };
        let sampler = match sampler(self.model, &request) {
            Ok(s) => s,
            Err(e) => {
                reply(Err(e));
                return Ok(());
            }
        };
        let reused = self.reuse_prefix(free, &prompt);
        self.slots[free].active = Some(Active {
            request,
            cancelled,
            reply,
            prompt,
            reused,
            max_new,
            sampler,
            logits: None,
            pending: None,
            bytes: Vec::new(),
            logprobs: Vec::new(),
            generated: 0,
            admitted: Instant::now(),
            prompt_time: None,
        });
        Ok(())
    }

    /// The free slot whose cached tokens share the longest prefix with `prompt`.
    fn pick_slot(&self, prompt: &[LlamaToken]) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active.is_none())
            .max_by_key(|(i, s)| (common_prefix(&s.cached, prompt), usize::MAX - i))
            .map(|(i, _)| i)
    }

    /// Make slot `at` keep the longest prefix of `prompt` it already holds, leaving at least
    /// one prompt token to evaluate (so there are logits to sample). Returns its length.
    fn reuse_prefix(&mut self, at: usize, prompt: &[LlamaToken]) -> usize {
        let Some(ctx) = self.ctx.as_mut() else {
            return 0;
        };
        let slot = &mut self.slots[at];
        let own = common_prefix(&slot.cached, prompt).min(prompt.len() - 1);
        let kept = u32::try_from(own)
            .ok()
            .and_then(|p0| ctx.kv_cache_seq_rm(slot.seq, Some(p0), None).ok())
            .map_or(0, |()| own);
        if kept == 0 {
            let _ = ctx.clear_kv_cache_seq(u32::try_from(slot.seq).ok(), None, None);
        }
        slot.cached.truncate(kept);
        kept
    }

    /// Cells each sequence may use in the current context (0 without one).
    fn per_sequence(&self) -> usize {
        let n = self.slots.len().max(1);
        self.ctx.as_ref().map_or(0, |c| c.n_ctx() as usize / n)
    }

    /// Replace the context with one giving each sequence at least `needed` cells (nothing is
    /// running).
    fn rebuild(&mut self, needed: u32) -> Result<(), LocalError> {
        let current = u32::try_from(self.per_sequence()).unwrap_or(0);
        self.ctx = None;
        for slot in &mut self.slots {
            slot.cached.clear();
        }
        let per_sequence = needed
            .max(MIN_SEQUENCE)
            .max(current.saturating_mul(2))
            .div_ceil(CONTEXT_STEP)
            .saturating_mul(CONTEXT_STEP)
            .min(self.n_ctx_train.max(needed));
        let size = per_sequence.saturating_mul(u32::try_from(self.slots.len()).unwrap_or(1));
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(size))
            .with_n_batch(BATCH)
            .with_n_ubatch(BATCH)
            .with_n_seq_max(u32::try_from(self.slots.len()).unwrap_or(1))
            // One stream per sequence: see the module docs (determinism).
            .with_kv_unified(false)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        let ctx = self
            .model
            .new_context(self.backend, params)
            .map_err(|e| LocalError::Inference(format!("could not create a context: {e}")))?;
        tracing::debug!(
            n_ctx = size,
            slots = self.slots.len(),
            "created local model context"
        );
        self.ctx = Some(ctx);
        Ok(())
    }

    /// Sample every slot that has logits, then decode one batch.
    fn step(&mut self) {
        let Some(ctx) = self.ctx.as_mut() else {
            return;
        };
        let vocab = self.model.vocab();
        // Sample, and finish requests that are done.
        for slot in &mut self.slots {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            if active.is_cancelled() {
                if let Some(a) = slot.active.take() {
                    (a.reply)(Err(LocalError::Cancelled));
                }
                continue;
            }
            let Some(index) = active.logits.take() else {
                continue;
            };
            let token = active.sampler.sample(ctx, index);
            let finish = if vocab.is_eog(token) {
                Some(FinishReason::Stop)
            } else {
                active
                    .logprobs
                    .push(log_softmax_at(ctx.get_logits_ith(index), token.0));
                active.generated += 1;
                let before = active.bytes.len();
                active
                    .bytes
                    .extend_from_slice(&vocab.token_to_piece(token, false, None));
                if let Some(at) = find_stop(&active.bytes, &active.request.stop, before) {
                    active.bytes.truncate(at);
                    Some(FinishReason::Stop)
                } else if active.generated >= active.max_new {
                    Some(FinishReason::Length)
                } else {
                    active.pending = Some(token);
                    None
                }
            };
            if let Some(finish) = finish {
                if let Some(a) = slot.active.take() {
                    finish_request(a, finish);
                }
            }
        }

        // One batch: each generating slot's next token, then prompt tokens while they fit.
        let mut batch = LlamaBatch::new(BATCH as usize, 1);
        let mut in_batch: Vec<(usize, Option<i32>)> = Vec::new();
        let mut room = BATCH as usize;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            if let Some(token) = active.pending.take() {
                let pos = i32::try_from(slot.cached.len()).unwrap_or(i32::MAX);
                if batch.add(token, pos, &[slot.seq], true).is_ok() {
                    slot.cached.push(token);
                    in_batch.push((i, Some(batch.n_tokens() - 1)));
                    room -= 1;
                }
            }
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            let fed = slot.cached.len();
            if active.prompt_time.is_some() || fed >= active.prompt.len() || room == 0 {
                continue;
            }
            let take = (active.prompt.len() - fed).min(room);
            let last = fed + take == active.prompt.len();
            let mut logits = None;
            for (j, token) in active.prompt[fed..fed + take].iter().enumerate() {
                let wants = last && j + 1 == take;
                let pos = i32::try_from(fed + j).unwrap_or(i32::MAX);
                if batch.add(*token, pos, &[slot.seq], wants).is_err() {
                    break;
                }
                slot.cached.push(*token);
                if wants {
                    logits = Some(batch.n_tokens() - 1);
                }
            }
            room -= take;
            in_batch.push((i, logits));
        }
        if in_batch.is_empty() {
            return;
        }
        if let Err(e) = ctx.decode(&mut batch) {
            // Whatever state the cache is in, don't trust it.
            ctx.clear_kv_cache();
            for slot in &mut self.slots {
                slot.cached.clear();
            }
            for (i, _) in in_batch {
                if let Some(a) = self.slots[i].active.take() {
                    (a.reply)(Err(LocalError::Inference(e.to_string())));
                }
            }
            return;
        }
        for (i, logits) in in_batch {
            if let Some(active) = self.slots[i].active.as_mut() {
                if logits.is_some() {
                    active.logits = logits;
                    if active.prompt_time.is_none() {
                        active.prompt_time = Some(active.admitted.elapsed());
                    }
                }
            }
        }
    }

    fn fail_all(&mut self, error: impl Fn() -> LocalError) {
        for slot in &mut self.slots {
            if let Some(a) = slot.active.take() {
                (a.reply)(Err(error()));
            }
        }
    }
}

fn finish_request(active: Active, finish: FinishReason) {
    let n_prompt = u32::try_from(active.prompt.len()).unwrap_or(u32::MAX);
    let prompt_time = active.prompt_time.unwrap_or_default();
    let generation = Generation {
        text: String::from_utf8_lossy(&active.bytes).into_owned(),
        prompt_tokens: n_prompt,
        generated_tokens: active.generated,
        logprobs: active.logprobs,
        finish,
        prompt_evaluated: n_prompt - u32::try_from(active.reused).unwrap_or(0),
        prompt_time,
        generation_time: active.admitted.elapsed().saturating_sub(prompt_time),
    };
    (active.reply)(Ok(generation));
}

fn prompt_tokens(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    messages: &[ChatMessage],
) -> Result<Vec<LlamaToken>, LocalError> {
    let chat = messages
        .iter()
        .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LocalError::Template(e.to_string()))?;
    let prompt = model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| LocalError::Template(e.to_string()))?;
    Ok(model.vocab().tokenize(prompt.as_bytes(), true, true))
}

fn sampler(model: &LlamaModel, req: &GenerateRequest) -> Result<LlamaSampler, LocalError> {
    let mut chain = Vec::new();
    if let Some(g) = &req.grammar {
        let text = grammar_text(g);
        let grammar = LlamaSampler::grammar(model, text, "root").map_err(|e| {
            LocalError::Grammar(format!(
                "{e} (llama.cpp logs the parse error at debug level)"
            ))
        })?;
        chain.push(grammar);
    }
    let temperature = req.temperature.unwrap_or(DEFAULT_TEMPERATURE);
    if temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        let top_p = req.top_p.unwrap_or(DEFAULT_TOP_P);
        if top_p < 1.0 {
            chain.push(LlamaSampler::top_p(top_p.max(0.0), 1));
        }
        chain.push(LlamaSampler::temp(temperature));
        chain.push(LlamaSampler::dist(seed32(req.seed)));
    }
    Ok(LlamaSampler::chain(chain, true))
}

/// A `u64` seed folded into the 32 bits llama.cpp takes; `None` is llama.cpp's "random".
pub(crate) fn seed32(seed: Option<u64>) -> u32 {
    const RANDOM: u32 = u32::MAX;
    match seed {
        // Fold so seeds above 2^32 still differ; avoid the value meaning "random".
        Some(s) => match (s ^ (s >> 32)) as u32 {
            RANDOM => RANDOM - 1,
            v => v,
        },
        None => RANDOM,
    }
}

pub(crate) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Log-softmax of `logits` at `index`, computed stably in f64.
pub(crate) fn log_softmax_at(logits: &[f32], index: i32) -> f64 {
    let Some(&chosen) = usize::try_from(index).ok().and_then(|i| logits.get(i)) else {
        return f64::NEG_INFINITY;
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    (chosen as f64 - max) - sum.ln()
}

/// The byte offset of the earliest stop string in `text` that ends after `new_from` (text
/// before `new_from` was already checked).
pub(crate) fn find_stop(text: &[u8], stops: &[String], new_from: usize) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let s = s.as_bytes();
            let start = new_from.saturating_sub(s.len() - 1);
            text.get(start..)?
                .windows(s.len())
                .position(|w| w == s)
                .map(|p| p + start)
        })
        .min()
}
