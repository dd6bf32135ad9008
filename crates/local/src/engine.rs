//! In-process inference through llama.cpp: the process-wide backend, one loaded model per
//! canonical path, and one worker thread per model.
//!
//! The worker owns the model's context (its KV cache) and decodes up to
//! [`crate::scheduler::slots`] requests together in one batch per step (continuous batching,
//! see [`crate::scheduler`]). Requests arrive on a channel, so a model is never loaded twice
//! and callers never block an async runtime's worker threads: [`LocalModel::submit`] returns
//! at once and calls back from the worker; [`LocalModel::generate`] blocks the calling thread.
//! Cached tokens are reused across requests that share a prefix (a system prompt is
//! evaluated once).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use sha2::{Digest, Sha256};

use crate::error::{LocalError, HOW_TO_GET_A_MODEL};
use crate::request::{GenerateRequest, Generation};
use crate::scheduler::{Job, Scheduler};

/// Context window when the GGUF does not say.
pub const FALLBACK_CONTEXT: u32 = 8192;
/// Environment variable overriding the number of CPU threads inference uses.
pub const THREADS_ENV: &str = "PROXIMITY_LOCAL_THREADS";

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
        let job = Job::Generate {
            request: Box::new(request),
            cancelled,
            reply: Box::new(reply),
        };
        if let Err(mpsc::SendError(Job::Generate { reply, .. })) = self.send(job) {
            reply(Err(LocalError::WorkerGone));
        }
    }

    /// The number of tokens the model's vocabulary splits `text` into (no chat template, no
    /// special tokens): what a document costs in the context window.
    pub fn count_tokens(&self, text: &str) -> Result<u32, LocalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job = Job::CountTokens {
            text: text.to_string(),
            reply: Box::new(move |n| {
                let _ = tx.send(n);
            }),
        };
        self.send(job).map_err(|_| LocalError::WorkerGone)?;
        rx.recv().map_err(|_| LocalError::WorkerGone)
    }

    fn send(&self, job: Job) -> Result<(), mpsc::SendError<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
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
            Scheduler::new(backend, &model, n_ctx_train, threads()).serve(&jobs_rx);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{common_prefix, find_stop, log_softmax_at, seed32};
    use llama_cpp_2::token::LlamaToken;

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
}
