//! Who may call the management API, and with what rights.
//!
//! An API key is `rly_` followed by 43 URL-safe characters (256 random bits). It is shown
//! once, when it is made; Relay keeps only its SHA-256 (a key that random needs no slow
//! hash), and looks a presented key up by that hash with one GetItem. A key belongs to a
//! tenant and carries one role, or it is an operator key of the installation, which
//! belongs to no tenant and reads no tenant's messages, comments or drafts.
//!
//! Roles are ordered: each includes everything the one below it may do.
//!
//! | role | may |
//! |---|---|
//! | `viewer` | read |
//! | `agent` | work the inbox and comments of the accounts assigned to the key (all if none) |
//! | `manager` | content, inbox, comments, knowledge, insights |
//! | `admin` | settings; keys of roles below admin |
//! | `owner` | everything: every key, deleting the tenant's data |
//!
//! Also here, as pure rules: the token bucket behind the per-tenant rate limit, and the
//! fingerprint that tells an idempotent replay from a reuse of its key.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{AccountId, TenantId};
use crate::secret::Secret;

/// What a tenant key may do; ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Agent,
    Manager,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Agent,
        Role::Manager,
        Role::Admin,
        Role::Owner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// Whether a key of this role may make or revoke a key of `other`: owners any key,
    /// admins keys below admin, nobody else any.
    pub fn may_manage_key_of(self, other: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => other < Role::Admin,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key's id: `key_` and 16 hex characters. Public: it names the key in listings
/// and is the actor on the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    pub fn generate() -> KeyId {
        let mut bytes = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut bytes);
        KeyId(format!("key_{}", hex::encode(bytes)))
    }

    pub fn parse(raw: &str) -> Option<KeyId> {
        let hex = raw.strip_prefix("key_")?;
        (hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| KeyId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The audit trail's actor for this key.
    pub fn actor(&self) -> String {
        format!("user:{}", self.0)
    }
}

impl TryFrom<String> for KeyId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        KeyId::parse(&raw).ok_or_else(|| format!("{raw:?} is not a key id"))
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whom a key speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grant {
    /// A member of a tenant's team.
    Tenant {
        tenant_id: TenantId,
        role: Role,
        /// For agents: the accounts whose inbox and comments they work; empty is all.
        #[serde(default)]
        accounts: Vec<AccountId>,
    },
    /// Someone running the Relay installation: tenants, onboarding links, health.
    Operator,
}

/// An API key as stored (under the hash of the key, never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub key_id: KeyId,
    pub grant: Grant,
    /// What people call it ("Front desk iPad").
    pub name: String,
    /// The first characters of the key, so a person can tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    /// Who made it: a key id's actor, or `operator:cli`.
    pub created_by: String,
    // Absent rather than null until set: the store's conditions test for the attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

impl ApiKey {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    pub fn tenant(&self) -> Option<&TenantId> {
        match &self.grant {
            Grant::Tenant { tenant_id, .. } => Some(tenant_id),
            Grant::Operator => None,
        }
    }
}

/// A key just made: the plaintext (shown once, never stored) and its record.
pub struct MintedKey {
    pub plaintext: Secret,
    pub hash: String,
    pub record: ApiKey,
}

/// The prefix every Relay API key starts with.
pub const KEY_PREFIX: &str = "rly_";

/// Make a new key for `grant`.
pub fn mint_key(grant: Grant, name: &str, created_by: &str, now_ms: i64) -> MintedKey {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let plaintext = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = key_hash(&plaintext);
    let record = ApiKey {
        key_id: KeyId::generate(),
        grant,
        name: name.to_owned(),
        prefix: plaintext[..KEY_PREFIX.len() + 6].to_owned(),
        created_at: now_ms,
        created_by: created_by.to_owned(),
        last_used_at: None,
        revoked_at: None,
    };
    MintedKey {
        plaintext: Secret::new(plaintext),
        hash,
        record,
    }
}

/// The stored look-up hash of a presented key (hex SHA-256).
pub fn key_hash(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

/// The key in an `Authorization: Bearer <key>` header, if it has the shape of one. A
/// value of another shape is refused before any look-up.
pub fn bearer_key(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(' ')?;
    let key = key.trim();
    let shaped = key.len() == KEY_PREFIX.len() + 43
        && key.starts_with(KEY_PREFIX)
        && key[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (scheme.eq_ignore_ascii_case("bearer") && shaped).then_some(key)
}

/// The rate limit of one tenant: a token bucket of `burst` requests refilled at
/// `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

/// A bucket's state at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    pub at_ms: i64,
}

/// Take one request's token from `bucket` (None: a full, new bucket) at `now_ms`:
/// the bucket after it, or how many seconds to wait before one is there.
pub fn take_token(bucket: Option<Bucket>, now_ms: i64, limit: RateLimit) -> Result<Bucket, u64> {
    let Bucket { tokens, at_ms } = bucket.unwrap_or(Bucket {
        tokens: limit.burst,
        at_ms: now_ms,
    });
    // A clock that went back refills nothing (and takes nothing away).
    let elapsed = (now_ms - at_ms).max(0) as f64 / 1000.0;
    let tokens = (tokens + elapsed * limit.per_second).min(limit.burst);
    if tokens >= 1.0 {
        return Ok(Bucket {
            tokens: tokens - 1.0,
            at_ms: now_ms.max(at_ms),
        });
    }
    let wait = if limit.per_second > 0.0 {
        ((1.0 - tokens) / limit.per_second).ceil().max(1.0)
    } else {
        3600.0
    };
    Err(wait as u64)
}

/// What an idempotent request is, for telling a replay (same key, same request) from a
/// reuse of its key for another request: the SHA-256 of method, path and body.
pub fn request_fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant::Tenant {
            tenant_id: TenantId::parse("acme").unwrap(),
            role: Role::Agent,
            accounts: vec![],
        }
    }

    #[test]
    fn roles_are_ordered_from_viewer_to_owner() {
        assert!(Role::Viewer < Role::Agent);
        assert!(Role::Agent < Role::Manager);
        assert!(Role::Manager < Role::Admin);
        assert!(Role::Admin < Role::Owner);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn admins_manage_keys_below_admin_and_owners_every_key() {
        assert!(Role::Admin.may_manage_key_of(Role::Manager));
        assert!(!Role::Admin.may_manage_key_of(Role::Admin));
        assert!(!Role::Admin.may_manage_key_of(Role::Owner));
        assert!(Role::Owner.may_manage_key_of(Role::Owner));
        assert!(!Role::Manager.may_manage_key_of(Role::Viewer));
    }

    #[test]
    fn a_minted_key_is_found_by_its_hash_and_its_record_holds_no_plaintext() {
        let minted = mint_key(grant(), "front desk", "operator:cli", 1);
        let key = minted.plaintext.expose().to_owned();
        assert!(key.starts_with(KEY_PREFIX));
        assert_eq!(bearer_key(&format!("Bearer {key}")), Some(key.as_str()));
        assert_eq!(key_hash(&key), minted.hash);
        let stored = serde_json::to_string(&minted.record).unwrap();
        assert!(!stored.contains(&key), "the stored record holds the key");
        assert!(
            !stored.contains(&key[10..]),
            "the stored record holds part of the key's secret"
        );
        assert!(KeyId::parse(minted.record.key_id.as_str()).is_some());
    }

    #[test]
    fn two_keys_differ() {
        let a = mint_key(grant(), "a", "x", 1);
        let b = mint_key(grant(), "b", "x", 1);
        assert_ne!(a.hash, b.hash);
        assert_ne!(a.record.key_id, b.record.key_id);
    }

    #[test]
    fn only_bearer_keys_of_the_right_shape_are_looked_up() {
        let key = mint_key(grant(), "a", "x", 1).plaintext.expose().to_owned();
        assert_eq!(bearer_key(&format!("bearer  {key}")), Some(key.as_str()));
        assert_eq!(bearer_key(&format!("Basic {key}")), None);
        assert_eq!(bearer_key(&key), None);
        assert_eq!(bearer_key("Bearer rly_short"), None);
        assert_eq!(
            bearer_key(&format!("Bearer {}", key.replace('_', "#"))),
            None
        );
    }

    #[test]
    fn key_ids_are_checked() {
        assert!(KeyId::parse("key_0123456789abcdef").is_some());
        assert!(KeyId::parse("key_0123456789ABCDEF").is_none());
        assert!(KeyId::parse("key_0123").is_none());
        assert!(KeyId::parse("T#acme").is_none());
    }

    const LIMIT: RateLimit = RateLimit {
        per_second: 2.0,
        burst: 3.0,
    };

    #[test]
    fn a_bucket_allows_its_burst_then_says_how_long_to_wait() {
        let mut bucket = None;
        for _ in 0..3 {
            bucket = Some(take_token(bucket, 1_000, LIMIT).expect("within the burst"));
        }
        assert_eq!(take_token(bucket, 1_000, LIMIT), Err(1));
        // Half a second later one token (2 per second) is back.
        let refilled = take_token(bucket, 1_500, LIMIT).expect("refilled");
        assert!(refilled.tokens < 1.0);
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_burst() {
        let bucket = Bucket {
            tokens: 0.0,
            at_ms: 0,
        };
        let after = take_token(Some(bucket), 3_600_000, LIMIT).unwrap();
        assert_eq!(after.tokens, LIMIT.burst - 1.0);
    }

    #[test]
    fn a_clock_going_back_refills_nothing() {
        let bucket = Bucket {
            tokens: 0.5,
            at_ms: 10_000,
        };
        assert!(take_token(Some(bucket), 5_000, LIMIT).is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = request_fingerprint("POST", "/v1/knowledge", b"{}");
        assert_eq!(a, request_fingerprint("POST", "/v1/knowledge", b"{}"));
        assert_ne!(a, request_fingerprint("POST", "/v1/knowledge", b"{ }"));
        assert_ne!(a, request_fingerprint("POST", "/v1/keys", b"{}"));
    }
}
