//! The one table of metric names Relay asks Meta for, per media kind and for the
//! account, in Meta's current names (`views` replaced `impressions`, `plays` and
//! `video_views` on 2025-04-21).

use serde::{Deserialize, Serialize};

use crate::meta::{AccountMetric, MediaMetric, MediaSummary};

/// What kind of media a set of insights is about: each has its own metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Carousel,
    Reel,
    Story,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Carousel => "carousel",
            Self::Reel => "reel",
            Self::Story => "story",
        }
    }

    /// The kind of a media of Meta's listing (`media_product_type` first: a story or a
    /// reel may be an `IMAGE` or `VIDEO` by `media_type`).
    pub fn of(media: &MediaSummary) -> Self {
        match media.media_product_type.as_deref() {
            Some("STORY") => Self::Story,
            Some("REELS") => Self::Reel,
            _ => match media.media_type.as_str() {
                "CAROUSEL_ALBUM" => Self::Carousel,
                "VIDEO" => Self::Reel,
                _ => Self::Image,
            },
        }
    }

    /// The metrics Relay reads for this kind.
    pub fn metrics(self) -> &'static [MediaMetric] {
        use MediaMetric as M;
        match self {
            Self::Image | Self::Carousel => &M::FEED,
            Self::Reel => &[
                M::Views,
                M::Reach,
                M::Likes,
                M::Comments,
                M::Saved,
                M::Shares,
                M::TotalInteractions,
                M::ReelsAvgWatchTime,
                M::ReelsVideoViewTotalTime,
            ],
            Self::Story => &[
                M::Views,
                M::Reach,
                M::Replies,
                M::Shares,
                M::TotalInteractions,
            ],
        }
    }
}

/// The account metrics Relay reads, one value per day.
pub const ACCOUNT_METRICS: [AccountMetric; 11] = AccountMetric::ALL;

/// Names Meta retired, with what replaced them: asked for through the API, they are
/// refused with this advice rather than silently answered with nothing.
pub const RETIRED: [(&str, &str); 5] = [
    ("impressions", "views"),
    ("plays", "views"),
    ("video_views", "views"),
    ("clips_replays_count", "views"),
    ("ig_reels_aggregated_all_plays_count", "views"),
];

/// The account metric names, in the table's order.
pub fn account_metric_names() -> impl Iterator<Item = &'static str> {
    ACCOUNT_METRICS.iter().map(|m| m.as_str())
}

/// Every media metric name any kind has, in the table's order, each once.
pub fn media_metric_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for kind in [
        MediaKind::Image,
        MediaKind::Carousel,
        MediaKind::Reel,
        MediaKind::Story,
    ] {
        for metric in kind.metrics() {
            if !names.contains(&metric.as_str()) {
                names.push(metric.as_str());
            }
        }
    }
    names
}

/// What replaced a retired metric name, if `name` is one.
pub fn replacement_of(name: &str) -> Option<&'static str> {
    RETIRED
        .iter()
        .find(|(old, _)| *old == name)
        .map(|(_, new)| *new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(media_type: &str, product: Option<&str>) -> MediaSummary {
        MediaSummary {
            id: crate::ids::MediaId::parse("1790").unwrap(),
            media_type: media_type.into(),
            media_product_type: product.map(str::to_owned),
            timestamp: None,
            permalink: None,
        }
    }

    #[test]
    fn each_kind_reads_its_own_metrics() {
        assert_eq!(
            MediaKind::of(&summary("IMAGE", Some("FEED"))),
            MediaKind::Image
        );
        assert_eq!(
            MediaKind::of(&summary("CAROUSEL_ALBUM", None)),
            MediaKind::Carousel
        );
        assert_eq!(
            MediaKind::of(&summary("VIDEO", Some("REELS"))),
            MediaKind::Reel
        );
        assert_eq!(
            MediaKind::of(&summary("IMAGE", Some("STORY"))),
            MediaKind::Story
        );
        let names = |k: MediaKind| k.metrics().iter().map(|m| m.as_str()).collect::<Vec<_>>();
        assert!(names(MediaKind::Reel).contains(&"ig_reels_avg_watch_time"));
        assert!(!names(MediaKind::Image).contains(&"ig_reels_avg_watch_time"));
        assert!(names(MediaKind::Story).contains(&"replies"));
        assert!(!names(MediaKind::Story).contains(&"saved"));
    }

    #[test]
    fn no_retired_name_is_ever_asked_for() {
        let asked: Vec<&str> = media_metric_names()
            .into_iter()
            .chain(account_metric_names())
            .collect();
        for (old, new) in RETIRED {
            assert!(!asked.contains(&old), "{old} is retired");
            assert!(asked.contains(&new), "{new} replaces {old}");
        }
        assert_eq!(replacement_of("impressions"), Some("views"));
        assert_eq!(replacement_of("reach"), None);
    }
}
