//! Sending an automated reply (or the tenant's hand-off message) at most once.
//!
//! Guarantees: the account and its token are resolved before the claim, so an account
//! that cannot send leaves the claim untaken; the claim (one per conversation and
//! inbound message) is taken before the first byte goes to Meta; a send that fails after
//! the claim is recorded and never repeated; the outcome is stored before the inbox and
//! audit bookkeeping, which a redelivery can finish (both steps are idempotent).

use tracing::warn;

use super::{
    ACTOR, AiReplies, HANDOFF_MODEL, Handled, JobError, claim_name, skip_metric, thread, ttl,
};
use crate::accounts::{Account, TokenError};
use crate::ai::{AiSettings, Decision, OutcomeStatus, ReplyOutcome, SkipReason, decide};
use crate::audit::AuditEntry;
use crate::ids::MessageId;
use crate::inbox::{AiOrigin, Author};
use crate::jobs::AiReplyJob;
use crate::meta::{GraphError, TransientCause};
use crate::replies::outbound::cannot_send;
use crate::secret::AccessToken;

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

/// The account and a usable token to send with, or why the account cannot send now.
type Sender = Result<(Account, AccessToken), &'static str>;

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

impl AiReplies {
    /// Send a drafted reply, if the conversation still wants one.
    pub(super) async fn send_reply(
        &self,
        job: &AiReplyJob,
        settings: &AiSettings,
        mut outcome: ReplyOutcome,
        parts: Vec<String>,
    ) -> Result<Handled, JobError> {
        // Drafting took time: a newer message, a takeover or a mode change may have come
        // in, and the deadline must still hold for the send.
        let (fresh, sender) = futures::join!(
            self.ports.conversations.conversation(thread(job)),
            self.sender(job),
        );
        let fresh = fresh?.unwrap_or_default();
        let sender = sender?;
        let now = self.ports.clock.now_ms();
        let situation = self.situation(job, settings, &fresh, false, now, self.send_limits());
        match decide(&situation) {
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
                // The outcome first: it is what keeps a redelivery from doing anything
                // but finishing the bookkeeping.
                self.record_sent(job, &mut outcome, &mids, parts).await?;
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
                outcome.note_failure(self.ports.clock.now_ms(), reason);
                let sent_parts = parts[..sent.len()].to_vec();
                self.record_sent(job, &mut outcome, &sent, sent_parts)
                    .await?;
                self.metrics.count("SendFailures", 1);
                Ok(Handled::Failed(reason))
            }
        }
    }

    /// Send the tenant's hand-off message. None when it did not go out (the outcome
    /// notes why); the job's end otherwise.
    pub(super) async fn send_handoff(
        &self,
        job: &AiReplyJob,
        outcome: &mut ReplyOutcome,
        parts: Vec<String>,
    ) -> Result<Option<Handled>, JobError> {
        let sender = self.sender(job).await?;
        match self.deliver(job, &parts, sender).await? {
            Delivery::Sent(mids) => {
                self.record_sent(job, outcome, &mids, parts).await?;
                self.metrics.count("HandoffsSent", 1);
                Ok(Some(Handled::Escalated { handoff_sent: true }))
            }
            Delivery::ClaimLost => Ok(Some(Handled::Skipped("already_handled"))),
            Delivery::Unavailable(why) | Delivery::Failed { reason: why, .. } => {
                warn!(reason = why, "the hand-off message was not sent");
                outcome.note_failure(self.ports.clock.now_ms(), why);
                Ok(None)
            }
        }
    }

    /// Store the outcome of a send that went out (`mids`, the texts of `parts`), then
    /// finish its bookkeeping.
    async fn record_sent(
        &self,
        job: &AiReplyJob,
        outcome: &mut ReplyOutcome,
        mids: &[MessageId],
        parts: Vec<String>,
    ) -> Result<(), JobError> {
        outcome.sent_mids = mids.iter().map(|m| m.to_string()).collect();
        outcome.pending_texts = parts;
        outcome.record_pending = true;
        self.save(outcome).await?;
        self.finish_recording(job, outcome).await
    }

    /// After a send: store what went out as outbound AI messages and audit it, then
    /// clear the outcome's pending flag. Both steps are idempotent (messages by mid; the
    /// flag makes the audit happen once unless a crash falls between it and the flag),
    /// so a redelivery can finish what a crashed delivery started.
    pub(super) async fn finish_recording(
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
        let now = self.ports.clock.now_ms();
        let messages = thread(job).outbound(
            &outcome.pending_texts,
            &mids,
            now,
            Author::Ai,
            Some(&origin),
        );
        for message in &messages {
            self.ports.inbox.record_outbound(message).await?;
        }
        self.ports
            .audit
            .record(
                &job.tenant_id,
                AuditEntry::new(ACTOR, action)
                    .target(thread(job).target())
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

    async fn sender(&self, job: &AiReplyJob) -> Result<Sender, JobError> {
        match self
            .ports
            .tokens
            .token_for(&job.tenant_id, &job.account_id)
            .await
        {
            Ok(sender) => Ok(Ok(sender)),
            Err(e) => match cannot_send(e) {
                Ok(reason) => Ok(Err(reason)),
                Err(TokenError::Store(e)) => Err(e.into()),
                Err(e) => Err(JobError::Token(e.to_string())),
            },
        }
    }

    /// Claim the message, then send `parts` in order.
    async fn deliver(
        &self,
        job: &AiReplyJob,
        parts: &[String],
        sender: Sender,
    ) -> Result<Delivery, JobError> {
        let (account, token) = match sender {
            Ok(sender) => sender,
            Err(reason) => return Ok(Delivery::Unavailable(reason)),
        };
        let p = &self.ports;
        let claim_ttl = ttl(p.clock.now_ms(), self.settings.claim_ttl);
        if !p
            .ledger
            .take_claim(&job.tenant_id, &claim_name(job), claim_ttl)
            .await?
        {
            return Ok(Delivery::ClaimLost);
        }
        let mut sent = Vec::with_capacity(parts.len());
        for part in parts {
            match p
                .meta
                .send_response(&account, &token, &job.customer_id, part)
                .await
            {
                Ok(mid) => sent.push(mid),
                Err(e) => {
                    let reason = send_reason(&e);
                    warn!(reason, error = %e, "send failed after the claim; it is not repeated");
                    if e.needs_reconnect() {
                        p.tokens.token_refused(&account, &e.to_string()).await;
                    }
                    return Ok(Delivery::Failed { sent, reason });
                }
            }
        }
        Ok(Delivery::Sent(sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(super::super::is_final(OutcomeStatus::Sent));
        assert!(!super::super::is_final(OutcomeStatus::Failed));
    }
}
