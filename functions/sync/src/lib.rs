//! The sync function: the translation between Lambda's events and the sync commands in
//! `relay::insights::sync`.
//!
//! One function, two triggers (as template.yaml wires it): the hourly EventBridge rule
//! runs the sweep; the sync queue's messages are on-demand refreshes, one account each.

use std::sync::Arc;

use relay::config::ConfigError;
use relay::insights::sync::{ACTOR, Settings, SweepReport, SyncError, Syncer};
use relay::jobs::SyncJob;
use relay::lambda::{ColdStart, Delivery, ScheduledHandler, SqsHandler};
use relay::telemetry::Metrics;
use tracing::warn;

/// Build the syncer from the environment (once per cold start).
pub fn syncer(cold: &ColdStart) -> Result<Syncer, ConfigError> {
    let settings = Settings::from_vars(&cold.vars);
    cold.vars.finish()?;
    let clients = cold.clients(ACTOR)?;
    Ok(Syncer {
        store: clients.store,
        graph: clients.graph,
        tokens: clients.tokens,
        clock: Arc::new(relay::clock::SystemClock),
        settings,
    })
}

/// The sync function over a syncer: the schedule's event runs the sweep, the queue's
/// messages are on-demand refreshes, one account each.
pub struct Sync<'a> {
    syncer: &'a Syncer,
    metrics: Metrics,
}

impl<'a> Sync<'a> {
    pub fn new(syncer: &'a Syncer) -> Self {
        Self {
            syncer,
            metrics: Metrics::new("sync"),
        }
    }
}

impl SqsHandler for Sync<'_> {
    type Error = SyncError;

    /// Refreshes one instance runs at once.
    fn concurrency(&self) -> usize {
        2
    }

    async fn handle(&self, delivery: Delivery<'_>) -> Result<(), SyncError> {
        let Some(job) = delivery
            .body()
            .and_then(|b| serde_json::from_str::<SyncJob>(b).ok())
        else {
            // Redelivering cannot mend it: acknowledged, and said so.
            warn!("sync message is not a refresh job; dropped");
            return Ok(());
        };
        // A pass that Meta stopped is finished by the next sweep: only a store
        // failure is worth a redelivery.
        self.syncer.refresh(&job).await.map(|_| ())
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl ScheduledHandler for Sync<'_> {
    type Output = SweepReport;
    type Error = SyncError;

    async fn on_schedule(&self) -> Result<SweepReport, SyncError> {
        self.syncer.sweep().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_lambda_events::event::sqs::SqsEvent;
    use serde_json::Value;

    fn sample(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/sync")
            .join(name);
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    }

    #[test]
    fn the_schedule_sample_runs_the_sweep_and_the_queue_sample_carries_a_refresh() {
        let sweep = sample("scheduled.json");
        assert!(sweep.get("Records").is_none(), "not taken for a batch");
        assert_eq!(sweep["detail-type"], "Scheduled Event");
        let batch: SqsEvent = serde_json::from_value(sample("refresh.json")).expect("an SQS event");
        let jobs: Vec<Result<SyncJob, _>> = batch
            .records
            .iter()
            .map(|r| serde_json::from_str::<SyncJob>(r.body.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(jobs.len(), 2);
        assert!(jobs[0].is_ok(), "a refresh job");
        assert!(jobs[1].is_err(), "a malformed message");
    }
}
