//! A tenant's moderation policy for one connected account.
//!
//! Accounts without a stored policy use [`ModerationPolicy::default`]: comments are
//! classified, and spam and blocked words are hidden. Hiding is the automatic action
//! because it is reversible (the author still sees their comment, the business can
//! unhide it); deleting is only ever done when a person asks.

use serde::{Deserialize, Serialize};

/// How readily a comment is called spam.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Only comments with several strong signals.
    Low,
    #[default]
    Normal,
    /// Any single signal (a link, a phone number) is enough.
    High,
}

impl Sensitivity {
    /// The spam score at which a comment is labelled spam.
    pub fn threshold(self) -> u32 {
        match self {
            Self::Low => 4,
            Self::Normal => 2,
            Self::High => 1,
        }
    }
}

/// Which labels get a comment hidden automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HideRules {
    pub spam: bool,
    pub links: bool,
    pub blocked_words: bool,
    pub repeats: bool,
}

impl Default for HideRules {
    fn default() -> Self {
        Self {
            spam: true,
            links: false,
            blocked_words: true,
            repeats: false,
        }
    }
}

/// Moderation settings of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModerationPolicy {
    /// Classify new comments at all. Off: comments are stored and left alone.
    pub enabled: bool,
    pub spam_sensitivity: Sensitivity,
    pub hide: HideRules,
    /// Words or phrases the business does not want under its posts. A trailing `*`
    /// matches any ending; matching ignores case and accents.
    pub blocked_words: Vec<String>,
    /// Domains whose links are welcome (the business's own shop): not labelled as
    /// links and not counted towards spam. Subdomains are included.
    pub allowed_domains: Vec<String>,
    /// The same text from the same author this many times within the window is a
    /// repeat (the comment that reaches the count and every later one).
    pub repeat_threshold: u32,
    pub repeat_window_hours: u32,
    pub updated_at: i64,
}

impl Default for ModerationPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            spam_sensitivity: Sensitivity::Normal,
            hide: HideRules::default(),
            blocked_words: Vec::new(),
            allowed_domains: Vec::new(),
            repeat_threshold: 3,
            repeat_window_hours: 24,
            updated_at: 0,
        }
    }
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{field} has more than {max} entries")]
    TooMany { field: &'static str, max: usize },
    #[error("an entry of {field} is empty or longer than {max} characters")]
    BadEntry { field: &'static str, max: usize },
    #[error("{field} must be between {min} and {max}")]
    OutOfRange {
        field: &'static str,
        min: u32,
        max: u32,
    },
    #[error("allowed_domains: `{0}` is not a domain name (like shop.example)")]
    BadDomain(String),
}

impl ModerationPolicy {
    pub const MAX_BLOCKED_WORDS: usize = 500;
    pub const MAX_WORD_CHARS: usize = 60;
    pub const MAX_DOMAINS: usize = 50;

    /// Check every bound; the API calls this before storing.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.blocked_words.len() > Self::MAX_BLOCKED_WORDS {
            return Err(PolicyError::TooMany {
                field: "blocked_words",
                max: Self::MAX_BLOCKED_WORDS,
            });
        }
        let bad_word = |w: &String| {
            let w = w.trim().trim_end_matches('*').trim();
            w.is_empty() || w.chars().count() > Self::MAX_WORD_CHARS
        };
        if self.blocked_words.iter().any(bad_word) {
            return Err(PolicyError::BadEntry {
                field: "blocked_words",
                max: Self::MAX_WORD_CHARS,
            });
        }
        if self.allowed_domains.len() > Self::MAX_DOMAINS {
            return Err(PolicyError::TooMany {
                field: "allowed_domains",
                max: Self::MAX_DOMAINS,
            });
        }
        for domain in &self.allowed_domains {
            let d = domain.trim();
            let valid = d.len() <= 253
                && d.contains('.')
                && d.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !valid {
                return Err(PolicyError::BadDomain(d.chars().take(80).collect()));
            }
        }
        if !(2..=20).contains(&self.repeat_threshold) {
            return Err(PolicyError::OutOfRange {
                field: "repeat_threshold",
                min: 2,
                max: 20,
            });
        }
        if !(1..=168).contains(&self.repeat_window_hours) {
            return Err(PolicyError::OutOfRange {
                field: "repeat_window_hours",
                min: 1,
                max: 168,
            });
        }
        Ok(())
    }

    pub fn repeat_window_ms(&self) -> i64 {
        i64::from(self.repeat_window_hours) * 3_600_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_hide_only_reversible_cases() {
        let p = ModerationPolicy::default();
        assert_eq!(p.validate(), Ok(()));
        assert!(p.enabled && p.hide.spam && p.hide.blocked_words);
        assert!(!p.hide.links && !p.hide.repeats);
    }

    #[test]
    fn a_stored_policy_missing_fields_reads_with_defaults() {
        let p: ModerationPolicy =
            serde_json::from_str(r#"{"blocked_words":["scam*"],"hide":{"links":true}}"#).unwrap();
        assert!(p.enabled && p.hide.links && p.hide.spam);
        assert_eq!(p.repeat_threshold, 3);
    }

    #[test]
    fn bounds_are_enforced() {
        let with = |f: fn(&mut ModerationPolicy)| {
            let mut p = ModerationPolicy::default();
            f(&mut p);
            p.validate()
        };
        assert!(matches!(
            with(|p| p.blocked_words = vec!["  * ".into()]),
            Err(PolicyError::BadEntry { .. })
        ));
        assert!(matches!(
            with(|p| p.blocked_words = vec!["x".repeat(61)]),
            Err(PolicyError::BadEntry { .. })
        ));
        assert!(matches!(
            with(|p| p.blocked_words = vec!["w".into(); 501]),
            Err(PolicyError::TooMany { .. })
        ));
        assert!(matches!(
            with(|p| p.allowed_domains = vec!["https://shop.example/".into()]),
            Err(PolicyError::BadDomain(_))
        ));
        assert!(matches!(
            with(|p| p.allowed_domains = vec!["localhost".into()]),
            Err(PolicyError::BadDomain(_))
        ));
        assert_eq!(
            with(|p| p.allowed_domains = vec!["shop.example".into()]),
            Ok(())
        );
        assert!(matches!(
            with(|p| p.repeat_threshold = 1),
            Err(PolicyError::OutOfRange { .. })
        ));
        assert!(matches!(
            with(|p| p.repeat_window_hours = 0),
            Err(PolicyError::OutOfRange { .. })
        ));
    }
}
