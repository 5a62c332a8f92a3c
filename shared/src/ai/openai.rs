//! Client for any OpenAI-compatible chat completions endpoint (`POST {base}/chat/completions`).
//!
//! Each attempt has a timeout, and never outlives the caller's deadline. Transient
//! failures (timeouts, connection errors, HTTP 408, 429 and 5xx) are retried with
//! jittered exponential backoff up to `max_attempts` in total, while time is left; other
//! failures return at once. The completion is capped at `max_tokens` (the prompt is
//! budgeted by [`super::prompt`]). The key travels only in the Authorization header;
//! errors name the failure class, never the URL, key, prompt or answer.

use std::time::{Duration, Instant as StdInstant};

use futures::future::BoxFuture;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::drafter::{DraftError, DraftReply, Drafter, ReplyKind};
use super::prompt::{HANDOFF_MARKER, Prompt};
use crate::retry::RetryPolicy;
use crate::secret::Secret;

/// Attempts that cannot get at least this much time are not started.
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// Where the LLM is and how patiently to use it.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// E.g. `https://api.openai.com/v1`; `chat/completions` is appended.
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<Secret>,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Pause before the first retry, doubled for each further one.
    pub backoff: Duration,
    /// Completion token budget (`max_tokens`).
    pub max_tokens: u32,
    pub temperature: f32,
}

impl LlmConfig {
    pub fn new(base_url: Url, model: impl Into<String>, api_key: Option<Secret>) -> Self {
        Self {
            base_url,
            model: model.into(),
            api_key,
            timeout: Duration::from_secs(8),
            max_attempts: 2,
            backoff: Duration::from_millis(250),
            max_tokens: 350,
            temperature: 0.2,
        }
    }

    fn endpoint(&self) -> Url {
        let mut base = self.base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.join("chat/completions")
            .expect("a relative path always joins onto an http(s) base URL")
    }
}

/// The OpenAI-compatible drafter. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct OpenAiCompatible {
    http: reqwest::Client,
    config: LlmConfig,
    endpoint: Url,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<ChoiceMessage>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    total_tokens: Option<u32>,
}

/// The request body for a prompt.
fn request_body(config: &LlmConfig, prompt: &Prompt) -> Value {
    let messages: Vec<Value> = prompt
        .messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    json!({
        "model": config.model,
        "messages": messages,
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
    })
}

/// The reply in a completion body: its kind, text and the tokens used.
fn parse_completion(body: &[u8]) -> Result<(ReplyKind, String, Option<u32>), DraftError> {
    let completion: Completion =
        serde_json::from_slice(body).map_err(|_| DraftError::Decode("not a chat completion"))?;
    let content = completion
        .choices
        .into_iter()
        .next()
        .ok_or(DraftError::Decode("no choices"))?
        .message
        .and_then(|m| m.content)
        .unwrap_or_default();
    let tokens = completion.usage.and_then(|u| u.total_tokens);
    if content.contains(HANDOFF_MARKER) {
        return Ok((ReplyKind::CannotHelp, String::new(), tokens));
    }
    let text = content.trim().trim_matches('"').trim().to_owned();
    if text.is_empty() {
        return Err(DraftError::Empty);
    }
    Ok((ReplyKind::Answer, text, tokens))
}

fn classify(err: &reqwest::Error) -> DraftError {
    if err.is_timeout() {
        DraftError::Timeout
    } else if err.is_connect() {
        DraftError::Unreachable
    } else if err.is_decode() || err.is_body() {
        DraftError::Decode("the body could not be read")
    } else {
        DraftError::Unreachable
    }
}

impl OpenAiCompatible {
    pub fn new(config: LlmConfig) -> Result<Self, DraftError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            // A redirect would replay the key to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("relay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| DraftError::Unreachable)?;
        let endpoint = config.endpoint();
        Ok(Self {
            http,
            config,
            endpoint,
        })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    async fn attempt(
        &self,
        body: &Value,
        timeout: Duration,
    ) -> Result<(ReplyKind, String, Option<u32>), DraftError> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .timeout(timeout)
            .json(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| classify(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| classify(&e))?;
        if !status.is_success() {
            return Err(DraftError::Status {
                status: status.as_u16(),
            });
        }
        parse_completion(&bytes)
    }

    /// The pause before retry number `retry`: Relay's one backoff rule, from this
    /// drafter's first pause.
    fn backoff(&self, retry: u32) -> Duration {
        RetryPolicy {
            max_attempts: self.config.max_attempts,
            base_delay: self.config.backoff,
            max_delay: self.config.backoff.saturating_mul(256),
        }
        .delay(retry)
    }

    async fn run(
        &self,
        prompt: &Prompt,
        deadline: Option<Instant>,
    ) -> Result<DraftReply, DraftError> {
        let started = StdInstant::now();
        let body = request_body(&self.config, prompt);
        let attempts = self.config.max_attempts.max(1);
        let mut last = DraftError::OutOfTime;
        for attempt in 1..=attempts {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r < MIN_ATTEMPT) {
                break;
            }
            let timeout = remaining.map_or(self.config.timeout, |r| r.min(self.config.timeout));
            match self.attempt(&body, timeout).await {
                Ok((kind, text, tokens)) => {
                    return Ok(DraftReply {
                        kind,
                        text,
                        model: self.config.model.clone(),
                        latency_ms: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                        tokens,
                    });
                }
                Err(e) if e.is_transient() && attempt < attempts => {
                    tracing::warn!(reason = e.reason(), attempt, "LLM attempt failed; retrying");
                    last = e;
                    let pause = self.backoff(attempt);
                    let fits = deadline.is_none_or(|d| Instant::now() + pause + MIN_ATTEMPT < d);
                    if !fits {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

impl Drafter for OpenAiCompatible {
    fn model(&self) -> &str {
        &self.config.model
    }

    fn draft<'a>(
        &'a self,
        prompt: &'a Prompt,
        deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<DraftReply, DraftError>> {
        Box::pin(self.run(prompt, deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::prompt::{ChatMessage, Role};

    fn config(base: &str) -> LlmConfig {
        LlmConfig::new(
            Url::parse(base).unwrap(),
            "gpt-test",
            Some(Secret::new("sk-123")),
        )
    }

    #[test]
    fn endpoint_appends_chat_completions() {
        assert_eq!(
            config("https://api.openai.com/v1").endpoint().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            config("http://127.0.0.1:9000/").endpoint().as_str(),
            "http://127.0.0.1:9000/chat/completions"
        );
    }

    #[test]
    fn body_follows_the_chat_completions_format() {
        let prompt = Prompt {
            messages: vec![
                ChatMessage {
                    role: Role::System,
                    content: "be nice".into(),
                },
                ChatMessage {
                    role: Role::User,
                    content: "hi".into(),
                },
            ],
            pending: vec!["hi".into()],
            grounding: vec![],
            estimated_tokens: 10,
        };
        let body = request_body(&config("http://x/v1"), &prompt);
        assert_eq!(body["model"], "gpt-test");
        assert_eq!(body["max_tokens"], 350);
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "be nice"})
        );
        assert_eq!(
            body["messages"][1],
            json!({"role": "user", "content": "hi"})
        );
        assert!(
            !body.to_string().contains("sk-123"),
            "the key never goes in the body"
        );
    }

    #[test]
    fn completions_are_parsed() {
        let ok = br#"{"choices":[{"message":{"role":"assistant","content":" Sure, it ships today. "}}],"usage":{"total_tokens":42}}"#;
        assert_eq!(
            parse_completion(ok).unwrap(),
            (ReplyKind::Answer, "Sure, it ships today.".into(), Some(42))
        );
        let handoff = br#"{"choices":[{"message":{"content":"[[HANDOFF]]"}}]}"#;
        assert_eq!(parse_completion(handoff).unwrap().0, ReplyKind::CannotHelp);
        assert_eq!(
            parse_completion(br#"{"choices":[{"message":{"content":"  "}}]}"#),
            Err(DraftError::Empty)
        );
        assert_eq!(
            parse_completion(br#"{"choices":[]}"#),
            Err(DraftError::Decode("no choices"))
        );
        assert!(matches!(
            parse_completion(b"<html>"),
            Err(DraftError::Decode(_))
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let client = OpenAiCompatible::new(config("http://x/v1")).unwrap();
        assert!(!format!("{client:?}").contains("sk-123"));
        assert!(!format!("{:?}", client.config()).contains("sk-123"));
    }
}
