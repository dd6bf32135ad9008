//! In-process inference through llama.cpp: the process-wide backend, one loaded model per
//! canonical path, and one worker thread per model that serves requests in arrival order.
//!
//! The worker owns the model's context (its KV cache). Requests queue on a channel, so a
//! model is never loaded twice and callers never block an async runtime's worker threads:
//! [`LocalModel::submit`] returns at once and calls back from the worker; [`LocalModel::generate`]
//! blocks the calling thread. Between requests the worker keeps the KV cache and reuses the
//! longest common token prefix (a shared system prompt is evaluated once).

use std::collections::HashMap;
use std::io::Read;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use sha2::{Digest, Sha256};

use crate::error::{LocalError, HOW_TO_GET_A_MODEL};
use crate::grammar::grammar_text;

/// Tokens generated when a request sets no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 512;
/// Sampling temperature when a request sets none (llama.cpp's default).
pub const DEFAULT_TEMPERATURE: f32 = 0.8;
/// Nucleus sampling threshold when a request sets none (llama.cpp's default).
pub const DEFAULT_TOP_P: f32 = 0.95;
/// Context window when the GGUF does not say.
pub const FALLBACK_CONTEXT: u32 = 8192;
/// Environment variable overriding the number of CPU threads inference uses.
pub const THREADS_ENV: &str = "PROXIMITY_LOCAL_THREADS";
/// Tokens evaluated per `llama_decode` call while reading the prompt.
const BATCH: u32 = 512;
/// Context sizes are rounded up to this, so a context is rarely rebuilt.
const CONTEXT_STEP: u32 = 1024;

/// One chat message, with the role as the chat template expects it (`system`, `user`,
/// `assistant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateRequest {
    pub messages: Vec<ChatMessage>,
    /// 0 is greedy (deterministic); `None` is [`DEFAULT_TEMPERATURE`].
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// Sampling seed; `None` is random.
    pub seed: Option<u64>,
    /// `None` is [`DEFAULT_MAX_TOKENS`]; generation also stops at the window.
    pub max_tokens: Option<u32>,
    /// Generation stops before the first occurrence of any of these.
    pub stop: Vec<String>,
    /// GBNF grammar text, or `json` for the built-in JSON grammar.
    pub grammar: Option<String>,
    /// The window this request may use, capped by the model's training context.
    pub context_window: Option<u32>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End of turn, a stop string, or a completed grammar.
    Stop,
    /// `max_tokens` or the window was reached.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// A completed generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub text: String,
    /// Tokens in the templated prompt.
    pub prompt_tokens: u32,
    /// Tokens generated (the end-of-turn token is not counted).
    pub generated_tokens: u32,
    /// Natural-log probability of each generated token under the model (log-softmax of the raw
    /// logits, before temperature or grammar), one per generated token.
    pub logprobs: Vec<f64>,
    pub finish: FinishReason,
    /// Prompt tokens actually evaluated (the rest were reused from the previous request).
    pub prompt_evaluated: u32,
    pub prompt_time: Duration,
    pub generation_time: Duration,
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Canonical path of the GGUF file.
    pub path: PathBuf,
    /// The GGUF's `general.name`, or the file stem.
    pub name: String,
    pub size_bytes: u64,
    /// The context length the model was trained with (its window).
    pub n_ctx_train: u32,
    /// Identifies the exact file: name, short SHA-256 of its first MiB and its size.
    pub version: String,
}

type Reply = Box<dyn FnOnce(Result<Generation, LocalError>) + Send>;

struct Job {
    request: GenerateRequest,
    cancelled: Option<Arc<AtomicBool>>,
    reply: Reply,
}

/// A loaded model served by its worker thread. Get one with [`load`].
pub struct LocalModel {
    info: ModelInfo,
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("info", &self.info)
            .finish()
    }
}

impl LocalModel {
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Queue `request`; `reply` is called on the worker thread with the outcome (or with
    /// [`LocalError::WorkerGone`] at once if the worker has stopped).
    pub fn submit(
        &self,
        request: GenerateRequest,
        reply: impl FnOnce(Result<Generation, LocalError>) + Send + 'static,
    ) {
        self.submit_cancellable(request, None, reply);
    }

    /// Like [`Self::submit`], but once `cancelled` is set the request is dropped from the
    /// queue or stopped at the next token, and `reply` gets [`LocalError::Cancelled`]. Set it
    /// when the caller gives up (a timeout), so abandoned work does not hold up the queue.
    pub fn submit_cancellable(
        &self,
        request: GenerateRequest,
        cancelled: Option<Arc<AtomicBool>>,
        reply: impl FnOnce(Result<Generation, LocalError>) + Send + 'static,
    ) {
        let job = Job {
            request,
            cancelled,
            reply: Box::new(reply),
        };
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job);
        if let Err(mpsc::SendError(job)) = sent {
            (job.reply)(Err(LocalError::WorkerGone));
        }
    }

    /// Generate, blocking the calling thread until done. Don't call this on an async
    /// runtime's worker thread; use [`Self::submit`] or a blocking task.
    pub fn generate(&self, request: GenerateRequest) -> Result<Generation, LocalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(request, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().map_err(|_| LocalError::WorkerGone)?
    }
}

/// The process-wide llama.cpp backend (it can be initialised only once).
fn backend() -> Result<&'static LlamaBackend, LocalError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LocalError::Backend(e.clone()))
}

/// Load the GGUF at `path`, or return the already-loaded model for the same file.
pub fn load(path: &Path) -> Result<Arc<LocalModel>, LocalError> {
    static MODELS: OnceLock<Mutex<HashMap<PathBuf, Arc<LocalModel>>>> = OnceLock::new();
    let canonical = match fs_err::canonicalize(path) {
        Ok(p) if p.is_file() => p,
        _ => {
            return Err(LocalError::ModelMissing {
                path: path.to_path_buf(),
                hint: HOW_TO_GET_A_MODEL.to_string(),
            })
        }
    };
    // Loading under the lock means concurrent first uses load the file once.
    let mut models = MODELS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(model) = models.get(&canonical) {
        return Ok(model.clone());
    }
    let model = Arc::new(spawn_worker(canonical.clone())?);
    models.insert(canonical, model.clone());
    Ok(model)
}

fn threads() -> i32 {
    if let Some(n) = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    // Like llama.cpp, use about one thread per physical core: on a small, shared machine
    // oversubscribed threads spin at llama.cpp's barriers, and 2 threads on 2 busy vCPUs
    // generated 6x slower than 1 in our measurements.
    std::thread::available_parallelism()
        .map(|n| i32::try_from(n.get() / 2).unwrap_or(4))
        .unwrap_or(4)
        .clamp(1, 8)
}

fn spawn_worker(path: PathBuf) -> Result<LocalModel, LocalError> {
    let backend = backend()?;
    let version_prefix = file_fingerprint(&path)?;
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<ModelInfo, LocalError>>(1);
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let thread_path = path.clone();
    std::thread::Builder::new()
        .name("proximity-local".into())
        .spawn(move || {
            let started = Instant::now();
            let model = match LlamaModel::load_from_file(
                backend,
                &thread_path,
                &LlamaModelParams::default(),
            ) {
                Ok(m) => m,
                Err(e) => {
                    let _ = ready_tx.send(Err(LocalError::Load {
                        path: thread_path,
                        message: e.to_string(),
                    }));
                    return;
                }
            };
            let name = model
                .meta_val_str("general.name")
                .ok()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| {
                    thread_path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
            let n_ctx_train = match model.n_ctx_train() {
                0 => FALLBACK_CONTEXT,
                n => n,
            };
            let info = ModelInfo {
                version: format!("{name} ({version_prefix})"),
                name,
                size_bytes: fs_err::metadata(&thread_path).map(|m| m.len()).unwrap_or(0),
                n_ctx_train,
                path: thread_path,
            };
            tracing::info!(model = %info.version, elapsed = ?started.elapsed(), "loaded local model");
            if ready_tx.send(Ok(info)).is_err() {
                return;
            }
            let mut worker = Worker::new(backend, &model, n_ctx_train);
            for job in jobs_rx {
                let cancelled = job.cancelled.as_deref();
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    worker.run(&job.request, cancelled)
                }));
                let result = outcome.unwrap_or_else(|_| {
                    worker.reset();
                    Err(LocalError::Inference("llama.cpp call panicked".into()))
                });
                (job.reply)(result);
            }
        })?;
    let info = ready_rx.recv().map_err(|_| LocalError::WorkerGone)??;
    Ok(LocalModel {
        info,
        jobs: Mutex::new(jobs_tx),
    })
}

/// `sha256:<12 hex of the first MiB>, <size> bytes`: changes whenever the file does, cheaply.
fn file_fingerprint(path: &Path) -> Result<String, LocalError> {
    let file = fs_err::File::open(path)?;
    let size = file.metadata()?.len();
    let mut head = Vec::with_capacity(1 << 20);
    file.take(1 << 20).read_to_end(&mut head)?;
    let digest = hex::encode(Sha256::digest(&head));
    Ok(format!("sha256:{}, {size} bytes", &digest[..12]))
}

/// The worker's state: the model, its context (KV cache) and the tokens held in it.
struct Worker<'m> {
    backend: &'static LlamaBackend,
    model: &'m LlamaModel,
    template: LlamaChatTemplate,
    n_ctx_train: u32,
    threads: i32,
    ctx: Option<LlamaContext<'m>>,
    cached: Vec<LlamaToken>,
}

impl<'m> Worker<'m> {
    fn new(backend: &'static LlamaBackend, model: &'m LlamaModel, n_ctx_train: u32) -> Self {
        let template = model.chat_template(None).ok().unwrap_or_else(|| {
            tracing::warn!("the model has no chat template; using ChatML");
            // A literal without NUL bytes: cannot fail.
            LlamaChatTemplate::new("chatml").unwrap_or_else(|_| unreachable!())
        });
        Self {
            backend,
            model,
            template,
            n_ctx_train,
            threads: threads(),
            ctx: None,
            cached: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.ctx = None;
        self.cached.clear();
    }

    fn prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<LlamaToken>, LocalError> {
        let chat = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LocalError::Template(e.to_string()))?;
        let prompt = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| LocalError::Template(e.to_string()))?;
        Ok(self.model.vocab().tokenize(prompt.as_bytes(), true, true))
    }

    /// Make sure the context holds at least `needed` tokens, rebuilding it (and forgetting the
    /// cached tokens) if it is too small.
    fn ensure_context(&mut self, needed: u32) -> Result<(), LocalError> {
        if self.ctx.as_ref().is_some_and(|c| c.n_ctx() >= needed) {
            return Ok(());
        }
        self.reset();
        let size = needed
            .div_ceil(CONTEXT_STEP)
            .saturating_mul(CONTEXT_STEP)
            .min(self.n_ctx_train.max(needed));
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(size))
            .with_n_batch(BATCH)
            .with_n_ubatch(BATCH)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        let ctx = self
            .model
            .new_context(self.backend, params)
            .map_err(|e| LocalError::Inference(format!("could not create a context: {e}")))?;
        tracing::debug!(n_ctx = size, "created local model context");
        self.ctx = Some(ctx);
        Ok(())
    }

    fn sampler(&self, req: &GenerateRequest) -> Result<LlamaSampler, LocalError> {
        let mut chain = Vec::new();
        if let Some(g) = &req.grammar {
            let text = grammar_text(g);
            let grammar = LlamaSampler::grammar(self.model, text, "root").map_err(|e| {
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

    fn run(
        &mut self,
        req: &GenerateRequest,
        cancelled: Option<&AtomicBool>,
    ) -> Result<Generation, LocalError> {
        let is_cancelled = || cancelled.is_some_and(|c| c.load(Ordering::Relaxed));
        if is_cancelled() {
            return Err(LocalError::Cancelled);
        }
        let tokens = self.prompt_tokens(&req.messages)?;
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
        let mut sampler = self.sampler(req)?;

        let result = self.generate(req, &tokens, max_new, &mut sampler, &is_cancelled);
        if matches!(&result, Err(e) if !matches!(e, LocalError::Cancelled)) {
            // Whatever state the KV cache is in, don't trust it for the next request.
            self.reset();
        }
        result.map(|mut g| {
            g.prompt_tokens = prompt_tokens;
            g
        })
    }

    fn generate(
        &mut self,
        req: &GenerateRequest,
        tokens: &[LlamaToken],
        max_new: u32,
        sampler: &mut LlamaSampler,
        is_cancelled: &dyn Fn() -> bool,
    ) -> Result<Generation, LocalError> {
        let started = Instant::now();
        let n_prompt = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        let model = self.model;
        let ctx_needed = n_prompt.saturating_add(max_new);

        self.ensure_context(ctx_needed)?;
        // Reuse the common prefix of what the cache holds; always evaluate at least one token
        // so there are logits to sample from.
        let mut reuse = common_prefix(&self.cached, tokens).min(tokens.len() - 1);
        let mut cached = std::mem::take(&mut self.cached);
        let ctx = self
            .ctx
            .as_mut()
            .ok_or_else(|| LocalError::Inference("no context".into()))?;
        let reuse_pos = u32::try_from(reuse).unwrap_or(0);
        if reuse == 0 {
            ctx.clear_kv_cache();
        } else if ctx.kv_cache_seq_rm(0, Some(reuse_pos), None).is_err() {
            ctx.clear_kv_cache();
            reuse = 0;
        }
        cached.truncate(reuse);

        let inference = |e: &dyn std::fmt::Display| LocalError::Inference(e.to_string());
        let mut batch = LlamaBatch::new(BATCH as usize, 1);
        let mut pos = i32::try_from(reuse).map_err(|e| inference(&e))?;
        let rest = &tokens[reuse..];
        let chunks = rest.chunks(BATCH as usize);
        let n_chunks = chunks.len();
        for (i, chunk) in chunks.enumerate() {
            batch.clear();
            let last_chunk = i + 1 == n_chunks;
            for (j, token) in chunk.iter().enumerate() {
                let wants_logits = last_chunk && j + 1 == chunk.len();
                batch
                    .add(*token, pos, &[0], wants_logits)
                    .map_err(|e| inference(&e))?;
                pos += 1;
            }
            ctx.decode(&mut batch).map_err(|e| inference(&e))?;
            cached.extend_from_slice(chunk);
        }
        let prompt_time = started.elapsed();
        let generation_started = Instant::now();

        let vocab = model.vocab();
        let mut logits_index = batch.n_tokens() - 1;
        let mut bytes: Vec<u8> = Vec::new();
        let mut logprobs = Vec::new();
        let mut finish = FinishReason::Length;
        let mut generated = 0u32;
        while generated < max_new {
            if is_cancelled() {
                self.cached = cached;
                return Err(LocalError::Cancelled);
            }
            let token = sampler.sample(ctx, logits_index);
            if vocab.is_eog(token) {
                finish = FinishReason::Stop;
                break;
            }
            logprobs.push(log_softmax_at(ctx.get_logits_ith(logits_index), token.0));
            generated += 1;
            let before = bytes.len();
            bytes.extend_from_slice(&vocab.token_to_piece(token, false, None));
            if let Some(at) = find_stop(&bytes, &req.stop, before) {
                bytes.truncate(at);
                finish = FinishReason::Stop;
                break;
            }
            if generated == max_new {
                break;
            }
            batch.clear();
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| inference(&e))?;
            pos += 1;
            ctx.decode(&mut batch).map_err(|e| inference(&e))?;
            cached.push(token);
            logits_index = 0;
        }
        self.cached = cached;
        Ok(Generation {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            prompt_tokens: n_prompt,
            generated_tokens: generated,
            logprobs,
            finish,
            prompt_evaluated: n_prompt - u32::try_from(reuse).unwrap_or(0),
            prompt_time,
            generation_time: generation_started.elapsed(),
        })
    }
}

/// A `u64` seed folded into the 32 bits llama.cpp takes; `None` is llama.cpp's "random".
fn seed32(seed: Option<u64>) -> u32 {
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

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Log-softmax of `logits` at `index`, computed stably in f64.
fn log_softmax_at(logits: &[f32], index: i32) -> f64 {
    let Some(&chosen) = usize::try_from(index).ok().and_then(|i| logits.get(i)) else {
        return f64::NEG_INFINITY;
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    (chosen as f64 - max) - sum.ln()
}

/// The byte offset of the earliest stop string in `text` that ends after `new_from` (text
/// before `new_from` was already checked).
fn find_stop(text: &[u8], stops: &[String], new_from: usize) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_is_a_log_probability() {
        let logits = [1.0f32, 2.0, 3.0];
        let lp: Vec<f64> = (0..3).map(|i| log_softmax_at(&logits, i)).collect();
        let total: f64 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(lp.iter().all(|l| *l <= 0.0));
        assert!(lp[2] > lp[1] && lp[1] > lp[0]);
        assert_eq!(log_softmax_at(&logits, 7), f64::NEG_INFINITY);
    }

    #[test]
    fn stop_strings_are_found_across_token_boundaries() {
        let stops = vec!["END".to_string(), String::new()];
        // "EN" arrived earlier, "D" is new: still found, at the start of "END".
        assert_eq!(find_stop(b"abcEND", &stops, 5), Some(3));
        assert_eq!(find_stop(b"abcEN", &stops, 4), None);
        // The earliest of several stops wins.
        let stops = vec!["c".to_string(), "b".to_string()];
        assert_eq!(find_stop(b"abc", &stops, 0), Some(1));
    }

    #[test]
    fn seeds_fold_to_32_bits_without_meaning_random() {
        assert_eq!(seed32(None), u32::MAX);
        assert_eq!(seed32(Some(42)), 42);
        assert_ne!(seed32(Some(u64::from(u32::MAX))), u32::MAX);
        assert_ne!(seed32(Some(1 << 40)), seed32(Some(0)));
    }

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        let a = [LlamaToken(1), LlamaToken(2), LlamaToken(3)];
        let b = [LlamaToken(1), LlamaToken(2), LlamaToken(9), LlamaToken(4)];
        assert_eq!(common_prefix(&a, &b), 2);
        assert_eq!(common_prefix(&[], &b), 0);
    }

    #[test]
    fn missing_model_file_is_reported_with_a_hint() {
        let err = load(Path::new("/definitely/not/here.gguf")).unwrap_err();
        assert!(matches!(err, LocalError::ModelMissing { .. }));
        assert!(err.to_string().contains("proximity models pull"), "{err}");
    }

    #[test]
    fn finish_reasons_use_openai_words() {
        assert_eq!(FinishReason::Stop.as_str(), "stop");
        assert_eq!(FinishReason::Length.as_str(), "length");
    }
}
