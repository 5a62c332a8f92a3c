//! The publish function: the translation between Lambda's events and the publishing
//! commands in `relay::publishing::run`.
//!
//! One function, two triggers (as template.yaml wires it): the EventBridge rule
//! `rate(1 minute)` runs the dispatcher; the publish queue's batches run the worker, one
//! post per message.

use std::sync::Arc;

use relay::config::ConfigError;
use relay::jobs::{JobQueue, PublishJob};
use relay::lambda::{ColdStart, Delivery, ScheduledHandler, SqsHandler};
use relay::publishing::run::{ACTOR, Dispatched, PublishError, Publisher, Settings};
use relay::telemetry::Metrics;
use tracing::warn;

/// Build the publisher from the environment (once per cold start).
pub fn publisher(cold: &ColdStart) -> Result<Publisher, ConfigError> {
    let vars = &cold.vars;
    let queue = cold.config.queues.publish.clone().unwrap_or_else(|| {
        vars.invalid(
            "RELAY_PUBLISH_QUEUE_URL",
            "publish queues posts here; set its URL",
        );
        String::new()
    });
    let settings = Settings::from_vars(vars);
    let media = relay::media::MediaBucket::from_vars(vars, &cold.sdk);
    vars.finish()?;
    let clients = cold.clients(ACTOR)?;
    Ok(Publisher {
        store: clients.store,
        graph: clients.graph,
        bus: clients.bus,
        audit: clients.audit,
        media,
        tokens: clients.tokens,
        queue: JobQueue::new(aws_sdk_sqs::Client::new(&cold.sdk), queue),
        clock: Arc::new(relay::clock::SystemClock),
        settings,
    })
}

/// The publish function over a publisher: the schedule's event runs the dispatcher, the
/// queue's messages are posts to advance.
pub struct Publish<'a> {
    publisher: &'a Publisher,
    metrics: Metrics,
}

impl<'a> Publish<'a> {
    pub fn new(publisher: &'a Publisher) -> Self {
        Self {
            publisher,
            metrics: Metrics::new("publish"),
        }
    }
}

impl SqsHandler for Publish<'_> {
    type Error = PublishError;

    /// Posts one instance works on at once.
    fn concurrency(&self) -> usize {
        4
    }

    async fn handle(&self, delivery: Delivery<'_>) -> Result<(), PublishError> {
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
        let worker = format!("{}:{}", delivery.id(), uuid::Uuid::new_v4().simple());
        self.publisher.advance(&job, &worker).await.map(|_| ())
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl ScheduledHandler for Publish<'_> {
    type Output = Dispatched;
    type Error = PublishError;

    async fn on_schedule(&self) -> Result<Dispatched, PublishError> {
        self.publisher.dispatch().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

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
        let batch: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_value(event).expect("an SQS event");
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
