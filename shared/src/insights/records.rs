//! What the sync stores (profile snapshots, a day of account insights, a media's
//! insights, where an account's sync stands) and the pure rules of the cache: when a
//! record is fresh, when a day is settled, which days a pass reads.
//!
//! Every record carries its fetch time. Missing data is "no data yet": a metric Meta did
//! not return is absent from `metrics`, never a zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration as Span, OffsetDateTime};

use super::metrics::MediaKind;
use crate::ids::{AccountId, MediaId, PostId, TenantId};
use crate::meta::{InstagramProfile, PageProfile};
use crate::store::accounts::Channel;

/// A profile snapshot is refreshed hourly; a read older than this asks for a refresh.
pub const PROFILE_TTL_MS: i64 = 60 * 60 * 1000;
/// Insights are refreshed daily; a read older than this asks for a refresh.
pub const INSIGHTS_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Meta's insights may lag this long: a day read later than this after its end is final.
pub const SETTLE_MS: i64 = 48 * 60 * 60 * 1000;
/// The account days and media a daily pass covers.
pub const WINDOW_DAYS: i64 = 30;

const DAY_MS: i64 = 86_400_000;

/// The figures Meta returned, by metric name.
pub type Metrics = BTreeMap<String, i64>;

/// Whether a record fetched at `fetched_at` is still within `ttl_ms` at `now`.
pub fn is_fresh(fetched_at: i64, ttl_ms: i64, now: i64) -> bool {
    now < fetched_at.saturating_add(ttl_ms)
}

/// The UTC day of an instant (ms).
pub fn day_of(ms: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// Midnight UTC starting `day`, in ms.
pub fn day_start_ms(day: Date) -> i64 {
    day.midnight().assume_utc().unix_timestamp() * 1000
}

/// `YYYY-MM-DD`.
pub fn day_text(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// Reads `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, format).ok()
}

/// The days a pass at `now` reads: the last [`WINDOW_DAYS`] whole days, oldest first.
pub fn window_days(now: i64) -> Vec<Date> {
    let today = day_of(now);
    (1..=WINDOW_DAYS)
        .rev()
        .filter_map(|back| today.checked_sub(Span::days(back)))
        .collect()
}

/// A connected account's public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Profile {
    Instagram {
        username: String,
        name: Option<String>,
        profile_picture_url: Option<String>,
        followers_count: Option<u64>,
        follows_count: Option<u64>,
        media_count: Option<u64>,
        biography: Option<String>,
        website: Option<String>,
    },
    Page {
        name: String,
        category: Option<String>,
        fan_count: Option<u64>,
        followers_count: Option<u64>,
        link: Option<String>,
        picture_url: Option<String>,
    },
}

impl From<InstagramProfile> for Profile {
    fn from(p: InstagramProfile) -> Self {
        Self::Instagram {
            username: p.username,
            name: p.name,
            profile_picture_url: p.profile_picture_url,
            followers_count: p.followers_count,
            follows_count: p.follows_count,
            media_count: p.media_count,
            biography: p.biography,
            website: p.website,
        }
    }
}

impl From<PageProfile> for Profile {
    fn from(p: PageProfile) -> Self {
        Self::Page {
            name: p.name,
            category: p.category,
            fan_count: p.fan_count,
            followers_count: p.followers_count,
            link: p.link,
            picture_url: p.picture_url,
        }
    }
}

/// The profile as fetched at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub channel: Channel,
    pub profile: Profile,
    pub fetched_at: i64,
}

/// One day of an account's insights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDay {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Empty when Meta had no data yet for the day.
    pub metrics: Metrics,
    pub fetched_at: i64,
}

impl AccountDay {
    /// Whether a pass at `now` reads the day again: not while fresh, and never once it
    /// was read after Meta's lag had passed (the figures are final).
    pub fn is_due(&self, now: i64) -> bool {
        !self.is_settled() && !is_fresh(self.fetched_at, INSIGHTS_TTL_MS, now)
    }

    /// Read with figures after Meta's lag had passed: they are final. A day Meta had
    /// no data for stays open (read again while it is in the window).
    pub fn is_settled(&self) -> bool {
        !self.metrics.is_empty()
            && parse_day(&self.day)
                .is_some_and(|d| self.fetched_at >= day_start_ms(d) + DAY_MS + SETTLE_MS)
    }
}

/// A media's insights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInsights {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub media_id: MediaId,
    pub kind: MediaKind,
    /// When the media was published (ms), when known.
    pub published_at: Option<i64>,
    pub permalink: Option<String>,
    /// The Relay post that published it, if one did.
    pub post_id: Option<PostId>,
    /// Empty when Meta had no data yet.
    pub metrics: Metrics,
    pub fetched_at: i64,
}

impl MediaInsights {
    /// A story's figures once Meta stops serving them (24 h after it was published, an
    /// hour's margin added): the last ones read are kept and not asked for again.
    pub fn is_final(&self, now: i64) -> bool {
        self.kind == MediaKind::Story
            && !self.metrics.is_empty()
            && self
                .published_at
                .is_some_and(|at| now >= at + STORY_INSIGHTS_MS + 60 * 60 * 1000)
    }
}

/// Meta serves a story's insights this long after it was published.
pub const STORY_INSIGHTS_MS: i64 = 24 * 60 * 60 * 1000;

/// Where one account's sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// When the profile was last fetched.
    pub profile_at: Option<i64>,
    /// When the last complete insights pass finished.
    pub insights_at: Option<i64>,
    /// When a pass last started for the account (the sweep serves the longest waiting
    /// first).
    pub attempted_at: Option<i64>,
    /// Meta asked to slow down for this account: nothing is fetched before.
    pub paused_until: Option<i64>,
    /// Metrics Meta refused on the last pass (dropped from its requests).
    #[serde(default)]
    pub refused_metrics: Vec<String>,
    /// Why the last pass stopped before its end, in words.
    pub stopped: Option<String>,
}

impl SyncState {
    pub fn profile_due(&self, now: i64) -> bool {
        self.profile_at
            .is_none_or(|at| !is_fresh(at, PROFILE_TTL_MS, now))
    }

    pub fn insights_due(&self, now: i64) -> bool {
        self.insights_at
            .is_none_or(|at| !is_fresh(at, INSIGHTS_TTL_MS, now))
    }

    pub fn paused(&self, now: i64) -> bool {
        self.paused_until.is_some_and(|until| now < until)
    }

    /// How long the account has waited: never-synced accounts first.
    pub fn waited_since(&self) -> i64 {
        self.attempted_at.unwrap_or(i64::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn day(day: &str, fetched_at: i64) -> AccountDay {
        AccountDay {
            tenant_id: TenantId::parse("t1").unwrap(),
            account_id: AccountId::parse("1784").unwrap(),
            day: day.into(),
            metrics: Metrics::new(),
            fetched_at,
        }
    }

    #[test]
    fn days_are_utc_and_the_window_is_the_last_thirty_whole_days() {
        let noon = day_start_ms(parse_day("2026-03-10").unwrap()) + 12 * HOUR;
        assert_eq!(day_text(day_of(noon)), "2026-03-10");
        let window = window_days(noon);
        assert_eq!(window.len(), 30);
        assert_eq!(day_text(window[0]), "2026-02-08");
        assert_eq!(day_text(*window.last().unwrap()), "2026-03-09");
        assert!(parse_day("2026-02-30").is_none());
        assert!(parse_day("yesterday").is_none());
    }

    #[test]
    fn a_day_is_read_again_until_meta_s_lag_has_passed() {
        let end_of_day = day_start_ms(parse_day("2026-03-10").unwrap()) + DAY_MS;
        let early = day("2026-03-10", end_of_day + HOUR);
        assert!(!early.is_due(end_of_day + 2 * HOUR), "fresh");
        assert!(
            early.is_due(end_of_day + 26 * HOUR),
            "stale and not settled"
        );
        let empty = day("2026-03-10", end_of_day + 49 * HOUR);
        assert!(!empty.is_settled(), "no data yet is never final");
        assert!(empty.is_due(end_of_day + 74 * HOUR));
        let late = AccountDay {
            metrics: [("reach".to_owned(), 40)].into(),
            ..empty
        };
        assert!(late.is_settled());
        assert!(!late.is_due(end_of_day + 400 * HOUR), "final figures");
    }

    #[test]
    fn a_story_s_figures_are_final_a_day_after_it_was_published() {
        let story = MediaInsights {
            tenant_id: TenantId::parse("t1").unwrap(),
            account_id: AccountId::parse("1784").unwrap(),
            media_id: MediaId::parse("1790").unwrap(),
            kind: MediaKind::Story,
            published_at: Some(0),
            permalink: None,
            post_id: None,
            metrics: [("views".to_owned(), 9)].into(),
            fetched_at: HOUR,
        };
        assert!(!story.is_final(24 * HOUR), "Meta still serves them");
        assert!(story.is_final(25 * HOUR));
        let reel = MediaInsights {
            kind: MediaKind::Reel,
            ..story.clone()
        };
        assert!(!reel.is_final(1000 * HOUR), "feed media keep changing");
        let empty = MediaInsights {
            metrics: Metrics::new(),
            ..story
        };
        assert!(!empty.is_final(25 * HOUR));
    }

    #[test]
    fn freshness_follows_the_ttls() {
        let state = SyncState {
            profile_at: Some(0),
            insights_at: Some(0),
            ..SyncState::default()
        };
        assert!(!state.profile_due(HOUR - 1));
        assert!(state.profile_due(HOUR));
        assert!(!state.insights_due(23 * HOUR));
        assert!(state.insights_due(24 * HOUR));
        assert!(SyncState::default().profile_due(0));
        let paused = SyncState {
            paused_until: Some(10),
            ..SyncState::default()
        };
        assert!(paused.paused(9) && !paused.paused(10));
    }
}
