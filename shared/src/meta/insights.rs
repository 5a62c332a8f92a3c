//! Media and account insights (`instagram_business_manage_insights`).
//!
//! Meta's data may lag up to 48 hours and missing data is an empty list, not zero, so a
//! metric Meta did not return is simply absent from the result. Deprecated metrics
//! (`impressions`, `plays`, `video_views`, retired 2025-04-21) are not offered.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::transport::{Auth, Call, PageLimits, Paged, with_query};
use super::{GraphClient, GraphError, InstagramAccount, Response, id_text};
use crate::ids::MediaId;

/// Fields read for each media of an account's listing.
const MEDIA_LIST_FIELDS: &str = "id,media_type,media_product_type,timestamp,permalink";

/// Metrics of one media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaMetric {
    Views,
    Reach,
    Likes,
    Comments,
    Saved,
    Shares,
    TotalInteractions,
    /// Reels only.
    ReelsAvgWatchTime,
    /// Reels only.
    ReelsVideoViewTotalTime,
    /// Stories only.
    Replies,
    /// Stories only.
    Navigation,
}

impl MediaMetric {
    /// The metrics every feed post and reel has.
    pub const FEED: [Self; 7] = [
        Self::Views,
        Self::Reach,
        Self::Likes,
        Self::Comments,
        Self::Saved,
        Self::Shares,
        Self::TotalInteractions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Views => "views",
            Self::Reach => "reach",
            Self::Likes => "likes",
            Self::Comments => "comments",
            Self::Saved => "saved",
            Self::Shares => "shares",
            Self::TotalInteractions => "total_interactions",
            Self::ReelsAvgWatchTime => "ig_reels_avg_watch_time",
            Self::ReelsVideoViewTotalTime => "ig_reels_video_view_total_time",
            Self::Replies => "replies",
            Self::Navigation => "navigation",
        }
    }
}

/// Metrics of the whole account (`metric_type=total_value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountMetric {
    Reach,
    Views,
    AccountsEngaged,
    TotalInteractions,
    Likes,
    Comments,
    Shares,
    Saves,
    Replies,
    FollowsAndUnfollows,
    ProfileLinksTaps,
}

impl AccountMetric {
    pub const ALL: [Self; 11] = [
        Self::Reach,
        Self::Views,
        Self::AccountsEngaged,
        Self::TotalInteractions,
        Self::Likes,
        Self::Comments,
        Self::Shares,
        Self::Saves,
        Self::Replies,
        Self::FollowsAndUnfollows,
        Self::ProfileLinksTaps,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reach => "reach",
            Self::Views => "views",
            Self::AccountsEngaged => "accounts_engaged",
            Self::TotalInteractions => "total_interactions",
            Self::Likes => "likes",
            Self::Comments => "comments",
            Self::Shares => "shares",
            Self::Saves => "saves",
            Self::Replies => "replies",
            Self::FollowsAndUnfollows => "follows_and_unfollows",
            Self::ProfileLinksTaps => "profile_links_taps",
        }
    }
}

/// The time range of account insights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsightsRange {
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
}

/// One media of the account's listing: what an insights sweep needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawMediaSummary")]
pub struct MediaSummary {
    pub id: MediaId,
    /// `IMAGE`, `VIDEO` or `CAROUSEL_ALBUM`.
    pub media_type: String,
    /// `FEED`, `REELS` or `STORY`, when Meta says.
    pub media_product_type: Option<String>,
    /// When it was published, as Meta writes it (`2026-01-31T12:00:00+0000`).
    pub timestamp: Option<String>,
    pub permalink: Option<String>,
}

#[derive(Deserialize)]
struct RawMediaSummary {
    id: Value,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    media_product_type: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
}

impl TryFrom<RawMediaSummary> for MediaSummary {
    type Error = String;

    fn try_from(raw: RawMediaSummary) -> Result<Self, String> {
        let id = id_text(&raw.id).ok_or("a media without an id")?;
        Ok(Self {
            id: MediaId::parse(id).map_err(|e| e.to_string())?,
            media_type: raw.media_type.unwrap_or_default(),
            media_product_type: raw.media_product_type,
            timestamp: raw.timestamp,
            permalink: raw.permalink,
        })
    }
}

/// The metric Meta refused in a request that asked for `asked` (in that order), when
/// `error` is Meta's "unsupported metric" answer (code 100 naming `metric[i]` or the
/// metric itself). Any other error is not about one metric: `None`.
pub fn refused_metric<'a>(error: &GraphError, asked: &[&'a str]) -> Option<&'a str> {
    let GraphError::InvalidRequest {
        code: 100, message, ..
    } = error
    else {
        return None;
    };
    if let Some(rest) = message.split("metric[").nth(1) {
        let index: usize = rest.split(']').next()?.trim().parse().ok()?;
        return asked.get(index).copied();
    }
    // "... the metric impressions is no longer supported", "the impressions metric".
    let words: Vec<&str> = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mentions_metric = words.iter().any(|w| w.eq_ignore_ascii_case("metric"));
    if !mentions_metric {
        return None;
    }
    asked.iter().copied().find(|name| words.contains(name))
}

/// One value of a metric over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightPoint {
    pub value: Option<i64>,
    pub end_time: Option<String>,
}

/// One metric as Meta returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insight {
    pub name: String,
    pub period: Option<String>,
    /// `total_value.value` (account metrics), or the single lifetime value of a media
    /// metric.
    pub total: Option<i64>,
    pub values: Vec<InsightPoint>,
}

#[derive(Deserialize)]
struct RawInsights {
    #[serde(default)]
    data: Vec<RawInsight>,
}

#[derive(Deserialize)]
struct RawInsight {
    name: String,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    values: Vec<RawPoint>,
    #[serde(default)]
    total_value: Option<RawPoint>,
}

#[derive(Deserialize)]
struct RawPoint {
    #[serde(default)]
    value: Value,
    #[serde(default)]
    end_time: Option<String>,
}

fn count(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                .map(|f| f.round() as i64)
        }),
        _ => None,
    }
}

impl From<RawInsight> for Insight {
    fn from(raw: RawInsight) -> Self {
        let values: Vec<InsightPoint> = raw
            .values
            .iter()
            .map(|p| InsightPoint {
                value: count(&p.value),
                end_time: p.end_time.clone(),
            })
            .collect();
        let total = match &raw.total_value {
            Some(point) => count(&point.value),
            None if values.len() == 1 => values[0].value,
            None => None,
        };
        Self {
            name: raw.name,
            period: raw.period,
            total,
            values,
        }
    }
}

fn metric_list<'a>(names: impl Iterator<Item = &'a str>) -> Result<String, GraphError> {
    let list: Vec<&str> = names.collect();
    if list.is_empty() {
        return Err(GraphError::InvalidInput {
            reason: "ask for at least one metric".into(),
        });
    }
    Ok(list.join(","))
}

impl GraphClient {
    /// Insights of one media.
    pub async fn media_insights(
        &self,
        account: &InstagramAccount,
        media: &MediaId,
        metrics: &[MediaMetric],
    ) -> Result<Response<Vec<Insight>>, GraphError> {
        let metric = metric_list(metrics.iter().map(|m| m.as_str()))?;
        let url = with_query(
            self.instagram_url(account.login, &[media.as_str(), "insights"]),
            &[("metric", &metric)],
        );
        let call =
            Call::get("media_insights", url, Auth::Bearer(&account.token)).for_account(&account.id);
        Ok(self
            .execute::<RawInsights>(&call)
            .await?
            .map(|raw| raw.data.into_iter().map(Insight::from).collect()))
    }

    /// The account's media published since `since` (newest first), following Meta's
    /// paging within `limits`.
    pub async fn account_media(
        &self,
        account: &InstagramAccount,
        since: OffsetDateTime,
        limits: PageLimits,
    ) -> Result<Response<Paged<MediaSummary>>, GraphError> {
        let since = since.unix_timestamp().to_string();
        let url = with_query(
            self.instagram_url(account.login, &[account.id.as_str(), "media"]),
            &[("fields", MEDIA_LIST_FIELDS), ("since", &since)],
        );
        let call =
            Call::get("account_media", url, Auth::Bearer(&account.token)).for_account(&account.id);
        self.execute_paged(call, self.instagram_base(account.login), limits)
            .await
    }

    /// Daily totals of account metrics over a range.
    pub async fn account_insights(
        &self,
        account: &InstagramAccount,
        metrics: &[AccountMetric],
        range: InsightsRange,
    ) -> Result<Response<Vec<Insight>>, GraphError> {
        if range.until <= range.since {
            return Err(GraphError::InvalidInput {
                reason: "the insights range must end after it starts".into(),
            });
        }
        let metric = metric_list(metrics.iter().map(|m| m.as_str()))?;
        let since = range.since.unix_timestamp().to_string();
        let until = range.until.unix_timestamp().to_string();
        let url = with_query(
            self.instagram_url(account.login, &[account.id.as_str(), "insights"]),
            &[
                ("metric", &metric),
                ("period", "day"),
                ("metric_type", "total_value"),
                ("since", &since),
                ("until", &until),
            ],
        );
        let call = Call::get("account_insights", url, Auth::Bearer(&account.token))
            .for_account(&account.id);
        Ok(self
            .execute::<RawInsights>(&call)
            .await?
            .map(|raw| raw.data.into_iter().map(Insight::from).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Vec<Insight> {
        let raw: RawInsights = serde_json::from_str(body).expect("documented shape");
        raw.data.into_iter().map(Insight::from).collect()
    }

    #[test]
    fn media_insights_read_lifetime_values() {
        let insights = parse(
            r#"{"data":[{"name":"reach","period":"lifetime","values":[{"value":1204}],"title":"Reach","id":"1/insights/reach/lifetime"},
                        {"name":"likes","period":"lifetime","values":[{"value":88}]}]}"#,
        );
        assert_eq!(insights.len(), 2);
        assert_eq!(insights[0].name, "reach");
        assert_eq!(insights[0].total, Some(1204));
        assert_eq!(insights[1].total, Some(88));
    }

    #[test]
    fn account_insights_read_total_values() {
        let insights = parse(
            r#"{"data":[{"name":"views","period":"day","total_value":{"value":5021},"title":"Views"}]}"#,
        );
        assert_eq!(insights[0].total, Some(5021));
        assert!(insights[0].values.is_empty());
    }

    #[test]
    fn missing_data_is_empty_not_zero() {
        assert!(parse(r#"{"data":[]}"#).is_empty());
        let breakdown = parse(
            r#"{"data":[{"name":"navigation","period":"lifetime","values":[{"value":{"tap_forward":3}}]}]}"#,
        );
        assert_eq!(breakdown[0].total, None);
    }

    fn invalid(message: &str) -> GraphError {
        GraphError::InvalidRequest {
            code: 100,
            subcode: None,
            message: message.into(),
        }
    }

    #[test]
    fn the_refused_metric_is_found_by_index_or_by_name() {
        let asked = ["views", "reach", "shares"];
        assert_eq!(
            refused_metric(
                &invalid("(#100) metric[2] must be one of the following values: views, reach"),
                &asked
            ),
            Some("shares")
        );
        assert_eq!(
            refused_metric(
                &invalid("(#100) Starting from v22.0, the metric reach is no longer supported."),
                &asked
            ),
            Some("reach")
        );
        assert_eq!(
            refused_metric(&invalid("(#100) metric[9] must be one of"), &asked),
            None
        );
        assert_eq!(
            refused_metric(&invalid("(#100) Invalid parameter"), &asked),
            None
        );
        let other = GraphError::InvalidRequest {
            code: 10,
            subcode: None,
            message: "metric[0] must be".into(),
        };
        assert_eq!(refused_metric(&other, &asked), None);
    }

    #[test]
    fn media_listings_read_ids_and_kinds() {
        let media: Vec<MediaSummary> = serde_json::from_str(
            r#"[{"id":"17900000000000001","media_type":"VIDEO","media_product_type":"REELS","timestamp":"2026-01-31T12:00:00+0000"},
                {"id":17900000000000002,"media_type":"IMAGE"}]"#,
        )
        .expect("documented shape");
        assert_eq!(media[0].media_product_type.as_deref(), Some("REELS"));
        assert_eq!(media[1].id.as_str(), "17900000000000002");
        assert!(serde_json::from_str::<MediaSummary>(r#"{"media_type":"IMAGE"}"#).is_err());
    }

    #[test]
    fn metric_names_are_metas() {
        assert_eq!(
            MediaMetric::FEED.map(MediaMetric::as_str).join(","),
            "views,reach,likes,comments,saved,shares,total_interactions"
        );
        assert_eq!(
            AccountMetric::ProfileLinksTaps.as_str(),
            "profile_links_taps"
        );
        assert!(metric_list(std::iter::empty()).is_err());
    }
}
