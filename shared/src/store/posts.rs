//! Scheduled posts: the tenant's calendar (gsi1) and the sparse, sharded "due" index
//! (gsi2) the dispatcher sweeps. DynamoDB is the only source of truth: every write is
//! conditional on the post's revision, so two writers never both win.
//!
//! A post stays in the due index until it is final. Its due time is when it is
//! scheduled while waiting, and when its lease ends once claimed: if a queue message is
//! lost or a worker dies, the next sweep finds the post again and re-queues it.

use super::{IndexKeys, Listing, Page, SortRange, Store, StoreError, keys};
use crate::ids::{PostId, TenantId};
use crate::publishing::{Post, PostStatus};

/// Posts are kept this long after they are final (the calendar shows them).
const KEEP_FINAL_SECONDS: i64 = 400 * 86_400;

fn due_at(post: &Post) -> i64 {
    match post.status {
        PostStatus::Scheduled => post.scheduled_at,
        _ => post.lease_until.max(post.scheduled_at),
    }
}

fn index_of(post: &Post) -> IndexKeys {
    let calendar = (
        keys::posts_calendar(&post.tenant_id),
        format!("{}#{}", keys::time_sk(post.scheduled_at), post.post_id),
    );
    let due = (!post.status.is_final()).then(|| {
        (
            keys::posts_due(keys::shard_of(&post.tenant_id, post.post_id.as_str())),
            format!(
                "{}#{}#{}",
                keys::time_sk(due_at(post)),
                post.tenant_id,
                post.post_id
            ),
        )
    });
    IndexKeys {
        gsi1: Some(calendar),
        gsi2: due,
        ttl: post
            .status
            .is_final()
            .then(|| post.updated_at / 1000 + KEEP_FINAL_SECONDS),
    }
}

impl Store {
    /// Store a new post; `Conflict` if its id is taken.
    pub async fn create_post(&self, post: &Post) -> Result<(), StoreError> {
        self.put_new(
            &keys::post(&post.tenant_id, &post.post_id),
            &index_of(post),
            post,
            "post",
        )
        .await
    }

    pub async fn get_post(
        &self,
        tenant: &TenantId,
        post: &PostId,
    ) -> Result<Option<Post>, StoreError> {
        self.get(&keys::post(tenant, post)).await
    }

    /// Write `post` as its next revision, provided nobody wrote it since it was read
    /// (its `revision` is still the stored one). Returns the post as stored; `Conflict`
    /// when another writer came first.
    pub async fn save_post(&self, post: &Post) -> Result<Post, StoreError> {
        let mut next = post.clone();
        next.revision = post.revision + 1;
        let key = keys::post(&post.tenant_id, &post.post_id);
        self.put_if_revision(&key, &index_of(&next), &next, post.revision, "post")
            .await?;
        Ok(next)
    }

    /// A tenant's posts scheduled in `[from_ms, to_ms]`, in time order (the calendar).
    pub async fn list_posts(
        &self,
        tenant: &TenantId,
        from_ms: i64,
        to_ms: i64,
        listing: &Listing,
    ) -> Result<Page<Post>, StoreError> {
        let range = SortRange::Between(
            keys::time_sk(from_ms),
            format!("{}#~", keys::time_sk(to_ms)),
        );
        self.query(
            Some(super::Index::Gsi1),
            &keys::posts_calendar(tenant),
            &range,
            listing,
        )
        .await
    }

    /// Posts of one due shard whose due time is at or before `until_ms`, oldest first.
    pub async fn due_posts(
        &self,
        shard: u32,
        until_ms: i64,
        listing: &Listing,
    ) -> Result<Page<Post>, StoreError> {
        let range = SortRange::Before(format!("{}#~", keys::time_sk(until_ms)));
        self.query(
            Some(super::Index::Gsi2),
            &keys::posts_due(shard),
            &range,
            listing,
        )
        .await
    }
}
