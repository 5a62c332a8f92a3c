//! Conversations and the Send API's rules.
//!
//! Guarantees:
//! - a business may message a person only after that person messaged it, and only
//!   within 24 hours of the person's last message (`HUMAN_AGENT`: 7 days; Messenger's
//!   non-promotional update tags: any time after a first message);
//! - message text is at most 1000 bytes of UTF-8;
//! - a comment gets at most one private reply, within 7 days of the comment.

use super::Clock;
use serde::Serialize;
use serde_json::Value;

/// The standard messaging window.
pub const WINDOW_SECS: i64 = 86_400;
/// The window a human agent gets with `tag: HUMAN_AGENT`.
pub const HUMAN_AGENT_WINDOW_SECS: i64 = 7 * 86_400;
/// How long after a comment a private reply may be sent.
pub const PRIVATE_REPLY_WINDOW_SECS: i64 = 7 * 86_400;
/// Send API text limit, in bytes of UTF-8.
pub const TEXT_MAX_BYTES: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Instagram,
    Messenger,
}

/// A message tag on a Send API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageTag {
    HumanAgent,
    AccountUpdate,
    ConfirmedEventUpdate,
    PostPurchaseUpdate,
}

impl MessageTag {
    /// Parses a tag allowed on `channel` (Instagram knows only `HUMAN_AGENT`).
    pub fn parse(raw: &str, channel: Channel) -> Option<Self> {
        let tag = match raw {
            "HUMAN_AGENT" => Self::HumanAgent,
            "ACCOUNT_UPDATE" => Self::AccountUpdate,
            "CONFIRMED_EVENT_UPDATE" => Self::ConfirmedEventUpdate,
            "POST_PURCHASE_UPDATE" => Self::PostPurchaseUpdate,
            _ => return None,
        };
        match (channel, tag) {
            (Channel::Instagram, Self::HumanAgent) | (Channel::Messenger, _) => Some(tag),
            (Channel::Instagram, _) => None,
        }
    }
}

/// What the simulator remembers of one person's conversation with one account.
#[derive(Clone, Debug, Serialize)]
pub struct Thread {
    pub account_id: String,
    pub customer_id: String,
    pub channel: Channel,
    /// When the person last messaged the account (opens the window).
    pub last_inbound_ms: Option<i64>,
    /// Message ids seen in this conversation (reaction targets).
    pub mids: Vec<String>,
}

/// One message (or sender action) accepted by the Send API.
#[derive(Clone, Debug, Serialize)]
pub struct SentMessage {
    pub id: String,
    pub account_id: String,
    pub channel: Channel,
    pub recipient: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Value>,
    /// Unix seconds of the simulated clock.
    pub sent_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendRefusal {
    #[error("the person never messaged this account")]
    NoConversation,
    #[error("the messaging window is closed")]
    OutsideWindow { age_secs: i64, limit_secs: i64 },
    #[error("message text is empty")]
    EmptyText,
    #[error("message text is {bytes} bytes, over the limit")]
    TextTooLong { bytes: usize },
}

/// The messaging window rule: how long after the person's last message the account
/// may still write, given the tag.
pub fn check_window(
    channel: Channel,
    last_inbound_ms: Option<i64>,
    tag: Option<MessageTag>,
    now: Clock,
) -> Result<(), SendRefusal> {
    let Some(last) = last_inbound_ms else {
        return Err(SendRefusal::NoConversation);
    };
    let limit_secs = match (channel, tag) {
        (_, Some(MessageTag::HumanAgent)) => HUMAN_AGENT_WINDOW_SECS,
        // Messenger's non-promotional update tags are not bound to the window.
        (Channel::Messenger, Some(_)) => return Ok(()),
        _ => WINDOW_SECS,
    };
    let age_secs = now.secs_since(last);
    if age_secs >= limit_secs {
        return Err(SendRefusal::OutsideWindow {
            age_secs,
            limit_secs,
        });
    }
    Ok(())
}

/// Send API text rule: non-empty and at most 1000 bytes of UTF-8 (not characters).
pub fn check_text(text: &str) -> Result<(), SendRefusal> {
    if text.is_empty() {
        return Err(SendRefusal::EmptyText);
    }
    if text.len() > TEXT_MAX_BYTES {
        return Err(SendRefusal::TextTooLong { bytes: text.len() });
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrivateReplyRefusal {
    #[error("this comment already has a private reply")]
    AlreadyReplied,
    #[error("the comment is older than 7 days")]
    TooOld { age_secs: i64 },
}

/// Private replies: one per comment, within 7 days of the comment.
pub fn check_private_reply(
    comment_created_ms: i64,
    already_replied: bool,
    now: Clock,
) -> Result<(), PrivateReplyRefusal> {
    if already_replied {
        return Err(PrivateReplyRefusal::AlreadyReplied);
    }
    let age_secs = now.secs_since(comment_created_ms);
    if age_secs >= PRIVATE_REPLY_WINDOW_SECS {
        return Err(PrivateReplyRefusal::TooOld { age_secs });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;

    #[test]
    fn window_is_open_for_24_hours_after_the_last_message() {
        let last = Some(T0 * 1000);
        for ch in [Channel::Instagram, Channel::Messenger] {
            assert_eq!(check_window(ch, last, None, Clock::at_secs(T0 + 1)), Ok(()));
            assert_eq!(
                check_window(ch, last, None, Clock::at_secs(T0 + 86_399)),
                Ok(())
            );
            assert!(matches!(
                check_window(ch, last, None, Clock::at_secs(T0 + 86_400)),
                Err(SendRefusal::OutsideWindow { .. })
            ));
        }
    }

    #[test]
    fn no_message_without_a_conversation() {
        assert_eq!(
            check_window(Channel::Instagram, None, None, Clock::at_secs(T0)),
            Err(SendRefusal::NoConversation)
        );
        assert_eq!(
            check_window(
                Channel::Instagram,
                None,
                Some(MessageTag::HumanAgent),
                Clock::at_secs(T0)
            ),
            Err(SendRefusal::NoConversation)
        );
    }

    #[test]
    fn human_agent_tag_extends_the_window_to_seven_days() {
        let last = Some(T0 * 1000);
        let tag = Some(MessageTag::HumanAgent);
        let day3 = Clock::at_secs(T0 + 3 * 86_400);
        assert!(check_window(Channel::Instagram, last, None, day3).is_err());
        assert_eq!(check_window(Channel::Instagram, last, tag, day3), Ok(()));
        assert!(
            check_window(
                Channel::Instagram,
                last,
                tag,
                Clock::at_secs(T0 + 7 * 86_400)
            )
            .is_err()
        );
    }

    #[test]
    fn messenger_update_tags_ignore_the_window_but_instagram_rejects_them() {
        let last = Some(T0 * 1000);
        let much_later = Clock::at_secs(T0 + 30 * 86_400);
        assert_eq!(
            check_window(
                Channel::Messenger,
                last,
                Some(MessageTag::AccountUpdate),
                much_later
            ),
            Ok(())
        );
        assert_eq!(
            MessageTag::parse("ACCOUNT_UPDATE", Channel::Instagram),
            None
        );
        assert_eq!(
            MessageTag::parse("HUMAN_AGENT", Channel::Instagram),
            Some(MessageTag::HumanAgent)
        );
    }

    #[test]
    fn text_limit_counts_bytes_not_characters() {
        assert_eq!(check_text(&"a".repeat(1000)), Ok(()));
        assert_eq!(
            check_text(&"a".repeat(1001)),
            Err(SendRefusal::TextTooLong { bytes: 1001 })
        );
        // 334 × "ä" is 334 characters but 668 bytes; 501 × "ä" is 1002 bytes.
        assert_eq!(check_text(&"ä".repeat(500)), Ok(()));
        assert_eq!(
            check_text(&"ä".repeat(501)),
            Err(SendRefusal::TextTooLong { bytes: 1002 })
        );
        assert_eq!(check_text(""), Err(SendRefusal::EmptyText));
    }

    #[test]
    fn private_reply_once_and_within_seven_days() {
        let created = T0 * 1000;
        assert_eq!(
            check_private_reply(created, false, Clock::at_secs(T0 + 6 * 86_400)),
            Ok(())
        );
        assert_eq!(
            check_private_reply(created, true, Clock::at_secs(T0 + 60)),
            Err(PrivateReplyRefusal::AlreadyReplied)
        );
        assert!(matches!(
            check_private_reply(created, false, Clock::at_secs(T0 + 7 * 86_400)),
            Err(PrivateReplyRefusal::TooOld { .. })
        ));
    }
}
