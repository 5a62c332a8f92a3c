//! The moderation function: each message of the moderation queue is one
//! [`ModerationJob`] (ingest queues the automatic pass for every new comment of a
//! customer; people, through the API, queue actions), carried out by the moderation
//! command ([`relay::moderation::run`]). This crate only reads its settings and turns
//! a queue message into a job; a message that is not one is reported failed, so SQS
//! moves it to the dead-letter queue after its redeliveries.

use std::sync::Arc;

use relay::config::{ConfigError, Vars};
use relay::crypto::CacheLimits;
use relay::jobs::ModerationJob;
use relay::lambda::{ColdStart, Delivery, SqsHandler};
use relay::moderation::run::{ACTOR, LiveModerator, ModerationError, Moderator};
use relay::telemetry::Metrics;

/// Tunables, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Jobs of one batch handled at the same time.
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { concurrency: 10 }
    }
}

impl Settings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let concurrency: usize = vars.parsed("RELAY_MODERATION_CONCURRENCY", 10);
        if !(1..=50).contains(&concurrency) {
            vars.invalid("RELAY_MODERATION_CONCURRENCY", "use 1 to 50");
        }
        vars.finish()?;
        Ok(Self {
            concurrency: concurrency.clamp(1, 50),
        })
    }
}

/// Why a message is to be delivered again.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("message has no body")]
    NoBody,
    #[error("body is not a moderation job: {0}")]
    Malformed(String),
    #[error(transparent)]
    Moderation(#[from] ModerationError),
}

/// The job a queue message carries.
pub fn job_of(delivery: &Delivery<'_>) -> Result<ModerationJob, JobError> {
    let body = delivery.body().ok_or(JobError::NoBody)?;
    serde_json::from_str(body).map_err(|e| {
        // serde's message can quote a value (a comment's text): keep only the position.
        JobError::Malformed(format!("line {} column {}", e.line(), e.column()))
    })
}

/// The moderation queue's handler.
pub struct Moderation {
    pub moderator: LiveModerator,
    settings: Settings,
}

impl Moderation {
    pub fn new(moderator: LiveModerator, settings: Settings) -> Self {
        Self {
            moderator,
            settings,
        }
    }

    /// Built once per cold start from the environment.
    pub fn from_cold_start(cold: &ColdStart) -> Result<Self, ConfigError> {
        let settings = Settings::from_vars(&cold.vars)?;
        // Opened data keys are cached briefly, so a burst of comments on one account
        // does not cost a KMS call each.
        let clients = cold.clients(ACTOR)?;
        let moderator = Moderator::new(
            clients.store,
            clients.graph,
            clients.audit,
            clients.tokens.with_key_cache(CacheLimits::default()),
            Arc::new(relay::clock::SystemClock),
        );
        Ok(Self::new(moderator, settings))
    }
}

impl SqsHandler for Moderation {
    type Error = JobError;

    fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    async fn handle(&self, delivery: Delivery<'_>) -> Result<(), JobError> {
        let handled = match job_of(&delivery) {
            Ok(job) => self.moderator.handle(&job).await.map_err(JobError::from),
            Err(e) => Err(e),
        };
        if handled.is_err() {
            self.metrics().count("JobFailures", 1);
        }
        handled.map(|_| ())
    }

    fn metrics(&self) -> &Metrics {
        self.moderator.metrics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

    fn events_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/moderation")
    }

    #[test]
    fn every_sample_event_is_an_sqs_batch_of_jobs() {
        let mut kinds = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(events_dir()).expect("events/moderation exists") {
            let path = entry.expect("readable entry").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let raw = std::fs::read_to_string(&path).expect("readable sample");
            let event: SqsEvent = serde_json::from_str(&raw)
                .unwrap_or_else(|e| panic!("{name} is not an SQS event: {e}"));
            assert!(!event.records.is_empty(), "{name}");
            for record in &event.records {
                let parsed = job_of(&Delivery::of(record));
                assert_eq!(
                    matches!(parsed, Err(JobError::Malformed(_))),
                    name.contains("malformed"),
                    "{name}"
                );
                if let Ok(job) = parsed {
                    assert_eq!(
                        job.action.validate().is_err(),
                        name.contains("refused"),
                        "{name}"
                    );
                    kinds.insert(job.action.name());
                }
            }
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            vec![
                "classify",
                "delete",
                "hide",
                "private_reply",
                "reply",
                "unhide"
            ],
            "the samples cover every action"
        );
    }

    #[test]
    fn a_message_that_is_not_a_job_says_where_without_quoting_it() {
        let mut message = SqsMessage::default();
        assert!(matches!(
            job_of(&Delivery::of(&message)),
            Err(JobError::NoBody)
        ));
        message.body = Some(r#"{"tenant_id":"acme","comment_id":"secret words"#.into());
        let error = job_of(&Delivery::of(&message)).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn settings_bound_the_concurrency() {
        let vars = Vars::from_map(
            [("RELAY_MODERATION_CONCURRENCY".to_owned(), "0".to_owned())]
                .into_iter()
                .collect(),
        );
        assert!(Settings::from_vars(&vars).is_err());
        let vars = Vars::from_map(std::collections::HashMap::new());
        assert_eq!(Settings::from_vars(&vars).unwrap().concurrency, 10);
    }
}
