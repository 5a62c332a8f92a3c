//! The moderation command: one [`ModerationJob`] (the automatic pass ingest queues for a
//! new comment, or an action a person asked for) carried out against the comment store,
//! Meta and the audit trail.
//!
//! The automatic pass:
//! 1. reads the comment; a comment already classified skips to step 4, so a redelivered
//!    job never counts or audits twice;
//! 2. counts the author's repeats of the same text (per account, within the policy's
//!    window) and classifies under the account's policy ([`super::classify`]);
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
//! is unknown (timeout, 5xx) is never repeated. The order is always Meta, then the audit
//! trail, then the stored state, so a crash in between repeats the audit record rather
//! than losing it. An action that can never succeed (bad request, closed window, missing
//! permission) is audited as refused or failed and not retried; throttling and passing
//! failures are returned as errors, for the queue to deliver the job again.
//!
//! What the command needs from outside is named by four small traits ([`CommentStore`]
//! with [`Claims`], [`CommentActions`], [`AuditLog`], [`AccountTokens`]), implemented
//! here by the store, the Graph client, the audit trail and the token keeper.
//!
//! Logs carry ids, labels and reasons only: never comment text, usernames or customer ids.

use std::future::Future;
use std::sync::Arc;

use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use super::{
    ActionError, CommentFacts, ModerationAction, ModerationPolicy, classify,
    normalized_fingerprint, private_reply_allowed,
};
use crate::accounts::{TokenError, Tokens};
use crate::audit::{AuditEntry, AuditError, AuditTrail};
use crate::clock::Clock;
use crate::ids::{AccountId, CommentId, CustomerId, MessageId, TenantId};
use crate::inbox::StoredComment;
use crate::jobs::ModerationJob;
use crate::meta::{GraphClient, GraphError, InstagramAccount};
use crate::secret::AccessToken;
use crate::store::accounts::{Account, Channel, LoginKind};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// Who the audit trail says acted for the automatic pass.
pub const ACTOR: &str = "system:moderation";

/// How long the one-time rights (a reply request, a comment's private reply) are kept:
/// longer than any redelivery and than Meta's 7-day private-reply window.
const CLAIM_TTL_SECONDS: i64 = 30 * 86_400;

// ------------------------------------------------------------------ ports

/// Earlier comments of one author with the same text, within a window.
#[derive(Debug, Clone, Copy)]
pub struct RepeatQuery<'a> {
    pub tenant: &'a TenantId,
    pub account: &'a AccountId,
    pub author: &'a CustomerId,
    pub fingerprint: &'a str,
    /// The comment being classified, counted once however often it is asked about.
    pub comment: &'a CommentId,
    pub at_ms: i64,
    pub window_ms: i64,
}

/// Where comments and moderation policies are kept.
pub trait CommentStore: Send + Sync {
    fn comment(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        comment: &CommentId,
    ) -> impl Future<Output = Result<Option<StoredComment>, StoreError>> + Send;

    /// Store a changed comment, if its revision is still the stored one
    /// ([`StoreError::Conflict`] otherwise); returns it with its new revision.
    fn update_comment(
        &self,
        comment: &StoredComment,
    ) -> impl Future<Output = Result<StoredComment, StoreError>> + Send;

    fn moderation_policy(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<ModerationPolicy>, StoreError>> + Send;

    /// Record this comment's fingerprint and count the author's comments with it in the
    /// window, this one included.
    fn count_repeat(
        &self,
        query: RepeatQuery<'_>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
}

/// One-time rights: taken once until they expire, or given back.
pub trait Claims: Send + Sync {
    /// Take `what` until `until` (epoch seconds); false when it is already taken.
    fn claim(
        &self,
        tenant: &TenantId,
        what: &str,
        until: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release(
        &self,
        tenant: &TenantId,
        what: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What Meta does to a comment.
pub trait CommentActions: Send + Sync {
    fn set_hidden(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        hidden: bool,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;

    fn delete(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;

    /// A public reply under the comment; returns the reply's id.
    fn reply(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        text: &str,
    ) -> impl Future<Output = Result<CommentId, GraphError>> + Send;

    /// A direct message to the comment's author; returns the message's id.
    fn private_reply(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        text: &str,
    ) -> impl Future<Output = Result<MessageId, GraphError>> + Send;
}

/// The tenant's audit trail.
pub trait AuditLog: Send + Sync {
    fn append(
        &self,
        tenant: &TenantId,
        entry: AuditEntry,
    ) -> impl Future<Output = Result<(), AuditError>> + Send;
}

/// A connected account and its access token.
pub trait AccountTokens: Send + Sync {
    fn access_token_for(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> impl Future<Output = Result<(Account, AccessToken), TokenError>> + Send;

    /// Meta says the token is dead: the account needs reconnecting (best effort).
    fn mark_needs_reconnect(
        &self,
        account: &Account,
        reason: &str,
    ) -> impl Future<Output = ()> + Send;
}

// ------------------------------------------------------------------ the command

/// Why a job is to be delivered again.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
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

/// Carries out moderation jobs.
pub struct Moderator<S, M, A, T> {
    pub store: S,
    pub meta: M,
    pub audit: A,
    pub tokens: T,
    pub clock: Arc<dyn Clock>,
    metrics: Metrics,
}

/// The moderator production runs: DynamoDB, the Graph API, the audit table, KMS-sealed
/// tokens.
pub type LiveModerator = Moderator<Store, GraphClient, AuditTrail, Tokens>;

impl<S, M, A, T> Moderator<S, M, A, T>
where
    S: CommentStore + Claims,
    M: CommentActions,
    A: AuditLog,
    T: AccountTokens,
{
    pub fn new(store: S, meta: M, audit: A, tokens: T, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            meta,
            audit,
            tokens,
            clock,
            metrics: Metrics::new("moderation"),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// One job.
    pub async fn handle(&self, job: &ModerationJob) -> Result<Handled, ModerationError> {
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

    async fn classify(&self, job: &ModerationJob) -> Result<Handled, ModerationError> {
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
    ) -> Result<StoredComment, ModerationError> {
        let policy = self
            .store
            .moderation_policy(&job.tenant_id, &job.account_id)
            .await?
            .unwrap_or_default();
        let by_account = written_by_account(job, &comment);
        let text = comment.text.as_deref().unwrap_or_default();
        let repeats = match (&comment.from_id, normalized_fingerprint(text)) {
            (Some(author), Some(fingerprint)) if policy.enabled && !by_account => {
                self.store
                    .count_repeat(RepeatQuery {
                        tenant: &job.tenant_id,
                        account: &job.account_id,
                        author,
                        fingerprint: &fingerprint,
                        comment: &comment.comment_id,
                        at_ms: comment.created_at,
                        window_ms: policy.repeat_window_ms(),
                    })
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
    ) -> Result<(), ModerationError> {
        let details = json!({"labels": label_names(comment),
            "signals": comment.signals,
            "spam_score": comment.spam_score,
            "auto_hide": comment.auto_hide,
        });
        self.audit
            .append(&job.tenant_id, entry(job, ACTOR, "comment.tagged", details))
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
    ) -> Result<bool, ModerationError> {
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(false);
        };
        match self.meta.set_hidden(&ig, &comment.comment_id, true).await {
            Ok(()) => {}
            Err(e) if comment_gone(&e) => {
                let now = self.clock.now_ms();
                self.mutate(job, |c| c.deleted_at = c.deleted_at.or(Some(now)))
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
        let details = json!({"reason": "policy", "labels": label_names(comment)});
        self.audit
            .append(&job.tenant_id, entry(job, ACTOR, "comment.hidden", details))
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

    async fn act(&self, job: &ModerationJob) -> Result<Handled, ModerationError> {
        let Some(comment) = self.comment(job).await? else {
            return Ok(Handled::Skipped("comment_not_stored"));
        };
        if comment.deleted_at.is_some() && !matches!(job.action, ModerationAction::Delete { .. }) {
            return self.refuse(job, ActionError::CommentDeleted).await;
        }
        match &job.action {
            ModerationAction::Classify => unreachable!("handled by classify"),
            ModerationAction::Hide { by } => {
                if written_by_account(job, &comment) {
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
    ) -> Result<Handled, ModerationError> {
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(Handled::Skipped("account_unavailable"));
        };
        let (name, action) = if hide {
            ("hide", "comment.hidden")
        } else {
            ("unhide", "comment.unhidden")
        };
        if let Err(e) = self.meta.set_hidden(&ig, &job.comment_id, hide).await {
            return self.meta_failure(job, &account, name, e).await;
        }
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
    ) -> Result<Handled, ModerationError> {
        if comment.deleted_at.is_some() {
            return Ok(Handled::Skipped("already_deleted"));
        }
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(Handled::Skipped("account_unavailable"));
        };
        match self.meta.delete(&ig, &job.comment_id).await {
            Ok(()) => {}
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
    ) -> Result<Handled, ModerationError> {
        let Some((account, ig)) = self.instagram(job).await? else {
            return Ok(Handled::Skipped("account_unavailable"));
        };
        let claim = format!("comment-reply:{}:{request_id}", job.account_id);
        if !self.claim(job, &claim).await? {
            return Ok(Handled::Skipped("request_already_handled"));
        }
        let reply_id = match self.meta.reply(&ig, &job.comment_id, text).await {
            Ok(id) => id,
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
    ) -> Result<Handled, ModerationError> {
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
        let message_id = match self.meta.private_reply(&ig, &job.comment_id, text).await {
            Ok(id) => id,
            Err(e) => return self.unsent(job, &account, &claim, "private_reply", e).await,
        };
        let audited = entry(
            job,
            by,
            "comment.private_replied",
            json!({"message_id": message_id.as_str(), "request_id": request_id}),
        );
        let now = self.clock.now_ms();
        self.done(job, "private_reply", audited, |c| {
            c.private_replied_at = Some(now)
        })
        .await
    }

    // ------------------------------------------------------------ steps

    /// An action Meta carried out: audit it (on the comment), then store its effect.
    /// In this order, a crash in between repeats the audit record rather than losing it.
    async fn done(
        &self,
        job: &ModerationJob,
        name: &'static str,
        audited: AuditEntry,
        change: impl Fn(&mut StoredComment) + Send,
    ) -> Result<Handled, ModerationError> {
        self.audit.append(&job.tenant_id, audited).await?;
        self.mutate(job, change).await?;
        self.metrics.count("ModerationActions", 1);
        Ok(Handled::Done(name))
    }

    async fn comment(&self, job: &ModerationJob) -> Result<Option<StoredComment>, ModerationError> {
        Ok(self
            .store
            .comment(&job.tenant_id, &job.account_id, &job.comment_id)
            .await?)
    }

    /// Apply `change` to the stored comment, re-reading it when another writer got in
    /// first.
    async fn mutate(
        &self,
        job: &ModerationJob,
        change: impl Fn(&mut StoredComment) + Send,
    ) -> Result<(), ModerationError> {
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

    async fn claim(&self, job: &ModerationJob, what: &str) -> Result<bool, ModerationError> {
        let until = self.clock.now_secs() + CLAIM_TTL_SECONDS;
        Ok(self.store.claim(&job.tenant_id, what, until).await?)
    }

    /// The account and its Instagram handle for Graph calls; None when it cannot act
    /// (gone, disconnected, not an Instagram account): recorded, not retried.
    async fn instagram(
        &self,
        job: &ModerationJob,
    ) -> Result<Option<(Account, InstagramAccount)>, ModerationError> {
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
            Err(e) => return Err(ModerationError::Token(e.to_string())),
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
    ) -> Result<Handled, ModerationError> {
        if e.is_retryable() {
            return Err(ModerationError::Meta(e));
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
    ) -> Result<Handled, ModerationError> {
        if provably_not_done(&e) {
            self.store.release(&job.tenant_id, claim).await?;
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
    ) -> Result<Handled, ModerationError> {
        let reason = failure_reason(&e);
        warn!(action, reason, error = %e, "moderation action failed");
        if e.needs_reconnect() {
            self.tokens.mark_needs_reconnect(account, reason).await;
        }
        let details = json!({"action": action, "reason": reason});
        self.audit
            .append(
                &job.tenant_id,
                entry(job, ACTOR, "comment.action_failed", details),
            )
            .await?;
        self.metrics.count("ModerationFailures", 1);
        Ok(Handled::Failed(reason))
    }

    async fn refuse(
        &self,
        job: &ModerationJob,
        refusal: ActionError,
    ) -> Result<Handled, ModerationError> {
        warn!(reason = %refusal, "moderation request refused");
        let details = json!({"action": job.action.name(), "reason": refusal.to_string()});
        self.audit
            .append(
                &job.tenant_id,
                entry(job, ACTOR, "comment.action_refused", details),
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

fn label_names(comment: &StoredComment) -> Vec<&'static str> {
    comment.labels.iter().map(|l| l.as_str()).collect()
}

/// An audit entry about the job's comment: targeted at it, naming its account.
fn entry(job: &ModerationJob, actor: &str, action: &str, details: serde_json::Value) -> AuditEntry {
    let mut details = details;
    if let Some(map) = details.as_object_mut() {
        map.insert("account_id".into(), json!(job.account_id.as_str()));
    }
    AuditEntry::new(actor, action)
        .target(format!("comment:{}", job.comment_id.as_str()))
        .details(details)
}

// ------------------------------------------------------------------ today's types

impl CommentStore for Store {
    async fn comment(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        comment: &CommentId,
    ) -> Result<Option<StoredComment>, StoreError> {
        self.get_comment(tenant, account, comment).await
    }

    async fn update_comment(&self, comment: &StoredComment) -> Result<StoredComment, StoreError> {
        Store::update_comment(self, comment).await
    }

    async fn moderation_policy(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<ModerationPolicy>, StoreError> {
        self.get_moderation_policy(tenant, account).await
    }

    async fn count_repeat(&self, q: RepeatQuery<'_>) -> Result<u32, StoreError> {
        Store::count_repeat(
            self,
            q.tenant,
            q.account,
            q.author,
            q.fingerprint,
            q.comment,
            q.at_ms,
            q.window_ms,
        )
        .await
    }
}

impl Claims for Store {
    async fn claim(&self, tenant: &TenantId, what: &str, until: i64) -> Result<bool, StoreError> {
        self.claim_action(tenant, what, until).await
    }

    async fn release(&self, tenant: &TenantId, what: &str) -> Result<(), StoreError> {
        self.release_action(tenant, what).await
    }
}

impl CommentActions for GraphClient {
    async fn set_hidden(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        hidden: bool,
    ) -> Result<(), GraphError> {
        if hidden {
            self.hide_comment(account, comment).await?;
        } else {
            self.unhide_comment(account, comment).await?;
        }
        Ok(())
    }

    async fn delete(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
    ) -> Result<(), GraphError> {
        self.delete_comment(account, comment).await.map(|_| ())
    }

    async fn reply(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        text: &str,
    ) -> Result<CommentId, GraphError> {
        Ok(self
            .reply_to_comment(account, comment, text)
            .await?
            .into_value())
    }

    async fn private_reply(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        text: &str,
    ) -> Result<MessageId, GraphError> {
        let sent = GraphClient::private_reply(self, account, comment, text).await?;
        Ok(sent.into_value().message_id)
    }
}

impl AuditLog for AuditTrail {
    async fn append(&self, tenant: &TenantId, entry: AuditEntry) -> Result<(), AuditError> {
        AuditTrail::append(self, tenant, entry).await.map(|_| ())
    }
}

impl AccountTokens for Tokens {
    async fn access_token_for(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<(Account, AccessToken), TokenError> {
        Tokens::access_token_for(self, tenant, account).await
    }

    async fn mark_needs_reconnect(&self, account: &Account, reason: &str) {
        // What it came to is the token keeper's to log and audit.
        let _ = Tokens::mark_needs_reconnect(self, account, reason).await;
    }
}

#[cfg(test)]
mod tests {
    //! The command on the moderation queue's sample jobs (`events/moderation`), against
    //! in-memory stand-ins for the store, Meta, the audit trail and the token keeper.

    use std::collections::{HashMap, HashSet, VecDeque};
    use std::sync::Mutex;

    use super::*;
    use crate::meta::TransientCause;
    use crate::moderation::Label;
    use crate::store::accounts::AccountStatus;

    /// 2026-09-21, a little after the sample comment was written.
    const NOW: i64 = 1_790_000_100_000;
    const COMMENT_AT: i64 = 1_790_000_001_000;
    const DAY: i64 = 86_400_000;

    /// The jobs of one sample event, in order.
    fn sample(name: &str) -> Vec<ModerationJob> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events/moderation")
            .join(name);
        let raw = std::fs::read_to_string(&path).expect("the sample exists");
        let event: serde_json::Value = serde_json::from_str(&raw).expect("the sample is JSON");
        event["Records"]
            .as_array()
            .expect("an SQS event")
            .iter()
            .map(|r| serde_json::from_str(r["body"].as_str().expect("a body")).expect("a job"))
            .collect()
    }

    fn only(name: &str) -> ModerationJob {
        let mut jobs = sample(name);
        assert_eq!(jobs.len(), 1, "{name} holds one job");
        jobs.remove(0)
    }

    /// The comment the samples name, as ingest stored it from
    /// `events/meta/instagram-comment.json`, with `text`.
    fn stored(job: &ModerationJob, text: &str) -> StoredComment {
        StoredComment {
            tenant_id: job.tenant_id.clone(),
            account_id: job.account_id.clone(),
            comment_id: job.comment_id.clone(),
            parent_id: None,
            media_id: None,
            media_product_type: Some("FEED".into()),
            from_id: Some(CustomerId::parse("1234567890123456").unwrap()),
            username: Some("berlin.shopper".into()),
            text: Some(text.into()),
            live: false,
            status: crate::inbox::CommentStatus::New,
            created_at: COMMENT_AT,
            received_at: COMMENT_AT,
            labels: vec![],
            signals: vec![],
            spam_score: 0,
            tag_audited: false,
            moderated_at: None,
            auto_hide: false,
            hidden: false,
            replied_at: None,
            reply_ids: vec![],
            private_replied_at: None,
            deleted_at: None,
            revision: 0,
        }
    }

    #[derive(Default)]
    struct Memory {
        comments: Mutex<HashMap<String, StoredComment>>,
        policy: Mutex<Option<ModerationPolicy>>,
        claims: Mutex<HashSet<String>>,
        seen: Mutex<HashMap<String, HashSet<String>>>,
        /// Conflicts to answer the next updates with (another writer got in first).
        conflicts: Mutex<u32>,
    }

    impl CommentStore for Memory {
        async fn comment(
            &self,
            tenant: &TenantId,
            account: &AccountId,
            comment: &CommentId,
        ) -> Result<Option<StoredComment>, StoreError> {
            let comments = self.comments.lock().unwrap();
            Ok(comments
                .get(comment.as_str())
                .cloned()
                .filter(|c| c.tenant_id == *tenant && c.account_id == *account))
        }

        async fn update_comment(
            &self,
            comment: &StoredComment,
        ) -> Result<StoredComment, StoreError> {
            let mut conflicts = self.conflicts.lock().unwrap();
            let mut comments = self.comments.lock().unwrap();
            let current = comments.get(comment.comment_id.as_str());
            if *conflicts > 0 || current.is_none_or(|c| c.revision != comment.revision) {
                *conflicts = conflicts.saturating_sub(1);
                return Err(StoreError::Conflict { what: "comment" });
            }
            let mut next = comment.clone();
            next.revision += 1;
            next.status = next.derived_status();
            comments.insert(next.comment_id.as_str().to_owned(), next.clone());
            Ok(next)
        }

        async fn moderation_policy(
            &self,
            _: &TenantId,
            _: &AccountId,
        ) -> Result<Option<ModerationPolicy>, StoreError> {
            Ok(self.policy.lock().unwrap().clone())
        }

        async fn count_repeat(&self, q: RepeatQuery<'_>) -> Result<u32, StoreError> {
            let mut seen = self.seen.lock().unwrap();
            let key = format!("{}:{}", q.author, q.fingerprint);
            let comments = seen.entry(key).or_default();
            comments.insert(q.comment.as_str().to_owned());
            Ok(comments.len() as u32)
        }
    }

    impl Claims for Memory {
        async fn claim(&self, _: &TenantId, what: &str, _: i64) -> Result<bool, StoreError> {
            Ok(self.claims.lock().unwrap().insert(what.to_owned()))
        }

        async fn release(&self, _: &TenantId, what: &str) -> Result<(), StoreError> {
            self.claims.lock().unwrap().remove(what);
            Ok(())
        }
    }

    /// Meta: records each call; answers the next calls with the failures queued.
    #[derive(Default)]
    struct Meta {
        calls: Mutex<Vec<String>>,
        failures: Mutex<VecDeque<GraphError>>,
    }

    impl Meta {
        fn answer(&self, call: String) -> Result<(), GraphError> {
            self.calls.lock().unwrap().push(call);
            match self.failures.lock().unwrap().pop_front() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }

        fn fail_next(&self, e: GraphError) {
            self.failures.lock().unwrap().push_back(e);
        }
    }

    impl CommentActions for Meta {
        async fn set_hidden(
            &self,
            _: &InstagramAccount,
            comment: &CommentId,
            hidden: bool,
        ) -> Result<(), GraphError> {
            let verb = if hidden { "hide" } else { "unhide" };
            self.answer(format!("{verb} {comment}"))
        }

        async fn delete(
            &self,
            _: &InstagramAccount,
            comment: &CommentId,
        ) -> Result<(), GraphError> {
            self.answer(format!("delete {comment}"))
        }

        async fn reply(
            &self,
            _: &InstagramAccount,
            comment: &CommentId,
            text: &str,
        ) -> Result<CommentId, GraphError> {
            self.answer(format!("reply {comment}: {text}"))?;
            Ok(CommentId::parse("17900000000000999").unwrap())
        }

        async fn private_reply(
            &self,
            _: &InstagramAccount,
            comment: &CommentId,
            text: &str,
        ) -> Result<MessageId, GraphError> {
            self.answer(format!("private_reply {comment}: {text}"))?;
            Ok(MessageId::parse("m_private_1").unwrap())
        }
    }

    #[derive(Default)]
    struct Audit(Mutex<Vec<AuditEntry>>);

    impl AuditLog for Audit {
        async fn append(&self, _: &TenantId, entry: AuditEntry) -> Result<(), AuditError> {
            self.0.lock().unwrap().push(entry);
            Ok(())
        }
    }

    /// The account's token, or the error queued; remembers reconnect marks.
    #[derive(Default)]
    struct Keys {
        error: Mutex<Option<TokenError>>,
        page: bool,
        reconnect: Mutex<Vec<String>>,
    }

    impl AccountTokens for Keys {
        async fn access_token_for(
            &self,
            tenant: &TenantId,
            account: &AccountId,
        ) -> Result<(Account, AccessToken), TokenError> {
            if let Some(e) = self.error.lock().unwrap().take() {
                return Err(e);
            }
            let account = Account {
                tenant_id: tenant.clone(),
                account_id: account.clone(),
                channel: if self.page {
                    Channel::Page
                } else {
                    Channel::Instagram
                },
                login: LoginKind::InstagramLogin,
                username: None,
                name: None,
                meta_user_id: None,
                linked_instagram_id: None,
                status: AccountStatus::Connected,
                token_sealed: None,
                token_issued_at: None,
                token_expires_at: None,
                connected_at: 0,
                updated_at: 0,
            };
            Ok((account, AccessToken::new("IGAA-test-token")))
        }

        async fn mark_needs_reconnect(&self, _: &Account, reason: &str) {
            self.reconnect.lock().unwrap().push(reason.to_owned());
        }
    }

    type Test = Moderator<Memory, Meta, Audit, Keys>;

    /// The moderator at `now`, with the sample comment stored saying `text`.
    fn world_at(now: i64, text: &str) -> Test {
        let m = Moderator::new(
            Memory::default(),
            Meta::default(),
            Audit::default(),
            Keys::default(),
            Arc::new(move || now),
        );
        let job = only("classify.json");
        m.store
            .comments
            .lock()
            .unwrap()
            .insert(job.comment_id.as_str().to_owned(), stored(&job, text));
        m
    }

    fn world(text: &str) -> Test {
        world_at(NOW, text)
    }

    impl Test {
        async fn run(&self, job: &ModerationJob) -> Handled {
            self.handle(job).await.expect("handled without a retry")
        }

        fn comment_now(&self) -> StoredComment {
            self.store
                .comments
                .lock()
                .unwrap()
                .values()
                .next()
                .unwrap()
                .clone()
        }

        fn audited(&self) -> Vec<(String, String)> {
            let entries = self.audit.0.lock().unwrap();
            entries
                .iter()
                .map(|e| (e.action.clone(), e.actor.clone()))
                .collect()
        }

        fn audit_details(&self, action: &str) -> serde_json::Value {
            let entries = self.audit.0.lock().unwrap();
            let found = entries.iter().find(|e| e.action == action);
            found.expect("audited").details.clone()
        }
    }

    fn pair(action: &str, actor: &str) -> (String, String) {
        (action.to_owned(), actor.to_owned())
    }

    const SPAM: &str = "Want 10k FREE followers?? DM me or check my bio bit.ly/grow-fast";

    #[tokio::test]
    async fn the_sample_comment_is_clean_classified_once_and_not_audited() {
        let m = world("How much is this?");
        assert_eq!(m.run(&only("classify.json")).await, Handled::Clean);
        let c = m.comment_now();
        assert_eq!(c.moderated_at, Some(NOW));
        assert!(c.labels.is_empty() && !c.hidden);
        assert!(m.audited().is_empty());
        assert!(m.meta.calls().is_empty());
        assert_eq!(m.metrics().get("CommentsClassified"), 1);
    }

    #[tokio::test]
    async fn spam_is_tagged_hidden_and_audited_once_however_often_it_is_delivered() {
        let m = world(SPAM);
        let jobs = sample("duplicate-delivery.json");
        assert_eq!(jobs.len(), 2);
        for job in &jobs {
            assert_eq!(m.run(job).await, Handled::Tagged { hidden: true });
        }
        let c = m.comment_now();
        assert_eq!(c.labels, vec![Label::Spam, Label::Link]);
        assert!(c.hidden && c.tag_audited);
        assert_eq!(c.status, crate::inbox::CommentStatus::Hidden);
        assert_eq!(m.meta.calls(), vec!["hide 17900000000000101"]);
        assert_eq!(
            m.audited(),
            vec![pair("comment.tagged", ACTOR), pair("comment.hidden", ACTOR)]
        );
        let tagged = m.audit_details("comment.tagged");
        assert_eq!(tagged["labels"], json!(["spam", "link"]));
        assert_eq!(tagged["account_id"], "17841400000000001");
        assert!(
            !tagged.to_string().contains("grow-fast"),
            "no text: {tagged}"
        );
        assert_eq!(m.metrics().get("CommentsHidden"), 1);
    }

    #[tokio::test]
    async fn a_throttled_hide_is_retried_without_tagging_twice() {
        let m = world(SPAM);
        m.meta.fail_next(GraphError::Throttled {
            code: Some(4),
            retry_after: std::time::Duration::from_secs(60),
        });
        let job = only("classify.json");
        assert!(matches!(
            m.handle(&job).await,
            Err(ModerationError::Meta(GraphError::Throttled { .. }))
        ));
        assert!(!m.comment_now().hidden && m.comment_now().tag_audited);
        assert_eq!(m.run(&job).await, Handled::Tagged { hidden: true });
        assert_eq!(
            m.audited(),
            vec![pair("comment.tagged", ACTOR), pair("comment.hidden", ACTOR)]
        );
    }

    #[tokio::test]
    async fn a_comment_gone_at_meta_is_marked_deleted_instead_of_hidden() {
        let m = world(SPAM);
        m.meta.fail_next(GraphError::InvalidRequest {
            code: 100,
            subcode: None,
            message: "Object does not exist".into(),
        });
        assert_eq!(
            m.run(&only("classify.json")).await,
            Handled::Tagged { hidden: false }
        );
        assert_eq!(m.comment_now().deleted_at, Some(NOW));
        assert_eq!(m.audited(), vec![pair("comment.tagged", ACTOR)]);
    }

    #[tokio::test]
    async fn a_writer_that_got_in_first_is_read_again() {
        let m = world(SPAM);
        m.run(&only("classify.json")).await;
        *m.store.conflicts.lock().unwrap() = 2;
        assert_eq!(m.run(&only("hide.json")).await, Handled::Done("hide"));
        assert!(m.comment_now().hidden);
        *m.store.conflicts.lock().unwrap() = 9;
        assert!(matches!(
            m.handle(&only("unhide.json")).await,
            Err(ModerationError::Store(StoreError::Conflict { .. }))
        ));
    }

    #[tokio::test]
    async fn a_persons_hide_and_unhide_are_audited_with_who_asked_and_the_unhide_stands() {
        let m = world(SPAM);
        assert_eq!(m.run(&only("hide.json")).await, Handled::Done("hide"));
        assert!(m.comment_now().hidden);
        assert_eq!(m.run(&only("unhide.json")).await, Handled::Done("unhide"));
        assert!(!m.comment_now().hidden);
        // The automatic pass comes later (or again): it does not hide what a person
        // unhid.
        m.run(&only("classify.json")).await;
        let c = m.comment_now();
        assert!(c.labels.contains(&Label::Spam) && c.auto_hide);
        assert_eq!(m.run(&only("unhide.json")).await, Handled::Done("unhide"));
        assert_eq!(
            m.run(&only("classify.json")).await,
            Handled::Tagged { hidden: false }
        );
        assert!(!m.comment_now().hidden);
        let owner = "user:owner-key";
        assert_eq!(
            m.audited()[..2],
            [
                pair("comment.hidden", owner),
                pair("comment.unhidden", owner)
            ]
        );
    }

    #[tokio::test]
    async fn the_account_cannot_hide_its_own_comment() {
        let m = world("Thanks everyone!");
        m.store
            .comments
            .lock()
            .unwrap()
            .values_mut()
            .for_each(|c| c.from_id = Some(CustomerId::parse("17841400000000001").unwrap()));
        assert_eq!(
            m.run(&only("hide.json")).await,
            Handled::Refused(ActionError::OwnComment)
        );
        assert!(m.meta.calls().is_empty());
        assert_eq!(m.audited(), vec![pair("comment.action_refused", ACTOR)]);
    }

    #[tokio::test]
    async fn a_delete_is_done_once_and_meta_saying_it_is_gone_counts_as_done() {
        let m = world("How much is this?");
        m.meta.fail_next(GraphError::InvalidRequest {
            code: 100,
            subcode: None,
            message: "gone".into(),
        });
        assert_eq!(m.run(&only("delete.json")).await, Handled::Done("delete"));
        assert_eq!(m.comment_now().status, crate::inbox::CommentStatus::Deleted);
        assert_eq!(
            m.run(&only("delete.json")).await,
            Handled::Skipped("already_deleted")
        );
        assert_eq!(
            m.run(&only("reply.json")).await,
            Handled::Refused(ActionError::CommentDeleted)
        );
        assert_eq!(
            m.run(&only("classify.json")).await,
            Handled::Skipped("deleted")
        );
        assert_eq!(m.meta.calls(), vec!["delete 17900000000000101"]);
    }

    #[tokio::test]
    async fn a_reply_is_sent_once_per_request() {
        let m = world("How much is this?");
        let job = only("reply.json");
        assert_eq!(m.run(&job).await, Handled::Done("reply"));
        assert_eq!(
            m.run(&job).await,
            Handled::Skipped("request_already_handled")
        );
        assert_eq!(
            m.meta.calls(),
            vec!["reply 17900000000000101: It is 14.50 EUR, in stock now!"]
        );
        let c = m.comment_now();
        assert_eq!(c.replied_at, Some(NOW));
        assert_eq!(c.reply_ids.len(), 1);
        assert_eq!(c.status, crate::inbox::CommentStatus::Replied);
        let details = m.audit_details("comment.replied");
        assert_eq!(details["request_id"], "reply-0001");
        assert!(!details.to_string().contains("14.50"), "no text: {details}");
    }

    #[tokio::test]
    async fn a_refused_send_gives_its_right_back_and_an_unknown_outcome_keeps_it() {
        // Throttled: nothing was sent, so the retry may send.
        let m = world("How much is this?");
        let job = only("reply.json");
        m.meta.fail_next(GraphError::Throttled {
            code: Some(4),
            retry_after: std::time::Duration::from_secs(1),
        });
        assert!(m.handle(&job).await.is_err());
        assert_eq!(m.run(&job).await, Handled::Done("reply"));
        assert_eq!(m.meta.calls().len(), 2);

        // A timeout may hide a reply that went out: never sent again.
        let m = world("How much is this?");
        m.meta.fail_next(GraphError::Transient {
            cause: TransientCause::Timeout,
        });
        assert_eq!(m.run(&job).await, Handled::Failed("meta_error"));
        assert_eq!(
            m.run(&job).await,
            Handled::Skipped("request_already_handled")
        );
        assert_eq!(m.meta.calls().len(), 1);
        assert_eq!(m.audited(), vec![pair("comment.action_failed", ACTOR)]);
    }

    #[tokio::test]
    async fn a_dead_token_fails_for_good_and_asks_for_a_reconnect() {
        let m = world("How much is this?");
        m.meta.fail_next(GraphError::TokenInvalid {
            reason: crate::meta::TokenInvalidReason::Expired,
        });
        assert_eq!(
            m.run(&only("reply.json")).await,
            Handled::Failed("token_invalid")
        );
        assert_eq!(*m.tokens.reconnect.lock().unwrap(), vec!["token_invalid"]);
        assert_eq!(m.metrics().get("ModerationFailures"), 1);
    }

    #[tokio::test]
    async fn a_private_reply_is_sent_once_per_comment_within_seven_days() {
        let m = world("How much is this?");
        let job = only("private-reply.json");
        assert_eq!(m.run(&job).await, Handled::Done("private_reply"));
        assert_eq!(m.comment_now().private_replied_at, Some(NOW));
        let mut another = job.clone();
        if let ModerationAction::PrivateReply { request_id, .. } = &mut another.action {
            *request_id = "dm-0002".into();
        }
        assert_eq!(
            m.run(&another).await,
            Handled::Refused(ActionError::PrivateReplyUsed)
        );
        assert_eq!(m.meta.calls().len(), 1);
        assert_eq!(
            m.audit_details("comment.private_replied")["message_id"],
            "m_private_1"
        );

        let late = world_at(COMMENT_AT + 7 * DAY + 1, "How much is this?");
        assert_eq!(
            late.run(&job).await,
            Handled::Refused(ActionError::PrivateReplyWindowClosed)
        );
        assert!(late.meta.calls().is_empty());
    }

    #[tokio::test]
    async fn an_empty_reply_is_refused_and_audited_without_reading_anything() {
        let m = world("How much is this?");
        m.store.comments.lock().unwrap().clear();
        let refused = m.run(&only("refused-empty-reply.json")).await;
        assert_eq!(refused, Handled::Refused(ActionError::EmptyText));
        assert!(m.meta.calls().is_empty());
        assert_eq!(m.audited(), vec![pair("comment.action_refused", ACTOR)]);
        assert_eq!(
            m.audit_details("comment.action_refused")["reason"],
            "the text is empty"
        );
    }

    #[tokio::test]
    async fn an_account_that_cannot_act_or_a_missing_comment_is_skipped() {
        let m = world("How much is this?");
        *m.tokens.error.lock().unwrap() = Some(TokenError::NoToken);
        assert_eq!(
            m.run(&only("hide.json")).await,
            Handled::Skipped("account_unavailable")
        );
        let page = Moderator {
            tokens: Keys {
                page: true,
                ..Keys::default()
            },
            ..world("How much is this?")
        };
        assert_eq!(
            page.run(&only("reply.json")).await,
            Handled::Skipped("account_unavailable")
        );
        let mut foreign = only("delete.json");
        foreign.tenant_id = TenantId::parse("mallory").unwrap();
        assert_eq!(
            m.run(&foreign).await,
            Handled::Skipped("comment_not_stored")
        );
        assert!(m.meta.calls().is_empty() && page.meta.calls().is_empty());
        *m.tokens.error.lock().unwrap() =
            Some(TokenError::Store(StoreError::Conflict { what: "account" }));
        assert!(matches!(
            m.handle(&only("unhide.json")).await,
            Err(ModerationError::Token(_))
        ));
    }

    #[tokio::test]
    async fn repeats_of_one_author_reach_the_policy_threshold() {
        let m = world("first!");
        *m.store.policy.lock().unwrap() = Some(ModerationPolicy {
            repeat_threshold: 2,
            ..ModerationPolicy::default()
        });
        let job = only("classify.json");
        assert_eq!(m.run(&job).await, Handled::Clean);
        // The same author writes the same again, as another comment.
        let mut again = stored(&job, "FIRST");
        again.comment_id = CommentId::parse("17900000000000102").unwrap();
        m.store
            .comments
            .lock()
            .unwrap()
            .insert("17900000000000102".into(), again.clone());
        let second = ModerationJob {
            comment_id: again.comment_id.clone(),
            ..job.clone()
        };
        assert_eq!(m.run(&second).await, Handled::Tagged { hidden: false });
        let labels = m.store.comments.lock().unwrap()["17900000000000102"]
            .labels
            .clone();
        assert_eq!(labels, vec![Label::Repeat]);
    }
}
