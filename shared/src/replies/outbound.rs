//! What every reply to a customer has in common, whoever wrote it: the conversation it
//! belongs to, the Send API call for the account's channel, the stored form of what went
//! out, and why an account cannot send right now.
//!
//! Guarantees: the `HUMAN_AGENT` tag is set only when the caller passes the person who
//! wrote the reply (Meta allows it for people, never for automation); a stored outbound
//! message carries Meta's mid, so Meta's echo of it is never stored twice.

use crate::accounts::{Account, GraphHandle, TokenError};
use crate::ids::{AccountId, CustomerId, MessageId, TenantId};
use crate::inbox::{AiOrigin, Author, Direction, MessageKind, StoredMessage};
use crate::meta::{GraphClient, GraphError, HumanAgent, MessageBody, MessagingType};
use crate::secret::AccessToken;

/// One conversation of a tenant: the business account and the customer.
#[derive(Debug, Clone, Copy)]
pub struct Thread<'a> {
    pub tenant: &'a TenantId,
    pub account: &'a AccountId,
    pub customer: &'a CustomerId,
}

impl Thread<'_> {
    /// The conversation as the audit trail names it (the customer as a fingerprint).
    pub fn target(&self) -> String {
        format!(
            "conversation:{}:{}",
            self.account,
            self.customer.fingerprint()
        )
    }

    /// What went out, `parts[i]` sent as `mids[i]`, as the conversation stores it: in
    /// order, one millisecond apart from `now`.
    pub fn outbound(
        &self,
        parts: &[String],
        mids: &[MessageId],
        now: i64,
        author: Author,
        ai: Option<&AiOrigin>,
    ) -> Vec<StoredMessage> {
        let message = |(i, (text, mid)): (usize, (&String, &MessageId))| {
            let at = now + i as i64;
            StoredMessage {
                tenant_id: self.tenant.clone(),
                account_id: self.account.clone(),
                customer_id: self.customer.clone(),
                mid: mid.clone(),
                direction: Direction::Outbound,
                author,
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
                ai: ai.cloned(),
                jobs_enqueued: false,
            }
        };
        parts.iter().zip(mids).enumerate().map(message).collect()
    }
}

/// One text message from `account` to `customer` through the Send API of its channel
/// (Messenger for a Page, Instagram messaging otherwise), tagged `HUMAN_AGENT` only when
/// `person` wrote it.
pub async fn send_text(
    graph: &GraphClient,
    account: &Account,
    token: &AccessToken,
    customer: &CustomerId,
    text: &str,
    person: Option<&HumanAgent>,
) -> Result<MessageId, GraphError> {
    let body = MessageBody::Text(text);
    let sent = match (GraphHandle::of(account, token.clone()), person) {
        (GraphHandle::Page(page), Some(p)) => {
            graph
                .send_messenger_human_agent(&page, customer, body, p)
                .await?
        }
        (GraphHandle::Page(page), None) => {
            graph
                .send_messenger(&page, customer, body, MessagingType::Response)
                .await?
        }
        (GraphHandle::Instagram(ig), Some(p)) => {
            graph
                .send_human_agent_message(&ig, customer, body, p)
                .await?
        }
        (GraphHandle::Instagram(ig), None) => graph.send_message(&ig, customer, body).await?,
    };
    Ok(sent.value.message_id)
}

/// Why the account cannot send now, as a stable name for outcomes and answers; or the
/// error itself when its token could not be read at all (worth a retry).
pub fn cannot_send(error: TokenError) -> Result<&'static str, TokenError> {
    match error {
        TokenError::NotFound => Ok("account_missing"),
        TokenError::NotConnected(_) => Ok("account_not_connected"),
        TokenError::NoToken => Ok("account_has_no_token"),
        TokenError::NeedsReconnect { .. } => Ok("account_needs_reconnect"),
        error @ (TokenError::Crypto(_) | TokenError::Store(_)) => Err(error),
    }
}
