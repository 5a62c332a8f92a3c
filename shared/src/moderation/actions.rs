//! What a person (through the API) can ask moderation to do with a comment, and the
//! Meta rules that bound it.

use serde::{Deserialize, Serialize};

use crate::meta::MAX_TEXT_BYTES;

/// Meta allows one private reply per comment, within 7 days of the comment.
pub const PRIVATE_REPLY_WINDOW_MS: i64 = 7 * 86_400_000;

/// Longest public reply Relay sends (Instagram cuts comments at 2,200 characters).
pub const MAX_COMMENT_REPLY_CHARS: usize = 2200;

/// One moderation action on one comment. `Classify` is the automatic pass ingest asks
/// for; the others come from people, carry who asked (`by`, for the audit trail) and a
/// `request_id` that makes a redelivered request act once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ModerationAction {
    #[default]
    Classify,
    Hide {
        by: String,
    },
    Unhide {
        by: String,
    },
    Delete {
        by: String,
    },
    Reply {
        by: String,
        request_id: String,
        text: String,
    },
    PrivateReply {
        by: String,
        request_id: String,
        text: String,
    },
}

impl ModerationAction {
    /// The action's name in logs, metrics and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Classify => "classify",
            Self::Hide { .. } => "hide",
            Self::Unhide { .. } => "unhide",
            Self::Delete { .. } => "delete",
            Self::Reply { .. } => "reply",
            Self::PrivateReply { .. } => "private_reply",
        }
    }

    /// Check what can be checked without the comment: the text and the request id.
    pub fn validate(&self) -> Result<(), ActionError> {
        let check_request = |id: &str| {
            let ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if ok {
                Ok(())
            } else {
                Err(ActionError::BadRequestId)
            }
        };
        let check_by = |by: &str| {
            if by.trim().is_empty() || by.len() > 200 {
                Err(ActionError::NoActor)
            } else {
                Ok(())
            }
        };
        match self {
            Self::Classify => Ok(()),
            Self::Hide { by } | Self::Unhide { by } | Self::Delete { by } => check_by(by),
            Self::Reply {
                by,
                request_id,
                text,
            } => {
                check_by(by)?;
                check_request(request_id)?;
                if text.trim().is_empty() {
                    return Err(ActionError::EmptyText);
                }
                if text.chars().count() > MAX_COMMENT_REPLY_CHARS {
                    return Err(ActionError::TooLong {
                        limit: "2200 characters",
                    });
                }
                Ok(())
            }
            Self::PrivateReply {
                by,
                request_id,
                text,
            } => {
                check_by(by)?;
                check_request(request_id)?;
                if text.trim().is_empty() {
                    return Err(ActionError::EmptyText);
                }
                if text.len() > MAX_TEXT_BYTES {
                    return Err(ActionError::TooLong {
                        limit: "1000 bytes",
                    });
                }
                Ok(())
            }
        }
    }
}

/// Why an action was refused before anything was sent to Meta.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("the text is empty")]
    EmptyText,
    #[error("the text is longer than Meta allows ({limit})")]
    TooLong { limit: &'static str },
    #[error("request_id must be 1 to 64 letters, digits, '-' or '_'")]
    BadRequestId,
    #[error("the action names nobody who asked for it")]
    NoActor,
    #[error("Meta allows a private reply only within 7 days of the comment")]
    PrivateReplyWindowClosed,
    #[error("this comment already has its one private reply")]
    PrivateReplyUsed,
    #[error("the comment was deleted")]
    CommentDeleted,
    #[error("Meta does not let an account hide its own comments")]
    OwnComment,
}

/// Whether a private reply may still be sent to a comment made at `comment_at` (ms).
pub fn private_reply_allowed(comment_at: i64, now: i64) -> Result<(), ActionError> {
    if now.saturating_sub(comment_at) > PRIVATE_REPLY_WINDOW_MS {
        Err(ActionError::PrivateReplyWindowClosed)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_without_an_action_are_the_automatic_pass() {
        #[derive(Deserialize)]
        struct Job {
            #[serde(default)]
            action: ModerationAction,
        }
        let job: Job = serde_json::from_str("{}").unwrap();
        assert_eq!(job.action, ModerationAction::Classify);
        let job: Job =
            serde_json::from_str(r#"{"action":{"kind":"hide","by":"user:k1"}}"#).unwrap();
        assert_eq!(
            job.action,
            ModerationAction::Hide {
                by: "user:k1".into()
            }
        );
    }

    #[test]
    fn requests_are_checked_before_anything_is_sent() {
        let reply = |text: &str, id: &str| ModerationAction::Reply {
            by: "user:k1".into(),
            request_id: id.into(),
            text: text.into(),
        };
        assert_eq!(reply("Thanks!", "r-1").validate(), Ok(()));
        assert_eq!(reply("  ", "r-1").validate(), Err(ActionError::EmptyText));
        assert_eq!(reply("hi", "").validate(), Err(ActionError::BadRequestId));
        assert_eq!(
            reply("hi", "a#b").validate(),
            Err(ActionError::BadRequestId)
        );
        assert!(matches!(
            reply(&"x".repeat(2201), "r").validate(),
            Err(ActionError::TooLong { .. })
        ));
        let private = ModerationAction::PrivateReply {
            by: "user:k1".into(),
            request_id: "p1".into(),
            text: "ü".repeat(501),
        };
        assert!(matches!(
            private.validate(),
            Err(ActionError::TooLong { .. })
        ));
        assert_eq!(
            ModerationAction::Hide { by: " ".into() }.validate(),
            Err(ActionError::NoActor)
        );
    }

    #[test]
    fn private_replies_close_after_seven_days() {
        let day = 86_400_000;
        assert_eq!(private_reply_allowed(0, 7 * day), Ok(()));
        assert_eq!(
            private_reply_allowed(0, 7 * day + 1),
            Err(ActionError::PrivateReplyWindowClosed)
        );
    }
}
