//! The port that writes a reply from a prompt.
//!
//! Two adapters: [`super::OpenAiCompatible`] (any OpenAI-compatible chat completions
//! endpoint) and [`super::BuiltinDrafter`] (deterministic, answers from the knowledge
//! entries, works offline). A drafter either answers or says it cannot help, which hands
//! the conversation to a person. Its errors say whether trying again may help, and
//! never carry the prompt, the answer or the key.

use std::fmt;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::prompt::Prompt;

/// What the drafter concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Answer,
    /// The model cannot help (or the customer wants a person): hand over.
    CannotHelp,
}

/// A drafted reply. `Debug` shows its size, not its text.
#[derive(Clone, PartialEq, Eq)]
pub struct DraftReply {
    pub kind: ReplyKind,
    /// The reply (empty for `CannotHelp`).
    pub text: String,
    pub model: String,
    /// Time spent drafting, retries included.
    pub latency_ms: u64,
    /// Tokens the LLM reported using, when it did.
    pub tokens: Option<u32>,
}

impl fmt::Debug for DraftReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DraftReply")
            .field("kind", &self.kind)
            .field("bytes", &self.text.len())
            .field("model", &self.model)
            .field("latency_ms", &self.latency_ms)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// Why no reply was drafted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("the LLM did not answer in time")]
    Timeout,
    #[error("the LLM answered HTTP {status}")]
    Status { status: u16 },
    #[error("the LLM could not be reached")]
    Unreachable,
    #[error("the LLM's answer could not be read: {0}")]
    Decode(&'static str),
    #[error("the LLM answered with no text")]
    Empty,
    #[error("no time was left before the reply deadline")]
    OutOfTime,
}

impl DraftError {
    /// Trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Unreachable | Self::Empty | Self::OutOfTime => true,
            Self::Status { status } => *status == 408 || *status == 429 || *status >= 500,
            Self::Decode(_) => false,
        }
    }

    /// A short, stable name for outcomes and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Timeout => "llm_timeout",
            Self::Status { status } if *status >= 500 => "llm_server_error",
            Self::Status { status: 429 } => "llm_throttled",
            Self::Status { .. } => "llm_rejected",
            Self::Unreachable => "llm_unreachable",
            Self::Decode(_) => "llm_bad_answer",
            Self::Empty => "llm_empty_answer",
            Self::OutOfTime => "llm_out_of_time",
        }
    }
}

/// Writes replies. Implementations are cheap to share across concurrent jobs.
pub trait Drafter: Send + Sync {
    /// The model name recorded with each reply.
    fn model(&self) -> &str;

    /// Draft a reply; give up by `deadline` when there is one (an automated reply that
    /// comes too late is not sent at all).
    fn draft<'a>(
        &'a self,
        prompt: &'a Prompt,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<DraftReply, DraftError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_the_ones_worth_retrying() {
        assert!(DraftError::Timeout.is_transient());
        assert!(DraftError::Status { status: 503 }.is_transient());
        assert!(DraftError::Status { status: 429 }.is_transient());
        assert!(!DraftError::Status { status: 401 }.is_transient());
        assert!(!DraftError::Decode("no choices").is_transient());
        assert_eq!(
            DraftError::Status { status: 502 }.reason(),
            "llm_server_error"
        );
        assert_eq!(DraftError::Timeout.reason(), "llm_timeout");
    }

    #[test]
    fn debug_hides_the_reply() {
        let r = DraftReply {
            kind: ReplyKind::Answer,
            text: "your order 12345 ships today".into(),
            model: "m".into(),
            latency_ms: 1,
            tokens: None,
        };
        assert!(!format!("{r:?}").contains("12345"));
    }
}
