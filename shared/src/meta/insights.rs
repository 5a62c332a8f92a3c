//! Media and account insights (`instagram_business_manage_insights`).
//!
//! Meta's data may lag up to 48 hours and missing data is an empty list, not zero, so a
//! metric Meta did not return is simply absent from the result. Deprecated metrics
//! (`impressions`, `plays`, `video_views`, retired 2025-04-21) are not offered.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::transport::{Auth, Call, with_query};
use super::{GraphClient, GraphError, InstagramAccount, Response};
use crate::ids::MediaId;

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
