//! The webhook emitter: builds events (see [`crate::webhook`]), signs the exact bytes,
//! POSTs them to the configured URL, retries deliveries not answered with 2xx a
//! bounded number of times, and records every attempt for
//! `GET /_sim/webhooks/deliveries`.

use super::App;
use super::admin::AdminError;
use crate::state::DeliveryAttempt;
use crate::webhook::{self, BuiltEvent, EventSpec, WebhookError};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// At most this many copies of one body per `repeat`.
const MAX_REPEAT: u32 = 100;

pub fn router() -> Router<App> {
    Router::new()
        .route("/_sim/webhooks/config", get(get_config).post(set_config))
        .route("/_sim/webhooks/send", post(send))
        .route(
            "/_sim/webhooks/deliveries",
            get(deliveries).delete(clear_deliveries),
        )
}

/// What happened to one body: every attempt, and whether one got a 2xx.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryReport {
    pub delivery_id: u64,
    /// The body as JSON (when it is JSON) for convenient assertions.
    pub body: Value,
    /// The exact bytes sent, as text.
    pub raw_body: String,
    pub signature: String,
    pub attempts: Vec<AttemptReport>,
    pub ok: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttemptReport {
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// POSTs `body` to `url`, retrying immediately while the answer is not 2xx, at most
/// `retries` more times. Every attempt is recorded in the state.
pub async fn deliver_body(app: &App, url: &str, body: String, signature: String) -> DeliveryReport {
    let (delivery_id, retries, timeout_ms) = {
        let mut state = app.lock();
        (
            state.next_delivery_id(),
            state.webhook.retry_attempts,
            state.webhook.timeout_ms,
        )
    };
    let mut attempts = Vec::new();
    let mut ok = false;
    for attempt in 1..=retries.saturating_add(1) {
        let result = app
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signature)
            .header("user-agent", "facebookexternalua")
            .timeout(Duration::from_millis(timeout_ms))
            .body(body.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(res) => (Some(res.status().as_u16()), None),
            Err(e) if e.is_timeout() => (None, Some("timed out".to_owned())),
            Err(e) if e.is_connect() => (None, Some("connection failed".to_owned())),
            Err(_) => (None, Some("request failed".to_owned())),
        };
        let success = status.is_some_and(|s| (200..300).contains(&s));
        {
            let mut state = app.lock();
            let sent_at_ms = state.now().ms();
            state.deliveries.push(DeliveryAttempt {
                delivery_id,
                attempt,
                url: url.to_owned(),
                status,
                error: error.clone(),
                ok: success,
                signature: signature.clone(),
                body: body.clone(),
                sent_at_ms,
            });
        }
        attempts.push(AttemptReport {
            attempt,
            status,
            error,
        });
        if success {
            ok = true;
            break;
        }
    }
    DeliveryReport {
        delivery_id,
        body: serde_json::from_str(&body).unwrap_or(Value::String(body.clone())),
        raw_body: body,
        signature,
        attempts,
        ok,
    }
}

/// Sends built events as one signed POST when a URL is configured (and, if Meta's
/// subscription rule is on, only the events the account is subscribed to).
pub async fn deliver_events(app: &App, events: Vec<BuiltEvent>) -> Option<DeliveryReport> {
    let (url, body, signature) = {
        let state = app.lock();
        let url = state.webhook.url.clone()?;
        let events: Vec<BuiltEvent> = events
            .into_iter()
            .filter(|e| !state.webhook.require_subscription || webhook::is_subscribed(&state, e))
            .collect();
        let envelope = webhook::envelope(&events, false, state.now().ms()).ok()?;
        let body = webhook::encode_like_meta(&envelope);
        let signature = webhook::signature(&state.webhook.secret, body.as_bytes());
        (url, body, signature)
    };
    Some(deliver_body(app, &url, body, signature).await)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SendOptions {
    repeat: Option<u32>,
    batch: Option<Vec<EventSpec>>,
    raw: Option<Value>,
    raw_body: Option<String>,
    merge_entries: bool,
    /// Sign with this key instead of the configured secret (signature tests).
    secret: Option<String>,
    /// Send this header value instead of the real signature.
    signature: Option<String>,
    /// Deliver to this URL instead of the configured one. (Not `url`: that is an
    /// attachment event's field.)
    deliver_to: Option<String>,
}

/// `POST /_sim/webhooks/send`.
async fn send(
    State(app): State<App>,
    Json(request): Json<Value>,
) -> Result<Json<Value>, AdminError> {
    let options: SendOptions = serde_json::from_value(request.clone())
        .map_err(|e| AdminError::BadRequest(format!("invalid send request: {e}")))?;
    let repeat = options.repeat.unwrap_or(1).clamp(1, MAX_REPEAT);
    let (url, body, signature, skipped) = {
        let mut state = app.lock();
        let url = options
            .deliver_to
            .clone()
            .or_else(|| state.webhook.url.clone())
            .ok_or_else(|| {
                AdminError::Conflict(
                    "no webhook URL configured (POST /_sim/webhooks/config)".into(),
                )
            })?;
        let mut skipped = 0usize;
        let body = if let Some(raw) = &options.raw_body {
            raw.clone()
        } else if let Some(raw) = &options.raw {
            webhook::encode_like_meta(raw)
        } else {
            let specs: Vec<EventSpec> = match &options.batch {
                Some(batch) => batch.clone(),
                None => vec![
                    serde_json::from_value(request.clone())
                        .map_err(|e| AdminError::BadRequest(format!("invalid event: {e}")))?,
                ],
            };
            if specs.is_empty() {
                return Err(AdminError::BadRequest(WebhookError::Empty.to_string()));
            }
            if specs.iter().any(|s| s.kind.as_deref() == Some("raw")) {
                let raw = specs[0].raw.clone().ok_or_else(|| {
                    AdminError::BadRequest("kind raw needs a `raw` payload".into())
                })?;
                webhook::encode_like_meta(&raw)
            } else {
                let mut events = Vec::new();
                for spec in &specs {
                    events.push(
                        webhook::build_event(&mut state, spec)
                            .map_err(|e| AdminError::BadRequest(e.to_string()))?,
                    );
                }
                if state.webhook.require_subscription {
                    let before = events.len();
                    events.retain(|e| webhook::is_subscribed(&state, e));
                    skipped = before - events.len();
                }
                if events.is_empty() {
                    return Ok(Json(json!({
                        "deliveries": [],
                        "skipped": skipped,
                        "reason": "no event's account is subscribed to its field",
                    })));
                }
                let envelope = webhook::envelope(&events, options.merge_entries, state.now().ms())
                    .map_err(|e| AdminError::BadRequest(e.to_string()))?;
                webhook::encode_like_meta(&envelope)
            }
        };
        let secret = options
            .secret
            .clone()
            .unwrap_or_else(|| state.webhook.secret.clone());
        let signature = options
            .signature
            .clone()
            .unwrap_or_else(|| webhook::signature(&secret, body.as_bytes()));
        (url, body, signature, skipped)
    };
    let mut reports = Vec::new();
    for _ in 0..repeat {
        reports.push(deliver_body(&app, &url, body.clone(), signature.clone()).await);
    }
    Ok(Json(json!({"deliveries": reports, "skipped": skipped})))
}

#[derive(Debug, Deserialize)]
struct ConfigRequest {
    url: Option<String>,
    secret: Option<String>,
    retry_attempts: Option<u32>,
    timeout_ms: Option<u64>,
    echo_sent_messages: Option<bool>,
    require_subscription: Option<bool>,
}

/// `POST /_sim/webhooks/config {"url", ...}`: `url: null` stops deliveries.
async fn set_config(
    State(app): State<App>,
    Json(req): Json<Value>,
) -> Result<Json<Value>, AdminError> {
    let has_url = req.get("url").is_some();
    let req: ConfigRequest = serde_json::from_value(req)
        .map_err(|e| AdminError::BadRequest(format!("invalid config: {e}")))?;
    if let Some(u) = &req.url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        return Err(AdminError::BadRequest("url must be an http(s) URL".into()));
    }
    let mut state = app.lock();
    let settings = &mut state.webhook;
    if has_url {
        settings.url = req.url;
    }
    if let Some(s) = req.secret {
        settings.secret = s;
    }
    if let Some(r) = req.retry_attempts {
        settings.retry_attempts = r;
    }
    if let Some(t) = req.timeout_ms {
        settings.timeout_ms = t;
    }
    if let Some(e) = req.echo_sent_messages {
        settings.echo_sent_messages = e;
    }
    if let Some(r) = req.require_subscription {
        settings.require_subscription = r;
    }
    Ok(Json(json!(settings)))
}

async fn get_config(State(app): State<App>) -> Json<Value> {
    Json(json!(app.lock().webhook))
}

async fn deliveries(State(app): State<App>) -> Json<Value> {
    Json(json!(app.lock().deliveries))
}

async fn clear_deliveries(State(app): State<App>) -> Json<Value> {
    app.lock().deliveries.clear();
    Json(json!({"success": true}))
}
