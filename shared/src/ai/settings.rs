//! A tenant's AI settings for one connected account.
//!
//! The account's mode applies to every conversation unless the conversation overrides it
//! (`Conversation::ai_mode`). Settings are validated before they are stored, so the reply
//! function can trust them: bounded text, sane limits, a hand-off message Meta accepts.

use serde::{Deserialize, Serialize};

use crate::inbox::AiMode;

/// What to do with a reply longer than Meta's 1000-byte limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LongReplies {
    /// Send it as up to `max_parts` messages, each ending at a sentence boundary;
    /// sentences beyond the last part are dropped.
    Split { max_parts: u8 },
    /// Send one message, cut at the last sentence boundary that fits.
    Shorten,
}

impl Default for LongReplies {
    fn default() -> Self {
        Self::Split { max_parts: 2 }
    }
}

/// AI settings of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AiSettings {
    pub mode: AiMode,
    /// The business name the assistant speaks for.
    pub business_name: Option<String>,
    /// Who the assistant is and how it sounds ("friendly, brief, uses first names").
    pub persona: String,
    /// House rules the assistant must follow ("never promise delivery dates").
    pub rules: Vec<String>,
    /// Words or phrases that mean "let me talk to a person" for this tenant. A trailing
    /// `*` matches any ending ("mitarbeiter*").
    pub escalation_words: Vec<String>,
    /// Also use Relay's multilingual defaults (human, agent, insan, mensch, ...).
    pub default_escalation_words: bool,
    /// Sent once when a conversation is handed to a person (auto mode only); None sends
    /// nothing.
    pub handoff_message: Option<String>,
    /// How many recent messages of the conversation the prompt holds.
    pub history_messages: u32,
    /// How many knowledge entries the prompt holds at most.
    pub knowledge_entries: u32,
    pub long_replies: LongReplies,
    /// Seconds a customer's message waits before the AI answers, so a burst of messages
    /// gets one reply (0 to 900, SQS's longest delay); None uses the installation's default.
    pub debounce_seconds: Option<u32>,
    pub updated_at: i64,
}

pub const DEFAULT_HANDOFF_MESSAGE: &str =
    "Thanks for your message! A member of our team will follow up here shortly.";

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            mode: AiMode::Off,
            business_name: None,
            persona: "A friendly, concise assistant for the business's Instagram direct messages."
                .into(),
            rules: Vec::new(),
            escalation_words: Vec::new(),
            default_escalation_words: true,
            handoff_message: Some(DEFAULT_HANDOFF_MESSAGE.into()),
            history_messages: 12,
            knowledge_entries: 4,
            long_replies: LongReplies::default(),
            debounce_seconds: None,
            updated_at: 0,
        }
    }
}

/// Why settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} has more than {max} entries")]
    TooMany { field: &'static str, max: usize },
    #[error("{field} must be between {min} and {max}")]
    OutOfRange {
        field: &'static str,
        min: u32,
        max: u32,
    },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("the hand-off message is {bytes} bytes; Meta allows 1000")]
    HandoffTooLong { bytes: usize },
}

impl AiSettings {
    pub const MAX_PERSONA_CHARS: usize = 2000;
    pub const MAX_RULES: usize = 30;
    pub const MAX_RULE_CHARS: usize = 500;
    pub const MAX_WORDS: usize = 100;
    pub const MAX_WORD_CHARS: usize = 60;
    /// SQS's longest message delay.
    pub const MAX_DEBOUNCE_SECONDS: u32 = 900;

    /// The mode that applies to a conversation: its own override, else the account's.
    pub fn effective_mode(&self, conversation_override: Option<AiMode>) -> AiMode {
        conversation_override.unwrap_or(self.mode)
    }

    /// Check every bound; the API calls this before storing.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let chars = |s: &str| s.chars().count();
        if chars(&self.persona) > Self::MAX_PERSONA_CHARS {
            return Err(SettingsError::TooLong {
                field: "persona",
                max: Self::MAX_PERSONA_CHARS,
            });
        }
        if let Some(name) = &self.business_name {
            if chars(name) > 200 {
                return Err(SettingsError::TooLong {
                    field: "business_name",
                    max: 200,
                });
            }
        }
        if self.rules.len() > Self::MAX_RULES {
            return Err(SettingsError::TooMany {
                field: "rules",
                max: Self::MAX_RULES,
            });
        }
        if self.rules.iter().any(|r| chars(r) > Self::MAX_RULE_CHARS) {
            return Err(SettingsError::TooLong {
                field: "rules",
                max: Self::MAX_RULE_CHARS,
            });
        }
        if self.escalation_words.len() > Self::MAX_WORDS {
            return Err(SettingsError::TooMany {
                field: "escalation_words",
                max: Self::MAX_WORDS,
            });
        }
        for word in &self.escalation_words {
            if word.trim().trim_end_matches('*').trim().is_empty() {
                return Err(SettingsError::Empty {
                    field: "escalation_words",
                });
            }
            if chars(word) > Self::MAX_WORD_CHARS {
                return Err(SettingsError::TooLong {
                    field: "escalation_words",
                    max: Self::MAX_WORD_CHARS,
                });
            }
        }
        if let Some(message) = &self.handoff_message {
            if message.trim().is_empty() {
                return Err(SettingsError::Empty {
                    field: "handoff_message",
                });
            }
            // Meta's Send API limit: the hand-off is sent as one message.
            if message.len() > crate::meta::MAX_TEXT_BYTES {
                return Err(SettingsError::HandoffTooLong {
                    bytes: message.len(),
                });
            }
        }
        if !(1..=50).contains(&self.history_messages) {
            return Err(SettingsError::OutOfRange {
                field: "history_messages",
                min: 1,
                max: 50,
            });
        }
        if self.knowledge_entries > 10 {
            return Err(SettingsError::OutOfRange {
                field: "knowledge_entries",
                min: 0,
                max: 10,
            });
        }
        if self
            .debounce_seconds
            .is_some_and(|s| s > Self::MAX_DEBOUNCE_SECONDS)
        {
            return Err(SettingsError::OutOfRange {
                field: "debounce_seconds",
                min: 0,
                max: Self::MAX_DEBOUNCE_SECONDS,
            });
        }
        if let LongReplies::Split { max_parts } = self.long_replies {
            if !(1..=5).contains(&max_parts) {
                return Err(SettingsError::OutOfRange {
                    field: "long_replies.max_parts",
                    min: 1,
                    max: 5,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off() {
        let s = AiSettings::default();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.mode, AiMode::Off);
    }

    #[test]
    fn conversation_override_wins() {
        let s = AiSettings {
            mode: AiMode::Auto,
            ..AiSettings::default()
        };
        assert_eq!(s.effective_mode(None), AiMode::Auto);
        assert_eq!(s.effective_mode(Some(AiMode::Shadow)), AiMode::Shadow);
        assert_eq!(s.effective_mode(Some(AiMode::Off)), AiMode::Off);
    }

    #[test]
    fn bounds_are_enforced() {
        let base = AiSettings::default();
        let cases = [
            AiSettings {
                persona: "x".repeat(2001),
                ..base.clone()
            },
            AiSettings {
                rules: vec!["r".into(); 31],
                ..base.clone()
            },
            AiSettings {
                escalation_words: vec!["  * ".into()],
                ..base.clone()
            },
            AiSettings {
                handoff_message: Some("€".repeat(334)),
                ..base.clone()
            },
            AiSettings {
                handoff_message: Some(" ".into()),
                ..base.clone()
            },
            AiSettings {
                history_messages: 0,
                ..base.clone()
            },
            AiSettings {
                knowledge_entries: 11,
                ..base.clone()
            },
            AiSettings {
                long_replies: LongReplies::Split { max_parts: 0 },
                ..base.clone()
            },
            AiSettings {
                debounce_seconds: Some(901),
                ..base.clone()
            },
        ];
        for case in cases {
            assert!(case.validate().is_err(), "{case:?} accepted");
        }
    }

    #[test]
    fn partial_json_fills_defaults() {
        let s: AiSettings = serde_json::from_str(r#"{"mode":"shadow"}"#).unwrap();
        assert_eq!(s.mode, AiMode::Shadow);
        assert_eq!(s.history_messages, 12);
        let s: AiSettings = serde_json::from_str(r#"{"long_replies":{"kind":"shorten"}}"#).unwrap();
        assert_eq!(s.long_replies, LongReplies::Shorten);
    }
}
