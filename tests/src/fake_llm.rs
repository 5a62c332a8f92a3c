//! A fake OpenAI-compatible chat completions endpoint on 127.0.0.1, for tests.
//!
//! It records every request (model, messages, `max_tokens`, the Authorization header)
//! and answers with a configurable reply. Tests can script the next answers: an HTTP
//! error status, a hang longer than the client's timeout, or the hand-off marker.
//! Serves `POST {base_url}/chat/completions` with `base_url` = `http://127.0.0.1:PORT/v1`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// How the endpoint answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A completion with this text.
    Reply(String),
    /// The HTTP status (with an OpenAI-style error body).
    Status(u16),
    /// Waits this long, then answers with the default reply (a client with a shorter
    /// timeout sees a timeout).
    Hang(Duration),
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct RecordedPrompt {
    pub model: String,
    /// `(role, content)` in order.
    pub messages: Vec<(String, String)>,
    pub max_tokens: Option<u64>,
    pub authorization: Option<String>,
}

impl RecordedPrompt {
    /// Every message's content, one per line.
    pub fn text(&self) -> String {
        self.messages
            .iter()
            .map(|(_, c)| c.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The system message.
    pub fn system(&self) -> &str {
        self.messages
            .iter()
            .find(|(r, _)| r == "system")
            .map_or("", |(_, c)| c.as_str())
    }
}

#[derive(Debug)]
struct LlmState {
    recorded: Vec<RecordedPrompt>,
    script: VecDeque<Answer>,
    default: Answer,
}

/// The running fake. Stops when dropped.
pub struct FakeLlm {
    base_url: String,
    state: Arc<Mutex<LlmState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeLlm {
    /// Start on a free loopback port, answering `reply` unless scripted otherwise.
    pub async fn start(reply: &str) -> Self {
        let state = Arc::new(Mutex::new(LlmState {
            recorded: Vec::new(),
            script: VecDeque::new(),
            default: Answer::Reply(reply.to_owned()),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port for the fake LLM");
        let addr = listener.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake LLM serves until dropped");
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            state,
            task,
        }
    }

    /// The base URL to configure (`.../v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LlmState> {
        self.state
            .lock()
            .expect("no panic while holding the fake LLM's lock")
    }

    /// The default answer from now on.
    pub fn set_reply(&self, reply: &str) {
        self.lock().default = Answer::Reply(reply.to_owned());
    }

    /// The next `n` requests get `answer`, before the default applies again.
    pub fn then(&self, n: usize, answer: Answer) {
        let mut state = self.lock();
        for _ in 0..n {
            state.script.push_back(answer.clone());
        }
    }

    /// Every request received so far, in order.
    pub fn prompts(&self) -> Vec<RecordedPrompt> {
        self.lock().recorded.clone()
    }
}

async fn completions(
    State(state): State<Arc<Mutex<LlmState>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let answer = {
        let mut s = state
            .lock()
            .expect("no panic while holding the fake LLM's lock");
        s.recorded.push(RecordedPrompt {
            model: body["model"].as_str().unwrap_or_default().to_owned(),
            messages: body["messages"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|m| {
                            (
                                m["role"].as_str().unwrap_or_default().to_owned(),
                                m["content"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            max_tokens: body["max_tokens"].as_u64(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        let default = s.default.clone();
        (s.script.pop_front().unwrap_or(default.clone()), default)
    };
    let model = body["model"].as_str().unwrap_or("fake").to_owned();
    match answer {
        (Answer::Reply(text), _) => completion(&model, &text),
        (Answer::Status(status), _) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"error": {"message": "scripted failure", "type": "server_error"}})),
        )
            .into_response(),
        (Answer::Hang(delay), default) => {
            tokio::time::sleep(delay).await;
            match default {
                Answer::Reply(text) => completion(&model, &text),
                _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    }
}

fn completion(model: &str, text: &str) -> Response {
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    }))
    .into_response()
}
