//! The publish function: the translation between Lambda's events and the publishing
//! commands in `relay::publishing::run`.
//!
//! One function, two triggers (as template.yaml wires it): the EventBridge rule
//! `rate(1 minute)` runs the dispatcher; the publish queue's batches run the worker, one
//! post per message.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use relay::config::{Config, ConfigError, Secrets, Vars};
use relay::jobs::{JobQueue, PublishJob};
use relay::lambda::{Delivery, sqs_batch};
use relay::publishing::run::{ACTOR, Dispatched, PublishError, Publisher, Settings};
use relay::tokens::Tokens;
use serde_json::Value;
use tracing::warn;

/// Posts one instance works on at once.
const CONCURRENCY: usize = 4;

/// What an invocation answers.
#[derive(Debug)]
pub enum Answer {
    Batch(SqsBatchResponse),
    Dispatched(Dispatched),
}

impl Answer {
    pub fn into_json(self) -> Value {
        match self {
            Self::Batch(response) => serde_json::to_value(response).unwrap_or(Value::Null),
            Self::Dispatched(d) => {
                serde_json::json!({"queued": d.queued, "requeued": d.requeued})
            }
        }
    }
}

/// Build the publisher from the environment (once per cold start).
pub fn from_config(
    config: &Config,
    secrets: &Secrets,
    sdk: &aws_config::SdkConfig,
) -> Result<Publisher, ConfigError> {
    let vars = Vars::from_process();
    let queue = config.queues.publish.clone().unwrap_or_else(|| {
        vars.invalid(
            "RELAY_PUBLISH_QUEUE_URL",
            "publish queues posts here; set its URL",
        );
        String::new()
    });
    let settings = Settings::from_vars(&vars);
    vars.finish()?;
    let tokens = Tokens::from_config(config, secrets, sdk, ACTOR)?;
    Ok(Publisher {
        store: tokens.store().clone(),
        graph: tokens.graph().clone(),
        bus: tokens.events().clone(),
        audit: tokens.audit().clone(),
        tokens,
        queue: JobQueue::new(aws_sdk_sqs::Client::new(sdk), queue),
        clock: Arc::new(relay::ai::SystemClock),
        settings,
    })
}

/// Handle one invocation: an SQS batch (it has `Records`) or the schedule's event.
pub async fn handle(publisher: &Publisher, event: Value) -> Result<Answer, PublishError> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = match serde_json::from_value(event) {
            Ok(batch) => batch,
            Err(e) => {
                warn!(error = %e, "not an SQS batch; nothing done");
                return Ok(Answer::Batch(SqsBatchResponse::default()));
            }
        };
        return Ok(Answer::Batch(handle_batch(publisher, &batch).await));
    }
    Ok(Answer::Dispatched(publisher.dispatch().await?))
}

/// The worker over one batch of the publish queue.
pub async fn handle_batch(publisher: &Publisher, batch: &SqsEvent) -> SqsBatchResponse {
    sqs_batch(batch, CONCURRENCY, |delivery: Delivery<'_>| async move {
        let Some(job) = delivery
            .body()
            .and_then(|b| serde_json::from_str::<PublishJob>(b).ok())
        else {
            // Redelivering cannot mend it: acknowledged, and said so.
            warn!("publish message is not a publish job; dropped");
            return Ok(());
        };
        // Each delivery is its own worker: two deliveries of one message never share
        // the post's lease.
        let worker = format!(
            "{}:{}",
            delivery.message.message_id.as_deref().unwrap_or("-"),
            uuid::Uuid::new_v4().simple()
        );
        publisher.advance(&job, &worker).await.map(|_| ())
    })
    .await
}
