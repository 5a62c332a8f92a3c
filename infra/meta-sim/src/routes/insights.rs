//! Insights for media and accounts. Figures are plausible and deterministic: derived
//! from the ids (and, where the simulator knows the truth, from state: a media's
//! `comments` is its real comment count, `likes` equals its `like_count`). Metrics Meta
//! removed (`impressions`, `plays`, `video_views`) fail with error 100, as in v22+.

use super::publishing::{like_count, visible_media};
use super::{Auth, Ctx, GraphResult};
use crate::graph_error::GraphError;
use crate::state::accounts::Capability;
use crate::state::clock::graph_timestamp_of;
use crate::state::{SimState, seed_of};
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
const MAX_RANGE_SECS: i64 = 30 * 86_400;

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

fn unknown_metric(i: usize, allowed: &[&str]) -> GraphError {
    GraphError::param(format!(
        "metric[{i}] must be one of the following values: {}",
        allowed.join(", ")
    ))
}

/// A stable figure in `lo..lo+span` for (`id`, `salt`).
fn figure(id: &str, salt: &str, lo: u64, span: u64) -> u64 {
    lo + seed_of(&format!("{id}/{salt}")) % span.max(1)
}

fn title(metric: &str) -> String {
    let mut t = metric.replace('_', " ");
    if let Some(first) = t.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    t
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
    for (i, m) in metrics.iter().enumerate() {
        if !allowed.contains(&m.as_str()) {
            return Err(unknown_metric(i, &allowed));
        }
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

fn unix_param(ctx: &Ctx, name: &str) -> Result<Option<i64>, GraphError> {
    match ctx.params.str(name) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| GraphError::param(format!("Param {name} must be a unix timestamp"))),
    }
}

/// `GET /<IG_ID>/insights?metric=...&period=day&metric_type=total_value`.
pub fn account(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, account: &str) -> GraphResult {
    auth.require(Capability::Insights)?;
    let metrics = metrics_param(ctx)?;
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
    let now_secs = ctx.now.secs();
    let until = unix_param(ctx, "until")?.unwrap_or(now_secs);
    let since = unix_param(ctx, "since")?.unwrap_or(until - 2 * 86_400);
    if since > until {
        return Err(GraphError::param("since must be before until"));
    }
    if until - since > MAX_RANGE_SECS {
        return Err(GraphError::param(
            "There cannot be more than 30 days (2592000 s) between since and until",
        ));
    }
    let followers = state.ig_user(account).map_or(0, |u| u.followers_count);
    let allowed: Vec<&str> = TOTAL_VALUE_ONLY
        .iter()
        .chain(TIME_SERIES)
        .chain(DEMOGRAPHICS)
        .copied()
        .collect();
    let days: Vec<i64> = (since.div_euclid(86_400)..=until.div_euclid(86_400)).collect();
    let mut data = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let name = m.as_str();
        if !allowed.contains(&name) {
            return Err(unknown_metric(i, &allowed));
        }
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
        let mut item = json!({
            "name": name,
            "period": period,
            "title": title(name),
            "description": format!("The {} of the account.", name.replace('_', " ")),
            "id": format!("{account}/insights/{name}/{period}"),
        });
        let daily = |day: i64| figure(account, &format!("{name}/{day}"), 10, 400);
        if DEMOGRAPHICS.contains(&name) {
            let breakdown = ctx.params.nonempty("breakdown").ok_or_else(|| {
                GraphError::param("The parameter breakdown is required for demographics")
            })?;
            if ctx.params.nonempty("timeframe").is_none() {
                return Err(GraphError::param(
                    "The parameter timeframe is required for demographics",
                ));
            }
            let keys: &[&str] = match breakdown.as_str() {
                "age" => &["18-24", "25-34", "35-44", "45-54", "55-64", "65+"],
                "gender" => &["F", "M", "U"],
                "country" => &["US", "DE", "GB", "BR", "IN"],
                "city" => &["London, England", "Berlin, Berlin", "New York, New York"],
                other => {
                    return Err(GraphError::param(format!(
                        "Param breakdown must be one of {{age, city, country, gender}} - got \"{other}\""
                    )));
                }
            };
            let results: Vec<Value> = keys
                .iter()
                .map(|k| json!({"dimension_values": [k], "value": figure(account, &format!("{name}/{k}"), 1, followers / 3 + 1)}))
                .collect();
            item["total_value"] =
                json!({"breakdowns": [{"dimension_keys": [breakdown], "results": results}]});
        } else if total_value {
            let sum: u64 = days.iter().map(|d| daily(*d)).sum();
            item["total_value"] = json!({"value": sum});
        } else {
            let values: Vec<Value> = days
                .iter()
                .skip(1)
                .map(
                    |d| json!({"value": daily(*d), "end_time": graph_timestamp_of(d * 86_400_000)}),
                )
                .collect();
            item["values"] = json!(values);
        }
        data.push(item);
    }
    Ok(json!({"data": data}))
}
