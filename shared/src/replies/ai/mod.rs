//! The AI reply job: answer a customer's DM with the tenant's AI, or draft the answer
//! for a person, or do nothing and record why.
//!
//! Ingest queues one [`AiReplyJob`] per customer message, delayed by the debounce. For
//! each job [`AiReplies::reply`]:
//! 1. reads the account's AI settings, the conversation, this message's claim and any
//!    earlier outcome (a redelivered, finished job stops here);
//! 2. applies the policy ([`decide`]): mode, pause, debounce (only the latest inbound
//!    message is answered, so a burst gets one reply that covers all of it), Meta's
//!    24-hour window and the 30 seconds Meta expects of bots;
//! 3. hands the conversation to a person when the customer asks for one: pause,
//!    `EscalationCreated` on the bus, audit, and the tenant's hand-off message once;
//! 4. otherwise grounds a prompt in the tenant's persona, rules, the recent messages and
//!    the BM25-ranked knowledge entries, and drafts with the configured
//!    [`Drafter`](crate::ai::Drafter);
//!    "cannot help" escalates like 3;
//! 5. shadow mode stores a draft for a person; auto mode re-checks the conversation,
//!    claims the message, sends the reply in parts of at most 1000 bytes, and stores it
//!    as an outbound AI message ([`send`]).
//!
//! Guarantees: at most one reply per inbound message (the claim is taken before the first
//! byte goes to Meta; a delivery that finds it taken never sends; a send that fails after
//! the claim is recorded, not repeated). A drafting failure is retried (an error, and the
//! job made visible again after `retry_delay`) while the job has attempts and, for auto
//! replies, time before the deadline. Every outcome, with its reason, is stored per
//! inbound message. Logs carry ids and reasons only: never message text or customer ids.

mod send;

#[cfg(test)]
mod tests;

use std::time::Duration;

use tracing::{Instrument, info, info_span, warn};

use crate::ai::policy::time_left_ms;
use crate::ai::prompt::{pending_messages, readable_text};
use crate::ai::retrieval::mentions_product;
use crate::ai::{
    AiSettings, Decision, DraftError, DraftReply, EscalationWords, Limits, OutcomeStatus,
    ProductLink, Prompt, PromptInput, ReplyKind, ReplyOutcome, Situation, SkipReason, build_prompt,
    decide, detect_escalation, fit_reply, rank,
};
use crate::audit::{AuditEntry, AuditError};
use crate::events::{EscalationCreated, EventError};
use crate::inbox::{AiMode, AiOrigin, Conversation, Direction, StoredMessage};
use crate::jobs::AiReplyJob;
use crate::meta::MAX_TEXT_BYTES;
use crate::replies::outbound::Thread;
use crate::replies::ports::Ports;
use crate::store::StoreError;
use crate::telemetry::Metrics;

/// Who the audit trail says acted.
pub const ACTOR: &str = "system:ai-reply";

/// The model name recorded on a hand-off message (the tenant's own text, sent by Relay).
pub const HANDOFF_MODEL: &str = "handoff";

/// The job's tunables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Meta's windows and the bot reply deadline.
    pub limits: Limits,
    /// Time kept back from the deadline for claiming and sending after drafting.
    pub send_reserve: Duration,
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
            prompt_token_budget: 3000,
            max_reply_chars: 900,
            max_job_attempts: 3,
            retry_delay: Duration::from_secs(2),
            outcome_ttl: Duration::from_secs(90 * 86_400),
            claim_ttl: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Which delivery of a job this is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt<'a> {
    /// How often the queue handed the job out, this time included.
    pub receives: u32,
    /// The queue's handle of this delivery, to deliver it again sooner after a failure.
    pub receipt: Option<&'a str>,
}

/// Why a job could not be finished now (it is delivered again).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
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

/// Runs AI reply jobs. Cheap to share across concurrent jobs.
pub struct AiReplies {
    ports: Ports,
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

fn thread(job: &AiReplyJob) -> Thread<'_> {
    Thread {
        tenant: &job.tenant_id,
        account: &job.account_id,
        customer: &job.customer_id,
    }
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

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn ttl(now_ms: i64, keep: Duration) -> i64 {
    now_ms / 1000 + keep.as_secs() as i64
}

impl AiReplies {
    pub fn new(ports: Ports, settings: Settings, metrics: Metrics) -> Self {
        Self {
            ports,
            settings,
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handle one delivery of a job. An error means it is to be delivered again (after
    /// `retry_delay`, when the queue can be asked to).
    pub async fn reply(&self, job: &AiReplyJob, attempt: Attempt<'_>) -> Result<Handled, JobError> {
        let span = info_span!(
            "ai_reply",
            tenant_id = %job.tenant_id,
            account_id = %job.account_id,
            customer = %job.customer_id,
            mid = %job.mid,
        );
        let result = self
            .process(job, attempt.receives)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(handled) => span.in_scope(|| info!(outcome = ?handled, "job done")),
            Err(_) => self.retry_soon(attempt.receipt).await,
        }
        result
    }

    /// Deliver a failed job again after `retry_delay`, sooner than the queue's visibility
    /// timeout, so a retry can still meet the reply deadline.
    pub async fn retry_soon(&self, receipt: Option<&str>) {
        if let (Some(requeue), Some(receipt)) = (&self.ports.requeue, receipt) {
            requeue.retry_in(receipt, self.settings.retry_delay).await;
        }
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
        let p = &self.ports;
        let thread = thread(job);
        let claim = claim_name(job);
        let (settings, conversation, claimed, previous) = futures::try_join!(
            p.conversations.ai_settings(thread),
            p.conversations.conversation(thread),
            p.ledger.is_claimed(&job.tenant_id, &claim),
            p.ledger.outcome(thread, job.timestamp_ms, job.mid.as_str()),
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
        let now = p.clock.now_ms();
        let mut outcome = previous.unwrap_or_else(|| {
            ReplyOutcome::new(
                job.tenant_id.clone(),
                job.account_id.clone(),
                job.customer_id.clone(),
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
                let history = p
                    .conversations
                    .recent_messages(thread, settings.history_messages)
                    .await?;
                if asks_for_person(&settings, pending_messages(&history)) {
                    return self.hand_over(job, &settings, decision, outcome).await;
                }
                return self.skip(outcome, reason).await;
            }
            Decision::Skip(reason) => return self.skip(outcome, reason).await,
            Decision::Reply | Decision::Draft => {}
        }

        let (history, knowledge) = futures::try_join!(
            p.conversations
                .recent_messages(thread, settings.history_messages),
            p.conversations.knowledge(&job.tenant_id),
        )?;
        let pending_slice = pending_messages(&history);
        let pending: Vec<String> = pending_slice.iter().filter_map(readable_text).collect();
        let context: Vec<String> = history[..history.len() - pending_slice.len()]
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .filter_map(readable_text)
            .collect();

        if asks_for_person(&settings, pending_slice) {
            return self.hand_over(job, &settings, decision, outcome).await;
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
        let reply = match p.drafter.draft(&prompt, deadline).await {
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
        let handled = match decision {
            Decision::Draft => {
                self.save_draft(job, mode, outcome, &reply, parts, &prompt)
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

    async fn save(&self, outcome: &mut ReplyOutcome) -> Result<(), StoreError> {
        outcome.updated_at = self.ports.clock.now_ms();
        let ttl = ttl(outcome.updated_at, self.settings.outcome_ttl);
        self.ports.ledger.keep_outcome(outcome, ttl).await
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
        error: DraftError,
        receives: u32,
    ) -> Result<Handled, JobError> {
        let now = self.ports.clock.now_ms();
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

    /// The customer asked for a person: escalate.
    async fn hand_over(
        &self,
        job: &AiReplyJob,
        settings: &AiSettings,
        decision: Decision,
        outcome: ReplyOutcome,
    ) -> Result<Handled, JobError> {
        self.escalate(job, settings, decision, outcome, "customer_asked_for_human")
            .await
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
        let p = &self.ports;
        let t = &job.tenant_id;
        let now = p.clock.now_ms();
        let marker = escalation_marker(job);
        if !p.ledger.is_claimed(t, &marker).await? {
            p.inbox.pause(thread(job), reason, now).await?;
            p.events
                .publish_event(&EscalationCreated {
                    tenant_id: t.clone(),
                    account_id: job.account_id.to_string(),
                    customer: job.customer_id.fingerprint(),
                    reason: reason.into(),
                    at: now,
                })
                .await?;
            p.audit
                .record(
                    t,
                    AuditEntry::new(ACTOR, "conversation.paused")
                        .target(thread(job).target())
                        .details(serde_json::json!({"reason": reason, "mid": job.mid.as_str()})),
                )
                .await?;
            // Marked last: a crash before repeats the idempotent pause and at worst the
            // event; it never loses them.
            p.ledger
                .take_claim(t, &marker, ttl(now, self.settings.claim_ttl))
                .await?;
            self.metrics.count("Escalations", 1);
        }
        outcome.status = OutcomeStatus::Escalated;
        outcome.reason = Some(reason.into());

        let in_time = time_left_ms(job.timestamp_ms, p.clock.now_ms(), &self.send_limits()) > 0;
        let handoff = settings
            .handoff_message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        if let (Decision::Reply, Some(text), true) = (decision, handoff, in_time) {
            let parts = fit_reply(text, MAX_TEXT_BYTES, crate::ai::LongReplies::Shorten);
            if let Some(handled) = self.send_handoff(job, &mut outcome, parts).await? {
                return Ok(handled);
            }
        }
        self.save(&mut outcome).await?;
        Ok(Handled::Escalated {
            handoff_sent: false,
        })
    }

    async fn save_draft(
        &self,
        job: &AiReplyJob,
        mode: AiMode,
        mut outcome: ReplyOutcome,
        reply: &DraftReply,
        parts: Vec<String>,
        prompt: &Prompt,
    ) -> Result<Handled, JobError> {
        let p = &self.ports;
        let draft = crate::ai::Draft {
            tenant_id: job.tenant_id.clone(),
            account_id: job.account_id.clone(),
            customer_id: job.customer_id.clone(),
            draft_id: crate::ai::DraftKey {
                inbound_at: job.timestamp_ms,
                inbound_mid: job.mid.clone(),
            },
            kind: crate::ai::DraftKind::Reply,
            text: reply.text.clone(),
            parts,
            ai: AiOrigin {
                model: reply.model.clone(),
                latency_ms: reply.latency_ms,
            },
            knowledge_ids: prompt.knowledge_ids(),
            status: crate::ai::DraftStatus::Pending,
            created_at: p.clock.now_ms(),
            resolved_at: None,
            resolved_by: None,
        };
        p.drafts.store_draft(&draft).await?;
        // Audited before the outcome is final, so a crash in between audits again rather
        // than never.
        p.audit
            .record(
                &job.tenant_id,
                AuditEntry::new(ACTOR, "ai.draft_created")
                    .target(thread(job).target())
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

    /// Link the products the customer or the reply mentioned to the conversation.
    async fn link_products(
        &self,
        job: &AiReplyJob,
        prompt: &Prompt,
        reply: &DraftReply,
    ) -> Result<(), StoreError> {
        let now = self.ports.clock.now_ms();
        for g in &prompt.grounding {
            if g.entry.product().is_none() {
                continue;
            }
            let mentioned = g.sku_mentioned
                || prompt.pending.iter().any(|p| mentions_product(p, &g.entry))
                || mentions_product(&reply.text, &g.entry);
            if mentioned {
                self.ports
                    .inbox
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
fn asks_for_person(settings: &AiSettings, pending: &[StoredMessage]) -> bool {
    let words = EscalationWords::new(
        &settings.escalation_words,
        settings.default_escalation_words,
    );
    let pending: Vec<String> = pending.iter().filter_map(readable_text).collect();
    match detect_escalation(&pending, &words) {
        Some(asked) => {
            // The matched pattern is the tenant's vocabulary, not the customer's text.
            info!(matched = %asked.matched, "the customer asked for a person");
            true
        }
        None => false,
    }
}
