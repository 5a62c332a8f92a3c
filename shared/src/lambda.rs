//! The one Lambda adapter: every function's `main` is `ColdStart::load`, build the
//! handler, `run_*`.
//!
//! - [`ColdStart`] reads the configuration and secrets and loads the SDK configuration
//!   once per instance (the one place a function learns its environment).
//! - [`run`] serves any event type; [`run_http`] serves API Gateway HTTP API requests;
//!   [`run_sqs`] serves SQS batches through an [`SqsHandler`]; [`run_queue_and_schedule`]
//!   serves a function wired to both a queue and an EventBridge schedule.
//! - [`sqs_batch`] runs a handler over one batch: one span per message with its receive
//!   count, bounded concurrency, and partial batch failures, so a message that fails is
//!   redelivered alone and the rest of the batch is acknowledged.
//!
//! Every `run_*` flushes the handler's metrics (one EMF line) after each invocation.
//! A handler error becomes lambda_runtime's error report (the invocation fails, the
//! instance lives on); a panic is caught by lambda_runtime the same way.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, info_span, warn};

use crate::clients::Clients;
use crate::config::{Config, ConfigError, Secrets, Vars};
use crate::telemetry::{self, Metrics};

/// What a function reads once per instance, before its first event.
pub struct ColdStart {
    pub config: Config,
    pub sdk: aws_config::SdkConfig,
    pub secrets: Secrets,
    /// The process environment, for a function's own settings.
    pub vars: Vars,
}

impl ColdStart {
    /// Start telemetry, read the configuration and secrets (Secrets Manager in the cloud,
    /// the environment locally) and the SDK configuration.
    pub async fn load() -> Result<Self, Error> {
        let (config, sdk) = Self::load_without_secrets().await?;
        let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
        Ok(Self {
            config,
            sdk,
            secrets,
            vars: Vars::from_process(),
        })
    }

    /// The clients (store, audit trail, Graph, bus, tokens) from this configuration;
    /// `actor` names the function in audit records.
    pub fn clients(&self, actor: &str) -> Result<Clients, ConfigError> {
        Clients::from_config(&self.config, &self.secrets, &self.vars, &self.sdk, actor)
    }

    /// The same without the secrets, for a function that holds none (and has no right to
    /// read them).
    pub async fn load_without_secrets() -> Result<(Config, aws_config::SdkConfig), Error> {
        telemetry::init();
        let config = Config::from_env()?;
        let sdk = aws_config::load_from_env().await;
        Ok((config, sdk))
    }
}

/// Serve events of type `E` with `handle`; `metrics` are flushed after each one.
pub async fn run<E, R, F, Fut>(metrics: Option<&Metrics>, handle: F) -> Result<(), Error>
where
    E: DeserializeOwned + Send,
    R: Serialize,
    F: Fn(E) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        let answer = handle(event.payload).await;
        if let Some(metrics) = metrics {
            metrics.flush();
        }
        answer
    }))
    .await
}

/// Serve API Gateway requests with `handle`; `metrics` are flushed after each one.
pub async fn run_http<F, Fut>(metrics: Option<&Metrics>, handle: F) -> Result<(), Error>
where
    F: Fn(lambda_http::Request) -> Fut + Sync,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    let handle = &handle;
    lambda_http::run(lambda_http::service_fn(
        move |request: lambda_http::Request| async move {
            let response = handle(request).await;
            if let Some(metrics) = metrics {
                metrics.flush();
            }
            Ok::<_, Error>(response)
        },
    ))
    .await
}

/// One message of a batch, as a handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub message: &'a SqsMessage,
    /// How often SQS handed this message out, this time included.
    pub receives: u32,
}

impl<'a> Delivery<'a> {
    pub fn of(message: &'a SqsMessage) -> Self {
        let receives = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        Self { message, receives }
    }

    pub fn body(&self) -> Option<&'a str> {
        self.message.body.as_deref()
    }

    /// The SQS message id ("-" when absent).
    pub fn id(&self) -> &'a str {
        self.message.message_id.as_deref().unwrap_or("-")
    }
}

/// A function fed by an SQS queue, one message at a time.
pub trait SqsHandler: Send + Sync {
    type Error: Display;

    /// How many messages of one batch run at once (1: in the batch's order).
    fn concurrency(&self) -> usize {
        1
    }

    /// Handle one message; an error has it redelivered (alone).
    fn handle(
        &self,
        delivery: Delivery<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Runs once after every batch (tallies, flushes).
    fn after_batch(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    fn metrics(&self) -> &Metrics;
}

/// Run `handler` over every message of `event`, at most `handler.concurrency()` at once;
/// the response names the messages that failed.
pub async fn sqs_batch<H: SqsHandler>(handler: &H, event: &SqsEvent) -> SqsBatchResponse {
    let failures: Vec<BatchItemFailure> = futures::stream::iter(&event.records)
        .map(|message| {
            let delivery = Delivery::of(message);
            let id = message.message_id.clone().unwrap_or_default();
            let span = info_span!("sqs_message", message_id = %id, receives = delivery.receives);
            let run = handler.handle(delivery);
            async move {
                match run.instrument(span.clone()).await {
                    Ok(()) => None,
                    Err(error) => {
                        span.in_scope(|| warn!(%error, "message will be redelivered"));
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = id;
                        Some(failure)
                    }
                }
            }
        })
        .buffer_unordered(handler.concurrency().max(1))
        .filter_map(|f| async move { f })
        .collect()
        .await;
    handler.after_batch().await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// Serve SQS batches with `handler` (partial batch failures; metrics flushed after each).
pub async fn run_sqs<H: SqsHandler>(handler: H) -> Result<(), Error> {
    let handler = &handler;
    run(Some(handler.metrics()), |event: SqsEvent| async move {
        Ok::<_, Error>(sqs_batch(handler, &event).await)
    })
    .await
}

/// A function an EventBridge schedule runs.
pub trait ScheduledHandler: Send + Sync {
    type Output: Serialize;
    type Error: Into<Error>;

    fn on_schedule(&self) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// What invoked a function wired to a queue and a schedule: an SQS batch (it has
/// `Records`) or anything else (the schedule's event, whose content is not needed).
pub enum Trigger {
    Batch(SqsEvent),
    Schedule,
}

impl Trigger {
    /// Tell the two apart. A body with `Records` that is not an SQS batch is an error,
    /// never taken for the schedule.
    pub fn of(event: serde_json::Value) -> Result<Self, serde_json::Error> {
        if event.get("Records").is_some() {
            return serde_json::from_value(event).map(Self::Batch);
        }
        Ok(Self::Schedule)
    }
}

/// Answer one invocation of a function wired to both a queue and a schedule.
pub async fn queue_or_schedule<H>(
    handler: &H,
    event: serde_json::Value,
) -> Result<serde_json::Value, Error>
where
    H: SqsHandler + ScheduledHandler,
{
    let answer = match Trigger::of(event) {
        Ok(Trigger::Batch(batch)) => serde_json::to_value(sqs_batch(handler, &batch).await)?,
        // Not something SQS sends: nothing to redeliver, so acknowledged, and said so.
        Err(error) => {
            warn!(%error, "not an SQS batch; nothing done");
            serde_json::to_value(SqsBatchResponse::default())?
        }
        Ok(Trigger::Schedule) => {
            serde_json::to_value(handler.on_schedule().await.map_err(Into::into)?)?
        }
    };
    Ok(answer)
}

/// Serve a function wired to both a queue and a schedule.
pub async fn run_queue_and_schedule<H>(handler: H) -> Result<(), Error>
where
    H: SqsHandler + ScheduledHandler,
{
    let handler = &handler;
    run(
        Some(SqsHandler::metrics(handler)),
        |event: serde_json::Value| async move { queue_or_schedule(handler, event).await },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes
            .insert("ApproximateReceiveCount".into(), "3".into());
        m
    }

    /// Fails the messages whose body is "bad"; counts what it saw and the batches.
    struct Picky {
        metrics: Metrics,
        concurrency: usize,
        seen: std::sync::Mutex<Vec<(String, u32)>>,
        batches: std::sync::atomic::AtomicUsize,
    }

    impl Picky {
        fn new(concurrency: usize) -> Self {
            Self {
                metrics: Metrics::new("test"),
                concurrency,
                seen: Default::default(),
                batches: Default::default(),
            }
        }
    }

    impl SqsHandler for Picky {
        type Error = &'static str;

        fn concurrency(&self) -> usize {
            self.concurrency
        }

        async fn handle(&self, d: Delivery<'_>) -> Result<(), Self::Error> {
            self.seen
                .lock()
                .unwrap()
                .push((d.id().to_string(), d.receives));
            if d.body() == Some("bad") {
                Err("refused")
            } else {
                Ok(())
            }
        }

        async fn after_batch(&self) {
            self.batches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }

        fn metrics(&self) -> &Metrics {
            &self.metrics
        }
    }

    fn batch(bodies: &[(&str, &str)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = bodies.iter().map(|(id, body)| message(id, body)).collect();
        event
    }

    #[tokio::test]
    async fn only_the_failed_messages_are_reported() {
        let handler = Picky::new(2);
        let event = batch(&[("a", "ok"), ("b", "bad"), ("c", "ok")]);
        let response = sqs_batch(&handler, &event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["b"]);
        let seen = handler.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "every message handled once: {seen:?}");
        assert!(seen.iter().all(|(_, receives)| *receives == 3));
        assert_eq!(handler.batches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn one_at_a_time_keeps_the_batch_order() {
        let handler = Picky::new(1);
        let event = batch(&[("a", "ok"), ("b", "bad"), ("c", "ok"), ("d", "ok")]);
        sqs_batch(&handler, &event).await;
        let order: Vec<String> = handler
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_batch_is_told_from_the_schedule_and_a_broken_batch_is_refused() {
        let batch = serde_json::json!({"Records": [{"messageId": "m1", "body": "{}"}]});
        assert!(matches!(Trigger::of(batch), Ok(Trigger::Batch(b)) if b.records.len() == 1));
        let schedule = serde_json::json!({"detail-type": "Scheduled Event", "detail": {}});
        assert!(matches!(Trigger::of(schedule), Ok(Trigger::Schedule)));
        let broken = serde_json::json!({"Records": "not a list"});
        assert!(Trigger::of(broken).is_err(), "not taken for the schedule");
    }

    #[test]
    fn a_message_without_a_receive_count_was_received_once() {
        let mut m = SqsMessage::default();
        m.message_id = Some("x".into());
        assert_eq!(Delivery::of(&m).receives, 1);
        assert_eq!(Delivery::of(&m).id(), "x");
    }
}
