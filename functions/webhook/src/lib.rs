//! The webhook function: Meta's callback URL.
//!
//! GET answers the subscription handshake. POST checks `X-Hub-Signature-256` over the raw
//! body bytes against every configured app secret, archives the raw delivery (for replay)
//! and queues every entry on the inbound queue. It answers 200 only once the archive and
//! SQS have accepted everything; any failure answers 5xx so Meta delivers again, which is
//! safe because ingest stores each event once. Nothing of the body reaches the logs.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::StreamExt;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use relay::config::{ConfigError, Vars};
use relay::lambda::ColdStart;
use relay::secret::Secret;
use relay::telemetry::Metrics;
use relay::webhook::{
    Delivery, QueueLimits, SIGNATURE_HEADER, SignatureError, batches, parse_envelope,
    queue_messages, verify_signature, verify_subscription,
};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

/// Larger bodies are refused with 413. Meta batches at most 1000 updates per POST, far
/// below this; anything bigger is not a Meta delivery.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Tunables, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_body_bytes: usize,
    /// How long raw deliveries are kept in the archive.
    pub archive_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            archive_ttl: Duration::from_secs(7 * 86_400),
        }
    }
}

impl Settings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let settings = Self {
            max_body_bytes: vars.parsed("RELAY_WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            archive_ttl: vars.seconds("RELAY_ARCHIVE_TTL_SECONDS", Duration::from_secs(7 * 86_400)),
        };
        vars.finish()?;
        Ok(settings)
    }
}

/// Why a verified delivery could not be made durable (answered with 5xx).
#[derive(Debug, thiserror::Error)]
pub enum DurabilityError {
    #[error("archive write failed: {0}")]
    Archive(String),
    #[error("SQS SendMessageBatch failed: {0}")]
    Queue(String),
    #[error("SQS refused {failed} of {total} messages")]
    Refused { failed: usize, total: usize },
}

/// The handler and what it needs.
pub struct Webhook {
    sqs: aws_sdk_sqs::Client,
    inbound_queue_url: String,
    dynamodb: aws_sdk_dynamodb::Client,
    archive_table: String,
    app_secrets: Vec<Secret>,
    verify_token: Secret,
    settings: Settings,
    limits: QueueLimits,
    metrics: Metrics,
}

impl Webhook {
    pub fn from_cold_start(cold: &ColdStart) -> Result<Self, ConfigError> {
        let (config, vars, sdk) = (&cold.config, &cold.vars, &cold.sdk);
        let queue = config.queues.inbound.clone().unwrap_or_else(|| {
            vars.invalid(
                "RELAY_INBOUND_QUEUE_URL",
                "the webhook queues every entry here; set it",
            );
            String::new()
        });
        vars.finish()?;
        let settings = Settings::from_vars(vars)?;
        Ok(Self::new(
            aws_sdk_sqs::Client::new(sdk),
            queue,
            aws_sdk_dynamodb::Client::new(sdk),
            config.archive_table.clone(),
            cold.secrets.meta_app_secrets.clone(),
            cold.secrets.meta_verify_token.clone(),
            settings,
        ))
    }

    pub fn new(
        sqs: aws_sdk_sqs::Client,
        inbound_queue_url: String,
        dynamodb: aws_sdk_dynamodb::Client,
        archive_table: String,
        app_secrets: Vec<Secret>,
        verify_token: Secret,
        settings: Settings,
    ) -> Self {
        Self {
            sqs,
            inbound_queue_url,
            dynamodb,
            archive_table,
            app_secrets,
            verify_token,
            settings,
            limits: QueueLimits::SQS,
            metrics: Metrics::new("webhook"),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Handle one HTTP request (API Gateway HTTP API v2 or a function URL).
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match *request.method() {
            Method::GET => self.handshake(&request),
            Method::POST => self.delivery(&request).await,
            _ => text(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST"),
        }
    }

    fn handshake(&self, request: &Request) -> Response<Body> {
        let query = request.query_string_parameters();
        match verify_subscription(
            query.first("hub.mode"),
            query.first("hub.verify_token"),
            query.first("hub.challenge"),
            &self.verify_token,
        ) {
            Ok(challenge) => {
                info!("webhook subscription verified");
                text(StatusCode::OK, &challenge)
            }
            Err(relay::webhook::HandshakeError::NoVerifyToken) => {
                warn!("no verify token configured");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "verification is not configured",
                )
            }
            Err(error) => {
                warn!(%error, "webhook subscription refused");
                self.metrics.count("HandshakesRefused", 1);
                text(StatusCode::FORBIDDEN, "verification failed")
            }
        }
    }

    async fn delivery(&self, request: &Request) -> Response<Body> {
        // lambda_http has already decoded a base64-encoded body into these bytes.
        let body: &[u8] = request.body().as_ref();
        if body.len() > self.settings.max_body_bytes {
            self.metrics.count("WebhooksRejected", 1);
            warn!(bytes = body.len(), "webhook body too large");
            return text(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        let header = request
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        if let Err(error) = verify_signature(body, header, &self.app_secrets) {
            self.metrics.count("WebhooksRejected", 1);
            warn!(%error, "webhook signature rejected");
            return match error {
                SignatureError::Missing => text(StatusCode::UNAUTHORIZED, "signature missing"),
                SignatureError::NoSecret => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "verification is not configured",
                ),
                _ => text(StatusCode::FORBIDDEN, "signature invalid"),
            };
        }
        let envelope = match parse_envelope(body) {
            Ok(Delivery::Accepted(envelope)) => envelope,
            Ok(Delivery::Ignored { object }) => {
                info!(object = %object, "webhook for an object Relay does not handle; ignored");
                self.metrics.count("WebhooksIgnored", 1);
                return text(StatusCode::OK, "ignored");
            }
            Err(error) => {
                self.metrics.count("WebhooksMalformed", 1);
                warn!(%error, "signed webhook body is malformed");
                return text(StatusCode::BAD_REQUEST, &format!("malformed body: {error}"));
            }
        };
        let outbox = queue_messages(&envelope, &self.limits);
        for rejected in &outbox.rejected {
            warn!(error = %rejected, "entry cannot be queued; kept in the archive only");
            self.metrics.count("EntriesTooLarge", 1);
        }
        if !envelope.invalid_entries.is_empty() {
            warn!(
                count = envelope.invalid_entries.len(),
                "entries without a routable id; kept in the archive only"
            );
            self.metrics
                .count("EntriesUnroutable", envelope.invalid_entries.len() as u64);
        }
        let entries = outbox.messages.len();
        let (archived, queued) =
            tokio::join!(self.archive(body, header), self.enqueue(outbox.messages));
        match archived.and(queued) {
            Ok(()) => {
                self.metrics.count("WebhooksAccepted", 1);
                self.metrics.count("EntriesQueued", entries as u64);
                info!(entries, "webhook accepted");
                text(StatusCode::OK, "EVENT_RECEIVED")
            }
            Err(error) => {
                self.metrics.count("WebhooksFailed", 1);
                warn!(%error, "webhook not durable; Meta will retry");
                text(StatusCode::SERVICE_UNAVAILABLE, "try again")
            }
        }
    }

    async fn enqueue(
        &self,
        messages: Vec<relay::webhook::QueueMessage>,
    ) -> Result<(), DurabilityError> {
        let batches = batches(messages, &self.limits);
        let results: Vec<Result<(), DurabilityError>> = futures::stream::iter(batches)
            .map(|batch| async move {
                let total = batch.messages().len();
                let entries = batch
                    .into_messages()
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(m.into_body())
                            .build()
                            .expect("id and body are set")
                    })
                    .collect::<Vec<_>>();
                let out = self
                    .sqs
                    .send_message_batch()
                    .queue_url(&self.inbound_queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| {
                        DurabilityError::Queue(
                            aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                        )
                    })?;
                if out.failed().is_empty() {
                    Ok(())
                } else {
                    Err(DurabilityError::Refused {
                        failed: out.failed().len(),
                        total,
                    })
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn archive(&self, body: &[u8], signature: Option<&str>) -> Result<(), DurabilityError> {
        let now = time::OffsetDateTime::now_utc();
        let millis = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let digest = hex::encode(Sha256::digest(body));
        let hour = format!(
            "RAW#{:04}-{:02}-{:02}-{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour()
        );
        let ttl = now.unix_timestamp() + self.settings.archive_ttl.as_secs() as i64;
        let mut put = self
            .dynamodb
            .put_item()
            .table_name(&self.archive_table)
            .item("pk", AttributeValue::S(hour))
            .item("sk", AttributeValue::S(format!("{millis:015}#{digest}")))
            .item("body", AttributeValue::B(body.to_vec().into()))
            .item("received_at", AttributeValue::N(millis.to_string()))
            .item("ttl", AttributeValue::N(ttl.to_string()));
        if let Some(signature) = signature {
            // Kept so a replay can be verified exactly like the original delivery.
            put = put.item("signature", AttributeValue::S(signature.to_owned()));
        }
        put.send().await.map_err(|e| {
            DurabilityError::Archive(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
        Ok(())
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::Text(body.to_owned()))
        .expect("status and header are valid")
}
