//! The sync function: the translation between Lambda's events and the sync commands in
//! `relay::insights::sync`.
//!
//! One function, two triggers (as template.yaml wires it): the hourly EventBridge rule
//! runs the sweep; the sync queue's messages are on-demand refreshes, one account each.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use relay::config::{Config, ConfigError, Secrets, Vars};
use relay::insights::sync::{ACTOR, Settings, SweepReport, SyncError, Syncer};
use relay::jobs::SyncJob;
use relay::lambda::{Delivery, sqs_batch};
use relay::tokens::Tokens;
use serde_json::Value;
use tracing::warn;

/// Refreshes one instance runs at once.
const CONCURRENCY: usize = 2;

/// What an invocation answers.
#[derive(Debug)]
pub enum Answer {
    Batch(SqsBatchResponse),
    Swept(SweepReport),
}

impl Answer {
    pub fn into_json(self) -> Value {
        match self {
            Self::Batch(response) => serde_json::to_value(response).unwrap_or(Value::Null),
            Self::Swept(report) => serde_json::to_value(report).unwrap_or(Value::Null),
        }
    }
}

/// Build the syncer from the environment (once per cold start).
pub fn from_config(
    config: &Config,
    secrets: &Secrets,
    sdk: &aws_config::SdkConfig,
) -> Result<Syncer, ConfigError> {
    let vars = Vars::from_process();
    let settings = Settings::from_vars(&vars);
    vars.finish()?;
    let tokens = Tokens::from_config(config, secrets, sdk, ACTOR)?;
    Ok(Syncer {
        store: tokens.store().clone(),
        graph: tokens.graph().clone(),
        tokens,
        clock: Arc::new(relay::clock::SystemClock),
        settings,
    })
}

/// Handle one invocation: an SQS batch (it has `Records`) or the schedule's event.
pub async fn handle(syncer: &Syncer, event: Value) -> Result<Answer, SyncError> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = match serde_json::from_value(event) {
            Ok(batch) => batch,
            Err(e) => {
                warn!(error = %e, "not an SQS batch; nothing done");
                return Ok(Answer::Batch(SqsBatchResponse::default()));
            }
        };
        return Ok(Answer::Batch(handle_batch(syncer, &batch).await));
    }
    Ok(Answer::Swept(syncer.sweep().await?))
}

/// On-demand refreshes, one account per message.
pub async fn handle_batch(syncer: &Syncer, batch: &SqsEvent) -> SqsBatchResponse {
    sqs_batch(batch, CONCURRENCY, |delivery: Delivery<'_>| async move {
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
        syncer.refresh(&job).await.map(|_| ())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

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
