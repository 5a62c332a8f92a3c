//! The Send API: Instagram DMs, reactions, private replies to comments, and Messenger.
//!
//! Meta's rules enforced here: text is at most 1000 bytes of UTF-8; attachments are sent
//! by public http(s) URL; the `HUMAN_AGENT` tag (7-day window) exists only on the
//! `*_human_agent` methods, which demand a [`HumanAgent`], so automated code cannot set it
//! by accident. Sends are never retried: a timed-out send may have been delivered, and a
//! customer must not receive the same DM twice.

use std::fmt;

use reqwest::Url;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use super::transport::{Auth, Call, Retry};
use super::{
    FacebookPage, GraphClient, GraphError, InstagramAccount, LoginKind, Response, id_text,
};
use crate::ids::{CommentId, CustomerId, MessageId};

/// Meta rejects message text longer than 1000 bytes (UTF-8).
pub const MAX_TEXT_BYTES: usize = 1000;

/// Attachment types the Send API accepts by URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    Image,
    Audio,
    Video,
    File,
}

impl AttachmentKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::File => "file",
        }
    }
}

/// What a message says. Its `Debug` never prints the text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MessageBody<'a> {
    Text(&'a str),
    Attachment { kind: AttachmentKind, url: &'a str },
}

impl fmt::Debug for MessageBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => write!(f, "Text({} bytes)", text.len()),
            Self::Attachment { kind, .. } => write!(f, "Attachment({kind:?})"),
        }
    }
}

impl MessageBody<'_> {
    fn to_json(self) -> Result<Value, GraphError> {
        match self {
            Self::Text(text) => {
                check_text(text)?;
                Ok(json!({ "text": text }))
            }
            Self::Attachment { kind, url } => {
                let parsed = Url::parse(url).map_err(|_| GraphError::InvalidInput {
                    reason: "the attachment URL is not a URL".into(),
                })?;
                // Meta fetches attachments itself, so they must be on the public web.
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(GraphError::InvalidInput {
                        reason: "the attachment URL must be http or https".into(),
                    });
                }
                Ok(json!({
                    "attachment": { "type": kind.as_str(), "payload": { "url": url } }
                }))
            }
        }
    }
}

fn check_text(text: &str) -> Result<(), GraphError> {
    if text.trim().is_empty() {
        return Err(GraphError::InvalidInput {
            reason: "the message text is empty".into(),
        });
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(GraphError::InvalidInput {
            reason: format!(
                "the message text is {} bytes; Meta allows {MAX_TEXT_BYTES}",
                text.len()
            ),
        });
    }
    Ok(())
}

/// Messenger's `messaging_type` for messages that are not human-agent follow-ups.
/// (`MESSAGE_TAG` is only set by [`GraphClient::send_messenger_human_agent`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    /// A reply to a message the person sent within the last 24 hours.
    Response,
    /// A proactive message, also only within 24 hours of the person's last message.
    Update,
}

impl MessagingType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Response => "RESPONSE",
            Self::Update => "UPDATE",
        }
    }
}

/// Proof that a person (not automation) wrote this reply: required to use the
/// `HUMAN_AGENT` tag, which Meta allows only for human replies, up to 7 days after the
/// customer's last message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanAgent {
    member_id: String,
}

impl HumanAgent {
    /// `member_id` is the Relay team member who wrote the reply (kept for the audit trail
    /// by the caller; it is never logged here).
    pub fn new(member_id: impl Into<String>) -> Result<Self, GraphError> {
        let member_id = member_id.into();
        if member_id.trim().is_empty() {
            return Err(GraphError::InvalidInput {
                reason: "a human-agent reply needs the team member who wrote it".into(),
            });
        }
        Ok(Self { member_id })
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }
}

/// Meta's receipt for a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub message_id: MessageId,
    /// The customer's id as Meta resolved it (for private replies, the commenter).
    pub recipient: Option<CustomerId>,
}

#[derive(Deserialize)]
struct RawSent {
    #[serde(default)]
    recipient_id: Option<Value>,
    #[serde(default)]
    message_id: Option<String>,
}

impl RawSent {
    fn into_sent(self, context: &'static str) -> Result<SentMessage, GraphError> {
        let decode = |detail: &str| GraphError::Decode {
            context,
            detail: detail.to_owned(),
        };
        let message_id = self
            .message_id
            .ok_or_else(|| decode("missing `message_id`"))?;
        let message_id = MessageId::parse(message_id).map_err(|e| decode(&e.to_string()))?;
        let recipient = self
            .recipient_id
            .as_ref()
            .and_then(id_text)
            .and_then(|id| CustomerId::parse(id).ok());
        Ok(SentMessage {
            message_id,
            recipient,
        })
    }
}

impl GraphClient {
    /// Sends a DM within the 24-hour window. Never tagged, never retried.
    pub async fn send_message(
        &self,
        account: &InstagramAccount,
        recipient: &CustomerId,
        body: MessageBody<'_>,
    ) -> Result<Response<SentMessage>, GraphError> {
        let payload = json!({
            "recipient": { "id": recipient.as_str() },
            "message": body.to_json()?,
        });
        self.send(account, "send_message", payload).await
    }

    /// Sends a text DM within the 24-hour window.
    pub async fn send_text(
        &self,
        account: &InstagramAccount,
        recipient: &CustomerId,
        text: &str,
    ) -> Result<Response<SentMessage>, GraphError> {
        self.send_message(account, recipient, MessageBody::Text(text))
            .await
    }

    /// Sends an image, audio, video or file by public URL within the 24-hour window.
    pub async fn send_attachment(
        &self,
        account: &InstagramAccount,
        recipient: &CustomerId,
        kind: AttachmentKind,
        url: &str,
    ) -> Result<Response<SentMessage>, GraphError> {
        self.send_message(account, recipient, MessageBody::Attachment { kind, url })
            .await
    }

    /// A reply written by a person, tagged `HUMAN_AGENT`: allowed up to 7 days after the
    /// customer's last message. Never use it for automated replies.
    pub async fn send_human_agent_message(
        &self,
        account: &InstagramAccount,
        recipient: &CustomerId,
        body: MessageBody<'_>,
        _written_by: &HumanAgent,
    ) -> Result<Response<SentMessage>, GraphError> {
        let payload = json!({
            "recipient": { "id": recipient.as_str() },
            "message": body.to_json()?,
            "tag": "HUMAN_AGENT",
        });
        self.send(account, "send_human_agent_message", payload)
            .await
    }

    /// Reacts to a customer's message (`sender_action: react`).
    pub async fn react_to_message(
        &self,
        account: &InstagramAccount,
        recipient: &CustomerId,
        message: &MessageId,
        reaction: &str,
    ) -> Result<Response<()>, GraphError> {
        if reaction.is_empty() || reaction.len() > 32 {
            return Err(GraphError::InvalidInput {
                reason: "the reaction must be a short name such as \"love\"".into(),
            });
        }
        let payload = json!({
            "recipient": { "id": recipient.as_str() },
            "sender_action": "react",
            "payload": { "message_id": message.as_str(), "reaction": reaction },
        });
        self.send_action(account, "react_to_message", payload).await
    }

    /// Removes the business's reaction (`sender_action: unreact`).
    pub async fn remove_reaction(
        &self,
        account: &InstagramAccount,
        recipient: &CustomerId,
        message: &MessageId,
    ) -> Result<Response<()>, GraphError> {
        let payload = json!({
            "recipient": { "id": recipient.as_str() },
            "sender_action": "unreact",
            "payload": { "message_id": message.as_str() },
        });
        self.send_action(account, "remove_reaction", payload).await
    }

    /// A private DM reply to a comment: one per comment, within 7 days of it.
    pub async fn private_reply(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        text: &str,
    ) -> Result<Response<SentMessage>, GraphError> {
        check_text(text)?;
        let payload = json!({
            "recipient": { "comment_id": comment.as_str() },
            "message": { "text": text },
        });
        self.send(account, "private_reply", payload).await
    }

    /// Messenger: a message from a Page within the 24-hour window.
    pub async fn send_messenger(
        &self,
        page: &FacebookPage,
        recipient: &CustomerId,
        body: MessageBody<'_>,
        messaging_type: MessagingType,
    ) -> Result<Response<SentMessage>, GraphError> {
        let payload = json!({
            "recipient": { "id": recipient.as_str() },
            "messaging_type": messaging_type.as_str(),
            "message": body.to_json()?,
        });
        self.send_from_page(page, "send_messenger", payload).await
    }

    /// Messenger: a reply written by a person, `MESSAGE_TAG` + `HUMAN_AGENT` (7 days).
    pub async fn send_messenger_human_agent(
        &self,
        page: &FacebookPage,
        recipient: &CustomerId,
        body: MessageBody<'_>,
        _written_by: &HumanAgent,
    ) -> Result<Response<SentMessage>, GraphError> {
        let payload = json!({
            "recipient": { "id": recipient.as_str() },
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
            "message": body.to_json()?,
        });
        self.send_from_page(page, "send_messenger_human_agent", payload)
            .await
    }

    /// Instagram Login sends from `/<IG_ID>/messages` on graph.instagram.com; an account
    /// linked to a Page sends with the Page token from `/me/messages` on graph.facebook.com.
    fn messages_url(&self, account: &InstagramAccount) -> Url {
        match account.login {
            LoginKind::Instagram => {
                self.instagram_url(account.login, &[account.id.as_str(), "messages"])
            }
            LoginKind::Facebook => self.instagram_url(account.login, &["me", "messages"]),
        }
    }

    async fn send(
        &self,
        account: &InstagramAccount,
        name: &'static str,
        payload: Value,
    ) -> Result<Response<SentMessage>, GraphError> {
        let call = Call::post(
            name,
            self.messages_url(account),
            Auth::Bearer(&account.token),
            Retry::Once,
        )
        .for_account(&account.id)
        .json(payload);
        let response = self.execute::<RawSent>(&call).await?;
        let usage = response.usage;
        Ok(Response {
            value: response.value.into_sent(name)?,
            usage,
        })
    }

    async fn send_action(
        &self,
        account: &InstagramAccount,
        name: &'static str,
        payload: Value,
    ) -> Result<Response<()>, GraphError> {
        let call = Call::post(
            name,
            self.messages_url(account),
            Auth::Bearer(&account.token),
            Retry::Once,
        )
        .for_account(&account.id)
        .json(payload);
        Ok(self.execute::<IgnoredAny>(&call).await?.map(|_| ()))
    }

    async fn send_from_page(
        &self,
        page: &FacebookPage,
        name: &'static str,
        payload: Value,
    ) -> Result<Response<SentMessage>, GraphError> {
        let call = Call::post(
            name,
            self.facebook_url(&[page.id.as_str(), "messages"]),
            Auth::Bearer(&page.token),
            Retry::Once,
        )
        .for_account(&page.id)
        .json(payload);
        let response = self.execute::<RawSent>(&call).await?;
        let usage = response.usage;
        Ok(Response {
            value: response.value.into_sent(name)?,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_follow_meta() {
        assert!(check_text(&"a".repeat(MAX_TEXT_BYTES)).is_ok());
        // 334 three-byte characters are 1002 bytes: over the limit although 334 chars.
        let err = check_text(&"€".repeat(334)).expect_err("over 1000 bytes");
        assert!(err.to_string().contains("1002 bytes"));
        assert!(check_text("  ").is_err());
    }

    #[test]
    fn bodies_serialise_like_the_send_api() {
        assert_eq!(
            MessageBody::Text("hi").to_json().expect("valid text"),
            json!({"text": "hi"})
        );
        assert_eq!(
            MessageBody::Attachment {
                kind: AttachmentKind::Image,
                url: "https://cdn.example/a.jpg"
            }
            .to_json()
            .expect("valid attachment"),
            json!({"attachment": {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}}})
        );
        assert!(
            MessageBody::Attachment {
                kind: AttachmentKind::File,
                url: "file:///etc/passwd"
            }
            .to_json()
            .is_err()
        );
    }

    #[test]
    fn body_debug_hides_the_text() {
        let shown = format!("{:?}", MessageBody::Text("my secret order number"));
        assert!(!shown.contains("secret"));
    }

    #[test]
    fn human_agent_needs_a_person() {
        assert!(HumanAgent::new("").is_err());
        assert_eq!(
            HumanAgent::new("member-7").expect("valid").member_id(),
            "member-7"
        );
    }

    #[test]
    fn receipts_need_a_message_id() {
        let raw: RawSent = serde_json::from_str(
            r#"{"recipient_id":"1254477777772919","message_id":"aWdfZAG1faXRlbToxOklH"}"#,
        )
        .expect("documented shape");
        let sent = raw.into_sent("send_message").expect("valid receipt");
        assert_eq!(sent.message_id.as_str(), "aWdfZAG1faXRlbToxOklH");
        assert_eq!(
            sent.recipient.as_ref().map(CustomerId::as_str),
            Some("1254477777772919")
        );
        let raw: RawSent = serde_json::from_str(r#"{"recipient_id":"1"}"#).expect("json");
        assert!(matches!(
            raw.into_sent("send_message"),
            Err(GraphError::Decode { .. })
        ));
    }
}
