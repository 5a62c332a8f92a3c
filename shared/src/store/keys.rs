//! The single-table key design: every key Relay writes to the main table is built here.
//!
//! Tenant data always lives under a partition key that begins with `T#<tenant>`, and the
//! only way to build such a key is from a [`TenantId`], so no query can cross tenants by
//! construction. The few global lookups (webhook routing, API key by hash, OAuth state,
//! deletion requests) are keyed by a value that an authenticated or verified context
//! already holds, and they point at a tenant rather than holding tenant data.
//! infra/data-model.md documents the whole table; keep the two in step.

use crate::ids::{AccountId, CommentId, CustomerId, MediaId, PostId, TenantId, UploadId};

/// A primary key in the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }
}

/// Number of shards for the sparse cross-tenant indexes (token expiry, posts due), so
/// that no single index partition takes every write.
pub const SHARDS: u32 = 4;

/// Timestamps in sort keys are zero-padded milliseconds so that string order is time order.
pub fn time_sk(millis: i64) -> String {
    format!("{:015}", millis.max(0))
}

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

fn account_pk(tenant: &TenantId, account: &AccountId) -> String {
    format!("T#{tenant}#A#{account}")
}

pub fn tenant(tenant: &TenantId) -> Key {
    Key::new(tenant_pk(tenant), "TENANT")
}

pub fn account(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(tenant_pk(tenant), format!("ACCOUNT#{account}"))
}

pub const ACCOUNT_PREFIX: &str = "ACCOUNT#";

/// Webhook routing: the platform account id from a verified webhook -> tenant + account.
pub fn route(channel: &str, platform_account: &AccountId) -> Key {
    Key::new(format!("ROUTE#{channel}#{platform_account}"), "ROUTE")
}

/// Dedupe marker for an event id, per tenant (expires with TTL).
pub fn dedupe(tenant: &TenantId, event_key: &str) -> Key {
    Key::new(format!("T#{tenant}#DEDUPE#{event_key}"), "DEDUPE")
}

/// A claim: a one-time right to do something (send a reply, publish a post).
pub fn claim(tenant: &TenantId, what: &str) -> Key {
    Key::new(format!("T#{tenant}#CLAIM#{what}"), "CLAIM")
}

pub fn contact(tenant: &TenantId, account: &AccountId, customer: &CustomerId) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("CONTACT#{}", customer.as_str()),
    )
}

pub fn conversation(tenant: &TenantId, account: &AccountId, customer: &CustomerId) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("CONV#{}", customer.as_str()),
    )
}

/// GSI1 partition listing an account's conversations by last activity.
pub fn conversations_by_activity(tenant: &TenantId, account: &AccountId) -> String {
    format!("{}#CONVS", account_pk(tenant, account))
}

pub fn conversation_messages_pk(
    tenant: &TenantId,
    account: &AccountId,
    customer: &CustomerId,
) -> String {
    format!("{}#C#{}", account_pk(tenant, account), customer.as_str())
}

/// A message in its conversation, ordered by event time then mid.
pub fn message(
    tenant: &TenantId,
    account: &AccountId,
    customer: &CustomerId,
    event_millis: i64,
    mid: &str,
) -> Key {
    Key::new(
        conversation_messages_pk(tenant, account, customer),
        format!("MSG#{}#{mid}", time_sk(event_millis)),
    )
}

/// Points from a mid to its message key, so reactions, reads and edits find it. Its
/// conditional creation is also the message's dedupe marker.
pub fn message_pointer(tenant: &TenantId, account: &AccountId, mid: &str) -> Key {
    Key::new(format!("{}#MID#{mid}", account_pk(tenant, account)), "MID")
}

/// An event kept without a model of its own, under its account.
pub fn raw_event(tenant: &TenantId, account: &AccountId, millis: i64, dedupe_key: &str) -> Key {
    Key::new(
        format!("{}#EVENTS", account_pk(tenant, account)),
        format!("EVENT#{}#{dedupe_key}", time_sk(millis)),
    )
}

/// The dedupe key of a webhook item that did not parse, within its raw event's key: a
/// stable digest of its bytes. It must be the same in every process and every release, or
/// a redelivery would be kept twice.
pub fn rejected_item(raw: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "rejected:{}",
        hex::encode(&Sha256::digest(raw.as_bytes())[..8])
    )
}

pub fn comment(tenant: &TenantId, account: &AccountId, comment: &CommentId) -> Key {
    Key::new(account_pk(tenant, account), format!("COMMENT#{comment}"))
}

/// GSI1 partition: an account's comments with one status, newest first by time.
pub fn comments_by_status(tenant: &TenantId, account: &AccountId, status: &str) -> String {
    format!("{}#COMMENTS#{status}", account_pk(tenant, account))
}

/// GSI2 partition: an account's comments on one media.
pub fn comments_by_media(tenant: &TenantId, account: &AccountId, media: &MediaId) -> String {
    format!("{}#MEDIA#{media}", account_pk(tenant, account))
}

/// Moderation policy of one account.
pub fn moderation_policy(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(tenant_pk(tenant), format!("MODPOLICY#{account}"))
}

/// The recent comments of one author with one text (by fingerprint), for counting
/// repeats. Expires with TTL after the repeat window.
pub fn comment_repeats(
    tenant: &TenantId,
    account: &AccountId,
    author: &CustomerId,
    fingerprint: &str,
) -> Key {
    Key::new(
        format!(
            "{}#REPEAT#{}#{fingerprint}",
            account_pk(tenant, account),
            author.as_str()
        ),
        "REPEAT",
    )
}

pub fn post(tenant: &TenantId, post: &PostId) -> Key {
    Key::new(tenant_pk(tenant), format!("{POST_PREFIX}{post}"))
}

pub const POST_PREFIX: &str = "POST#";

/// A file uploaded for a post, and which post uses it.
pub fn upload(tenant: &TenantId, upload: &UploadId) -> Key {
    Key::new(tenant_pk(tenant), format!("UPLOAD#{upload}"))
}

/// GSI1 partition: a tenant's posts by scheduled time (the content calendar).
pub fn posts_calendar(tenant: &TenantId) -> String {
    format!("{}#POSTS", tenant_pk(tenant))
}

/// GSI2 partition (sparse): posts coming due across tenants, one of [`SHARDS`].
pub fn posts_due(shard: u32) -> String {
    format!("DUE#{shard}")
}

/// GSI2 partition (sparse): accounts by token expiry across tenants, one of [`SHARDS`].
pub fn tokens_expiring(shard: u32) -> String {
    format!("TOKEXP#{shard}")
}

/// Stable shard for an item, from its tenant and id.
pub fn shard_of(tenant: &TenantId, id: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{tenant}/{id}").as_bytes());
    u32::from(digest[0]) % SHARDS
}

/// The account's latest profile snapshot.
pub fn profile(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(account_pk(tenant, account), "PROFILE")
}

/// The account's profile as it was at the end of a day (`YYYY-MM-DD`), for trends.
pub fn profile_day(tenant: &TenantId, account: &AccountId, day: &str) -> Key {
    Key::new(account_pk(tenant, account), format!("PROFILE#DAY#{day}"))
}

/// Account insights of one day (`YYYY-MM-DD`); days sort in time order.
pub fn insights_day(tenant: &TenantId, account: &AccountId, day: &str) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("{INSIGHTS_DAY_PREFIX}{day}"),
    )
}

pub const INSIGHTS_DAY_PREFIX: &str = "INSIGHTS#DAY#";

/// Insights of one media of the account.
pub fn media_insights(tenant: &TenantId, account: &AccountId, media: &MediaId) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("INSIGHTS#MEDIA#{media}"),
    )
}

/// GSI1 partition: a media's insights found by the media id alone (within the tenant).
pub fn media_insights_by_id(tenant: &TenantId, media: &MediaId) -> String {
    format!("{}#MEDIAINSIGHTS#{media}", tenant_pk(tenant))
}

/// GSI2 partition: an account's media insights by publishing time.
pub fn media_insights_by_time(tenant: &TenantId, account: &AccountId) -> String {
    format!("{}#MEDIAINSIGHTS", account_pk(tenant, account))
}

/// Where the account's profile and insights sync stands.
pub fn sync_state(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(account_pk(tenant, account), "SYNC")
}

/// When the account's last webhook arrived (kept apart from the account item, which
/// is rewritten whole).
pub fn webhook_seen(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(account_pk(tenant, account), "WEBHOOKSEEN")
}

/// A tenant's usage counters of one UTC day (`YYYY-MM-DD`).
pub fn usage(tenant: &TenantId, day: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("{USAGE_PREFIX}{day}"))
}

pub const USAGE_PREFIX: &str = "USAGE#";

pub fn knowledge(tenant: &TenantId, entry_id: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("KNOW#{entry_id}"))
}

pub const KNOWLEDGE_PREFIX: &str = "KNOW#";

/// API keys are looked up by the SHA-256 of the key; the key itself is never stored.
pub fn api_key(key_hash_hex: &str) -> Key {
    Key::new(format!("APIKEY#{key_hash_hex}"), "APIKEY")
}

/// A tenant's API keys (gsi1), oldest first; `None` lists the operator keys.
pub fn api_keys_of(tenant: Option<&TenantId>) -> String {
    match tenant {
        Some(tenant) => format!("T#{tenant}#APIKEYS"),
        None => "OPERATOR#APIKEYS".to_owned(),
    }
}

/// Every tenant of the installation (gsi1), for operators.
pub const TENANTS: &str = "TENANTS";

/// The first response to a request made with an `Idempotency-Key` (expires with TTL),
/// per tenant; `None` is the operators' scope.
pub fn idempotency(tenant: Option<&TenantId>, key_hash_hex: &str) -> Key {
    match tenant {
        Some(tenant) => Key::new(format!("T#{tenant}#IDEMP#{key_hash_hex}"), "IDEMP"),
        None => Key::new(format!("OPERATOR#IDEMP#{key_hash_hex}"), "IDEMP"),
    }
}

/// A tenant's API rate-limit bucket.
pub fn rate_bucket(tenant: &TenantId) -> Key {
    Key::new(format!("T#{tenant}#RATE"), "RATE")
}

/// OAuth state nonce: single use, expires with TTL.
pub fn oauth_state(nonce: &str) -> Key {
    Key::new(format!("OAUTHSTATE#{nonce}"), "STATE")
}

/// A data-deletion request, by its confirmation code (the status page looks it up).
pub fn deletion_request(code: &str) -> Key {
    Key::new(format!("DELETION#{code}"), "DELETION")
}

/// Accounts connected by one Meta user (for deauthorize and data deletion).
pub fn meta_user_accounts(meta_user_id: &str) -> String {
    format!("METAUSER#{meta_user_id}")
}

/// AI settings of one account.
pub fn ai_settings(tenant: &TenantId, account: &AccountId) -> Key {
    Key::new(tenant_pk(tenant), format!("AISETTINGS#{account}"))
}

/// A draft reply on its conversation, by the inbound message it answers.
pub fn ai_draft(
    tenant: &TenantId,
    account: &AccountId,
    customer: &CustomerId,
    inbound_millis: i64,
    inbound_mid: &str,
) -> Key {
    Key::new(
        conversation_messages_pk(tenant, account, customer),
        format!("{AI_DRAFT_PREFIX}{}#{inbound_mid}", time_sk(inbound_millis)),
    )
}

pub const AI_DRAFT_PREFIX: &str = "DRAFT#";

/// GSI1 partition (sparse): an account's drafts waiting for a person, by time.
pub fn ai_drafts_pending(tenant: &TenantId, account: &AccountId) -> String {
    format!("{}#DRAFTS", account_pk(tenant, account))
}

/// The outcome of a reply job, by the inbound message it was about.
pub fn ai_outcome(
    tenant: &TenantId,
    account: &AccountId,
    customer: &CustomerId,
    inbound_millis: i64,
    inbound_mid: &str,
) -> Key {
    Key::new(
        conversation_messages_pk(tenant, account, customer),
        format!(
            "{AI_OUTCOME_PREFIX}{}#{inbound_mid}",
            time_sk(inbound_millis)
        ),
    )
}

pub const AI_OUTCOME_PREFIX: &str = "AIREPLY#";

/// A product (knowledge entry) linked to a conversation.
pub fn conversation_product(
    tenant: &TenantId,
    account: &AccountId,
    customer: &CustomerId,
    entry_id: &str,
) -> Key {
    Key::new(
        conversation_messages_pk(tenant, account, customer),
        format!("{CONVERSATION_PRODUCT_PREFIX}{entry_id}"),
    )
}

pub const CONVERSATION_PRODUCT_PREFIX: &str = "PRODUCT#";

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn tenant_keys_begin_with_the_tenant() {
        let a = AccountId::parse("17841").unwrap();
        let c = CustomerId::parse("99").unwrap();
        for key in [
            tenant(&t("acme")),
            account(&t("acme"), &a),
            contact(&t("acme"), &a, &c),
            conversation(&t("acme"), &a, &c),
            message(&t("acme"), &a, &c, 5, "m1"),
            dedupe(&t("acme"), "m1"),
            claim(&t("acme"), "reply:m1"),
        ] {
            assert!(
                key.pk.starts_with("T#acme#") || key.pk == "T#acme",
                "{key:?}"
            );
        }
    }

    #[test]
    fn tenant_prefix_cannot_be_a_prefix_of_another_tenant() {
        // "T#acme#..." must never match a query for tenant "acm": the separator follows
        // the tenant id, and ids cannot contain '#'.
        assert!(
            !account(&t("acme"), &AccountId::parse("1").unwrap())
                .pk
                .starts_with("T#acm#")
        );
    }

    #[test]
    fn time_sort_keys_sort_as_time() {
        assert!(time_sk(999) < time_sk(1_000));
        assert!(time_sk(1_700_000_000_000) < time_sk(1_800_000_000_000));
        assert_eq!(time_sk(-5), time_sk(0));
    }

    #[test]
    fn shards_are_stable_and_bounded() {
        let s = shard_of(&t("acme"), "42");
        assert_eq!(s, shard_of(&t("acme"), "42"));
        assert!(s < SHARDS);
    }

    #[test]
    fn a_rejected_items_key_never_changes_between_releases() {
        // The first 8 bytes of SHA-256 over the item's bytes: a redelivery after an
        // upgrade must meet the item kept before it.
        assert_eq!(rejected_item(r#"{"entry":1}"#), "rejected:14d6385ca556273f");
    }
}
