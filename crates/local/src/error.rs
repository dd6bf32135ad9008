//! What can go wrong with the embedded model: a missing or unreadable model file, a prompt
//! that does not fit the window, a bad grammar, or llama.cpp failing mid-generation.

use std::path::PathBuf;

/// How to get the default model, quoted in every "model missing" message.
pub const HOW_TO_GET_A_MODEL: &str = "run `proximity models pull` to install the default model \
(SmolLM2-135M-Instruct), or set `PROXIMITY_MODEL_PATH` to a GGUF file";

/// An error from the embedded model or its management.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No model file where one was expected.
    #[error("model file not found: {}\nhint: {hint}", path.display())]
    ModelMissing { path: PathBuf, hint: String },
    /// No model configured and none pulled.
    #[error("no local model is installed\nhint: {HOW_TO_GET_A_MODEL}")]
    NoModel,
    /// llama.cpp could not be initialised.
    #[error("could not initialise llama.cpp: {0}")]
    Backend(String),
    /// The file exists but llama.cpp could not load it (not a GGUF, truncated, unsupported).
    #[error("could not load model {}: {message}", path.display())]
    Load { path: PathBuf, message: String },
    /// The prompt does not fit the context window.
    #[error("the prompt is {prompt_tokens} tokens; the context window is {window} tokens")]
    ContextOverflow { prompt_tokens: u32, window: u32 },
    /// The chat template could not be applied to the messages.
    #[error("could not apply the model's chat template: {0}")]
    Template(String),
    /// The GBNF grammar did not parse.
    #[error("invalid GBNF grammar: {0}")]
    Grammar(String),
    /// llama.cpp failed while evaluating tokens.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The model's worker thread is gone (it panicked or the process is shutting down).
    #[error("the model worker stopped")]
    WorkerGone,
    /// The caller gave up on the request (see `LocalModel::submit_cancellable`).
    #[error("the request was cancelled")]
    Cancelled,
    /// Installing a model failed.
    #[error("{0}")]
    Pull(String),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_message_says_how_to_get_one() {
        let msg = LocalError::NoModel.to_string();
        assert!(msg.contains("proximity models pull"), "{msg}");
        assert!(msg.contains("PROXIMITY_MODEL_PATH"), "{msg}");
        let msg = LocalError::ModelMissing {
            path: PathBuf::from("/x/y.gguf"),
            hint: HOW_TO_GET_A_MODEL.to_string(),
        }
        .to_string();
        assert!(
            msg.contains("/x/y.gguf") && msg.contains("models pull"),
            "{msg}"
        );
    }
}
