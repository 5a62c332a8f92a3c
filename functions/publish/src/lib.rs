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
    let media = relay::media::MediaBucket::from_vars(&vars, sdk);
    vars.finish()?;
    let tokens = Tokens::from_config(config, secrets, sdk, ACTOR)?;
    Ok(Publisher {
        store: tokens.store().clone(),
        graph: tokens.graph().clone(),
        bus: tokens.events().clone(),
        audit: tokens.audit().clone(),
        media,
        tokens,
        queue: JobQueue::new(aws_sdk_sqs::Client::new(sdk), queue),
        clock: Arc::new(relay::clock::SystemClock),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/publish")
            .join(name);
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    }

    fn jobs(name: &str) -> Vec<Result<PublishJob, serde_json::Error>> {
        let event = sample(name);
        assert!(event.get("Records").is_some(), "{name} is an SQS batch");
        let batch: SqsEvent = serde_json::from_value(event).expect("an SQS event");
        batch
            .records
            .iter()
            .map(|r| serde_json::from_str(r.body.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn the_schedule_sample_runs_the_dispatcher_and_the_queue_samples_carry_jobs() {
        let dispatch = sample("dispatch.json");
        assert!(dispatch.get("Records").is_none(), "not taken for a batch");
        assert_eq!(dispatch["detail-type"], "Scheduled Event");
        let one = jobs("post.json");
        assert_eq!(one.len(), 1);
        assert!(one[0].is_ok());
        let twice = jobs("duplicate-delivery.json");
        let twice: Vec<PublishJob> = twice.into_iter().map(Result::unwrap).collect();
        assert_eq!(twice.len(), 2);
        assert_eq!(twice[0].post_id, twice[1].post_id, "the same post");
        assert!(jobs("malformed-job.json")[0].is_err());
    }
}
