//! The ingest function: SQS deliveries of the inbound queue in, [`relay::inbox::ingest`]
//! commands out.
//!
//! Each SQS message is one webhook entry (or part of one). A message that cannot be
//! handled now is reported as a batch item failure so SQS redelivers it (and, after the
//! queue's maxReceiveCount, moves it to the dead-letter queue); the rest of the batch is
//! acknowledged (see [`relay::lambda::sqs_batch`]). Messages of a batch are handled one at
//! a time, in order. Usage is written once per batch.

use relay::audit::AuditTrail;
use relay::config::{Config, ConfigError, Vars};
use relay::events::EventBus;
use relay::inbox::ingest::{Aws, IngestError, Ingestion, Ports, QueuedEntry};
use relay::jobs::JobQueue;
use relay::lambda::{Delivery, SqsHandler};
use relay::store::Store;
use relay::telemetry::Metrics;
use relay::webhook::parse_queue_message;

pub use relay::inbox::ingest::Settings;

/// Why one queue message could not be handled (it will be redelivered).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("message has no body")]
    NoBody,
    #[error("entry is not a webhook entry: {0}")]
    Unparseable(#[from] relay::webhook::ParseError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// The handler: the ingestion workflow behind the SQS translation.
pub struct Ingest<P: Ports = Aws> {
    pub ingestion: Ingestion<P>,
}

impl Ingest {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let vars = Vars::from_process();
        let missing = |var: &str| {
            vars.invalid(var, "ingest sends jobs to this queue; set its URL");
            String::new()
        };
        let replies = config
            .queues
            .replies
            .clone()
            .unwrap_or_else(|| missing("RELAY_REPLIES_QUEUE_URL"));
        let moderation = config
            .queues
            .moderation
            .clone()
            .unwrap_or_else(|| missing("RELAY_MODERATION_QUEUE_URL"));
        vars.finish()?;
        let settings = Settings::from_vars(&vars)?;
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Ok(Self::new(Ingestion::new(
            Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.main_table),
            AuditTrail::new(aws_sdk_dynamodb::Client::new(sdk), &config.audit_table),
            EventBus::new(aws_sdk_eventbridge::Client::new(sdk), &config.event_bus),
            JobQueue::new(sqs.clone(), replies),
            JobQueue::new(sqs, moderation),
            settings,
        )))
    }
}

impl<P: Ports> Ingest<P> {
    pub fn new(ingestion: Ingestion<P>) -> Self {
        Self { ingestion }
    }
}

/// Ingest keeps the order of a batch (one message at a time); usage is written after it.
impl<P: Ports> SqsHandler for Ingest<P> {
    type Error = DeliveryError;

    async fn handle(&self, delivery: Delivery<'_>) -> Result<(), DeliveryError> {
        let handled = match queued_entry(delivery) {
            Ok(entry) => self.ingestion.ingest(entry).await.map_err(Into::into),
            Err(error) => Err(error),
        };
        if handled.is_err() {
            self.metrics().count("IngestFailures", 1);
        }
        handled
    }

    async fn after_batch(&self) {
        self.ingestion.write_tally().await;
    }

    fn metrics(&self) -> &Metrics {
        self.ingestion.metrics()
    }
}

/// The command an SQS message asks for: its body's webhook entry, with how often SQS
/// delivered it and when SQS took it.
pub fn queued_entry(delivery: Delivery<'_>) -> Result<QueuedEntry, DeliveryError> {
    let body = delivery.body().ok_or(DeliveryError::NoBody)?;
    let sent_at_ms = delivery
        .message
        .attributes
        .get("SentTimestamp")
        .and_then(|v| v.parse().ok());
    Ok(QueuedEntry {
        entry: parse_queue_message(body)?,
        receives: delivery.receives,
        sent_at_ms,
    })
}
