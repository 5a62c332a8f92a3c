//! What the AI leaves behind: drafts for people to review, the outcome of every reply
//! job, and the products a conversation mentioned.
//!
//! A draft and an outcome are keyed by the inbound message they answer, so a redelivered
//! job finds the record of its earlier delivery instead of making a second one.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::knowledge::EntryId;
use crate::ids::{AccountId, CustomerId, MessageId, TenantId};
use crate::inbox::{AiMode, AiOrigin};

/// Names a draft within its conversation: the inbound message it answers (its event
/// time and mid). Text form: 15-digit milliseconds, `_`, mid.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DraftKey {
    pub inbound_at: i64,
    pub inbound_mid: MessageId,
}

impl DraftKey {
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() < 17 || !raw.is_char_boundary(15) {
            return None;
        }
        let (ms, rest) = raw.split_at(15);
        let mid = rest.strip_prefix('_')?;
        if !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            inbound_at: ms.parse().ok()?,
            inbound_mid: MessageId::parse(mid).ok()?,
        })
    }
}

impl fmt::Display for DraftKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:015}_{}", self.inbound_at.max(0), self.inbound_mid)
    }
}

impl fmt::Debug for DraftKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DraftKey({self})")
    }
}

impl Serialize for DraftKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DraftKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("invalid draft id"))
    }
}

/// Where a draft stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftStatus {
    /// Waiting for a person.
    Pending,
    /// Sent as drafted.
    Approved,
    /// Sent after a person changed it.
    Edited,
    Discarded,
}

/// What a draft is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftKind {
    Reply,
}

/// A suggested reply (shadow mode) for a person to approve, edit or discard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub customer_id: CustomerId,
    pub draft_id: DraftKey,
    pub kind: DraftKind,
    /// The whole suggestion.
    pub text: String,
    /// The suggestion as it would be sent: parts of at most 1000 bytes.
    pub parts: Vec<String>,
    pub ai: AiOrigin,
    /// Knowledge entries the prompt held.
    #[serde(default)]
    pub knowledge_ids: Vec<EntryId>,
    pub status: DraftStatus,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    /// The team member who approved, edited or discarded it.
    pub resolved_by: Option<String>,
}

/// How a reply job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Nothing was done; `reason` says why.
    Skipped,
    Drafted,
    Sent,
    /// Handed to a person (paused; event raised; hand-off maybe sent).
    Escalated,
    /// Drafting failed; the job is retried while its budget lasts.
    Failed,
    /// The send failed after the claim; it is not repeated.
    SendFailed,
    /// An earlier delivery claimed the reply but recorded no result (it stopped after the
    /// claim); nothing is resent, because the message may have gone out.
    SendUnknown,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skipped => "skipped",
            Self::Drafted => "drafted",
            Self::Sent => "sent",
            Self::Escalated => "escalated",
            Self::Failed => "failed",
            Self::SendFailed => "send_failed",
            Self::SendUnknown => "send_unknown",
        }
    }
}

/// One failed attempt, kept on the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: i64,
    pub reason: String,
}

/// The record of one reply job (one inbound message), updated by each delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyOutcome {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub customer_id: CustomerId,
    pub inbound_mid: MessageId,
    pub inbound_at: i64,
    pub status: OutcomeStatus,
    /// Why it was skipped, failed or escalated (a stable name, never text).
    pub reason: Option<String>,
    pub mode: Option<AiMode>,
    pub model: Option<String>,
    pub latency_ms: Option<u64>,
    /// Meta's ids of the messages sent.
    #[serde(default)]
    pub sent_mids: Vec<String>,
    /// Set when messages went out, until they are stored in the inbox and audited; a
    /// redelivery of the job finishes that work (it never sends again).
    #[serde(default)]
    pub record_pending: bool,
    /// The texts sent, kept only while `record_pending`.
    #[serde(default)]
    pub pending_texts: Vec<String>,
    #[serde(default)]
    pub knowledge_ids: Vec<EntryId>,
    /// Earlier failed attempts, oldest first (at most a few are kept).
    #[serde(default)]
    pub failures: Vec<Attempt>,
    pub updated_at: i64,
}

impl ReplyOutcome {
    pub const MAX_FAILURES_KEPT: usize = 10;

    pub fn new(
        tenant_id: TenantId,
        account_id: AccountId,
        customer_id: CustomerId,
        inbound_mid: MessageId,
        inbound_at: i64,
        status: OutcomeStatus,
        now: i64,
    ) -> Self {
        Self {
            tenant_id,
            account_id,
            customer_id,
            inbound_mid,
            inbound_at,
            status,
            reason: None,
            mode: None,
            model: None,
            latency_ms: None,
            sent_mids: Vec::new(),
            record_pending: false,
            pending_texts: Vec::new(),
            knowledge_ids: Vec::new(),
            failures: Vec::new(),
            updated_at: now,
        }
    }

    /// Note a failed attempt, keeping the most recent ones.
    pub fn note_failure(&mut self, at: i64, reason: &str) {
        self.failures.push(Attempt {
            at,
            reason: reason.to_owned(),
        });
        let excess = self.failures.len().saturating_sub(Self::MAX_FAILURES_KEPT);
        self.failures.drain(..excess);
    }
}

/// A product the conversation mentioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductLink {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub customer_id: CustomerId,
    pub entry_id: EntryId,
    /// The message (inbound mid) in whose reply it was first mentioned.
    pub first_mid: String,
    pub first_at: i64,
    pub last_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_keys_round_trip_even_with_separators_in_the_mid() {
        let key = DraftKey {
            inbound_at: 1_760_000_000_123,
            inbound_mid: MessageId::parse("aWdf_ZG1=:x-y.z+1").unwrap(),
        };
        let text = key.to_string();
        assert_eq!(text, "001760000000123_aWdf_ZG1=:x-y.z+1");
        assert_eq!(DraftKey::parse(&text), Some(key));
        for bad in [
            "",
            "123_m",
            "00176000000012a_m",
            "001760000000123-m",
            "001760000000123_",
            "001760000000123_a#b",
        ] {
            assert_eq!(DraftKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn outcomes_keep_the_latest_failures() {
        let mut o = ReplyOutcome::new(
            TenantId::parse("t").unwrap(),
            AccountId::parse("1").unwrap(),
            CustomerId::parse("2").unwrap(),
            MessageId::parse("m").unwrap(),
            0,
            OutcomeStatus::Failed,
            0,
        );
        for i in 0..15 {
            o.note_failure(i, "llm_timeout");
        }
        assert_eq!(o.failures.len(), ReplyOutcome::MAX_FAILURES_KEPT);
        assert_eq!(o.failures[0].at, 5);
    }
}
