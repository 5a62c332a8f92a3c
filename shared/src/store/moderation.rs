//! Persistence for moderation: each account's policy, comment state changes, and the
//! per-author counters that find repeated comments.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::inbox::comment_index;
use super::{IndexKeys, Item, Store, StoreError, conditional, keys, n};
use crate::ids::{AccountId, CommentId, CustomerId, TenantId};
use crate::inbox::StoredComment;
use crate::moderation::{ModerationPolicy, PolicyError};

/// Why a policy was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PolicyStoreError {
    #[error("invalid moderation policy: {0}")]
    Invalid(#[from] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Entries of a repeat counter beyond which the oldest are pruned.
const REPEAT_PRUNE_ABOVE: usize = 50;

impl Store {
    /// The account's moderation policy; None when never set (defaults apply).
    pub async fn get_moderation_policy(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<ModerationPolicy>, StoreError> {
        self.get(&keys::moderation_policy(tenant, account)).await
    }

    pub async fn put_moderation_policy(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        policy: &ModerationPolicy,
    ) -> Result<(), PolicyStoreError> {
        policy.validate()?;
        self.put(
            &keys::moderation_policy(tenant, account),
            &IndexKeys::default(),
            policy,
        )
        .await?;
        Ok(())
    }

    /// Store a changed comment if nobody changed it since it was read (its revision is
    /// still `comment.revision`). Its status, and so its place in the by-status index,
    /// follows from its state. Returns the stored comment; `Conflict` when it moved.
    pub async fn update_comment(
        &self,
        comment: &StoredComment,
    ) -> Result<StoredComment, StoreError> {
        let mut next = comment.clone();
        next.revision = comment.revision + 1;
        next.status = next.derived_status();
        let key = keys::comment(&next.tenant_id, &next.account_id, &next.comment_id);
        let item = Self::item(&key, &comment_index(&next), &next)?;
        let request = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .expression_attribute_values(":r", n(comment.revision));
        // Comments stored before revisions existed have none: revision 0 matches them.
        let request = if comment.revision == 0 {
            request.condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(revision) OR revision = :r)",
            )
        } else {
            request.condition_expression("attribute_exists(pk) AND revision = :r")
        };
        if conditional(request.send().await, "PutItem")? {
            Ok(next)
        } else {
            Err(StoreError::Conflict { what: "comment" })
        }
    }

    /// Count `comment` among the author's comments with the same text fingerprint and
    /// return how many fall within `window_ms` of `at_ms` (this one included). Counting
    /// the same comment again (a redelivered job) does not raise the count.
    #[allow(clippy::too_many_arguments)]
    pub async fn count_repeat(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        author: &CustomerId,
        fingerprint: &str,
        comment: &CommentId,
        at_ms: i64,
        window_ms: i64,
    ) -> Result<u32, StoreError> {
        let key = keys::comment_repeats(tenant, account, author, fingerprint);
        let ttl = n(at_ms.max(0) / 1000 + window_ms / 1000 + 3600);
        let at = n(at_ms);
        let mut seen = None;
        let update = |expression| {
            self.update(&key, expression)
                .name("#ttl", "ttl")
                .value(":ttl", ttl.clone())
        };
        // The map exists (add one entry) or does not (create it); a writer that loses
        // the race to create it adds its entry on the next round.
        for _ in 0..3 {
            let added = update("SET seen.#c = :at, #ttl = :ttl")
                .condition("attribute_exists(seen)")
                .name("#c", comment.as_str())
                .value(":at", at.clone())
                .apply_returning_new()
                .await?;
            if let Some(item) = added {
                seen = Some(item);
                break;
            }
            let created = update("SET seen = :m, #ttl = :ttl")
                .condition("attribute_not_exists(seen)")
                .value(
                    ":m",
                    AttributeValue::M(HashMap::from([(comment.as_str().to_owned(), at.clone())])),
                )
                .apply_returning_new()
                .await?;
            if let Some(item) = created {
                seen = Some(item);
                break;
            }
        }
        let Some(AttributeValue::M(seen)) = seen.and_then(|mut item: Item| item.remove("seen"))
        else {
            return Err(StoreError::Conflict {
                what: "repeat counter",
            });
        };
        let times: Vec<(String, i64)> = seen
            .into_iter()
            .filter_map(|(id, v)| match v {
                AttributeValue::N(n) => n.parse().ok().map(|t| (id, t)),
                _ => None,
            })
            .collect();
        let count = times
            .iter()
            .filter(|(_, t)| (t - at_ms).abs() <= window_ms)
            .count();
        if times.len() > REPEAT_PRUNE_ABOVE {
            self.prune_repeats(&key, &times, at_ms - window_ms).await;
        }
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Best effort: drop counter entries older than `before` so the item stays small.
    async fn prune_repeats(&self, key: &keys::Key, times: &[(String, i64)], before: i64) {
        let old: Vec<&str> = times
            .iter()
            .filter(|(_, t)| *t < before)
            .map(|(id, _)| id.as_str())
            .take(REPEAT_PRUNE_ABOVE)
            .collect();
        if old.is_empty() {
            return;
        }
        let paths: Vec<String> = (0..old.len()).map(|i| format!("seen.#o{i}")).collect();
        let mut update = self.update(key, format!("REMOVE {}", paths.join(", ")));
        for (i, id) in old.iter().enumerate() {
            update = update.name(format!("#o{i}"), *id);
        }
        let _ = update.apply().await;
    }
}
