//! A scheduled post: what it holds, when it goes out, and how far publishing got.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, MediaId, PostId, TenantId, UploadId};

/// One picture or video of a post, at a public https URL Meta can fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaItem {
    pub kind: MediaKind,
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

/// What a post publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum PostContent {
    /// Instagram: one JPEG.
    Image {
        url: String,
        #[serde(default)]
        alt_text: Option<String>,
    },
    /// Instagram: a reel.
    Reel {
        video_url: String,
        #[serde(default)]
        cover_url: Option<String>,
        /// Also show the reel in the feed (Meta's default is yes).
        #[serde(default)]
        share_to_feed: Option<bool>,
    },
    /// Instagram: 2 to 10 images and videos.
    Carousel { items: Vec<MediaItem> },
    /// Instagram: a story of one image or video (no caption).
    Story { media: MediaItem },
    /// Facebook Page: a status update.
    PageText,
    /// Facebook Page: a photo.
    PagePhoto { url: String },
    /// Facebook Page: a link share.
    PageLink { link: String },
}

impl PostContent {
    pub fn is_page_post(&self) -> bool {
        matches!(
            self,
            Self::PageText | Self::PagePhoto { .. } | Self::PageLink { .. }
        )
    }

    /// Every media URL the post will hand to Meta, with its kind.
    pub fn media(&self) -> Vec<(MediaKind, &str)> {
        self.media_fields()
            .into_iter()
            .map(|(_, kind, url)| (kind, url))
            .collect()
    }

    /// Every media URL with the request field that names it in a refusal
    /// (`content.items[1].url`) and its kind, in the content's order.
    pub fn media_fields(&self) -> Vec<(String, MediaKind, &str)> {
        match self {
            Self::Image { url, .. } | Self::PagePhoto { url } => {
                vec![("content.url".into(), MediaKind::Image, url.as_str())]
            }
            Self::Reel {
                video_url,
                cover_url,
                ..
            } => {
                let mut all = vec![(
                    "content.video_url".into(),
                    MediaKind::Video,
                    video_url.as_str(),
                )];
                if let Some(cover) = cover_url {
                    all.push(("content.cover_url".into(), MediaKind::Image, cover.as_str()));
                }
                all
            }
            Self::Carousel { items } => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    (
                        format!("content.items[{i}].url"),
                        item.kind,
                        item.url.as_str(),
                    )
                })
                .collect(),
            Self::Story { media } => {
                vec![("content.media.url".into(), media.kind, media.url.as_str())]
            }
            Self::PageText | Self::PageLink { .. } => Vec::new(),
        }
    }

    /// The uploads the post uses (`relay://uploads/...` media), each once.
    pub fn uploads(&self) -> Vec<UploadId> {
        let mut all: Vec<UploadId> = self
            .media()
            .into_iter()
            .filter_map(|(_, url)| super::upload::referenced(url)?.ok())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The same content with every media URL replaced by `f(url)` (the publisher gives
    /// Meta a presigned URL where the post names an upload).
    pub fn map_urls(&self, mut f: impl FnMut(&str) -> String) -> Self {
        let mut out = self.clone();
        match &mut out {
            Self::Image { url, .. } | Self::PagePhoto { url } => *url = f(url),
            Self::Reel {
                video_url,
                cover_url,
                ..
            } => {
                *video_url = f(video_url);
                if let Some(cover) = cover_url {
                    *cover = f(cover);
                }
            }
            Self::Carousel { items } => {
                for item in items {
                    item.url = f(&item.url);
                }
            }
            Self::Story { media } => media.url = f(&media.url),
            Self::PageText | Self::PageLink { .. } => {}
        }
        out
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Image { .. } => "image",
            Self::Reel { .. } => "reel",
            Self::Carousel { .. } => "carousel",
            Self::Story { .. } => "story",
            Self::PageText => "page_text",
            Self::PagePhoto { .. } => "page_photo",
            Self::PageLink { .. } => "page_link",
        }
    }
}

/// Where a post is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Waiting for its time; it can still be edited or cancelled.
    Scheduled,
    /// Claimed by the dispatcher and queued to fire at its second.
    Queued,
    /// The worker is building or publishing it.
    Publishing,
    /// The account used its publishing quota; the post goes out when it frees up.
    WaitingForQuota,
    Published,
    /// It will not go out; `failure` says why and what to do.
    Failed,
    Cancelled,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Publishing => "publishing",
            Self::WaitingForQuota => "waiting_for_quota",
            Self::Published => "published",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Scheduled,
            Self::Queued,
            Self::Publishing,
            Self::WaitingForQuota,
            Self::Published,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Published | Self::Failed | Self::Cancelled)
    }
}

/// What a person must do about a failed post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixBy {
    /// Replace the media or caption Meta refused, then schedule again.
    ChangeTheMedia,
    /// Reconnect the account (its token is no longer accepted).
    ReconnectTheAccount,
    /// Schedule again later (Meta kept failing).
    TryAgainLater,
}

/// Why a post failed, in Meta's words where Meta gave any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub reason: String,
    pub fix: FixBy,
    pub at: i64,
}

/// How far publishing got. Each id is stored the moment Meta returns it, before the next
/// call, so a crash or a redelivery resumes instead of starting over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    /// Carousel item containers, in item order.
    pub children: Vec<MediaId>,
    /// How many of them Meta said are FINISHED (a carousel takes finished items only).
    pub children_ready: usize,
    /// The container that is published (the carousel itself for a carousel).
    pub container: Option<MediaId>,
    /// Meta said the container is FINISHED.
    pub container_ready: bool,
    /// The published media (Instagram) or post (Page) id.
    pub media_id: Option<String>,
    /// Published, even if Meta's answer with the media id was lost.
    pub published: bool,
    pub first_comment_id: Option<String>,
    /// The first comment was sent (its answer may have been lost): never sent again.
    pub first_comment_sent: bool,
    /// The Page post was sent. A Page post has no container to read its outcome from,
    /// so a post sent whose answer was lost is not sent again: a person checks.
    pub page_post_sent: bool,
    pub permalink: Option<String>,
    /// Status reads while Meta processed the container.
    pub polls: u32,
    /// Transient failures retried.
    pub retries: u32,
    /// Containers rebuilt after they expired.
    pub rebuilds: u32,
    /// When the worker last had to wait (quota), with the reason shown to people.
    pub waiting: Option<String>,
}

/// A post, stored under its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub tenant_id: TenantId,
    pub post_id: PostId,
    pub account_id: AccountId,
    pub content: PostContent,
    pub caption: Option<String>,
    /// Posted by Relay under the post right after it is published (Instagram).
    pub first_comment: Option<String>,
    /// When it goes out (epoch ms, UTC).
    pub scheduled_at: i64,
    /// The IANA zone the time was chosen in, kept for display.
    pub time_zone: Option<String>,
    pub status: PostStatus,
    #[serde(default)]
    pub progress: Progress,
    #[serde(default)]
    pub failure: Option<Failure>,
    pub published_at: Option<i64>,
    /// Bumped by every write; writes are conditional on it.
    #[serde(default)]
    pub revision: u64,
    /// Until when the worker holding the post may act on it alone (epoch ms).
    #[serde(default)]
    pub lease_until: i64,
    #[serde(default)]
    pub lease_by: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Post {
    /// A new post waiting for its time, with a fresh id; caption and first comment are
    /// set on the result.
    pub fn scheduled(
        tenant_id: TenantId,
        account_id: AccountId,
        content: PostContent,
        scheduled_at: i64,
        created_by: impl Into<String>,
        now: i64,
    ) -> Self {
        Self {
            tenant_id,
            post_id: PostId::generate(),
            account_id,
            content,
            caption: None,
            first_comment: None,
            scheduled_at,
            time_zone: None,
            status: PostStatus::Scheduled,
            progress: Progress::default(),
            failure: None,
            published_at: None,
            revision: 0,
            lease_until: 0,
            lease_by: None,
            created_by: created_by.into(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether people may still change or cancel it: only before the dispatcher claims it.
    pub fn editable(&self) -> Result<(), &'static str> {
        match self.status {
            PostStatus::Scheduled => Ok(()),
            PostStatus::Cancelled => Err("the post was cancelled"),
            PostStatus::Published => Err("the post is published"),
            PostStatus::Failed => Err("the post failed; schedule a new one"),
            _ => Err("the post is being published"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_media_url_is_named_by_its_field_and_uploads_are_swapped_for_their_urls() {
        let upload = UploadId::generate();
        let reel = PostContent::Reel {
            video_url: super::super::upload::reference(&upload),
            cover_url: Some("https://cdn.example/c.jpg".into()),
            share_to_feed: None,
        };
        let fields: Vec<String> = reel.media_fields().into_iter().map(|m| m.0).collect();
        assert_eq!(fields, ["content.video_url", "content.cover_url"]);
        assert!(PostContent::PageText.media_fields().is_empty());
        assert_eq!(reel.uploads(), [upload]);
        let signed = reel.map_urls(|url| {
            if url.starts_with("relay://") {
                "https://bucket.example/signed".into()
            } else {
                url.to_owned()
            }
        });
        assert_eq!(
            signed.media(),
            [
                (MediaKind::Video, "https://bucket.example/signed"),
                (MediaKind::Image, "https://cdn.example/c.jpg"),
            ]
        );
        assert!(signed.uploads().is_empty());
    }
}
