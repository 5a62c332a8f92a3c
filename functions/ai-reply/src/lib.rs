//! The ai-reply function: the Lambda side of the AI reply job
//! ([`relay::replies::ai`]). It reads the job's tunables and the LLM endpoint from the
//! environment, turns each SQS message of the replies queue into an [`AiReplyJob`], and
//! reports the jobs to deliver again as partial batch failures.
//!
//! A body that is not a job is a failure (SQS moves it to the DLQ after
//! `maxReceiveCount`); everything else, including at most once, is the job's.

use std::sync::Arc;
use std::time::Duration;

use relay::ai::{Drafter, LlmConfig, OpenAiCompatible};
use relay::clock::SystemClock;
use relay::config::{ConfigError, Secrets, Vars};
use relay::crypto::CacheLimits;
use relay::jobs::AiReplyJob;
use relay::lambda::{ColdStart, Delivery, SqsHandler};
use relay::replies::ai::{ACTOR, AiReplies, Attempt};
use relay::replies::{Adapters, Requeue};
use relay::telemetry::Metrics;

/// Tunables, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The job's own.
    pub replies: relay::replies::ai::Settings,
    /// Jobs of one batch handled at the same time.
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            replies: Default::default(),
            concurrency: 10,
        }
    }
}

impl Settings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let d = Self::default();
        let r = d.replies;
        let deadline = vars.seconds("RELAY_AI_REPLY_DEADLINE_SECONDS", r.limits.reply_deadline);
        if deadline.is_zero() || deadline > relay::ai::policy::BOT_REPLY_DEADLINE {
            vars.invalid(
                "RELAY_AI_REPLY_DEADLINE_SECONDS",
                "Meta expects bots to answer within 30 seconds: use 1 to 30",
            );
        }
        let concurrency: usize = vars.parsed("RELAY_AI_CONCURRENCY", d.concurrency);
        if !(1..=50).contains(&concurrency) {
            vars.invalid("RELAY_AI_CONCURRENCY", "use 1 to 50");
        }
        let replies = relay::replies::ai::Settings {
            limits: relay::ai::Limits {
                reply_deadline: deadline,
                ..r.limits
            },
            send_reserve: Duration::from_millis(vars.parsed(
                "RELAY_AI_SEND_RESERVE_MS",
                r.send_reserve.as_millis() as u64,
            )),
            prompt_token_budget: vars.parsed("RELAY_AI_PROMPT_TOKEN_BUDGET", r.prompt_token_budget),
            max_job_attempts: vars.parsed("RELAY_AI_MAX_JOB_ATTEMPTS", r.max_job_attempts),
            retry_delay: vars.seconds("RELAY_AI_RETRY_DELAY_SECONDS", r.retry_delay),
            ..r
        };
        vars.finish()?;
        Ok(Self {
            replies,
            concurrency: concurrency.clamp(1, 50),
        })
    }
}

pub const LLM_BASE_URL: &str = "RELAY_LLM_BASE_URL";
pub const LLM_MODEL: &str = "RELAY_LLM_MODEL";

/// The LLM endpoint from the environment, or None for the built-in drafter:
/// `RELAY_LLM_BASE_URL` (e.g. `https://api.openai.com/v1`), `RELAY_LLM_MODEL` (required
/// with it), `RELAY_LLM_TIMEOUT_MS` (8000, per attempt), `RELAY_LLM_MAX_ATTEMPTS` (2),
/// `RELAY_LLM_MAX_TOKENS` (350); the key is the secret `LLM_API_KEY`.
pub fn llm_config(vars: &Vars, secrets: &Secrets) -> Result<Option<LlmConfig>, ConfigError> {
    let Some(base) = vars.optional(LLM_BASE_URL) else {
        vars.finish()?;
        return Ok(None);
    };
    let url = match reqwest::Url::parse(base.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        _ => {
            vars.invalid(LLM_BASE_URL, "expected an http(s) URL");
            None
        }
    };
    let model = vars.required(LLM_MODEL);
    let mut config = url.map(|u| LlmConfig::new(u, model, secrets.llm_api_key.clone()));
    if let Some(c) = config.as_mut() {
        c.timeout = Duration::from_millis(vars.parsed("RELAY_LLM_TIMEOUT_MS", 8000));
        c.max_attempts = vars.parsed("RELAY_LLM_MAX_ATTEMPTS", 2).clamp(1, 5);
        c.max_tokens = vars.parsed("RELAY_LLM_MAX_TOKENS", 350);
    }
    vars.finish()?;
    Ok(config)
}

/// The drafter the environment asks for: the LLM when configured, else the built-in one.
pub fn drafter(config: Option<LlmConfig>) -> Result<Arc<dyn Drafter>, ConfigError> {
    match config {
        None => Ok(Arc::new(relay::ai::BuiltinDrafter)),
        Some(config) => {
            let client = OpenAiCompatible::new(config).map_err(|e| {
                ConfigError(vec![relay::config::ConfigProblem::Invalid {
                    var: LLM_BASE_URL.into(),
                    reason: e.to_string(),
                }])
            })?;
            Ok(Arc::new(client))
        }
    }
}

/// Why a delivery could not be finished now (it is delivered again).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("message has no body")]
    NoBody,
    #[error("body is not an AI-reply job: {0}")]
    Malformed(String),
    #[error(transparent)]
    Reply(#[from] relay::replies::ai::JobError),
}

/// The handler. Cheap to share across invocations.
pub struct AiReply {
    replies: AiReplies,
    concurrency: usize,
}

impl AiReply {
    pub fn new(adapters: Adapters, settings: Settings) -> Self {
        Self {
            replies: AiReplies::new(adapters.into(), settings.replies, Metrics::new("ai-reply")),
            concurrency: settings.concurrency,
        }
    }

    /// The handler production runs, from the environment (once per cold start).
    pub fn from_env(cold: &ColdStart) -> Result<Self, ConfigError> {
        let settings = Settings::from_vars(&cold.vars)?;
        let drafter = drafter(llm_config(&cold.vars, &cold.secrets)?)?;
        // Opened data keys are cached briefly, so a busy account does not cost a KMS call
        // per reply.
        let clients = cold.clients(ACTOR)?;
        let requeue = cold.config.queues.replies.clone().map(|queue_url| Requeue {
            sqs: aws_sdk_sqs::Client::new(&cold.sdk),
            queue_url,
        });
        let adapters = Adapters {
            store: clients.store,
            audit: clients.audit,
            bus: clients.bus,
            graph: clients.graph,
            tokens: clients.tokens.with_key_cache(CacheLimits::default()),
            drafter,
            clock: Arc::new(SystemClock),
            requeue,
        };
        Ok(Self::new(adapters, settings))
    }
}

impl SqsHandler for AiReply {
    type Error = JobError;

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    async fn handle(&self, delivery: Delivery<'_>) -> Result<(), JobError> {
        let attempt = Attempt {
            receives: delivery.receives,
            receipt: delivery.message.receipt_handle.as_deref(),
        };
        let result = match job_of(&delivery) {
            Ok(job) => self
                .replies
                .reply(&job, attempt)
                .await
                .map(drop)
                .map_err(JobError::from),
            Err(e) => {
                self.replies.retry_soon(attempt.receipt).await;
                Err(e)
            }
        };
        if result.is_err() {
            self.metrics().count("JobFailures", 1);
        }
        result
    }

    fn metrics(&self) -> &Metrics {
        self.replies.metrics()
    }
}

/// The job a message carries.
pub fn job_of(delivery: &Delivery<'_>) -> Result<AiReplyJob, JobError> {
    let body = delivery.body().ok_or(JobError::NoBody)?;
    serde_json::from_str(body).map_err(|e| {
        // serde's message can quote a value (a customer id): keep only the position.
        JobError::Malformed(format!("line {} column {}", e.line(), e.column()))
    })
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::sqs::SqsEvent;

    use super::*;

    fn events_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/ai-reply")
    }

    #[test]
    fn every_sample_event_is_an_sqs_batch_of_jobs() {
        let mut seen = 0;
        for entry in std::fs::read_dir(events_dir()).expect("events/ai-reply exists") {
            let path = entry.expect("readable entry").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let raw = std::fs::read_to_string(&path).expect("readable sample");
            let event: SqsEvent = serde_json::from_str(&raw)
                .unwrap_or_else(|e| panic!("{} is not an SQS event: {e}", path.display()));
            assert!(!event.records.is_empty(), "{}", path.display());
            for record in &event.records {
                let parsed = job_of(&Delivery::of(record));
                let malformed = path.to_string_lossy().contains("malformed");
                assert_eq!(parsed.is_err(), malformed, "{}", path.display());
                if let Err(e) = parsed {
                    let body = record.body.as_deref().expect("records carry a body");
                    assert!(matches!(e, JobError::Malformed(_)), "{e}");
                    assert!(!e.to_string().contains(body), "the error quotes no body");
                }
            }
            seen += 1;
        }
        assert!(
            seen >= 4,
            "the samples cover single, burst, duplicate and malformed jobs"
        );
    }

    #[test]
    fn settings_refuse_a_deadline_beyond_what_meta_expects() {
        let vars = Vars::from_map(
            [(
                "RELAY_AI_REPLY_DEADLINE_SECONDS".to_owned(),
                "45".to_owned(),
            )]
            .into(),
        );
        let err = Settings::from_vars(&vars).unwrap_err().to_string();
        assert!(err.contains("RELAY_AI_REPLY_DEADLINE_SECONDS"), "{err}");
        let ok = Settings::from_vars(&Vars::from_map(Default::default())).unwrap();
        assert_eq!(ok.replies.limits.reply_deadline, Duration::from_secs(30));
    }

    #[test]
    fn no_llm_configured_means_the_builtin_drafter() {
        let secrets = Secrets {
            meta_app_secrets: vec![],
            meta_verify_token: relay::secret::Secret::new("v"),
            oauth_state_key: relay::secret::Secret::new("k"),
            llm_api_key: None,
        };
        let none = llm_config(&Vars::from_map(Default::default()), &secrets).unwrap();
        assert!(none.is_none());
        assert_eq!(drafter(none).unwrap().model(), relay::ai::BUILTIN_MODEL);
        let vars = Vars::from_map(
            [
                (LLM_BASE_URL.to_owned(), "http://127.0.0.1:9/v1".to_owned()),
                (LLM_MODEL.to_owned(), "gpt-4o-mini".to_owned()),
            ]
            .into(),
        );
        let some = llm_config(&vars, &secrets).unwrap().expect("configured");
        assert_eq!(drafter(Some(some)).unwrap().model(), "gpt-4o-mini");
        let missing_model =
            Vars::from_map([(LLM_BASE_URL.to_owned(), "http://x/v1".to_owned())].into());
        assert!(llm_config(&missing_model, &secrets).is_err());
    }
}
