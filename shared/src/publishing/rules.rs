//! The rules a post must meet when it is scheduled, so that it does not fail when it
//! fires. Each refusal names the field and the rule. Pure: the media probe (a HEAD or
//! ranged GET of each URL) is done by the caller and handed in.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, Zoned};

use super::post::{MediaKind, PostContent};

/// Meta's limits for Instagram captions.
pub const MAX_CAPTION_CHARS: usize = 2200;
pub const MAX_HASHTAGS: usize = 30;
pub const MAX_MENTIONS: usize = 20;
pub const MIN_CAROUSEL: usize = 2;
pub const MAX_CAROUSEL: usize = 10;
pub const MAX_ALT_TEXT_CHARS: usize = 1000;
/// A Page post's text.
pub const MAX_PAGE_TEXT_CHARS: usize = 63_206;
/// Instagram images (JPEG) up to 8 MiB.
pub const MAX_IMAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Reels up to 300 MB; story and carousel videos up to 100 MB.
pub const MAX_REEL_BYTES: u64 = 300 * 1024 * 1024;
pub const MAX_VIDEO_BYTES: u64 = 100 * 1024 * 1024;
/// How far ahead a post may be scheduled.
pub const MAX_AHEAD_MS: i64 = 365 * 86_400_000;

/// A rule a post broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct Refusal {
    pub field: String,
    pub rule: String,
}

fn refuse(field: impl Into<String>, rule: impl Into<String>) -> Refusal {
    Refusal {
        field: field.into(),
        rule: rule.into(),
    }
}

/// When a post should go out, as people give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When<'a> {
    /// RFC 3339 with an offset (`2026-12-24T09:00:00+01:00`).
    Instant(&'a str),
    /// A wall-clock time (`2026-12-24T09:00`) in an IANA zone (`Europe/Berlin`).
    Local { time: &'a str, zone: &'a str },
}

/// The moment in UTC (epoch ms), and the zone to keep for display.
pub fn resolve_time(when: &When<'_>) -> Result<(i64, Option<String>), Refusal> {
    match when {
        When::Instant(raw) => {
            let at: Timestamp = raw.parse().map_err(|_| {
                refuse(
                    "scheduled_at",
                    "must be an RFC 3339 time with an offset, e.g. 2026-12-24T09:00:00+01:00",
                )
            })?;
            Ok((at.as_millisecond(), None))
        }
        When::Local { time, zone } => {
            let tz = TimeZone::get(zone)
                .map_err(|_| refuse("time_zone", format!("{zone} is not an IANA time zone")))?;
            let civil: DateTime = time.parse().map_err(|_| {
                refuse(
                    "local_time",
                    "must be a local date and time without offset, e.g. 2026-12-24T09:00",
                )
            })?;
            let ambiguous = tz.to_ambiguous_zoned(civil);
            match ambiguous.offset() {
                AmbiguousOffset::Unambiguous { .. } => {}
                AmbiguousOffset::Gap { .. } => {
                    return Err(refuse(
                        "local_time",
                        format!(
                            "{time} does not exist in {zone}: the clocks skip it at a daylight saving change"
                        ),
                    ));
                }
                AmbiguousOffset::Fold { .. } => {
                    return Err(refuse(
                        "local_time",
                        format!(
                            "{time} happens twice in {zone} at a daylight saving change; give it with an offset instead"
                        ),
                    ));
                }
            }
            let zoned: Zoned = ambiguous
                .compatible()
                .map_err(|_| refuse("local_time", "is out of range"))?;
            Ok((zoned.timestamp().as_millisecond(), Some((*zone).to_owned())))
        }
    }
}

/// The time must be ahead (a minute's grace for the request's own travel) and within a year.
pub fn check_time(at_ms: i64, now_ms: i64) -> Result<(), Refusal> {
    if at_ms < now_ms - 60_000 {
        return Err(refuse("scheduled_at", "is in the past"));
    }
    if at_ms > now_ms + MAX_AHEAD_MS {
        return Err(refuse("scheduled_at", "is more than a year ahead"));
    }
    Ok(())
}

fn words_starting_with(text: &str, mark: char) -> usize {
    text.split(|c: char| c.is_whitespace())
        .filter(|w| {
            w.strip_prefix(mark).is_some_and(|rest| {
                rest.chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .count()
}

/// A caption or a first comment of an Instagram post.
pub fn check_caption(field: &str, text: &str) -> Result<(), Refusal> {
    let chars = text.chars().count();
    if chars > MAX_CAPTION_CHARS {
        return Err(refuse(
            field,
            format!("is {chars} characters; Instagram allows {MAX_CAPTION_CHARS}"),
        ));
    }
    let tags = words_starting_with(text, '#');
    if tags > MAX_HASHTAGS {
        return Err(refuse(
            field,
            format!("has {tags} hashtags; Instagram allows {MAX_HASHTAGS}"),
        ));
    }
    let mentions = words_starting_with(text, '@');
    if mentions > MAX_MENTIONS {
        return Err(refuse(
            field,
            format!("has {mentions} @mentions; Instagram allows {MAX_MENTIONS}"),
        ));
    }
    Ok(())
}

/// A public https URL, or plain http on this machine's loopback (the local stack's media
/// server; from Lambda such a URL fails the media probe, so it is refused there).
fn check_url(field: &str, url: &str) -> Result<(), Refusal> {
    if let Some(upload) = super::upload::referenced(url) {
        return upload
            .map(|_| ())
            .map_err(|why| refuse(field, format!("names no upload ({why})")));
    }
    let loopback = [
        "http://127.0.0.1:",
        "http://127.0.0.1/",
        "http://localhost:",
    ]
    .iter()
    .any(|p| url.starts_with(p));
    let ok = url.len() <= 2048
        && (loopback
            || url
                .strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/')))
        && !url.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(refuse(
            field,
            "must be a public https URL or an upload (relay://uploads/<upload id>)",
        ))
    }
}

/// The shape of a post, before any media is looked at: which fields its kind allows,
/// caption rules, carousel size, URLs.
pub fn check_shape(
    content: &PostContent,
    caption: Option<&str>,
    first_comment: Option<&str>,
    on_page: bool,
) -> Result<(), Refusal> {
    if content.is_page_post() != on_page {
        return Err(refuse(
            "content.type",
            if on_page {
                "a Facebook Page takes page_text, page_photo or page_link"
            } else {
                "an Instagram account takes image, reel, carousel or story"
            },
        ));
    }
    match content {
        PostContent::Image { url, alt_text } => {
            check_url("content.url", url)?;
            if let Some(alt) = alt_text
                && alt.chars().count() > MAX_ALT_TEXT_CHARS
            {
                return Err(refuse(
                    "content.alt_text",
                    format!("is longer than {MAX_ALT_TEXT_CHARS} characters"),
                ));
            }
        }
        PostContent::Reel {
            video_url,
            cover_url,
            ..
        } => {
            check_url("content.video_url", video_url)?;
            if let Some(cover) = cover_url {
                check_url("content.cover_url", cover)?;
            }
        }
        PostContent::Carousel { items } => {
            if !(MIN_CAROUSEL..=MAX_CAROUSEL).contains(&items.len()) {
                return Err(refuse(
                    "content.items",
                    format!(
                        "a carousel holds {MIN_CAROUSEL} to {MAX_CAROUSEL} images and videos, not {}",
                        items.len()
                    ),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                check_url(&format!("content.items[{i}].url"), &item.url)?;
            }
        }
        PostContent::Story { media } => {
            check_url("content.media.url", &media.url)?;
            if caption.is_some() {
                return Err(refuse("caption", "stories have no caption"));
            }
            if first_comment.is_some() {
                return Err(refuse("first_comment", "stories take no comments"));
            }
        }
        PostContent::PageText => {
            if caption.is_none_or(|c| c.trim().is_empty()) {
                return Err(refuse("caption", "a text post needs its text"));
            }
        }
        PostContent::PagePhoto { url } => check_url("content.url", url)?,
        PostContent::PageLink { link } => check_url("content.link", link)?,
    }
    if let Some(text) = caption {
        if on_page {
            if text.chars().count() > MAX_PAGE_TEXT_CHARS {
                return Err(refuse(
                    "caption",
                    format!("is longer than {MAX_PAGE_TEXT_CHARS} characters"),
                ));
            }
        } else {
            check_caption("caption", text)?;
        }
    }
    if let Some(text) = first_comment {
        if on_page {
            return Err(refuse("first_comment", "is for Instagram posts"));
        }
        if text.trim().is_empty() {
            return Err(refuse("first_comment", "must not be empty"));
        }
        check_caption("first_comment", text)?;
    }
    Ok(())
}

/// What a HEAD (or ranged GET) of a media URL told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub status: u16,
    pub content_type: Option<String>,
    pub length: Option<u64>,
}

/// One media URL against what it was fetched as. `field` names it in the refusal.
pub fn check_media(
    field: &str,
    kind: MediaKind,
    for_instagram: bool,
    reel: bool,
    probe: &Probe,
) -> Result<(), Refusal> {
    if !(200..300).contains(&probe.status) {
        return Err(refuse(
            field,
            format!(
                "could not be fetched (HTTP {}); Meta must be able to download it",
                probe.status
            ),
        ));
    }
    let mime = probe
        .content_type
        .as_deref()
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let (ok, max, wanted) = match kind {
        MediaKind::Image if for_instagram => {
            (mime == "image/jpeg", MAX_IMAGE_BYTES, "a JPEG image")
        }
        MediaKind::Image => (
            matches!(mime.as_str(), "image/jpeg" | "image/png" | "image/gif"),
            MAX_IMAGE_BYTES,
            "a JPEG, PNG or GIF image",
        ),
        MediaKind::Video => (
            matches!(mime.as_str(), "video/mp4" | "video/quicktime"),
            if reel {
                MAX_REEL_BYTES
            } else {
                MAX_VIDEO_BYTES
            },
            "an MP4 or MOV video",
        ),
    };
    if !ok {
        let found = if mime.is_empty() {
            "no content type"
        } else {
            mime.as_str()
        };
        return Err(refuse(
            field,
            format!("must be {wanted}; the URL serves {found}"),
        ));
    }
    if let Some(length) = probe.length
        && length > max
    {
        return Err(refuse(
            field,
            format!("is {length} bytes; at most {max} are allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publishing::post::MediaItem;

    fn probe(ct: &str, len: u64) -> Probe {
        Probe {
            status: 200,
            content_type: Some(ct.into()),
            length: Some(len),
        }
    }

    #[test]
    fn an_instant_with_an_offset_is_stored_in_utc() {
        let (at, zone) = resolve_time(&When::Instant("2026-12-24T09:00:00+01:00")).unwrap();
        assert_eq!(at, 1_798_099_200_000);
        assert_eq!(zone, None);
        assert!(
            resolve_time(&When::Instant("2026-12-24T09:00:00")).is_err(),
            "no offset"
        );
    }

    #[test]
    fn a_local_time_takes_its_zones_offset_and_keeps_the_zone() {
        let (winter, zone) = resolve_time(&When::Local {
            time: "2026-12-24T09:00",
            zone: "Europe/Berlin",
        })
        .unwrap();
        assert_eq!(winter, 1_798_099_200_000);
        assert_eq!(zone.as_deref(), Some("Europe/Berlin"));
        let (summer, _) = resolve_time(&When::Local {
            time: "2026-07-01T09:00",
            zone: "Europe/Berlin",
        })
        .unwrap();
        // 07:00 UTC in summer time.
        assert_eq!(summer, 1_782_889_200_000);
    }

    #[test]
    fn a_local_time_skipped_or_repeated_at_a_dst_change_is_refused_with_the_reason() {
        // Europe/Berlin: 2026-03-29 02:00 -> 03:00; 2026-10-25 03:00 -> 02:00.
        let gap = resolve_time(&When::Local {
            time: "2026-03-29T02:30",
            zone: "Europe/Berlin",
        })
        .unwrap_err();
        assert_eq!(gap.field, "local_time");
        assert!(gap.rule.contains("does not exist"), "{gap}");
        let fold = resolve_time(&When::Local {
            time: "2026-10-25T02:30",
            zone: "Europe/Berlin",
        })
        .unwrap_err();
        assert!(fold.rule.contains("happens twice"), "{fold}");
        let unknown = resolve_time(&When::Local {
            time: "2026-10-25T02:30",
            zone: "Mars/Olympus",
        })
        .unwrap_err();
        assert_eq!(unknown.field, "time_zone");
    }

    #[test]
    fn the_time_must_be_ahead_and_within_a_year() {
        let now = 1_800_000_000_000;
        assert!(check_time(now + 1000, now).is_ok());
        assert!(check_time(now - 30_000, now).is_ok(), "a minute's grace");
        assert_eq!(
            check_time(now - 120_000, now).unwrap_err().rule,
            "is in the past"
        );
        assert!(check_time(now + MAX_AHEAD_MS + 1, now).is_err());
    }

    #[test]
    fn captions_are_bounded_in_length_hashtags_and_mentions() {
        assert!(check_caption("caption", &"a".repeat(2200)).is_ok());
        assert!(
            check_caption("caption", &"é".repeat(2201)).is_err(),
            "characters, not bytes"
        );
        let tags: String = (0..31).map(|i| format!("#tag{i} ")).collect();
        assert!(
            check_caption("caption", &tags)
                .unwrap_err()
                .rule
                .contains("31 hashtags")
        );
        let mentions: String = (0..21).map(|i| format!("@user{i} ")).collect();
        assert!(
            check_caption("caption", &mentions)
                .unwrap_err()
                .rule
                .contains("21 @mentions")
        );
        assert!(check_caption("caption", "# not a tag, but #this is; mail@x.example").is_ok());
    }

    #[test]
    fn carousels_hold_two_to_ten_items_and_stories_no_caption() {
        let item = |i: usize| MediaItem {
            kind: MediaKind::Image,
            url: format!("https://cdn.example/{i}.jpg"),
        };
        let carousel = |n: usize| PostContent::Carousel {
            items: (0..n).map(item).collect(),
        };
        assert!(check_shape(&carousel(2), None, None, false).is_ok());
        assert!(check_shape(&carousel(10), None, None, false).is_ok());
        assert_eq!(
            check_shape(&carousel(1), None, None, false)
                .unwrap_err()
                .field,
            "content.items"
        );
        assert!(check_shape(&carousel(11), None, None, false).is_err());
        let story = PostContent::Story { media: item(0) };
        assert_eq!(
            check_shape(&story, Some("hi"), None, false)
                .unwrap_err()
                .field,
            "caption"
        );
    }

    #[test]
    fn the_kind_must_fit_the_account_and_urls_be_https() {
        let image = PostContent::Image {
            url: "https://cdn.example/a.jpg".into(),
            alt_text: None,
        };
        assert_eq!(
            check_shape(&image, None, None, true).unwrap_err().field,
            "content.type"
        );
        assert!(
            check_shape(&PostContent::PageText, None, None, true).is_err(),
            "needs text"
        );
        assert!(check_shape(&PostContent::PageText, Some("Open today"), None, true).is_ok());
        let local = PostContent::Image {
            url: "http://127.0.0.1:9000/a.jpg".into(),
            alt_text: None,
        };
        assert!(
            check_shape(&local, None, None, false).is_ok(),
            "the local stack's media"
        );
        let plain = PostContent::Image {
            url: "http://cdn.example/a.jpg".into(),
            alt_text: None,
        };
        assert_eq!(
            check_shape(&plain, None, None, false).unwrap_err().field,
            "content.url"
        );
    }

    #[test]
    fn instagram_images_must_be_jpeg_and_media_within_size() {
        let f = "content.url";
        assert!(check_media(f, MediaKind::Image, true, false, &probe("image/jpeg", 1000)).is_ok());
        let png =
            check_media(f, MediaKind::Image, true, false, &probe("image/png", 1000)).unwrap_err();
        assert!(
            png.rule.contains("JPEG") && png.rule.contains("image/png"),
            "{png}"
        );
        assert!(check_media(f, MediaKind::Image, false, false, &probe("image/png", 1000)).is_ok());
        assert!(
            check_media(
                f,
                MediaKind::Image,
                true,
                false,
                &probe("image/jpeg", MAX_IMAGE_BYTES + 1)
            )
            .is_err()
        );
        assert!(
            check_media(
                f,
                MediaKind::Video,
                true,
                true,
                &probe("video/mp4", MAX_VIDEO_BYTES + 1)
            )
            .is_ok()
        );
        assert!(
            check_media(
                f,
                MediaKind::Video,
                true,
                false,
                &probe("video/mp4", MAX_VIDEO_BYTES + 1)
            )
            .is_err()
        );
        let missing = Probe {
            status: 404,
            content_type: None,
            length: None,
        };
        assert!(
            check_media(f, MediaKind::Image, true, false, &missing)
                .unwrap_err()
                .rule
                .contains("404")
        );
    }
}
