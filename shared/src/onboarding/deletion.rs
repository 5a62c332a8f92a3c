//! Data-deletion requests: their confirmation codes and states.
//!
//! Meta asks for `{"url", "confirmation_code"}` and may send the same request again. The
//! code is derived from the request (user and time) under a key of its own, so a resent
//! request gets the same code and resumes the same deletion, while nobody can guess the
//! code of someone else's request (the status page is looked up by code).

use serde::{Deserialize, Serialize};

use super::keyed::Keyed;
use crate::secret::Secret;

/// Where a deletion request stands, as its status page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionStatus {
    /// Recorded; deleting has started.
    InProgress,
    /// Every account, token and conversation of the user is gone.
    Completed,
    /// A step failed; Meta's retry of the request resumes it.
    Failed,
}

impl DeletionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// Derives confirmation codes.
#[derive(Debug, Clone)]
pub struct DeletionCodes {
    key: Keyed,
}

impl DeletionCodes {
    pub fn new(state_key: &Secret) -> Self {
        Self {
            key: Keyed::derive(state_key, "data-deletion/v1"),
        }
    }

    /// 20 lowercase hex characters (alphanumeric, as Meta requires), the same for the
    /// same request.
    pub fn code_for(&self, provider: super::Provider, user_id: &str, issued_at: i64) -> String {
        let message = format!("{provider}\n{user_id}\n{issued_at}");
        hex::encode(&self.key.sign(message.as_bytes())[..10])
    }

    /// Whether `raw` looks like a code (before any lookup with it).
    pub fn is_well_formed(raw: &str) -> bool {
        raw.len() == 20
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onboarding::Provider;

    #[test]
    fn codes_are_stable_per_request_and_differ_between_requests() {
        let codes = DeletionCodes::new(&Secret::new("0123456789abcdef0123456789abcdef"));
        let a = codes.code_for(Provider::Instagram, "1001", 5);
        assert_eq!(a, codes.code_for(Provider::Instagram, "1001", 5));
        assert_ne!(a, codes.code_for(Provider::Instagram, "1001", 6));
        assert_ne!(a, codes.code_for(Provider::Facebook, "1001", 5));
        assert_ne!(a, codes.code_for(Provider::Instagram, "1002", 5));
        assert!(DeletionCodes::is_well_formed(&a));
        assert!(!DeletionCodes::is_well_formed("ABC"));
        assert!(!DeletionCodes::is_well_formed(&"g".repeat(20)));
    }
}
