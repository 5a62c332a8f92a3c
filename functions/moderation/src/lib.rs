//! The moderation function: labels new comments and carries out moderation actions.
//!
//! Jobs arrive on the moderation queue. Ingest queues the automatic pass for every new
//! comment of a customer; people (through the API) queue actions.
//!
//! The automatic pass (`classify`):
//! 1. reads the comment; a comment already classified skips to step 4, so a redelivered
//!    job never counts or audits twice;
//! 2. counts the author's repeats of the same text (per account, within the policy's
//!    window) and classifies under the account's policy (`relay::moderation`);
//! 3. stores the labels and the decision, then audits `comment.tagged` when anything
//!    was found (a stored flag says it was, so a crash in between audits on the
//!    redelivery);
//! 4. hides the comment at Meta when the decision says so and it is not hidden yet (and
//!    no person unhid it since), audits `comment.hidden`, and stores it hidden.
//!
//! Actions: hide and unhide set a state at Meta (safe to repeat); delete treats "no such
//! comment" as done; a public reply is sent at most once per request id and a private
//! reply at most once per comment (Meta's rule), within 7 days of the comment. A send
//! Meta refused gives its right back (a throttled one is retried); a send whose outcome
//! is unknown (timeout, 5xx) is never repeated. The order
//! is always Meta, then the audit trail, then the stored state, so a crash in between
//! repeats the audit record rather than losing it. An action that can never succeed (bad
//! request, closed window, missing permission) is audited as refused or failed and not
//! retried; throttling and passing failures are retried through SQS.
//!
//! Logs carry ids, labels and reasons only: never comment text, usernames or customer ids.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use relay::audit::{AuditEntry, AuditError, AuditTrail};
use relay::clock::Clock;
use relay::config::{ConfigError, Vars};
use relay::ids::CommentId;
use relay::inbox::StoredComment;
use relay::jobs::ModerationJob;
use relay::meta::{GraphClient, GraphError, InstagramAccount};
use relay::moderation::{
    ActionError, CommentFacts, ModerationAction, classify, normalized_fingerprint,
    private_reply_allowed,
};
use relay::store::accounts::{Account, Channel, LoginKind};
use relay::store::{Store, StoreError};
use relay::telemetry::Metrics;
use relay::tokens::{TokenError, Tokens};
use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

/// Who the audit trail says acted for the automatic pass.
pub const ACTOR: &str = "system:moderation";

/// How long the one-time rights (a reply request, a comment's private reply) are kept:
/// longer than any redelivery and than Meta's 7-day private-reply window.
const CLAIM_TTL_SECONDS: i64 = 30 * 86_400;

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

/// What the handler works with. Production builds it from the environment; tests wire
/// it to moto, the Meta simulator and its clock.
pub struct Deps {
    pub store: Store,
    pub audit: AuditTrail,
    pub graph: GraphClient,
    pub tokens: Tokens,
    pub clock: Arc<dyn Clock>,
}

/// Why a job is to be delivered again.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("message has no body")]
    NoBody,
    #[error("body is not a moderation job: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not audit: {0}")]
    Audit(#[from] AuditError),
    #[error("the account's token could not be read: {0}")]
    Token(String),
    #[error("Meta: {0}")]
    Meta(GraphError),
}

/// What a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Classified: nothing found.
    Clean,
    /// Classified with labels; `hidden` when the policy hid it.
    Tagged { hidden: bool },
    /// An action was carried out.
    Done(&'static str),
    /// Nothing to do, and why.
    Skipped(&'static str),
    /// A request that can never succeed: audited, not retried.
    Refused(ActionError),
    /// Meta refused for good: audited, not retried.
    Failed(&'static str),
}

/// A stable name for a Meta failure that retrying will not fix.
fn failure_reason(e: &GraphError) -> &'static str {
    match e {
        GraphError::TokenInvalid { .. } => "token_invalid",
        GraphError::PermissionMissing { .. } => "permission_missing",
        GraphError::WindowClosed { .. } => "window_closed",
        GraphError::InvalidRequest { .. } => "rejected",
        GraphError::InvalidInput { .. } => "invalid_input",
        _ => "meta_error",
    }
}

/// Meta answered with an error, so the call did nothing. A transient failure (a
/// timeout, a 5xx, a dropped connection) or an unreadable answer may hide a call that
/// went through.
fn provably_not_done(e: &GraphError) -> bool {
    !matches!(e, GraphError::Transient { .. } | GraphError::Decode { .. })
}

/// Meta's "the object does not exist" (code 100): the comment is gone.
fn comment_gone(e: &GraphError) -> bool {
    matches!(e, GraphError::InvalidRequest { code: 100, .. })
}

pub struct Moderation {
    store: Store,
    audit: AuditTrail,
    graph: GraphClient,
    tokens: Tokens,
    clock: Arc<dyn Clock>,
    settings: Settings,
    metrics: Metrics,
}

impl Moderation {
    pub fn new(deps: Deps, settings: Settings) -> Self {
        Self {
            store: deps.store,
            audit: deps.audit,
            graph: deps.graph,
            tokens: deps.tokens,
            clock: deps.clock,
            settings,
            metrics: Metrics::new("moderation"),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// One SQS batch: every job, with failures reported for redelivery.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let results: Vec<(String, Result<Handled, JobError>)> =
            futures::stream::iter(event.records)
                .map(|record| async move {
                    let id = record.message_id.clone().unwrap_or_default();
                    let span = info_span!("sqs_message", message_id = %id);
                    let result = self.handle_record(&record).instrument(span).await;
                    (id, result)
                })
                .buffer_unordered(self.settings.concurrency.max(1))
                .collect()
                .await;
        let mut response = SqsBatchResponse::default();
        for (id, result) in results {
            if let Err(error) = result {
                warn!(message_id = %id, %error, "job will be delivered again");
                self.metrics.count("JobFailures", 1);
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<Handled, JobError> {
        let body = record.body.as_deref().ok_or(JobError::NoBody)?;
        let job: ModerationJob = serde_json::from_str(body).map_err(|e| {
            // serde's message can quote a value (a comment's text): keep only the position.
            JobError::Malformed(format!("line {} column {}", e.line(), e.column()))
        })?;
        self.handle(&job).await
    }

    /// One job.
    pub async fn handle(&self, job: &ModerationJob) -> Result<Handled, JobError> {
        let span = info_span!(
            "moderation",
            tenant_id = %job.tenant_id,
            account_id = %job.account_id,
            comment_id = %job.comment_id,
            action = job.action.name(),
        );
        async {
            let handled = match job.action.validate() {
                Err(refusal) => self.refuse(job, refusal).await?,
                Ok(()) => match &job.action {
                    ModerationAction::Classify => self.classify(job).await?,
                    _ => self.act(job).await?,
                },
            };
            info!(outcome = ?handled, "moderation job handled");
            Ok(handled)
        }
        .instrument(span)
        .await
    }

    // ------------------------------------------------------------ automatic pass

    async fn classify(&self, job: &ModerationJob) -> Result<Handled, JobError> {
        let Some(mut comment) = self.comment(job).await? else {
            return Ok(Handled::Skipped("comment_not_stored"));
        };
        if comment.deleted_at.is_some() {
            return Ok(Handled::Skipped("deleted"));
        }
        if comment.moderated_at.is_none() {
            comment = self.label(job, comment).await?;
        }
        if !comment.labels.is_empty() && !comment.tag_audited {
            self.audit_tags(job, &comment).await?;
        }
        let hidden = if comment.auto_hide && !comment.hidden {
            self.auto_hide(job, &comment).await?
        } else {
            comment.hidden
        };
        self.metrics.count("CommentsClassified", 1);
        Ok(if comment.labels.is_empty() {
            Handled::Clean
        } else {
            Handled::Tagged { hidden }
        })
    }

    /// Classify, and store the labels and the decision (once: conditional on the
    /// comment's revision).
    async fn label(
        &self,
        job: &ModerationJob,
        mut comment: StoredComment,
    ) -> Result<StoredComment, JobError> {
        let policy = self
            .store
            .get_moderation_policy(&job.tenant_id, &job.account_id)
            .await?
            .unwrap_or_default();
        let by_account = written_by_account(job, &comment);
        let text = comment.text.as_deref().unwrap_or_default();
        let repeats = match (&comment.from_id, normalized_fingerprint(text)) {
            (Some(author), Some(fingerprint)) if policy.enabled && !by_account => {
                self.store
                    .count_repeat(
                        &job.tenant_id,
                        &job.account_id,
                        author,
                        &fingerprint,
                        &comment.comment_id,
                        comment.created_at,
                        policy.repeat_window_ms(),
                    )
                    .await?
            }
            _ => 0,
        };
        let verdict = classify(
            &CommentFacts {
                text,
                by_account,
                repeats,
            },
            &policy,
        );
        comment.labels = verdict.labels.clone();
        comment.signals = verdict.signals.clone();
        comment.spam_score = verdict.spam_score;
        comment.auto_hide = verdict.hide;
        comment.moderated_at = Some(self.clock.now_ms());
        // A conflict means someone changed the comment meanwhile: the redelivery reads
        // it again and classifies the current state.
        let stored = self.store.update_comment(&comment).await?;
        info!(labels = ?verdict.labels, spam_score = verdict.spam_score, hide = verdict.hide, "comment classified");
        Ok(stored)
    }

    /// Put the stored labels on the audit trail, then remember that they are: a crash
    /// in between audits them again on the redelivery rather than never.
    async fn audit_tags(
        &self,
        job: &ModerationJob,
        comment: &StoredComment,
    ) -> Result<(), JobError> {
        let labels: Vec<&str> = comment.labels.iter().map(|l| l.as_str()).collect();
        self.audit
            .append(
                &job.tenant_id,
                entry(
                    job,
                    ACTOR,
                    "comment.tagged",
                    json!({"labels": labels,
                        "signals": comment.signals,
                        "spam_score": comment.spam_score,
                        "auto_hide": comment.auto_hide,
                    }),
                ),
            )
            .await?;
        self.mutate(job, |c| c.tag_audited = true).await?;
        self.metrics.count("CommentsTagged", 1);
        Ok(())
    }

    /// Hide a comment the policy hides. Returns whether it is hidden now.
    async fn auto_hide(
        &self,
        job: &ModerationJob,
        comment: &StoredComment,
    ) -> Result<bool, JobError> {
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(false);
        };
        match self.graph.hide_comment(&ig, &comment.comment_id).await {
            Ok(_) => {}
            Err(e) if comment_gone(&e) => {
                self.mutate(job, |c| {
                    c.deleted_at = c.deleted_at.or(Some(self.clock.now_ms()))
                })
                .await?;
                return Ok(false);
            }
            Err(e) => {
                return self
                    .meta_failure(job, &account, "hide", e)
                    .await
                    .map(|_| false);
            }
        }
        self.audit
            .append(
                &job.tenant_id,
                entry(
                    job,
                    ACTOR,
                    "comment.hidden",
                    json!({"reason": "policy",
                        "labels": comment.labels.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
                    }),
                ),
            )
            .await?;
        // A person who unhid it meanwhile (auto_hide cleared) is not overruled in the
        // store either; Meta already has the newer state from their unhide.
        self.mutate(job, |c| {
            if c.auto_hide {
                c.hidden = true;
            }
        })
        .await?;
        self.metrics.count("CommentsHidden", 1);
        Ok(true)
    }

    // ------------------------------------------------------------ actions

    async fn act(&self, job: &ModerationJob) -> Result<Handled, JobError> {
        let Some(comment) = self.comment(job).await? else {
            return Ok(Handled::Skipped("comment_not_stored"));
        };
        if comment.deleted_at.is_some() && !matches!(job.action, ModerationAction::Delete { .. }) {
            return self.refuse(job, ActionError::CommentDeleted).await;
        }
        let by_account = written_by_account(job, &comment);
        match &job.action {
            ModerationAction::Classify => unreachable!("handled by classify"),
            ModerationAction::Hide { by } => {
                if by_account {
                    return self.refuse(job, ActionError::OwnComment).await;
                }
                self.set_hidden(job, by, true).await
            }
            ModerationAction::Unhide { by } => self.set_hidden(job, by, false).await,
            ModerationAction::Delete { by } => self.delete(job, &comment, by).await,
            ModerationAction::Reply {
                by,
                request_id,
                text,
            } => self.reply(job, by, request_id, text).await,
            ModerationAction::PrivateReply {
                by,
                request_id,
                text,
            } => {
                self.private_reply(job, &comment, by, request_id, text)
                    .await
            }
        }
    }

    async fn set_hidden(
        &self,
        job: &ModerationJob,
        by: &str,
        hide: bool,
    ) -> Result<Handled, JobError> {
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(Handled::Skipped("account_unavailable"));
        };
        let result = if hide {
            self.graph.hide_comment(&ig, &job.comment_id).await
        } else {
            self.graph.unhide_comment(&ig, &job.comment_id).await
        };
        let name = if hide { "hide" } else { "unhide" };
        if let Err(e) = result {
            return self.meta_failure(job, &account, name, e).await;
        }
        let action = if hide {
            "comment.hidden"
        } else {
            "comment.unhidden"
        };
        let audited = entry(job, by, action, json!({"reason": "request"}));
        self.done(job, name, audited, |c| {
            c.hidden = hide;
            if !hide {
                // A person's unhide stands: the automatic pass does not hide it again.
                c.auto_hide = false;
            }
        })
        .await
    }

    async fn delete(
        &self,
        job: &ModerationJob,
        comment: &StoredComment,
        by: &str,
    ) -> Result<Handled, JobError> {
        if comment.deleted_at.is_some() {
            return Ok(Handled::Skipped("already_deleted"));
        }
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(Handled::Skipped("account_unavailable"));
        };
        match self.graph.delete_comment(&ig, &job.comment_id).await {
            Ok(_) => {}
            // A delete whose answer was lost, redelivered: the comment is gone either way.
            Err(e) if comment_gone(&e) => {}
            Err(e) => return self.meta_failure(job, &account, "delete", e).await,
        }
        let audited = entry(job, by, "comment.deleted", json!({}));
        let now = self.clock.now_ms();
        self.done(job, "delete", audited, |c| {
            c.deleted_at = c.deleted_at.or(Some(now))
        })
        .await
    }

    async fn reply(
        &self,
        job: &ModerationJob,
        by: &str,
        request_id: &str,
        text: &str,
    ) -> Result<Handled, JobError> {
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(Handled::Skipped("account_unavailable"));
        };
        let claim = format!("comment-reply:{}:{request_id}", job.account_id);
        if !self.claim(job, &claim).await? {
            return Ok(Handled::Skipped("request_already_handled"));
        }
        let reply_id = match self
            .graph
            .reply_to_comment(&ig, &job.comment_id, text)
            .await
        {
            Ok(r) => r.into_value(),
            Err(e) => return self.unsent(job, &account, &claim, "reply", e).await,
        };
        let audited = entry(
            job,
            by,
            "comment.replied",
            json!({"reply_id": reply_id.as_str(),
                "request_id": request_id,
                "chars": text.chars().count(),
            }),
        );
        let now = self.clock.now_ms();
        self.done(job, "reply", audited, |c| {
            c.replied_at = Some(now);
            if !c.reply_ids.contains(&reply_id) {
                c.reply_ids.push(reply_id.clone());
            }
        })
        .await
    }

    async fn private_reply(
        &self,
        job: &ModerationJob,
        comment: &StoredComment,
        by: &str,
        request_id: &str,
        text: &str,
    ) -> Result<Handled, JobError> {
        if comment.private_replied_at.is_some() {
            return self.refuse(job, ActionError::PrivateReplyUsed).await;
        }
        if let Err(refusal) = private_reply_allowed(comment.created_at, self.clock.now_ms()) {
            return self.refuse(job, refusal).await;
        }
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(Handled::Skipped("account_unavailable"));
        };
        // Meta allows one private reply per comment: the right is taken once.
        let claim = format!("private-reply:{}:{}", job.account_id, job.comment_id);
        if !self.claim(job, &claim).await? {
            return self.refuse(job, ActionError::PrivateReplyUsed).await;
        }
        let sent = match self.graph.private_reply(&ig, &job.comment_id, text).await {
            Ok(r) => r.into_value(),
            Err(e) => return self.unsent(job, &account, &claim, "private_reply", e).await,
        };
        let audited = entry(
            job,
            by,
            "comment.private_replied",
            json!({"message_id": sent.message_id.as_str(),
                "request_id": request_id,
            }),
        );
        let now = self.clock.now_ms();
        self.done(job, "private_reply", audited, |c| {
            c.private_replied_at = Some(now)
        })
        .await
    }

    // ------------------------------------------------------------ helpers

    /// An action Meta carried out: audit it (on the comment), then store its effect.
    /// In this order, a crash in between repeats the audit record rather than losing it.
    async fn done(
        &self,
        job: &ModerationJob,
        name: &'static str,
        audited: AuditEntry,
        change: impl Fn(&mut StoredComment),
    ) -> Result<Handled, JobError> {
        self.audit.append(&job.tenant_id, audited).await?;
        self.mutate(job, change).await?;
        self.metrics.count("ModerationActions", 1);
        Ok(Handled::Done(name))
    }

    async fn comment(&self, job: &ModerationJob) -> Result<Option<StoredComment>, JobError> {
        Ok(self
            .store
            .get_comment(&job.tenant_id, &job.account_id, &job.comment_id)
            .await?)
    }

    /// Apply `change` to the stored comment, re-reading it when another writer got in
    /// first.
    async fn mutate(
        &self,
        job: &ModerationJob,
        change: impl Fn(&mut StoredComment),
    ) -> Result<(), JobError> {
        for _ in 0..5 {
            let Some(mut comment) = self.comment(job).await? else {
                return Ok(());
            };
            change(&mut comment);
            match self.store.update_comment(&comment).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { what: "comment" }.into())
    }

    async fn claim(&self, job: &ModerationJob, what: &str) -> Result<bool, JobError> {
        let until = self.clock.now_ms() / 1000 + CLAIM_TTL_SECONDS;
        Ok(self.store.claim_action(&job.tenant_id, what, until).await?)
    }

    /// The account and its Instagram handle for Graph calls; None when it cannot act
    /// (gone, disconnected, not an Instagram account): recorded, not retried.
    async fn instagram(
        &self,
        job: &ModerationJob,
    ) -> Result<Option<(Account, InstagramAccount)>, JobError> {
        let (account, token) = match self
            .tokens
            .access_token_for(&job.tenant_id, &job.account_id)
            .await
        {
            Ok(found) => found,
            Err(
                e @ (TokenError::NotFound
                | TokenError::NotConnected(_)
                | TokenError::NoToken
                | TokenError::NeedsReconnect { .. }),
            ) => {
                warn!(reason = %e, "account cannot act on comments");
                self.metrics.count("AccountUnavailable", 1);
                return Ok(None);
            }
            Err(e) => return Err(JobError::Token(e.to_string())),
        };
        let id = account.account_id.clone();
        let ig = match (account.channel, account.login) {
            (Channel::Instagram, LoginKind::InstagramLogin) => {
                InstagramAccount::instagram_login(id, token)
            }
            (Channel::Instagram, LoginKind::FacebookLogin) => {
                InstagramAccount::facebook_login(id, token)
            }
            (Channel::Page, _) => {
                warn!("Page comments are not moderated through the Instagram API");
                return Ok(None);
            }
        };
        Ok(Some((account, ig)))
    }

    /// A Meta failure of a repeatable call: retried when passing, else audited.
    async fn meta_failure(
        &self,
        job: &ModerationJob,
        account: &Account,
        action: &'static str,
        e: GraphError,
    ) -> Result<Handled, JobError> {
        if e.is_retryable() {
            return Err(JobError::Meta(e));
        }
        self.final_failure(job, account, action, e).await
    }

    /// A send guarded by `claim` failed. Sent at most once: when the outcome is unknown
    /// the claim stays taken and the failure is final. When Meta refused, nothing was
    /// sent: the claim is given back, and a throttled send is retried.
    async fn unsent(
        &self,
        job: &ModerationJob,
        account: &Account,
        claim: &str,
        action: &'static str,
        e: GraphError,
    ) -> Result<Handled, JobError> {
        if provably_not_done(&e) {
            self.store.release_action(&job.tenant_id, claim).await?;
            return self.meta_failure(job, account, action, e).await;
        }
        self.final_failure(job, account, action, e).await
    }

    /// Audit a Meta failure that is not retried.
    async fn final_failure(
        &self,
        job: &ModerationJob,
        account: &Account,
        action: &'static str,
        e: GraphError,
    ) -> Result<Handled, JobError> {
        let reason = failure_reason(&e);
        warn!(action, reason, error = %e, "moderation action failed");
        if e.needs_reconnect() {
            let _ = self.tokens.mark_needs_reconnect(account, reason).await;
        }
        self.audit
            .append(
                &job.tenant_id,
                entry(
                    job,
                    ACTOR,
                    "comment.action_failed",
                    json!({"action": action,
                        "reason": reason,
                    }),
                ),
            )
            .await?;
        self.metrics.count("ModerationFailures", 1);
        Ok(Handled::Failed(reason))
    }

    async fn refuse(&self, job: &ModerationJob, refusal: ActionError) -> Result<Handled, JobError> {
        warn!(reason = %refusal, "moderation request refused");
        self.audit
            .append(
                &job.tenant_id,
                entry(
                    job,
                    ACTOR,
                    "comment.action_refused",
                    json!({"action": job.action.name(),
                        "reason": refusal.to_string(),
                    }),
                ),
            )
            .await?;
        self.metrics.count("ModerationRefusals", 1);
        Ok(Handled::Refused(refusal))
    }
}

/// The connected account wrote the comment itself.
fn written_by_account(job: &ModerationJob, comment: &StoredComment) -> bool {
    comment
        .from_id
        .as_ref()
        .is_some_and(|from| from.as_str() == job.account_id.as_str())
}

/// An audit entry about the job's comment: targeted at it, naming its account.
fn entry(job: &ModerationJob, actor: &str, action: &str, details: serde_json::Value) -> AuditEntry {
    let mut details = details;
    if let Some(map) = details.as_object_mut() {
        map.insert("account_id".into(), json!(job.account_id.as_str()));
    }
    AuditEntry::new(actor, action)
        .target(format!("comment:{}", CommentId::as_str(&job.comment_id)))
        .details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

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
                let body = record.body.as_deref().expect("records carry a body");
                let parsed = serde_json::from_str::<ModerationJob>(body);
                assert_eq!(parsed.is_err(), name.contains("malformed"), "{name}");
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
