//! The hash chain itself: pure functions over records.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ids::TenantId;

/// The hash the first record of every chain links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, as the caller describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Who acted: `system:<function>`, `user:<api key id>`, `meta:<user id>`.
    pub actor: String,
    /// What was done, e.g. `account.connected`, `conversation.paused`.
    pub action: String,
    /// What it was done to, e.g. `account:17841...`.
    pub target: Option<String>,
    /// Further facts (ids, counts, reasons); never content, tokens or customer ids.
    pub details: serde_json::Value,
}

impl AuditEntry {
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            target: None,
            details: serde_json::Value::Null,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored record: the entry, its place in the chain and the hashes that link it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub tenant: TenantId,
    pub seq: u64,
    /// Unique per append, so a writer whose put had an unknown outcome can tell whether
    /// the record at its position is its own.
    pub entry_id: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// Canonical JSON (sorted keys), stored as a string so its hash is reproducible.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// The next record after `(seq - 1, prev_hash)`.
    pub fn link(tenant: TenantId, seq: u64, prev_hash: String, entry: &AuditEntry) -> Self {
        let at = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let mut record = Self {
            tenant,
            seq,
            entry_id: uuid::Uuid::new_v4().to_string(),
            at,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            details: canonical_json(&entry.details),
            prev_hash,
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// SHA-256 over every field but the hash, length-prefixed so fields cannot run into
    /// each other.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let seq = self.seq.to_string();
        let at = self.at.to_string();
        let fields: [&str; 9] = [
            self.tenant.as_str(),
            &seq,
            &self.entry_id,
            &at,
            &self.actor,
            &self.action,
            self.target.as_deref().unwrap_or("\u{0}"),
            &self.details,
            &self.prev_hash,
        ];
        h.update(b"relay-audit-v1");
        for field in fields {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// JSON with object keys sorted at every level, whatever map order serde_json uses.
fn canonical_json(value: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sort(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sort).collect())
            }
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

/// How a chain is broken at a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The record's content no longer matches its hash (edited).
    Altered,
    /// The record does not link to the one before it (a record was replaced).
    Unlinked,
    /// A sequence number is missing (a record was deleted).
    Missing,
    /// The head names a record that is not the last one (the tail was deleted or the
    /// head rewritten).
    HeadMismatch,
}

/// The first broken link: the sequence number where the chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub seq: u64,
    pub kind: BreakKind,
}

/// What the verifier found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub records_checked: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub first_break: Option<Break>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Check records (in sequence order) against each other and against the head.
pub fn verify(records: &[AuditRecord], head: (u64, String)) -> Verification {
    let (head_seq, head_hash) = head;
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut first_break = None;
    for (i, record) in records.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        let found = if record.seq != expected_seq {
            Some(Break {
                seq: expected_seq,
                kind: BreakKind::Missing,
            })
        } else if record.compute_hash() != record.hash {
            Some(Break {
                seq: record.seq,
                kind: BreakKind::Altered,
            })
        } else if record.prev_hash != expected_prev {
            Some(Break {
                seq: record.seq,
                kind: BreakKind::Unlinked,
            })
        } else {
            None
        };
        if found.is_some() {
            first_break = found;
            break;
        }
        expected_prev = record.hash.clone();
    }
    if first_break.is_none() {
        // The head is written right after each record and only moves forward. It may lag
        // the tail (a writer stopped between its two puts), but it can never be ahead of
        // it, and the record it names must carry its hash.
        let last_seq = records.len() as u64;
        let named = (head_seq > 0)
            .then(|| records.get(head_seq as usize - 1))
            .flatten();
        if head_seq > last_seq {
            first_break = Some(Break {
                seq: last_seq + 1,
                kind: BreakKind::HeadMismatch,
            });
        } else if head_seq > 0 && named.is_none_or(|r| r.hash != head_hash) {
            first_break = Some(Break {
                seq: head_seq,
                kind: BreakKind::HeadMismatch,
            });
        }
    }
    Verification {
        records_checked: records.len() as u64,
        head_seq,
        head_hash,
        first_break,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let tenant = TenantId::parse("acme").unwrap();
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let r = AuditRecord::link(
                    tenant.clone(),
                    seq,
                    prev.clone(),
                    &AuditEntry::new("system:test", "thing.done").details(json!({"n": seq})),
                );
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    fn head(records: &[AuditRecord]) -> (u64, String) {
        records
            .last()
            .map(|r| (r.seq, r.hash.clone()))
            .unwrap_or((0, GENESIS_HASH.into()))
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let v = verify(&c, head(&c));
        assert!(v.is_intact(), "{v:?}");
        assert_eq!(v.records_checked, 5);
        assert!(verify(&[], (0, GENESIS_HASH.into())).is_intact());
    }

    #[test]
    fn edited_record_is_found_at_its_position() {
        let mut c = chain(5);
        let h = head(&c);
        c[2].action = "thing.undone".into();
        assert_eq!(
            verify(&c, h).first_break,
            Some(Break {
                seq: 3,
                kind: BreakKind::Altered
            })
        );
    }

    #[test]
    fn rehashed_edit_is_found_by_the_next_link() {
        let mut c = chain(5);
        let h = head(&c);
        c[1].details = "{\"n\":99}".into();
        c[1].hash = c[1].compute_hash();
        assert_eq!(
            verify(&c, h).first_break,
            Some(Break {
                seq: 3,
                kind: BreakKind::Unlinked
            })
        );
    }

    #[test]
    fn deleted_record_is_found() {
        let mut c = chain(5);
        let h = head(&c);
        c.remove(1);
        assert_eq!(
            verify(&c, h).first_break,
            Some(Break {
                seq: 2,
                kind: BreakKind::Missing
            })
        );
    }

    #[test]
    fn deleted_tail_is_found_through_the_head() {
        let mut c = chain(5);
        let h = head(&c);
        c.pop();
        assert_eq!(
            verify(&c, h).first_break,
            Some(Break {
                seq: 5,
                kind: BreakKind::HeadMismatch
            })
        );
    }

    #[test]
    fn a_lagging_head_is_accepted_but_a_wrong_one_is_not() {
        let c = chain(5);
        let lagging = (c[3].seq, c[3].hash.clone());
        assert!(verify(&c, lagging).is_intact());
        let wrong = (4, c[4].hash.clone());
        assert_eq!(
            verify(&c, wrong).first_break,
            Some(Break {
                seq: 4,
                kind: BreakKind::HeadMismatch
            })
        );
    }

    #[test]
    fn details_hash_ignores_key_order() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": {"d": 2, "c": 3}})),
            r#"{"a":{"c":3,"d":2},"b":1}"#
        );
    }
}
