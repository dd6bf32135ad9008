//! Streamed answers: what [`crate::Provider::complete_stream`] yields, provider-neutral.
//!
//! A well-formed stream is zero or more [`StreamEvent::Delta`]s followed by exactly one
//! [`StreamEvent::Done`]. A stream that ends without `Done`, or yields an `Err`, was cut
//! off; consumers report it as an error, never as a complete answer.

use std::pin::Pin;

use futures::Stream;

use crate::error::ProviderError;
use crate::request::{ChatResponse, Usage};

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More answer text.
    Delta(String),
    /// The answer is complete.
    Done(StreamEnd),
}

/// How a streamed answer ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamEnd {
    /// Token counts when the provider reported them (OpenAI does with
    /// `stream_options.include_usage`); `None` when the caller must count.
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    pub model_version: Option<String>,
    pub refused: bool,
}

/// A streamed answer.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// A complete answer as a stream: its text as one delta (when not empty), then `Done`.
pub fn from_response(response: ChatResponse) -> ChatStream {
    let mut events = Vec::with_capacity(2);
    if !response.text.is_empty() {
        events.push(Ok(StreamEvent::Delta(response.text)));
    }
    events.push(Ok(StreamEvent::Done(StreamEnd {
        usage: Some(response.usage),
        finish_reason: response.finish_reason,
        model_version: response.model_version,
        refused: response.refused,
    })));
    Box::pin(futures::stream::iter(events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_response_streams_as_one_delta_then_done() {
        let r = ChatResponse {
            text: "hi".into(),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 1,
            },
            ..ChatResponse::default()
        };
        let events: Vec<_> = from_response(r).collect().await;
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[0], Ok(StreamEvent::Delta(t)) if t == "hi"));
        assert!(
            matches!(&events[1], Ok(StreamEvent::Done(e)) if e.usage.map(|u| u.input_tokens) == Some(3))
        );
    }
}
