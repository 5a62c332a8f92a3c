//! Comments from webhooks, stored once per comment id, and their moderation jobs.
//!
//! A customer's comment is queued for moderation when it is new, and again when it is a
//! duplicate nobody has moderated yet (a crash between store and queue; moderation is
//! idempotent). The business's own comments are not moderated. Usage counts a comment
//! once, when it is new.

use super::ports::Comments;
use super::{IngestError, Ingestion, Ports};
use crate::inbox::{CommentStatus, StoredComment};
use crate::jobs::{Enqueue, ModerationJob};
use crate::store::accounts::Route;
use crate::store::inbox::Recorded;
use crate::store::usage::Counter;
use crate::webhook::{Comment, Event};

impl<P: Ports> Ingestion<P> {
    pub(super) async fn record_comment(
        &self,
        route: &Route,
        event: &Event,
        comment: &Comment,
    ) -> Result<(), IngestError> {
        let (tenant, account) = (&route.tenant_id, &route.account_id);
        let stored = stored_comment(route, event, comment, self.clock.now_ms());
        let still_new = match self.store.record_comment(&stored).await? {
            Recorded::New => {
                self.metrics.count("CommentsStored", 1);
                self.tally(tenant, Counter::CommentsReceived);
                true
            }
            Recorded::Duplicate => {
                self.metrics.count("EventsDeduplicated", 1);
                self.store
                    .get_comment(tenant, account, &comment.id)
                    .await?
                    .is_some_and(|c| c.moderated_at.is_none())
            }
        };
        if still_new && !event.by_business {
            let job = ModerationJob {
                tenant_id: tenant.clone(),
                account_id: account.clone(),
                comment_id: comment.id.clone(),
                action: Default::default(),
            };
            self.moderation.enqueue(&job, 0).await?;
            self.metrics.count("ModerationJobsQueued", 1);
        }
        Ok(())
    }
}

/// A new comment, as Meta delivered it, received at `now_ms`.
fn stored_comment(route: &Route, event: &Event, comment: &Comment, now_ms: i64) -> StoredComment {
    StoredComment {
        tenant_id: route.tenant_id.clone(),
        account_id: route.account_id.clone(),
        comment_id: comment.id.clone(),
        parent_id: comment.parent_id.clone(),
        media_id: comment.media.as_ref().map(|m| m.id.clone()),
        media_product_type: comment.media.as_ref().and_then(|m| m.product_type.clone()),
        from_id: event.customer.clone(),
        username: comment.username.as_ref().map(|u| u.as_str().to_owned()),
        text: comment.text.as_ref().map(|t| t.as_str().to_owned()),
        live: comment.live,
        status: CommentStatus::New,
        created_at: event.timestamp_ms,
        received_at: now_ms,
        labels: Vec::new(),
        signals: Vec::new(),
        spam_score: 0,
        tag_audited: false,
        moderated_at: None,
        auto_hide: false,
        hidden: false,
        replied_at: None,
        reply_ids: Vec::new(),
        private_replied_at: None,
        deleted_at: None,
        revision: 0,
    }
}
