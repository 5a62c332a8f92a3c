//! The ai-reply function: answers a customer's DM with the tenant's AI, or drafts the
//! answer for a person, or does nothing and records why.
//!
//! Ingest queues one job per customer message on the replies queue, delayed by the
//! debounce. For each job the handler:
//! 1. reads the account's AI settings, the conversation, this message's claim and any
//!    earlier outcome (a redelivered, finished job stops here);
//! 2. applies the policy (`relay::ai::decide`): mode, pause, debounce (only the latest
//!    inbound message is answered, so a burst gets one reply that covers all of it),
//!    Meta's 24-hour window and the 30 seconds Meta expects of bots;
//! 3. hands the conversation to a person when the customer asks for one: pause,
//!    `EscalationCreated` on the bus, audit, and the tenant's hand-off message once;
//! 4. otherwise grounds a prompt in the tenant's persona, rules, the recent messages and
//!    the BM25-ranked knowledge entries, and drafts with the configured LLM (or the
//!    built-in drafter); "cannot help" escalates like 3;
//! 5. shadow mode stores a draft for a person; auto mode re-checks the conversation,
//!    claims the message (one claim per conversation and inbound message), sends the
//!    reply in parts of at most 1000 bytes, and stores it as an outbound AI message.
//!
//! At most once: the claim is taken before the first byte goes to Meta, a delivery
//! that finds it taken never sends, and a send that fails after the claim is recorded,
//! not repeated. A drafting failure is retried (partial batch failure, the message made
//! visible again after `retry_delay`) while the job has attempts and, for auto replies,
//! time before the deadline. Every outcome, with its reason, is stored per inbound
//! message. Logs carry ids and reasons only: never message text or customer ids.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use relay::ai::policy::time_left_ms;
use relay::ai::prompt::{pending_messages, readable_text};
use relay::ai::retrieval::mentions_product;
use relay::ai::{
    AiSettings, Decision, Draft, DraftKey, DraftKind, DraftReply, DraftStatus, Drafter,
    EscalationWords, Limits, LlmConfig, OpenAiCompatible, OutcomeStatus, ProductLink, Prompt,
    PromptInput, ReplyKind, ReplyOutcome, Situation, SkipReason, build_prompt, decide,
    detect_escalation, fit_reply, rank,
};
use relay::audit::{AuditEntry, AuditError, AuditTrail};
use relay::clock::Clock;
use relay::config::{ConfigError, Secrets, Vars};
use relay::events::{EscalationCreated, EventBus, EventError};
use relay::ids::{CustomerId, MessageId};
use relay::inbox::{AiOrigin, Author, Conversation, Direction, MessageKind, StoredMessage};
use relay::jobs::AiReplyJob;
use relay::meta::{
    FacebookPage, GraphClient, GraphError, InstagramAccount, MAX_TEXT_BYTES, MessageBody,
    MessagingType, TransientCause,
};
use relay::secret::AccessToken;
use relay::store::accounts::{Account, Channel, LoginKind};
use relay::store::ai::MAX_KNOWLEDGE_PER_TENANT;
use relay::store::inbox::Recorded;
use relay::store::{Listing, Store, StoreError};
use relay::telemetry::Metrics;
use relay::tokens::{TokenError, Tokens};
use tracing::{Instrument, info, info_span, warn};

/// Who the audit trail says acted.
pub const ACTOR: &str = "system:ai-reply";

/// The model name recorded on a hand-off message (the tenant's own text, sent by Relay).
pub const HANDOFF_MODEL: &str = "handoff";

/// Tunables, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Meta's windows and the bot reply deadline.
    pub limits: Limits,
    /// Time kept back from the deadline for claiming and sending after drafting.
    pub send_reserve: Duration,
    /// Jobs of one batch handled at the same time.
    pub concurrency: usize,
    /// Estimated prompt tokens at most.
    pub prompt_token_budget: usize,
    /// Length the model is asked to keep to (characters).
    pub max_reply_chars: usize,
    /// Deliveries after which a drafting failure is final.
    pub max_job_attempts: u32,
    /// How soon a failed job is delivered again.
    pub retry_delay: Duration,
    /// How long outcomes are kept.
    pub outcome_ttl: Duration,
    /// How long the reply claim of a message is kept (longer than any redelivery).
    pub claim_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            send_reserve: Duration::from_millis(2000),
            concurrency: 10,
            prompt_token_budget: 3000,
            max_reply_chars: 900,
            max_job_attempts: 3,
            retry_delay: Duration::from_secs(2),
            outcome_ttl: Duration::from_secs(90 * 86_400),
            claim_ttl: Duration::from_secs(30 * 86_400),
        }
    }
}

impl Settings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let d = Self::default();
        let deadline = vars.seconds("RELAY_AI_REPLY_DEADLINE_SECONDS", d.limits.reply_deadline);
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
        let settings = Self {
            limits: Limits {
                reply_deadline: deadline,
                ..d.limits
            },
            send_reserve: Duration::from_millis(vars.parsed(
                "RELAY_AI_SEND_RESERVE_MS",
                d.send_reserve.as_millis() as u64,
            )),
            concurrency: concurrency.clamp(1, 50),
            prompt_token_budget: vars.parsed("RELAY_AI_PROMPT_TOKEN_BUDGET", d.prompt_token_budget),
            max_reply_chars: d.max_reply_chars,
            max_job_attempts: vars.parsed("RELAY_AI_MAX_JOB_ATTEMPTS", d.max_job_attempts),
            retry_delay: vars.seconds("RELAY_AI_RETRY_DELAY_SECONDS", d.retry_delay),
            outcome_ttl: d.outcome_ttl,
            claim_ttl: d.claim_ttl,
        };
        vars.finish()?;
        Ok(settings)
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

/// Makes a failed job visible again sooner than the queue's visibility timeout, so a
/// retry can still meet the reply deadline.
#[derive(Debug, Clone)]
pub struct Requeue {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// What the handler works with. Production builds it from the environment; tests wire
/// it to moto, the Meta simulator, its clock and a fake LLM.
pub struct Deps {
    pub store: Store,
    pub audit: AuditTrail,
    pub bus: EventBus,
    pub graph: GraphClient,
    pub tokens: Tokens,
    pub drafter: Arc<dyn Drafter>,
    pub clock: Arc<dyn Clock>,
    pub requeue: Option<Requeue>,
}

/// Why a job could not be finished now (it is delivered again).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("message has no body")]
    NoBody,
    #[error("body is not an AI-reply job: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not audit: {0}")]
    Audit(#[from] AuditError),
    #[error("could not publish an event: {0}")]
    Event(#[from] EventError),
    #[error("the account's token could not be read: {0}")]
    Token(String),
    #[error("drafting failed ({0})")]
    Draft(&'static str),
}

/// How a job ended (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Sent { parts: usize },
    Drafted,
    Escalated { handoff_sent: bool },
    Skipped(&'static str),
    Failed(&'static str),
}

/// The outcome of sending one reply (or hand-off).
enum Delivery {
    Sent(Vec<MessageId>),
    /// Nothing was claimed or sent: the account cannot send now.
    Unavailable(&'static str),
    /// Another delivery of the job holds the claim.
    ClaimLost,
    /// The send failed after the claim; `sent` parts went out before it.
    Failed {
        sent: Vec<MessageId>,
        reason: &'static str,
    },
}

/// The handler. Cheap to share across invocations.
pub struct AiReply {
    store: Store,
    audit: AuditTrail,
    bus: EventBus,
    graph: GraphClient,
    tokens: Tokens,
    drafter: Arc<dyn Drafter>,
    clock: Arc<dyn Clock>,
    requeue: Option<Requeue>,
    settings: Settings,
    metrics: Metrics,
}

/// The claim a reply to this job takes: one per conversation and inbound message (the mid
/// is unique within the account, which names the conversation's business side).
pub fn claim_name(job: &AiReplyJob) -> String {
    format!("ai-reply:{}:{}", job.account_id, job.mid)
}

fn escalation_marker(job: &AiReplyJob) -> String {
    format!("ai-escalation:{}:{}", job.account_id, job.mid)
}

/// An earlier delivery finished this job; nothing more is done for it.
fn is_final(status: OutcomeStatus) -> bool {
    !matches!(status, OutcomeStatus::Failed)
}

fn skip_metric(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::AiOff => "SkippedAiOff",
        SkipReason::Paused => "SkippedPaused",
        SkipReason::Superseded => "SkippedSuperseded",
        SkipReason::AlreadyHandled => "SkippedAlreadyHandled",
        SkipReason::WindowClosed => "SkippedWindowClosed",
        SkipReason::DeadlinePassed => "SkippedDeadlinePassed",
    }
}

/// A stable name for a send failure, for outcomes and metrics.
fn send_reason(e: &GraphError) -> &'static str {
    match e {
        GraphError::TokenInvalid { .. } => "token_invalid",
        GraphError::WindowClosed { .. } => "window_closed",
        GraphError::Throttled { .. } => "throttled",
        GraphError::Transient {
            cause: TransientCause::Timeout,
        } => "send_timeout",
        GraphError::Transient { .. } => "send_transient_failure",
        GraphError::PermissionMissing { .. } => "permission_missing",
        GraphError::InvalidInput { .. } => "send_refused_before_sending",
        GraphError::InvalidRequest { .. } => "send_rejected",
        GraphError::Decode { .. } => "send_answer_unreadable",
        _ => "send_failed",
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl AiReply {
    pub fn new(deps: Deps, settings: Settings) -> Self {
        Self {
            store: deps.store,
            audit: deps.audit,
            bus: deps.bus,
            graph: deps.graph,
            tokens: deps.tokens,
            drafter: deps.drafter,
            clock: deps.clock,
            requeue: deps.requeue,
            settings,
            metrics: Metrics::new("ai-reply"),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handle a batch; the response names the jobs to deliver again.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let results: Vec<(String, Option<String>, Result<Handled, JobError>)> =
            futures::stream::iter(event.records)
                .map(|record| async move {
                    let id = record.message_id.clone().unwrap_or_default();
                    let span = info_span!("sqs_message", message_id = %id);
                    let result = self.handle_record(&record).instrument(span).await;
                    (id, record.receipt_handle, result)
                })
                .buffer_unordered(self.settings.concurrency.max(1))
                .collect()
                .await;
        let mut response = SqsBatchResponse::default();
        for (id, receipt, result) in results {
            if let Err(error) = result {
                warn!(message_id = %id, %error, "job will be delivered again");
                self.metrics.count("JobFailures", 1);
                if let (Some(requeue), Some(receipt)) = (&self.requeue, receipt) {
                    self.retry_soon(requeue, &receipt).await;
                }
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    async fn retry_soon(&self, requeue: &Requeue, receipt: &str) {
        let seconds = i32::try_from(self.settings.retry_delay.as_secs()).unwrap_or(i32::MAX);
        if let Err(e) = requeue
            .sqs
            .change_message_visibility()
            .queue_url(&requeue.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
        {
            // The queue's visibility timeout still brings the job back, only later.
            warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not shorten the retry delay");
        }
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<Handled, JobError> {
        let body = record.body.as_deref().ok_or(JobError::NoBody)?;
        let job: AiReplyJob = serde_json::from_str(body).map_err(|e| {
            // serde's message can quote a value (a customer id): keep only the position.
            JobError::Malformed(format!("line {} column {}", e.line(), e.column()))
        })?;
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let span = info_span!(
            "ai_reply",
            tenant_id = %job.tenant_id,
            account_id = %job.account_id,
            customer = %job.customer_id,
            mid = %job.mid,
        );
        let handled = self
            .process(&job, receives)
            .instrument(span.clone())
            .await?;
        span.in_scope(|| info!(outcome = ?handled, "job done"));
        Ok(handled)
    }

    fn situation<'a>(
        &self,
        job: &'a AiReplyJob,
        settings: &AiSettings,
        conversation: &'a Conversation,
        already_claimed: bool,
        now_ms: i64,
        limits: Limits,
    ) -> Situation<'a> {
        Situation {
            account_mode: settings.mode,
            conversation_mode: conversation.ai_mode,
            paused: conversation.paused,
            job_mid: job.mid.as_str(),
            job_message_at: job.timestamp_ms,
            latest_inbound_mid: conversation.last_inbound_mid.as_deref(),
            last_inbound_at: conversation.last_inbound_at,
            already_claimed,
            now_ms,
            limits,
        }
    }

    /// The limits for the moment of sending: the deadline less the time a send takes.
    fn send_limits(&self) -> Limits {
        let mut limits = self.settings.limits;
        limits.reply_deadline = limits
            .reply_deadline
            .saturating_sub(self.settings.send_reserve / 2);
        limits
    }

    async fn process(&self, job: &AiReplyJob, receives: u32) -> Result<Handled, JobError> {
        let (t, a, c) = (&job.tenant_id, &job.account_id, &job.customer_id);
        let claim = claim_name(job);
        let (settings, conversation, claimed, previous) = futures::try_join!(
            self.store.get_ai_settings(t, a),
            self.store.get_conversation(t, a, c),
            self.store.has_claim(t, &claim),
            self.store
                .get_reply_outcome(t, a, c, job.timestamp_ms, job.mid.as_str()),
        )?;
        if let Some(mut done) = previous.clone().filter(|o| is_final(o.status)) {
            // A redelivery never acts again; it only finishes an earlier delivery's
            // bookkeeping (inbox and audit) if that one stopped after sending.
            self.finish_recording(job, &mut done).await?;
            self.metrics.count("JobsAlreadyFinished", 1);
            return Ok(Handled::Skipped("already_handled"));
        }
        let settings = settings.unwrap_or_default();
        let conversation = conversation.unwrap_or_default();
        let mode = settings.effective_mode(conversation.ai_mode);
        let now = self.clock.now_ms();
        let mut outcome = previous.unwrap_or_else(|| {
            ReplyOutcome::new(
                t.clone(),
                a.clone(),
                c.clone(),
                job.mid.clone(),
                job.timestamp_ms,
                OutcomeStatus::Skipped,
                now,
            )
        });
        outcome.mode = Some(mode);

        let situation = self.situation(
            job,
            &settings,
            &conversation,
            claimed,
            now,
            self.settings.limits,
        );
        let decision = decide(&situation);
        match decision {
            Decision::Skip(SkipReason::AiOff) => {
                // AI off: nothing at all, not even a record.
                self.metrics.count(skip_metric(SkipReason::AiOff), 1);
                return Ok(Handled::Skipped(SkipReason::AiOff.as_str()));
            }
            Decision::Skip(SkipReason::AlreadyHandled) => {
                // An earlier delivery took the claim but recorded no result: it may have
                // sent. Never send again; say so.
                outcome.status = OutcomeStatus::SendUnknown;
                outcome.reason = Some("claimed_without_result".into());
                self.save(&mut outcome).await?;
                self.metrics.count("SendUnknown", 1);
                return Ok(Handled::Skipped("send_unknown"));
            }
            Decision::Skip(reason @ (SkipReason::DeadlinePassed | SkipReason::WindowClosed)) => {
                // Too late to answer; but a customer asking for a person must still reach
                // the team (without the hand-off message: it would be late too).
                let history = self.recent_messages(job, settings.history_messages).await?;
                let pending: Vec<String> = pending_messages(&history)
                    .iter()
                    .filter_map(readable_text)
                    .collect();
                if asks_for_person(&settings, &pending) {
                    return self
                        .escalate(
                            job,
                            &settings,
                            decision,
                            outcome,
                            "customer_asked_for_human",
                        )
                        .await;
                }
                return self.skip(outcome, reason).await;
            }
            Decision::Skip(reason) => return self.skip(outcome, reason).await,
            Decision::Reply | Decision::Draft => {}
        }

        let (history, knowledge) = futures::try_join!(
            self.recent_messages(job, settings.history_messages),
            self.store.all_knowledge(t, MAX_KNOWLEDGE_PER_TENANT),
        )?;
        let pending_slice = pending_messages(&history);
        let pending: Vec<String> = pending_slice.iter().filter_map(readable_text).collect();
        let context: Vec<String> = history[..history.len() - pending_slice.len()]
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .filter_map(readable_text)
            .collect();

        if asks_for_person(&settings, &pending) {
            return self
                .escalate(
                    job,
                    &settings,
                    decision,
                    outcome,
                    "customer_asked_for_human",
                )
                .await;
        }

        let ranked = rank(
            &knowledge,
            &pending,
            &context,
            settings.knowledge_entries as usize,
        );
        let prompt = build_prompt(&PromptInput {
            settings: &settings,
            history: &history,
            knowledge: &ranked,
            token_budget: self.settings.prompt_token_budget,
            max_reply_chars: self.settings.max_reply_chars,
        });
        outcome.knowledge_ids = prompt.knowledge_ids();

        let deadline = match decision {
            Decision::Reply => {
                let left = time_left_ms(job.timestamp_ms, now, &self.settings.limits)
                    - millis(self.settings.send_reserve);
                if left <= 0 {
                    return self.skip(outcome, SkipReason::DeadlinePassed).await;
                }
                Some(tokio::time::Instant::now() + Duration::from_millis(left as u64))
            }
            _ => None,
        };
        let reply = match self.drafter.draft(&prompt, deadline).await {
            Ok(reply) => reply,
            Err(e) => return self.draft_failed(job, decision, outcome, e, receives).await,
        };
        outcome.model = Some(reply.model.clone());
        outcome.latency_ms = Some(reply.latency_ms);
        let parts = fit_reply(&reply.text, MAX_TEXT_BYTES, settings.long_replies);
        if reply.kind == ReplyKind::CannotHelp || parts.is_empty() {
            return self
                .escalate(job, &settings, decision, outcome, "ai_cannot_help")
                .await;
        }
        let origin = AiOrigin {
            model: reply.model.clone(),
            latency_ms: reply.latency_ms,
        };
        let handled = match decision {
            Decision::Draft => {
                self.save_draft(job, mode, outcome, &reply, parts, origin, &prompt)
                    .await?
            }
            _ => self.send_reply(job, &settings, outcome, parts).await?,
        };
        // After the reply, off its critical path; a lost link is not worth a retry.
        if let Err(e) = self.link_products(job, &prompt, &reply).await {
            warn!(error = %e, "products mentioned were not linked to the conversation");
        }
        Ok(handled)
    }

    /// The conversation's last `n` messages, oldest first.
    async fn recent_messages(
        &self,
        job: &AiReplyJob,
        n: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let page = self
            .store
            .list_messages(
                &job.tenant_id,
                &job.account_id,
                &job.customer_id,
                &Listing {
                    limit: i32::try_from(n.clamp(1, 50)).unwrap_or(50),
                    newest_first: true,
                    cursor: None,
                },
            )
            .await?;
        let mut messages = page.items;
        messages.reverse();
        Ok(messages)
    }

    async fn save(&self, outcome: &mut ReplyOutcome) -> Result<(), StoreError> {
        outcome.updated_at = self.clock.now_ms();
        let ttl = outcome.updated_at / 1000 + self.settings.outcome_ttl.as_secs() as i64;
        self.store.put_reply_outcome(outcome, ttl).await
    }

    async fn skip(
        &self,
        mut outcome: ReplyOutcome,
        reason: SkipReason,
    ) -> Result<Handled, JobError> {
        outcome.status = OutcomeStatus::Skipped;
        outcome.reason = Some(reason.as_str().into());
        self.save(&mut outcome).await?;
        self.metrics.count("RepliesSkipped", 1);
        self.metrics.count(skip_metric(reason), 1);
        Ok(Handled::Skipped(reason.as_str()))
    }

    async fn draft_failed(
        &self,
        job: &AiReplyJob,
        decision: Decision,
        mut outcome: ReplyOutcome,
        error: relay::ai::DraftError,
        receives: u32,
    ) -> Result<Handled, JobError> {
        let now = self.clock.now_ms();
        let reason = error.reason();
        warn!(reason, receives, "drafting failed; nothing was sent");
        self.metrics.count("DraftFailures", 1);
        outcome.note_failure(now, reason);
        // An automated reply that can no longer arrive in time is not sent at all.
        let late = decision == Decision::Reply
            && time_left_ms(job.timestamp_ms, now, &self.settings.limits)
                <= millis(self.settings.send_reserve);
        if late {
            return self.skip(outcome, SkipReason::DeadlinePassed).await;
        }
        outcome.status = OutcomeStatus::Failed;
        outcome.reason = Some(reason.into());
        self.save(&mut outcome).await?;
        if !error.is_transient() || receives >= self.settings.max_job_attempts {
            // No attempt left: the outcome says why; the job is done.
            return Ok(Handled::Failed(reason));
        }
        Err(JobError::Draft(reason))
    }

    /// Pause, tell the bus, audit; then (auto mode, in time) send the hand-off once.
    async fn escalate(
        &self,
        job: &AiReplyJob,
        settings: &AiSettings,
        decision: Decision,
        mut outcome: ReplyOutcome,
        reason: &'static str,
    ) -> Result<Handled, JobError> {
        let (t, a, c) = (&job.tenant_id, &job.account_id, &job.customer_id);
        let now = self.clock.now_ms();
        let marker = escalation_marker(job);
        if !self.store.has_claim(t, &marker).await? {
            self.store.pause_conversation(t, a, c, reason, now).await?;
            self.bus
                .publish(&EscalationCreated {
                    tenant_id: t.clone(),
                    account_id: a.to_string(),
                    customer: c.fingerprint(),
                    reason: reason.into(),
                    at: now,
                })
                .await?;
            self.audit
                .append(
                    t,
                    AuditEntry::new(ACTOR, "conversation.paused")
                        .target(conversation_target(job))
                        .details(serde_json::json!({"reason": reason, "mid": job.mid.as_str()})),
                )
                .await?;
            // Marked last: a crash before repeats the idempotent pause and at worst the
            // event; it never loses them.
            let ttl = now / 1000 + self.settings.claim_ttl.as_secs() as i64;
            self.store.claim_action(t, &marker, ttl).await?;
            self.metrics.count("Escalations", 1);
        }
        outcome.status = OutcomeStatus::Escalated;
        outcome.reason = Some(reason.into());

        let in_time = time_left_ms(job.timestamp_ms, self.clock.now_ms(), &self.send_limits()) > 0;
        let handoff = settings
            .handoff_message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        if let (Decision::Reply, Some(text), true) = (decision, handoff, in_time) {
            let parts = fit_reply(text, MAX_TEXT_BYTES, relay::ai::LongReplies::Shorten);
            let sender = self.sender(job).await?;
            match self.deliver(job, &parts, sender).await? {
                Delivery::Sent(mids) => {
                    outcome.sent_mids = mids.iter().map(|m| m.to_string()).collect();
                    outcome.pending_texts = parts;
                    outcome.record_pending = true;
                    self.save(&mut outcome).await?;
                    self.finish_recording(job, &mut outcome).await?;
                    self.metrics.count("HandoffsSent", 1);
                    return Ok(Handled::Escalated { handoff_sent: true });
                }
                Delivery::ClaimLost => return Ok(Handled::Skipped("already_handled")),
                Delivery::Unavailable(why) | Delivery::Failed { reason: why, .. } => {
                    warn!(reason = why, "the hand-off message was not sent");
                    outcome.note_failure(self.clock.now_ms(), why);
                }
            }
        }
        self.save(&mut outcome).await?;
        Ok(Handled::Escalated {
            handoff_sent: false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn save_draft(
        &self,
        job: &AiReplyJob,
        mode: relay::inbox::AiMode,
        mut outcome: ReplyOutcome,
        reply: &DraftReply,
        parts: Vec<String>,
        origin: AiOrigin,
        prompt: &Prompt,
    ) -> Result<Handled, JobError> {
        let now = self.clock.now_ms();
        let draft = Draft {
            tenant_id: job.tenant_id.clone(),
            account_id: job.account_id.clone(),
            customer_id: job.customer_id.clone(),
            draft_id: DraftKey {
                inbound_at: job.timestamp_ms,
                inbound_mid: job.mid.clone(),
            },
            kind: DraftKind::Reply,
            text: reply.text.clone(),
            parts,
            ai: origin,
            knowledge_ids: prompt.knowledge_ids(),
            status: DraftStatus::Pending,
            created_at: now,
            resolved_at: None,
            resolved_by: None,
        };
        self.store.put_draft(&draft).await?;
        // Audited before the outcome is final, so a crash in between audits again rather
        // than never.
        self.audit
            .append(
                &job.tenant_id,
                AuditEntry::new(ACTOR, "ai.draft_created")
                    .target(conversation_target(job))
                    .details(serde_json::json!({
                        "draft_id": draft.draft_id.to_string(),
                        "mode": mode,
                        "model": reply.model,
                        "latency_ms": reply.latency_ms,
                        "parts": draft.parts.len(),
                        "knowledge_ids": draft.knowledge_ids,
                    })),
            )
            .await?;
        outcome.status = OutcomeStatus::Drafted;
        outcome.reason = None;
        self.save(&mut outcome).await?;
        self.metrics.count("RepliesDrafted", 1);
        Ok(Handled::Drafted)
    }

    async fn send_reply(
        &self,
        job: &AiReplyJob,
        settings: &AiSettings,
        mut outcome: ReplyOutcome,
        parts: Vec<String>,
    ) -> Result<Handled, JobError> {
        // Drafting took time: a newer message, a takeover or a mode change may have come
        // in, and the deadline must still hold for the send.
        let (fresh, sender) = futures::join!(
            self.store
                .get_conversation(&job.tenant_id, &job.account_id, &job.customer_id),
            self.sender(job),
        );
        let fresh = fresh?.unwrap_or_default();
        let sender = sender?;
        let now = self.clock.now_ms();
        match decide(&self.situation(job, settings, &fresh, false, now, self.send_limits())) {
            Decision::Reply => {}
            Decision::Skip(reason) => return self.skip(outcome, reason).await,
            // Switched to shadow while drafting: a person decides.
            Decision::Draft => {
                outcome.status = OutcomeStatus::Skipped;
                outcome.reason = Some("mode_changed".into());
                self.save(&mut outcome).await?;
                return Ok(Handled::Skipped("mode_changed"));
            }
        }
        match self.deliver(job, &parts, sender).await? {
            Delivery::Sent(mids) => {
                outcome.status = OutcomeStatus::Sent;
                outcome.reason = None;
                outcome.sent_mids = mids.iter().map(|m| m.to_string()).collect();
                outcome.pending_texts = parts;
                outcome.record_pending = true;
                // The outcome first: it is what keeps a redelivery from doing anything
                // but finishing the bookkeeping below.
                self.save(&mut outcome).await?;
                self.finish_recording(job, &mut outcome).await?;
                self.metrics.count("RepliesSent", 1);
                Ok(Handled::Sent { parts: mids.len() })
            }
            Delivery::ClaimLost => {
                self.metrics
                    .count(skip_metric(SkipReason::AlreadyHandled), 1);
                Ok(Handled::Skipped("already_handled"))
            }
            Delivery::Unavailable(reason) => {
                outcome.status = OutcomeStatus::Failed;
                outcome.reason = Some(reason.into());
                outcome.note_failure(now, reason);
                self.save(&mut outcome).await?;
                self.metrics.count("SendFailures", 1);
                Ok(Handled::Failed(reason))
            }
            Delivery::Failed { sent, reason } => {
                outcome.status = OutcomeStatus::SendFailed;
                outcome.reason = Some(reason.into());
                outcome.sent_mids = sent.iter().map(|m| m.to_string()).collect();
                outcome.pending_texts = parts[..sent.len()].to_vec();
                outcome.record_pending = true;
                outcome.note_failure(self.clock.now_ms(), reason);
                self.save(&mut outcome).await?;
                self.finish_recording(job, &mut outcome).await?;
                self.metrics.count("SendFailures", 1);
                Ok(Handled::Failed(reason))
            }
        }
    }

    /// After a send: store what went out as outbound AI messages and audit it, then
    /// clear the outcome's pending flag. Both steps are idempotent (messages by mid; the
    /// flag makes the audit happen once unless a crash falls between it and the flag),
    /// so a redelivery can finish what a crashed delivery started.
    async fn finish_recording(
        &self,
        job: &AiReplyJob,
        outcome: &mut ReplyOutcome,
    ) -> Result<(), JobError> {
        if !outcome.record_pending {
            return Ok(());
        }
        let mids: Vec<MessageId> = outcome
            .sent_mids
            .iter()
            .filter_map(|m| MessageId::parse(m.as_str()).ok())
            .collect();
        let (action, origin) = match outcome.status {
            OutcomeStatus::Escalated => (
                "ai.handoff_sent",
                AiOrigin {
                    model: HANDOFF_MODEL.into(),
                    latency_ms: 0,
                },
            ),
            status => (
                if status == OutcomeStatus::Sent {
                    "ai.reply_sent"
                } else {
                    "ai.reply_failed"
                },
                AiOrigin {
                    model: outcome.model.clone().unwrap_or_default(),
                    latency_ms: outcome.latency_ms.unwrap_or_default(),
                },
            ),
        };
        self.record_sent(job, &outcome.pending_texts, &mids, &origin)
            .await?;
        self.audit
            .append(
                &job.tenant_id,
                AuditEntry::new(ACTOR, action)
                    .target(conversation_target(job))
                    .details(serde_json::json!({
                        "inbound_mid": job.mid.as_str(),
                        "sent_mids": outcome.sent_mids,
                        "model": origin.model,
                        "latency_ms": origin.latency_ms,
                        "parts": mids.len(),
                        "reason": outcome.reason,
                        "knowledge_ids": outcome.knowledge_ids,
                    })),
            )
            .await?;
        outcome.record_pending = false;
        outcome.pending_texts.clear();
        self.save(outcome).await?;
        Ok(())
    }

    /// The account and a usable token to send with, or why the account cannot send now.
    async fn sender(
        &self,
        job: &AiReplyJob,
    ) -> Result<Result<(Account, AccessToken), &'static str>, JobError> {
        let Some(account) = self
            .store
            .get_account(&job.tenant_id, &job.account_id)
            .await?
        else {
            return Ok(Err("account_missing"));
        };
        let token = match self.tokens.access_token(&account).await {
            Ok(token) => token,
            Err(TokenError::Store(e)) => return Err(e.into()),
            Err(TokenError::Crypto(e)) => return Err(JobError::Token(e.to_string())),
            Err(TokenError::NotFound) => return Ok(Err("account_missing")),
            Err(TokenError::NotConnected(_)) => return Ok(Err("account_not_connected")),
            Err(TokenError::NoToken) => return Ok(Err("account_has_no_token")),
            Err(TokenError::NeedsReconnect { .. }) => return Ok(Err("account_needs_reconnect")),
        };
        Ok(Ok((account, token)))
    }

    /// Claim the message, then send `parts` in order. The sender is resolved first, so a
    /// job whose account cannot send leaves the claim untaken.
    async fn deliver(
        &self,
        job: &AiReplyJob,
        parts: &[String],
        sender: Result<(Account, AccessToken), &'static str>,
    ) -> Result<Delivery, JobError> {
        let (account, token) = match sender {
            Ok(sender) => sender,
            Err(reason) => return Ok(Delivery::Unavailable(reason)),
        };
        let now = self.clock.now_ms();
        let ttl = now / 1000 + self.settings.claim_ttl.as_secs() as i64;
        if !self
            .store
            .claim_action(&job.tenant_id, &claim_name(job), ttl)
            .await?
        {
            return Ok(Delivery::ClaimLost);
        }
        let mut sent = Vec::with_capacity(parts.len());
        for part in parts {
            match self
                .send_text(&account, &token, &job.customer_id, part)
                .await
            {
                Ok(mid) => sent.push(mid),
                Err(e) => {
                    let reason = send_reason(&e);
                    warn!(reason, error = %e, "send failed after the claim; it is not repeated");
                    if e.needs_reconnect() {
                        self.tokens
                            .mark_needs_reconnect(&account, &e.to_string())
                            .await;
                    }
                    return Ok(Delivery::Failed { sent, reason });
                }
            }
        }
        Ok(Delivery::Sent(sent))
    }

    /// One text message from the account to the customer. Automated replies never carry
    /// the HUMAN_AGENT tag (Meta allows it for people only): these calls cannot set it.
    async fn send_text(
        &self,
        account: &Account,
        token: &AccessToken,
        customer: &CustomerId,
        text: &str,
    ) -> Result<MessageId, GraphError> {
        let id = account.account_id.clone();
        let sent = match (account.channel, account.login) {
            (Channel::Page, _) => {
                let page = FacebookPage {
                    id,
                    token: token.clone(),
                };
                self.graph
                    .send_messenger(
                        &page,
                        customer,
                        MessageBody::Text(text),
                        MessagingType::Response,
                    )
                    .await?
            }
            (Channel::Instagram, LoginKind::InstagramLogin) => {
                let ig = InstagramAccount::instagram_login(id, token.clone());
                self.graph.send_text(&ig, customer, text).await?
            }
            (Channel::Instagram, LoginKind::FacebookLogin) => {
                let ig = InstagramAccount::facebook_login(id, token.clone());
                self.graph.send_text(&ig, customer, text).await?
            }
        };
        Ok(sent.value.message_id)
    }

    /// Store what was sent as outbound AI messages of the conversation.
    async fn record_sent(
        &self,
        job: &AiReplyJob,
        parts: &[String],
        mids: &[MessageId],
        origin: &AiOrigin,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        for (i, (text, mid)) in parts.iter().zip(mids).enumerate() {
            let at = now + i as i64;
            let message = StoredMessage {
                tenant_id: job.tenant_id.clone(),
                account_id: job.account_id.clone(),
                customer_id: job.customer_id.clone(),
                mid: mid.clone(),
                direction: Direction::Outbound,
                author: Author::Ai,
                kind: MessageKind::Text,
                text: Some(text.clone()),
                attachments: Vec::new(),
                reply_to_mid: None,
                reply_to_story: None,
                quick_reply: None,
                postback_payload: None,
                referral_ref: None,
                referral_ad_id: None,
                timestamp_ms: at,
                received_at: at,
                reactions: Default::default(),
                read_at: None,
                edit_count: 0,
                deleted: false,
                ai: Some(origin.clone()),
                jobs_enqueued: false,
            };
            // Meta's echo of this message may have been ingested first, as a person's
            // message: the mid is the same, so the stored one becomes the AI's.
            if self.store.record_message(&message, None).await? == Recorded::Duplicate {
                self.store
                    .attribute_to_ai(&job.tenant_id, &job.account_id, mid.as_str(), origin)
                    .await?;
            }
        }
        Ok(())
    }

    /// Link the products the customer or the reply mentioned to the conversation.
    async fn link_products(
        &self,
        job: &AiReplyJob,
        prompt: &Prompt,
        reply: &DraftReply,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        for g in &prompt.grounding {
            if g.entry.product().is_none() {
                continue;
            }
            let mentioned = g.sku_mentioned
                || prompt.pending.iter().any(|p| mentions_product(p, &g.entry))
                || mentions_product(&reply.text, &g.entry);
            if mentioned {
                self.store
                    .link_product(&ProductLink {
                        tenant_id: job.tenant_id.clone(),
                        account_id: job.account_id.clone(),
                        customer_id: job.customer_id.clone(),
                        entry_id: g.entry.entry_id.clone(),
                        first_mid: job.mid.to_string(),
                        first_at: now,
                        last_at: now,
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

/// Whether the customer's unanswered messages ask for a person, in the tenant's words or
/// the multilingual defaults.
fn asks_for_person(settings: &AiSettings, pending: &[String]) -> bool {
    let words = EscalationWords::new(
        &settings.escalation_words,
        settings.default_escalation_words,
    );
    match detect_escalation(pending, &words) {
        Some(asked) => {
            // The matched pattern is the tenant's vocabulary, not the customer's text.
            info!(matched = %asked.matched, "the customer asked for a person");
            true
        }
        None => false,
    }
}

fn conversation_target(job: &AiReplyJob) -> String {
    format!(
        "conversation:{}:{}",
        job.account_id,
        job.customer_id.fingerprint()
    )
}

#[cfg(test)]
mod tests {
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
                let body = record.body.as_deref().expect("records carry a body");
                let parsed = serde_json::from_str::<AiReplyJob>(body);
                let malformed = path.to_string_lossy().contains("malformed");
                assert_eq!(parsed.is_err(), malformed, "{}", path.display());
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
        assert_eq!(ok.limits.reply_deadline, Duration::from_secs(30));
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

    #[test]
    fn send_failures_have_stable_reasons() {
        assert_eq!(
            send_reason(&GraphError::WindowClosed {
                code: 10,
                subcode: Some(2534022)
            }),
            "window_closed"
        );
        assert_eq!(
            send_reason(&GraphError::Transient {
                cause: TransientCause::Timeout
            }),
            "send_timeout"
        );
        assert!(is_final(OutcomeStatus::Sent) && !is_final(OutcomeStatus::Failed));
    }
}
