//! Insights for media and accounts. Figures are plausible and deterministic: derived
//! from the ids (and, where the simulator knows the truth, from state: a media's
//! `comments` is its real comment count, `likes` equals its `like_count`). Metrics Meta
//! removed (`impressions`, `plays`, `video_views`) fail with error 100, as in v22+, and
//! so do the metrics the configuration retires (`retired_metrics`).
//!
//! Data lags as on Meta (`insights_lag_secs`): a media too young, an expired story, or
//! a range of days none of which has figures yet answers `{"data": []}`, never zeros.

use super::publishing::{like_count, visible_media};
use super::{Auth, Ctx, GraphResult};
use crate::graph_error::GraphError;
use crate::state::accounts::Capability;
use crate::state::clock::graph_timestamp_of;
use crate::state::publishing::Media;
use crate::state::{Clock, SimState, seed_of};
use serde_json::{Value, json};

const DEPRECATED: &[&str] = &[
    "impressions",
    "plays",
    "video_views",
    "clips_replays_count",
    "ig_reels_aggregated_all_plays_count",
];

const MEDIA_METRICS: &[&str] = &[
    "views",
    "reach",
    "likes",
    "comments",
    "saved",
    "shares",
    "total_interactions",
    "follows",
    "profile_visits",
    "profile_activity",
];
const REELS_METRICS: &[&str] = &["ig_reels_avg_watch_time", "ig_reels_video_view_total_time"];
const STORY_METRICS: &[&str] = &["replies", "navigation"];

/// Account metrics answered only with `metric_type=total_value`.
const TOTAL_VALUE_ONLY: &[&str] = &[
    "views",
    "accounts_engaged",
    "total_interactions",
    "likes",
    "comments",
    "shares",
    "saves",
    "replies",
    "follows_and_unfollows",
    "profile_links_taps",
];
const TIME_SERIES: &[&str] = &["reach", "follower_count"];
const DEMOGRAPHICS: &[&str] = &[
    "follower_demographics",
    "engaged_audience_demographics",
    "reached_audience_demographics",
];
const PERIODS: &[&str] = &["day", "week", "days_28", "month", "lifetime"];
const DAY_SECS: i64 = 86_400;
const MAX_RANGE_SECS: i64 = 30 * DAY_SECS;
/// A story's insights expire with the story, 24 hours after it was published.
const STORY_LIFETIME_SECS: i64 = DAY_SECS;

/// Every metric name the simulator knows, served or refused (for `retired_metrics`).
pub fn is_known_metric(name: &str) -> bool {
    [
        DEPRECATED,
        MEDIA_METRICS,
        REELS_METRICS,
        STORY_METRICS,
        TOTAL_VALUE_ONLY,
        TIME_SERIES,
        DEMOGRAPHICS,
    ]
    .iter()
    .any(|list| list.contains(&name))
}

/// The metrics of `metric=`, in the request's order. A metric Meta removed in v22
/// fails with its own message, naming it.
fn metrics_param(ctx: &Ctx) -> Result<Vec<String>, GraphError> {
    let raw = ctx
        .params
        .nonempty("metric")
        .ok_or_else(|| GraphError::param("The parameter metric is required."))?;
    let metrics: Vec<String> = raw
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    if let Some(old) = metrics.iter().find(|m| DEPRECATED.contains(&m.as_str())) {
        return Err(GraphError::param(format!(
            "Starting from v22.0, the metric {old} is no longer supported. Use views instead."
        )));
    }
    Ok(metrics)
}

/// The metrics Meta still serves: `allowed` without the retired ones.
fn served<'a>(allowed: &[&'a str], retired: &[String]) -> Vec<&'a str> {
    allowed
        .iter()
        .copied()
        .filter(|m| !retired.iter().any(|r| r == m))
        .collect()
}

/// Refuses the first metric of the request outside `allowed` (unknown or retired),
/// by its index in the request, as Meta does.
fn check_names(metrics: &[String], allowed: &[&str]) -> Result<(), GraphError> {
    match metrics.iter().position(|m| !allowed.contains(&m.as_str())) {
        Some(i) => Err(unknown_metric(i, allowed)),
        None => Ok(()),
    }
}

fn unknown_metric(i: usize, allowed: &[&str]) -> GraphError {
    GraphError::param(format!(
        "metric[{i}] must be one of the following values: {}",
        allowed.join(", ")
    ))
}

/// A stable figure in `lo..lo+span` for (`id`, `salt`).
pub fn figure(id: &str, salt: &str, lo: u64, span: u64) -> u64 {
    lo + seed_of(&format!("{id}/{salt}")) % span.max(1)
}

fn title(metric: &str) -> String {
    let mut t = metric.replace('_', " ");
    if let Some(first) = t.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    t
}

/// Whether Meta has insights for `media` at `now`: not before it is
/// `lag_secs` old, and for a story not once it has expired (24 h).
pub fn media_has_insights(media: &Media, now: Clock, lag_secs: i64) -> bool {
    let age_ms = now.ms() - media.published_at_ms;
    if age_ms < lag_secs.saturating_mul(1000) {
        return false;
    }
    !(media.media_product_type == "STORY" && age_ms >= STORY_LIFETIME_SECS * 1000)
}

/// `GET /<media_id>/insights?metric=...`.
pub fn media(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, media_id: &str) -> GraphResult {
    auth.require(Capability::Insights)?;
    let media = visible_media(state, ctx, auth, media_id)?;
    let metrics = metrics_param(ctx)?;
    let mut allowed: Vec<&str> = MEDIA_METRICS.to_vec();
    match media.media_product_type.as_str() {
        "REELS" => allowed.extend(REELS_METRICS),
        "STORY" => allowed.extend(STORY_METRICS),
        _ => {}
    }
    let allowed = served(&allowed, &state.config.retired_metrics);
    check_names(&metrics, &allowed)?;
    if !media_has_insights(&media, ctx.now, state.config.insights_lag_secs) {
        return Ok(json!({"data": []}));
    }
    let views = figure(media_id, "views", 200, 5000);
    let reach = views * figure(media_id, "reach", 55, 35) / 100;
    let likes = like_count(media_id);
    let comments = state
        .comments
        .iter()
        .filter(|c| c.media_id == media_id && !c.deleted)
        .count() as u64;
    let saved = figure(media_id, "saved", 0, 50);
    let shares = figure(media_id, "shares", 0, 40);
    let avg_watch_ms = figure(media_id, "watch", 2500, 9000);
    let mut data = Vec::new();
    for m in &metrics {
        let value = match m.as_str() {
            "views" => views,
            "reach" => reach,
            "likes" => likes,
            "comments" => comments,
            "saved" => saved,
            "shares" => shares,
            "total_interactions" => likes + comments + saved + shares,
            "ig_reels_avg_watch_time" => avg_watch_ms,
            "ig_reels_video_view_total_time" => avg_watch_ms * views,
            other => figure(media_id, other, 0, 60),
        };
        data.push(json!({
            "name": m,
            "period": "lifetime",
            "values": [{"value": value}],
            "title": title(m),
            "description": format!("The {} of this media.", m.replace('_', " ")),
            "id": format!("{media_id}/insights/{m}/lifetime"),
        }));
    }
    Ok(json!({"data": data}))
}

pub fn unix_param(ctx: &Ctx, name: &str) -> Result<Option<i64>, GraphError> {
    match ctx.params.str(name) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| GraphError::param(format!("Param {name} must be a unix timestamp"))),
    }
}

/// The UTC days `[d*86400, (d+1)*86400)` that overlap `[since, until)`.
pub fn days_of_range(since: i64, until: i64) -> std::ops::Range<i64> {
    if until <= since {
        return 0..0;
    }
    since.div_euclid(DAY_SECS)..(until - 1).div_euclid(DAY_SECS) + 1
}

/// Whether Meta has the figures of day `day` at `now`: once the day is over and the
/// insights lag has passed.
pub fn day_has_data(day: i64, now: Clock, lag_secs: i64) -> bool {
    now.ms() >= ((day + 1) * DAY_SECS).saturating_add(lag_secs) * 1000
}

/// One account metric's figure for one UTC day: stable, so every read agrees and a
/// range's total is the sum of its days.
pub fn daily_figure(account: &str, metric: &str, day: i64) -> u64 {
    figure(account, &format!("{metric}/{day}"), 10, 400)
}

/// Keys of a demographic breakdown.
fn breakdown_keys(breakdown: &str) -> Result<&'static [&'static str], GraphError> {
    Ok(match breakdown {
        "age" => &["18-24", "25-34", "35-44", "45-54", "55-64", "65+"],
        "gender" => &["F", "M", "U"],
        "country" => &["US", "DE", "GB", "BR", "IN"],
        "city" => &["London, England", "Berlin, Berlin", "New York, New York"],
        other => {
            return Err(GraphError::param(format!(
                "Param breakdown must be one of {{age, city, country, gender}} - got \"{other}\""
            )));
        }
    })
}

/// `GET /<IG_ID>/insights?metric=...&period=day&metric_type=total_value`.
///
/// Day metrics cover the UTC days overlapping `[since, until)` (default: the two days
/// before now). Only days that are over, plus the insights lag, have figures: totals
/// sum those days, time series list them, and with none the answer is
/// `{"data": []}`. Demographics do not depend on the days.
pub fn account(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, account: &str) -> GraphResult {
    auth.require(Capability::Insights)?;
    let metrics = metrics_param(ctx)?;
    let all: Vec<&str> = TOTAL_VALUE_ONLY
        .iter()
        .chain(TIME_SERIES)
        .chain(DEMOGRAPHICS)
        .copied()
        .collect();
    let allowed = served(&all, &state.config.retired_metrics);
    check_names(&metrics, &allowed)?;
    let period = ctx
        .params
        .nonempty("period")
        .ok_or_else(|| GraphError::param("The parameter period is required."))?;
    if !PERIODS.contains(&period.as_str()) {
        return Err(GraphError::param(format!(
            "Param period must be one of {{{}}} - got \"{period}\"",
            PERIODS.join(", ")
        )));
    }
    let total_value = ctx.params.str("metric_type").as_deref() == Some("total_value");
    let now = ctx.now;
    let until = unix_param(ctx, "until")?.unwrap_or(now.secs());
    let since = unix_param(ctx, "since")?.unwrap_or(until - 2 * DAY_SECS);
    if since > until {
        return Err(GraphError::param("since must be before until"));
    }
    if until - since > MAX_RANGE_SECS {
        return Err(GraphError::param(
            "There cannot be more than 30 days (2592000 s) between since and until",
        ));
    }
    let followers = state.ig_user(account).map_or(0, |u| u.followers_count);
    let mut breakdown: Option<(String, &[&str])> = None;
    for m in &metrics {
        let name = m.as_str();
        if (TOTAL_VALUE_ONLY.contains(&name) || DEMOGRAPHICS.contains(&name)) && !total_value {
            return Err(GraphError::param(format!(
                "The following metrics ({name}) should be specified with parameter metric_type=total_value"
            )));
        }
        if (name == "follower_count" || DEMOGRAPHICS.contains(&name)) && followers < 100 {
            return Err(GraphError::param(format!(
                "The metric {name} is only available for accounts with at least 100 followers"
            )));
        }
        if DEMOGRAPHICS.contains(&name) && breakdown.is_none() {
            let b = ctx.params.nonempty("breakdown").ok_or_else(|| {
                GraphError::param("The parameter breakdown is required for demographics")
            })?;
            if ctx.params.nonempty("timeframe").is_none() {
                return Err(GraphError::param(
                    "The parameter timeframe is required for demographics",
                ));
            }
            let keys = breakdown_keys(&b)?;
            breakdown = Some((b, keys));
        }
    }
    let lag = state.config.insights_lag_secs;
    let days: Vec<i64> = days_of_range(since, until)
        .filter(|d| day_has_data(*d, now, lag))
        .collect();
    let mut data = Vec::new();
    for m in &metrics {
        let name = m.as_str();
        let mut item = json!({
            "name": name,
            "period": period,
            "title": title(name),
            "description": format!("The {} of the account.", name.replace('_', " ")),
            "id": format!("{account}/insights/{name}/{period}"),
        });
        if DEMOGRAPHICS.contains(&name) {
            let (b, keys) = breakdown
                .as_ref()
                .expect("demographics were validated with their breakdown");
            let results: Vec<Value> = keys
                .iter()
                .map(|k| json!({"dimension_values": [k], "value": figure(account, &format!("{name}/{k}"), 1, followers / 3 + 1)}))
                .collect();
            item["total_value"] =
                json!({"breakdowns": [{"dimension_keys": [b], "results": results}]});
        } else if days.is_empty() {
            // No figures yet: Meta leaves the metric out rather than answer zeros.
            continue;
        } else if total_value {
            let sum: u64 = days.iter().map(|d| daily_figure(account, name, *d)).sum();
            item["total_value"] = json!({"value": sum});
        } else {
            let values: Vec<Value> = days
                .iter()
                .map(|d| {
                    json!({
                        "value": daily_figure(account, name, *d),
                        "end_time": graph_timestamp_of((d + 1) * DAY_SECS * 1000),
                    })
                })
                .collect();
            item["values"] = json!(values);
        }
        data.push(item);
    }
    Ok(json!({"data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = 20_000; // a UTC day number

    #[test]
    fn a_range_ending_at_midnight_does_not_count_the_next_day() {
        let days: Vec<i64> = days_of_range(D * DAY_SECS, (D + 2) * DAY_SECS).collect();
        assert_eq!(days, [D, D + 1]);
        let partial: Vec<i64> = days_of_range(D * DAY_SECS + 5, (D + 1) * DAY_SECS + 1).collect();
        assert_eq!(partial, [D, D + 1]);
        assert_eq!(days_of_range(D * DAY_SECS, D * DAY_SECS).count(), 0);
    }

    #[test]
    fn a_day_has_data_once_it_is_over_and_the_lag_has_passed() {
        let end = (D + 1) * DAY_SECS;
        assert!(!day_has_data(D, Clock::at_secs(end - 1), 0));
        assert!(day_has_data(D, Clock::at_secs(end), 0));
        assert!(!day_has_data(D, Clock::at_secs(end + 3599), 3600));
        assert!(day_has_data(D, Clock::at_secs(end + 3600), 3600));
    }

    fn media(product: &str, published_at_ms: i64) -> Media {
        Media::new("1".into(), "2", "IMAGE", product, published_at_ms)
    }

    #[test]
    fn media_insights_wait_for_the_lag_and_end_with_the_story() {
        let at = Clock::at_secs(D * DAY_SECS);
        let post = media("FEED", at.ms());
        assert!(media_has_insights(&post, at, 0));
        assert!(!media_has_insights(
            &post,
            Clock::at_ms(at.ms() + 3_599_999),
            3600
        ));
        assert!(media_has_insights(&post, at.plus_secs(3600), 3600));
        assert!(media_has_insights(&post, at.plus_secs(30 * DAY_SECS), 3600));
        let story = media("STORY", at.ms());
        assert!(media_has_insights(&story, at.plus_secs(DAY_SECS - 1), 0));
        assert!(!media_has_insights(&story, at.plus_secs(DAY_SECS), 0));
    }

    #[test]
    fn retired_metrics_leave_the_allowed_list_and_are_refused_by_index() {
        let allowed = served(MEDIA_METRICS, &["reach".to_owned()]);
        assert!(!allowed.contains(&"reach"));
        let err = check_names(&["views".into(), "reach".into()], &allowed).expect_err("refused");
        assert!(err.message.starts_with("(#100) metric[1] must be one of"));
        assert!(!err.message.contains("reach"), "{}", err.message);
    }

    #[test]
    fn known_metrics_cover_served_and_deprecated_names() {
        assert!(is_known_metric("reach"));
        assert!(is_known_metric("impressions"));
        assert!(is_known_metric("follower_demographics"));
        assert!(!is_known_metric("reachh"));
    }
}
