//! Media containers, published media and the content publishing rules.
//!
//! Guarantees:
//! - a container is only created for media Meta could download: an answer of 2xx with
//!   a JPEG for an image or cover, a `video/*` type for a video;
//! - a container reports `IN_PROGRESS` for the configured number of status polls (a
//!   video for a multiple of it), then `FINISHED` (or `ERROR` when its media cannot be
//!   processed);
//! - an unpublished container expires 24 hours after creation;
//! - only a `FINISHED` container can be published, and only once: a second publish of
//!   the same container is refused and never creates a second media;
//! - at most `quota_total` publishes per account in any rolling 24 hours (a carousel
//!   counts once);
//! - captions are at most 2200 characters; a carousel has 2 to 10 children.

use super::Clock;
use serde::Serialize;

/// Containers not published within 24 hours expire.
pub const CONTAINER_TTL_SECS: i64 = 86_400;
/// The publishing quota window.
pub const QUOTA_WINDOW_SECS: i64 = 86_400;
/// Instagram caption limit, in characters.
pub const CAPTION_MAX_CHARS: usize = 2200;
pub const CAROUSEL_MAX_CHILDREN: usize = 10;
pub const CAROUSEL_MIN_CHILDREN: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerKind {
    Image,
    Reels,
    Stories,
    CarouselItem,
    Carousel,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerFailure {
    pub subcode: u32,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Container {
    pub id: String,
    pub account_id: String,
    pub kind: ContainerKind,
    pub is_video: bool,
    pub media_url: Option<String>,
    pub caption: Option<String>,
    pub alt_text: Option<String>,
    pub children: Vec<String>,
    pub created_at_ms: i64,
    pub polls_seen: u32,
    pub polls_needed: u32,
    pub failure: Option<ContainerFailure>,
    pub published_media: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerStatus {
    InProgress,
    Finished,
    Error,
    Expired,
    Published,
}

impl ContainerStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Finished => "FINISHED",
            Self::Error => "ERROR",
            Self::Expired => "EXPIRED",
            Self::Published => "PUBLISHED",
        }
    }
}

/// How many status polls a new container answers `IN_PROGRESS`: `polls`, or for a
/// video `video_factor` times as many, since videos take longer to process.
pub fn polls_needed(is_video: bool, polls: u32, video_factor: u32) -> u32 {
    if is_video {
        polls.saturating_mul(video_factor)
    } else {
        polls
    }
}

/// What downloading a container's media URL gave, as Meta's fetcher sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaFetch {
    /// A host standing for a public server: taken as downloadable, never contacted.
    Public,
    /// The server answered `status`, with this `Content-Type` header.
    Answered {
        status: u16,
        content_type: Option<String>,
    },
    /// No complete answer within the download timeout.
    TimedOut,
    /// No answer at all: connection refused, unknown name, or a host the simulator
    /// does not contact.
    Unreachable,
}

/// Whether Meta accepts the media it downloaded from `url`: any answer but a 2xx is a
/// failed download; an image (or a reel cover) must be a JPEG, a video of a `video/*`
/// type.
pub fn check_media(url: &str, fetch: &MediaFetch, is_video: bool) -> Result<(), ContainerRefusal> {
    let content_type = match fetch {
        MediaFetch::Public => return Ok(()),
        MediaFetch::TimedOut => return Err(ContainerRefusal::MediaTimeout),
        MediaFetch::Unreachable => {
            return Err(ContainerRefusal::MediaUnfetchable {
                url: url.to_owned(),
            });
        }
        MediaFetch::Answered { status, .. } if !(200..300).contains(status) => {
            return Err(ContainerRefusal::MediaUnfetchable {
                url: url.to_owned(),
            });
        }
        MediaFetch::Answered { content_type, .. } => content_type.as_deref().map(mime_essence),
    };
    match (content_type.as_deref(), is_video) {
        (Some(t), true) if t.starts_with("video/") => Ok(()),
        (Some("image/jpeg" | "image/jpg"), false) => Ok(()),
        (_, true) => Err(ContainerRefusal::VideoFormat { content_type }),
        (_, false) => Err(ContainerRefusal::ImageFormat { content_type }),
    }
}

/// `image/jpeg` of `Image/JPEG; charset=binary`.
fn mime_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The status a container has at `now`, without counting an observation.
pub fn status_at(c: &Container, now: Clock) -> ContainerStatus {
    if c.published_media.is_some() {
        return ContainerStatus::Published;
    }
    let processed = c.polls_seen >= c.polls_needed;
    if processed && c.failure.is_some() {
        return ContainerStatus::Error;
    }
    if now.secs_since(c.created_at_ms) >= CONTAINER_TTL_SECS {
        return ContainerStatus::Expired;
    }
    if processed {
        ContainerStatus::Finished
    } else {
        ContainerStatus::InProgress
    }
}

/// A status poll: answers the status and, while processing, counts the poll, so the
/// container is `IN_PROGRESS` for exactly `polls_needed` polls.
pub fn observe(c: &mut Container, now: Clock) -> ContainerStatus {
    let status = status_at(c, now);
    if status == ContainerStatus::InProgress {
        c.polls_seen += 1;
    }
    status
}

/// Why processing a media URL fails. A URL containing `bad` or `invalid` stands for
/// media Meta cannot use; one containing `timeout` for a download that timed out.
pub fn media_failure(url: &str, is_video: bool) -> Option<ContainerFailure> {
    let lower = url.to_ascii_lowercase();
    if lower.contains("timeout") {
        return Some(ContainerFailure {
            subcode: 2_207_003,
            message: "Error: It takes too long to download the media. (2207003)".into(),
        });
    }
    if !(lower.contains("bad") || lower.contains("invalid")) {
        return None;
    }
    Some(if is_video {
        ContainerFailure {
            subcode: 2_207_026,
            message: "Error: The video format is not supported. Please check spec for supported video formats. (2207026)".into(),
        }
    } else {
        ContainerFailure {
            subcode: 2_207_052,
            message: "Error: The media could not be fetched from this URI. (2207052)".into(),
        }
    })
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    #[error("the container was already published")]
    AlreadyPublished,
    #[error("a carousel item cannot be published on its own")]
    CarouselItem,
    #[error("the container expired")]
    Expired,
    #[error("the container is still being processed")]
    NotReady,
    #[error("processing the container failed")]
    Failed(ContainerFailure),
    #[error("the publishing quota is used up")]
    QuotaReached,
}

/// Whether `c` may be published at `now`, given how many publishes the account made in
/// the last 24 hours.
pub fn check_publish(
    c: &Container,
    now: Clock,
    published_in_window: u32,
    quota_total: u32,
) -> Result<(), PublishRefusal> {
    if c.kind == ContainerKind::CarouselItem && c.published_media.is_none() {
        return Err(PublishRefusal::CarouselItem);
    }
    match status_at(c, now) {
        ContainerStatus::Published => return Err(PublishRefusal::AlreadyPublished),
        ContainerStatus::Expired => return Err(PublishRefusal::Expired),
        ContainerStatus::InProgress => return Err(PublishRefusal::NotReady),
        ContainerStatus::Error => {
            return Err(PublishRefusal::Failed(
                c.failure.clone().expect("ERROR status implies a failure"),
            ));
        }
        ContainerStatus::Finished => {}
    }
    if published_in_window >= quota_total {
        return Err(PublishRefusal::QuotaReached);
    }
    Ok(())
}

/// Publishes counted against the quota: those within the last 24 hours.
pub fn quota_usage(published_at_ms: impl IntoIterator<Item = i64>, now: Clock) -> u32 {
    let n = published_at_ms
        .into_iter()
        .filter(|&t| now.secs_since(t) < QUOTA_WINDOW_SECS)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContainerRefusal {
    #[error("caption of {chars} characters is too long")]
    CaptionTooLong { chars: usize },
    #[error("a carousel needs 2 to 10 children, got {count}")]
    CarouselSize { count: usize },
    #[error("carousel child {id} is unusable: {why}")]
    CarouselChild { id: String, why: &'static str },
    #[error("the media could not be fetched from {url}")]
    MediaUnfetchable { url: String },
    #[error("downloading the media took too long")]
    MediaTimeout,
    #[error("an image must be a JPEG, got {}", content_type.as_deref().unwrap_or("no content type"))]
    ImageFormat { content_type: Option<String> },
    #[error("a video must be of a video type, got {}", content_type.as_deref().unwrap_or("no content type"))]
    VideoFormat { content_type: Option<String> },
}

/// Instagram caption rule: at most 2200 characters.
pub fn check_caption(caption: &str) -> Result<(), ContainerRefusal> {
    let chars = caption.chars().count();
    if chars > CAPTION_MAX_CHARS {
        return Err(ContainerRefusal::CaptionTooLong { chars });
    }
    Ok(())
}

/// Carousel rule: 2 to 10 children, each a finished carousel item of the same account.
pub fn check_carousel_children(
    account_id: &str,
    children: &[Option<&Container>],
    ids: &[String],
    now: Clock,
) -> Result<(), ContainerRefusal> {
    if !(CAROUSEL_MIN_CHILDREN..=CAROUSEL_MAX_CHILDREN).contains(&children.len()) {
        return Err(ContainerRefusal::CarouselSize {
            count: children.len(),
        });
    }
    for (child, id) in children.iter().zip(ids) {
        let why = match child {
            None => Some("not found"),
            Some(c) if c.account_id != account_id => Some("belongs to another account"),
            Some(c) if c.kind != ContainerKind::CarouselItem => {
                Some("not created with is_carousel_item=true")
            }
            Some(c) if status_at(c, now) != ContainerStatus::Finished => Some("not FINISHED"),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(ContainerRefusal::CarouselChild {
                id: id.clone(),
                why,
            });
        }
    }
    Ok(())
}

/// A published Instagram media object.
#[derive(Clone, Debug, Serialize)]
pub struct Media {
    pub id: String,
    pub account_id: String,
    /// `IMAGE`, `VIDEO` or `CAROUSEL_ALBUM`.
    pub media_type: String,
    /// `FEED`, `REELS` or `STORY`.
    pub media_product_type: String,
    pub caption: Option<String>,
    pub alt_text: Option<String>,
    pub media_url: Option<String>,
    pub permalink: String,
    pub children: Vec<String>,
    pub parent: Option<String>,
    pub container_id: Option<String>,
    pub published_at_ms: i64,
    pub comment_enabled: bool,
    /// Media seeded as already existing do not count against the quota.
    pub counts_toward_quota: bool,
}

impl Media {
    /// A media object as Meta first creates it: comments on, no caption, alt text, URL,
    /// permalink or children, and outside the publishing quota; callers set what differs.
    pub fn new(
        id: String,
        account_id: &str,
        media_type: &str,
        media_product_type: &str,
        published_at_ms: i64,
    ) -> Self {
        Self {
            id,
            account_id: account_id.to_owned(),
            media_type: media_type.to_owned(),
            media_product_type: media_product_type.to_owned(),
            caption: None,
            alt_text: None,
            media_url: None,
            permalink: String::new(),
            children: Vec::new(),
            parent: None,
            container_id: None,
            published_at_ms,
            comment_enabled: true,
            counts_toward_quota: false,
        }
    }
}

/// A Facebook Page post or photo.
#[derive(Clone, Debug, Serialize)]
pub struct PagePost {
    pub id: String,
    pub page_id: String,
    /// `feed` or `photos`.
    pub edge: String,
    pub message: Option<String>,
    pub link: Option<String>,
    pub url: Option<String>,
    pub published_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;

    fn container(kind: ContainerKind, polls_needed: u32) -> Container {
        Container {
            id: "18000000000000001".into(),
            account_id: "17841400000000001".into(),
            kind,
            is_video: false,
            media_url: Some("https://cdn.example/a.jpg".into()),
            caption: None,
            alt_text: None,
            children: vec![],
            created_at_ms: T0 * 1000,
            polls_seen: 0,
            polls_needed,
            failure: None,
            published_media: None,
        }
    }

    #[test]
    fn in_progress_for_the_configured_polls_then_finished() {
        let mut c = container(ContainerKind::Image, 2);
        let now = Clock::at_secs(T0 + 1);
        assert_eq!(observe(&mut c, now), ContainerStatus::InProgress);
        assert_eq!(observe(&mut c, now), ContainerStatus::InProgress);
        assert_eq!(observe(&mut c, now), ContainerStatus::Finished);
        assert_eq!(observe(&mut c, now), ContainerStatus::Finished);
        let mut instant = container(ContainerKind::Image, 0);
        assert_eq!(observe(&mut instant, now), ContainerStatus::Finished);
    }

    #[test]
    fn failing_media_reports_error_after_processing() {
        let mut c = container(ContainerKind::Image, 1);
        c.failure = media_failure("https://cdn.example/bad.jpg", false);
        let now = Clock::at_secs(T0 + 1);
        assert_eq!(observe(&mut c, now), ContainerStatus::InProgress);
        assert_eq!(observe(&mut c, now), ContainerStatus::Error);
        assert_eq!(
            media_failure("https://cdn.example/invalid.mp4", true).map(|f| f.subcode),
            Some(2_207_026)
        );
        assert_eq!(media_failure("https://cdn.example/ok.jpg", false), None);
    }

    #[test]
    fn videos_stay_in_progress_longer() {
        assert_eq!(polls_needed(false, 2, 3), 2);
        assert_eq!(polls_needed(true, 2, 3), 6);
        assert_eq!(polls_needed(true, 0, 3), 0);
    }

    fn answered(status: u16, content_type: &str) -> MediaFetch {
        MediaFetch::Answered {
            status,
            content_type: Some(content_type.into()),
        }
    }

    #[test]
    fn downloaded_media_must_be_a_jpeg_or_a_video() {
        let url = "http://127.0.0.1:9/a";
        assert_eq!(
            check_media(url, &answered(200, "image/jpeg"), false),
            Ok(())
        );
        assert_eq!(
            check_media(url, &answered(200, "Image/JPEG; charset=binary"), false),
            Ok(())
        );
        assert_eq!(check_media(url, &answered(200, "video/mp4"), true), Ok(()));
        assert_eq!(check_media(url, &MediaFetch::Public, true), Ok(()));
        assert!(matches!(
            check_media(url, &answered(200, "image/png"), false),
            Err(ContainerRefusal::ImageFormat { .. })
        ));
        assert!(matches!(
            check_media(url, &answered(200, "image/jpeg"), true),
            Err(ContainerRefusal::VideoFormat { .. })
        ));
        let untyped = MediaFetch::Answered {
            status: 200,
            content_type: None,
        };
        assert!(matches!(
            check_media(url, &untyped, false),
            Err(ContainerRefusal::ImageFormat { content_type: None })
        ));
    }

    #[test]
    fn failed_downloads_are_unfetchable_or_timeouts() {
        let url = "http://127.0.0.1:9/a.jpg";
        let unfetchable = Err(ContainerRefusal::MediaUnfetchable { url: url.into() });
        assert_eq!(
            check_media(url, &answered(404, "text/html"), false),
            unfetchable
        );
        assert_eq!(
            check_media(url, &answered(302, "image/jpeg"), false),
            unfetchable
        );
        assert_eq!(
            check_media(url, &MediaFetch::Unreachable, false),
            unfetchable
        );
        assert_eq!(
            check_media(url, &MediaFetch::TimedOut, true),
            Err(ContainerRefusal::MediaTimeout)
        );
    }

    #[test]
    fn unpublished_container_expires_after_24_hours() {
        let mut c = container(ContainerKind::Image, 0);
        assert_eq!(
            status_at(&c, Clock::at_secs(T0 + 86_399)),
            ContainerStatus::Finished
        );
        assert_eq!(
            status_at(&c, Clock::at_secs(T0 + 86_400)),
            ContainerStatus::Expired
        );
        assert_eq!(
            check_publish(&c, Clock::at_secs(T0 + 86_400), 0, 100),
            Err(PublishRefusal::Expired)
        );
        c.published_media = Some("179".into());
        assert_eq!(
            status_at(&c, Clock::at_secs(T0 + 10 * 86_400)),
            ContainerStatus::Published
        );
    }

    #[test]
    fn publish_needs_finished_and_happens_once() {
        let mut c = container(ContainerKind::Image, 1);
        let now = Clock::at_secs(T0 + 5);
        assert_eq!(
            check_publish(&c, now, 0, 100),
            Err(PublishRefusal::NotReady)
        );
        observe(&mut c, now);
        assert_eq!(check_publish(&c, now, 0, 100), Ok(()));
        c.published_media = Some("17900000000000001".into());
        assert_eq!(
            check_publish(&c, now, 1, 100),
            Err(PublishRefusal::AlreadyPublished)
        );
    }

    #[test]
    fn quota_counts_the_last_24_hours() {
        let now = Clock::at_secs(T0 + 86_400);
        let times = [T0 * 1000, (T0 + 1) * 1000, (T0 + 86_399) * 1000];
        assert_eq!(quota_usage(times, now), 2);
        let c = container(ContainerKind::Image, 0);
        assert_eq!(
            check_publish(&c, Clock::at_secs(T0 + 1), 100, 100),
            Err(PublishRefusal::QuotaReached)
        );
        assert_eq!(check_publish(&c, Clock::at_secs(T0 + 1), 99, 100), Ok(()));
    }

    #[test]
    fn caption_limit_counts_characters() {
        assert_eq!(check_caption(&"ä".repeat(2200)), Ok(()));
        assert_eq!(
            check_caption(&"a".repeat(2201)),
            Err(ContainerRefusal::CaptionTooLong { chars: 2201 })
        );
    }

    #[test]
    fn carousel_children_must_be_finished_items_of_the_same_account() {
        let now = Clock::at_secs(T0 + 1);
        let mut a = container(ContainerKind::CarouselItem, 0);
        a.id = "a".into();
        let mut b = container(ContainerKind::CarouselItem, 1);
        b.id = "b".into();
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let err = check_carousel_children("17841400000000001", &[Some(&a), Some(&b)], &ids, now);
        assert!(matches!(
            err,
            Err(ContainerRefusal::CarouselChild {
                why: "not FINISHED",
                ..
            })
        ));
        b.polls_seen = 1;
        assert_eq!(
            check_carousel_children("17841400000000001", &[Some(&a), Some(&b)], &ids, now),
            Ok(())
        );
        assert!(
            check_carousel_children("17841499999999999", &[Some(&a), Some(&b)], &ids, now).is_err()
        );
        assert_eq!(
            check_carousel_children("17841400000000001", &[Some(&a)], &ids[..1], now),
            Err(ContainerRefusal::CarouselSize { count: 1 })
        );
        let eleven: Vec<Option<&Container>> = (0..11).map(|_| Some(&a)).collect();
        let eleven_ids: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        assert_eq!(
            check_carousel_children("17841400000000001", &eleven, &eleven_ids, now),
            Err(ContainerRefusal::CarouselSize { count: 11 })
        );
        let image = container(ContainerKind::Image, 0);
        assert!(
            check_carousel_children("17841400000000001", &[Some(&a), Some(&image)], &ids, now)
                .is_err()
        );
    }
}
