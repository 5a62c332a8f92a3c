//! The publish state machine, as pure functions: which call comes next given how far a
//! post got, and what a Meta error means for it. The worker performs the step, stores
//! what Meta returned, and asks again.
//!
//! Instagram: item containers (carousel) -> container -> wait for FINISHED -> quota ->
//! `media_publish` (which reads the container's `status_code` first, so a post whose
//! earlier answer was lost is found PUBLISHED, not posted again) -> first comment ->
//! permalink. A Page post is one call, guarded the same way by the stored outcome.

use std::time::Duration;

use super::post::{FixBy, Post, PostContent};
use crate::meta::GraphError;

/// The next call for a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Create the carousel item container at this index.
    CreateItem(usize),
    /// Read the status of the carousel item container at this index.
    CheckItem(usize),
    /// Create the container that is published.
    CreateContainer,
    /// Read the container's `status_code`.
    CheckContainer,
    /// Read the account's publishing quota, then publish.
    Publish,
    /// Post the first comment under the published media.
    FirstComment,
    /// Read the media's permalink.
    Permalink,
    /// Publish a Page post.
    PublishPagePost,
    /// A Page post was sent but its answer never came: it may be on the Page. It is
    /// not sent again; a person looks.
    PagePostUnconfirmed,
    /// Nothing is left to do.
    Done,
}

/// Where a post stands, as the machine sees it.
pub fn next_step(post: &Post) -> Step {
    let p = &post.progress;
    if post.content.is_page_post() {
        return match (p.published, p.page_post_sent) {
            (true, _) => Step::Done,
            (false, false) => Step::PublishPagePost,
            (false, true) => Step::PagePostUnconfirmed,
        };
    }
    if !p.published {
        if let PostContent::Carousel { items } = &post.content
            && p.children.len() < items.len()
        {
            return Step::CreateItem(p.children.len());
        }
        if p.container.is_none() && p.children_ready < p.children.len() {
            return Step::CheckItem(p.children_ready);
        }
        return match (&p.container, p.container_ready) {
            (None, _) => Step::CreateContainer,
            (Some(_), false) => Step::CheckContainer,
            (Some(_), true) => Step::Publish,
        };
    }
    if post.first_comment.is_some() && !p.first_comment_sent && p.media_id.is_some() {
        return Step::FirstComment;
    }
    if p.permalink.is_none() && p.media_id.is_some() {
        return Step::Permalink;
    }
    Step::Done
}

/// Bounds of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Status reads before a container still IN_PROGRESS fails the post.
    pub max_polls: u32,
    /// Transient failures retried before the post fails.
    pub max_retries: u32,
    /// Expired containers rebuilt before the post fails.
    pub max_rebuilds: u32,
    /// First wait between status reads; videos wait longer.
    pub poll_every: Duration,
    /// First wait after a transient failure; doubled each time.
    pub backoff: Duration,
    /// How long to wait before reading the quota again.
    pub quota_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_polls: 40,
            max_retries: 5,
            max_rebuilds: 2,
            poll_every: Duration::from_secs(5),
            backoff: Duration::from_secs(4),
            quota_wait: Duration::from_secs(900),
        }
    }
}

/// When to read a container's status again: every `poll_every` (videos every two), so
/// a post prepared within its lead is ready at its second; after a dozen reads, every
/// 30 s (Meta's processing of a long video).
pub fn poll_delay(limits: &Limits, polls: u32, video: bool) -> Duration {
    let base = if video {
        limits.poll_every * 2
    } else {
        limits.poll_every
    };
    if polls >= 12 {
        base.max(Duration::from_secs(30))
    } else {
        base
    }
}

/// The wait before retry number `retries` (0-based), capped at SQS's 15 minutes.
pub fn backoff(limits: &Limits, retries: u32, hint: Option<Duration>) -> Duration {
    let doubled = limits.backoff * 2u32.saturating_pow(retries.min(10));
    hint.unwrap_or(doubled)
        .max(doubled)
        .min(Duration::from_secs(900))
}

/// What a Meta error means for the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnError {
    /// The container expired (or was refused as expired): build a new one.
    Rebuild,
    /// Try the same step again after this long.
    Retry(Duration),
    /// Wait for the publishing quota.
    WaitForQuota,
    /// The post fails; a person must act.
    Fail { reason: String, fix: FixBy },
}

pub fn on_error(error: &GraphError, post: &Post, limits: &Limits) -> OnError {
    let p = &post.progress;
    match error {
        GraphError::Media {
            subcode: 2207020, ..
        } if p.rebuilds < limits.max_rebuilds => OnError::Rebuild,
        GraphError::PublishQuotaReached => OnError::WaitForQuota,
        e if e.needs_reconnect() => OnError::Fail {
            reason: format!("{e}"),
            fix: FixBy::ReconnectTheAccount,
        },
        GraphError::Media { subcode, .. } if is_retryable_media(*subcode) => {
            retry_or_fail(error, post, limits)
        }
        GraphError::Media { .. } | GraphError::InvalidInput { .. } => OnError::Fail {
            reason: format!("{error}"),
            fix: FixBy::ChangeTheMedia,
        },
        GraphError::PermissionMissing { .. } => OnError::Fail {
            reason: format!("{error}"),
            fix: FixBy::ReconnectTheAccount,
        },
        e if e.is_retryable() => retry_or_fail(error, post, limits),
        e => OnError::Fail {
            reason: format!("{e}"),
            fix: FixBy::ChangeTheMedia,
        },
    }
}

/// 2207001 server error and 2207003 download timeout pass.
fn is_retryable_media(subcode: i64) -> bool {
    matches!(subcode, 2207001 | 2207003)
}

fn retry_or_fail(error: &GraphError, post: &Post, limits: &Limits) -> OnError {
    let retries = post.progress.retries;
    if retries < limits.max_retries {
        OnError::Retry(backoff(limits, retries, error.retry_after()))
    } else {
        OnError::Fail {
            reason: format!("Meta kept failing ({} attempts): {error}", retries + 1),
            fix: FixBy::TryAgainLater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, MediaId, PostId, TenantId};
    use crate::meta::TransientCause;
    use crate::publishing::post::{MediaItem, MediaKind, PostStatus, Progress};

    fn post(content: PostContent, first_comment: Option<&str>) -> Post {
        Post {
            tenant_id: TenantId::parse("acme").unwrap(),
            post_id: PostId::generate(),
            account_id: AccountId::parse("17841400000000001").unwrap(),
            content,
            caption: Some("Hello".into()),
            first_comment: first_comment.map(str::to_owned),
            scheduled_at: 0,
            time_zone: None,
            status: PostStatus::Publishing,
            progress: Progress::default(),
            failure: None,
            published_at: None,
            revision: 0,
            lease_until: 0,
            lease_by: None,
            created_by: "test".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn id(n: u32) -> MediaId {
        MediaId::parse(format!("1790000000000{n:04}")).unwrap()
    }

    #[test]
    fn an_image_goes_container_status_publish_comment_permalink() {
        let mut p = post(
            PostContent::Image {
                url: "https://cdn.example/a.jpg".into(),
                alt_text: None,
            },
            Some("First!"),
        );
        assert_eq!(next_step(&p), Step::CreateContainer);
        p.progress.container = Some(id(1));
        assert_eq!(next_step(&p), Step::CheckContainer);
        p.progress.container_ready = true;
        assert_eq!(next_step(&p), Step::Publish);
        p.progress.published = true;
        p.progress.media_id = Some("1790".into());
        assert_eq!(next_step(&p), Step::FirstComment);
        p.progress.first_comment_sent = true;
        assert_eq!(
            next_step(&p),
            Step::Permalink,
            "sent once, even without its id"
        );
        p.progress.permalink = Some("https://www.instagram.com/p/x/".into());
        assert_eq!(next_step(&p), Step::Done);
    }

    #[test]
    fn a_carousel_creates_its_items_in_order_before_itself() {
        let item = MediaItem {
            kind: MediaKind::Image,
            url: "https://cdn.example/a.jpg".into(),
        };
        let mut p = post(
            PostContent::Carousel {
                items: vec![item.clone(), item.clone(), item],
            },
            None,
        );
        assert_eq!(next_step(&p), Step::CreateItem(0));
        p.progress.children = vec![id(1), id(2)];
        assert_eq!(next_step(&p), Step::CreateItem(2));
        p.progress.children.push(id(3));
        assert_eq!(next_step(&p), Step::CheckItem(0));
        p.progress.children_ready = 3;
        assert_eq!(next_step(&p), Step::CreateContainer);
    }

    #[test]
    fn a_post_published_without_its_media_id_is_done_and_never_published_again() {
        let mut p = post(
            PostContent::Image {
                url: "https://cdn.example/a.jpg".into(),
                alt_text: None,
            },
            Some("First!"),
        );
        p.progress.container = Some(id(1));
        p.progress.container_ready = true;
        p.progress.published = true;
        assert_eq!(next_step(&p), Step::Done);
        let mut page = post(PostContent::PageText, None);
        assert_eq!(next_step(&page), Step::PublishPagePost);
        page.progress.page_post_sent = true;
        assert_eq!(next_step(&page), Step::PagePostUnconfirmed);
        page.progress.published = true;
        assert_eq!(next_step(&page), Step::Done);
    }

    #[test]
    fn meta_errors_map_to_what_a_person_can_act_on() {
        let limits = Limits::default();
        let mut p = post(PostContent::PageText, None);
        assert_eq!(
            on_error(&GraphError::media(2207020), &p, &limits),
            OnError::Rebuild
        );
        p.progress.rebuilds = limits.max_rebuilds;
        assert!(matches!(
            on_error(&GraphError::media(2207020), &p, &limits),
            OnError::Fail {
                fix: FixBy::ChangeTheMedia,
                ..
            }
        ));
        assert!(matches!(
            on_error(&GraphError::media(2207026), &p, &limits),
            OnError::Fail {
                fix: FixBy::ChangeTheMedia,
                ..
            }
        ));
        assert_eq!(
            on_error(&GraphError::PublishQuotaReached, &p, &limits),
            OnError::WaitForQuota
        );
        let transient = GraphError::Transient {
            cause: TransientCause::Timeout,
        };
        assert!(matches!(
            on_error(&transient, &p, &limits),
            OnError::Retry(_)
        ));
        p.progress.retries = limits.max_retries;
        assert!(matches!(
            on_error(&transient, &p, &limits),
            OnError::Fail {
                fix: FixBy::TryAgainLater,
                ..
            }
        ));
    }

    #[test]
    fn waits_grow_and_stay_within_sqs_delays() {
        let limits = Limits::default();
        assert!(poll_delay(&limits, 0, true) > poll_delay(&limits, 0, false));
        assert_eq!(poll_delay(&limits, 0, false), poll_delay(&limits, 5, false));
        assert_eq!(poll_delay(&limits, 100, true), Duration::from_secs(30));
        assert!(backoff(&limits, 1, None) > backoff(&limits, 0, None));
        assert_eq!(backoff(&limits, 30, None), Duration::from_secs(900));
        assert_eq!(
            backoff(&limits, 0, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
    }
}
