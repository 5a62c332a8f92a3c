//! A person's answers to customers from Relay's inbox: their own replies and the AI
//! drafts they approve (shadow mode).
//!
//! Meta's rules for a person (not automation): inside 24 hours of the customer's last
//! message a normal reply; from 24 hours to 7 days only with the `HUMAN_AGENT` tag; after
//! that nothing can be sent until the customer writes again ([`person_window`]).
//!
//! A person's reply pauses the AI for that conversation (the person took it over), as
//! "..." from the Instagram app does. A draft is resolved with a conditional write before
//! its first byte goes to Meta, so two people approving it at once send it once: the
//! loser is told it was resolved already. What was sent is stored as the conversation's
//! outbound messages (by mid, so Meta's echo does not store it twice) and audited with
//! the person's key as the actor. Logs carry ids only.

use std::sync::Arc;

use serde_json::json;
use tracing::warn;

use crate::accounts::{Account, TokenError, Tokens};
use crate::ai::{Draft, DraftKey, DraftStatus, LongReplies, fit_reply, policy::HUMAN_AGENT_WINDOW};
use crate::audit::{AuditEntry, AuditError, AuditTrail};
use crate::clock::Clock;
use crate::ids::{CustomerId, MessageId};
use crate::inbox::{AiOrigin, Author, Conversation};
use crate::meta::{GraphClient, GraphError, HumanAgent, MAX_TEXT_BYTES};
use crate::replies::outbound::{Thread, cannot_send, send_text};
use crate::replies::ports::Inbox;
use crate::secret::AccessToken;
use crate::store::{Store, StoreError};

/// Meta's standard messaging window.
pub const STANDARD_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The longest reply a person may send at once: five messages of Meta's 1000 bytes.
pub const MAX_REPLY_PARTS: u8 = 5;

/// Which of Meta's windows a person's reply falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Within 24 hours of the customer's last message: a normal reply.
    Standard,
    /// 24 hours to 7 days: only with the `HUMAN_AGENT` tag.
    HumanAgent,
    /// Over 7 days (or the customer never wrote): nothing can be sent.
    Closed,
}

/// The window a person's reply at `now_ms` falls in.
pub fn person_window(last_inbound_at: Option<i64>, now_ms: i64) -> Window {
    let Some(last) = last_inbound_at else {
        return Window::Closed;
    };
    let age = now_ms - last;
    if age <= STANDARD_WINDOW_MS {
        Window::Standard
    } else if age <= HUMAN_AGENT_WINDOW.as_millis() as i64 {
        Window::HumanAgent
    } else {
        Window::Closed
    }
}

/// Why a person's reply or approval did not go out.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("no such conversation")]
    NoConversation,
    #[error("no such draft")]
    NoDraft,
    #[error("the draft was {0:?} already")]
    AlreadyResolved(DraftStatus),
    #[error("the reply is empty")]
    Empty,
    #[error(
        "Meta allows no message more than 7 days after the customer's last one (last message at {last_inbound_at:?}); wait for the customer to write again"
    )]
    WindowClosed { last_inbound_at: Option<i64> },
    #[error("the account cannot send: {0}")]
    AccountCannotSend(&'static str),
    #[error("Meta refused the message: {0}")]
    Meta(GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not audit: {0}")]
    Audit(#[from] AuditError),
    #[error("the account's token could not be opened")]
    Token,
}

/// What went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub mids: Vec<MessageId>,
    /// Sent with the `HUMAN_AGENT` tag (24 h to 7 days after the customer's message).
    pub human_agent_tag: bool,
}

/// Sends what people write. Cheap to clone.
#[derive(Clone)]
pub struct Replies {
    pub store: Store,
    pub audit: AuditTrail,
    pub graph: GraphClient,
    pub tokens: Tokens,
    pub clock: Arc<dyn Clock>,
}

impl Replies {
    /// A person's own reply. `actor` is who the audit trail names (`user:<key id>`).
    pub async fn reply(
        &self,
        thread: &Thread<'_>,
        text: &str,
        actor: &str,
    ) -> Result<Sent, ReplyError> {
        let parts = parts_of(text)?;
        let conversation = self.conversation(thread).await?;
        let window = self.open_window(&conversation)?;
        let (account, token) = self.sender(thread).await?;
        let sent = self
            .send_parts(&account, &token, thread.customer, &parts, window, actor)
            .await?;
        self.record(thread, &parts, &sent.mids, Author::Human, None)
            .await?;
        let now = self.clock.now_ms();
        self.store
            .pause_conversation(
                thread.tenant,
                thread.account,
                thread.customer,
                "human_reply",
                now,
            )
            .await?;
        self.audit
            .append(
                thread.tenant,
                AuditEntry::new(actor, "conversation.replied")
                    .target(thread.target())
                    .details(json!({
                        "sent_mids": sent.mids.iter().map(MessageId::as_str).collect::<Vec<_>>(),
                        "human_agent_tag": sent.human_agent_tag,
                        "parts": sent.mids.len(),
                    })),
            )
            .await?;
        Ok(sent)
    }

    /// Approve a pending draft, as drafted or with `edited` text (what is sent then).
    pub async fn approve_draft(
        &self,
        thread: &Thread<'_>,
        draft_id: &DraftKey,
        edited: Option<&str>,
        actor: &str,
    ) -> Result<Sent, ReplyError> {
        let draft = self.pending_draft(thread, draft_id).await?;
        let parts = match edited {
            Some(text) => parts_of(text)?,
            None => draft.parts.clone(),
        };
        if parts.is_empty() {
            return Err(ReplyError::Empty);
        }
        let conversation = self.conversation(thread).await?;
        let window = self.open_window(&conversation)?;
        let (account, token) = self.sender(thread).await?;
        let status = if edited.is_some() {
            DraftStatus::Edited
        } else {
            DraftStatus::Approved
        };
        let now = self.clock.now_ms();
        // The conditional resolve is the claim: only one approver gets past it.
        if !self
            .store
            .resolve_draft(
                thread.tenant,
                thread.account,
                thread.customer,
                draft_id,
                status,
                actor,
                now,
            )
            .await?
        {
            let current = self.draft(thread, draft_id).await?;
            return Err(ReplyError::AlreadyResolved(current.status));
        }
        let sent = self
            .send_parts(&account, &token, thread.customer, &parts, window, actor)
            .await;
        let sent = match sent {
            Ok(sent) => sent,
            Err(e) => {
                self.audit
                    .append(
                        thread.tenant,
                        AuditEntry::new(actor, "draft.send_failed")
                            .target(thread.target())
                            .details(json!({ "draft_id": draft_id.to_string(), "reason": e.to_string() })),
                    )
                    .await?;
                return Err(e);
            }
        };
        let (author, origin) = match status {
            DraftStatus::Edited => (Author::Human, None),
            _ => (Author::Ai, Some(draft.ai.clone())),
        };
        self.record(thread, &parts, &sent.mids, author, origin)
            .await?;
        self.audit
            .append(
                thread.tenant,
                AuditEntry::new(
                    actor,
                    if status == DraftStatus::Edited {
                        "draft.edited_and_sent"
                    } else {
                        "draft.approved"
                    },
                )
                .target(thread.target())
                .details(json!({
                    "draft_id": draft_id.to_string(),
                    "sent_mids": sent.mids.iter().map(MessageId::as_str).collect::<Vec<_>>(),
                    "human_agent_tag": sent.human_agent_tag,
                })),
            )
            .await?;
        Ok(sent)
    }

    /// Discard a pending draft; nothing is sent.
    pub async fn reject_draft(
        &self,
        thread: &Thread<'_>,
        draft_id: &DraftKey,
        actor: &str,
    ) -> Result<(), ReplyError> {
        self.pending_draft(thread, draft_id).await?;
        let now = self.clock.now_ms();
        if !self
            .store
            .resolve_draft(
                thread.tenant,
                thread.account,
                thread.customer,
                draft_id,
                DraftStatus::Discarded,
                actor,
                now,
            )
            .await?
        {
            let current = self.draft(thread, draft_id).await?;
            return Err(ReplyError::AlreadyResolved(current.status));
        }
        self.audit
            .append(
                thread.tenant,
                AuditEntry::new(actor, "draft.rejected")
                    .target(thread.target())
                    .details(json!({ "draft_id": draft_id.to_string() })),
            )
            .await?;
        Ok(())
    }

    async fn draft(&self, thread: &Thread<'_>, draft_id: &DraftKey) -> Result<Draft, ReplyError> {
        self.store
            .get_draft(thread.tenant, thread.account, thread.customer, draft_id)
            .await?
            .ok_or(ReplyError::NoDraft)
    }

    async fn pending_draft(
        &self,
        thread: &Thread<'_>,
        draft_id: &DraftKey,
    ) -> Result<Draft, ReplyError> {
        let draft = self.draft(thread, draft_id).await?;
        if draft.status != DraftStatus::Pending {
            return Err(ReplyError::AlreadyResolved(draft.status));
        }
        Ok(draft)
    }

    async fn conversation(&self, thread: &Thread<'_>) -> Result<Conversation, ReplyError> {
        self.store
            .get_conversation(thread.tenant, thread.account, thread.customer)
            .await?
            .ok_or(ReplyError::NoConversation)
    }

    fn open_window(&self, conversation: &Conversation) -> Result<Window, ReplyError> {
        match person_window(conversation.last_inbound_at, self.clock.now_ms()) {
            Window::Closed => Err(ReplyError::WindowClosed {
                last_inbound_at: conversation.last_inbound_at,
            }),
            open => Ok(open),
        }
    }

    async fn sender(&self, thread: &Thread<'_>) -> Result<(Account, AccessToken), ReplyError> {
        match self
            .tokens
            .access_token_for(thread.tenant, thread.account)
            .await
        {
            Ok(sender) => Ok(sender),
            Err(e) => Err(match cannot_send(e) {
                Ok(reason) => ReplyError::AccountCannotSend(reason),
                Err(TokenError::Store(e)) => ReplyError::Store(e),
                Err(_) => ReplyError::Token,
            }),
        }
    }

    /// Send the parts in order; the first refusal stops the rest.
    async fn send_parts(
        &self,
        account: &Account,
        token: &AccessToken,
        customer: &CustomerId,
        parts: &[String],
        window: Window,
        actor: &str,
    ) -> Result<Sent, ReplyError> {
        let person = match window {
            Window::HumanAgent => Some(HumanAgent::new(actor).map_err(ReplyError::Meta)?),
            _ => None,
        };
        let mut mids = Vec::with_capacity(parts.len());
        for part in parts {
            match send_text(&self.graph, account, token, customer, part, person.as_ref()).await {
                Ok(mid) => mids.push(mid),
                Err(e) => {
                    warn!(account_id = %account.account_id, sent = mids.len(), error = %e, "a person's reply was refused");
                    if e.needs_reconnect() {
                        self.tokens
                            .mark_needs_reconnect(account, &e.to_string())
                            .await;
                    }
                    return Err(ReplyError::Meta(e));
                }
            }
        }
        Ok(Sent {
            mids,
            human_agent_tag: person.is_some(),
        })
    }

    /// Store what went out as the conversation's outbound messages. Meta's echo may
    /// have been stored first (as a person's message); for an approved draft it becomes
    /// the AI's, as the AI's own sends do.
    async fn record(
        &self,
        thread: &Thread<'_>,
        parts: &[String],
        mids: &[MessageId],
        author: Author,
        origin: Option<AiOrigin>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        for message in thread.outbound(parts, mids, now, author, origin.as_ref()) {
            self.store.record_outbound(&message).await?;
        }
        Ok(())
    }
}

/// A person's text as Meta's messages of at most 1000 bytes.
fn parts_of(text: &str) -> Result<Vec<String>, ReplyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ReplyError::Empty);
    }
    let parts = fit_reply(
        text,
        MAX_TEXT_BYTES,
        LongReplies::Split {
            max_parts: MAX_REPLY_PARTS,
        },
    );
    if parts.is_empty() {
        return Err(ReplyError::Empty);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600 * 1000;

    #[test]
    fn a_person_replies_normally_within_a_day_tagged_within_a_week_and_not_after() {
        let now = 100 * 24 * HOUR;
        assert_eq!(person_window(Some(now - HOUR), now), Window::Standard);
        assert_eq!(person_window(Some(now - 24 * HOUR), now), Window::Standard);
        assert_eq!(
            person_window(Some(now - 24 * HOUR - 1), now),
            Window::HumanAgent
        );
        assert_eq!(
            person_window(Some(now - 7 * 24 * HOUR), now),
            Window::HumanAgent
        );
        assert_eq!(
            person_window(Some(now - 7 * 24 * HOUR - 1), now),
            Window::Closed
        );
        assert_eq!(person_window(None, now), Window::Closed);
    }

    #[test]
    fn an_empty_reply_is_refused_and_a_long_one_is_split_into_metas_sizes() {
        assert!(matches!(parts_of("  \n "), Err(ReplyError::Empty)));
        let long = "This is a sentence of a long answer. ".repeat(60);
        let parts = parts_of(&long).unwrap();
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= MAX_TEXT_BYTES));
    }
}
