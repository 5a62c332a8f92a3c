//! Profile and insights: what the account looks like and how its content performs, read
//! from the sync's cache. Every answer says when its figures were fetched; a read older
//! than the cache's TTL asks the sync function for a refresh (rate limited per account)
//! and says so. Missing data is `null` ("no data yet"), never a zero.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use relay::ids::MediaId;
use relay::insights::csv::Table;
use relay::insights::metrics;
use relay::insights::records::{
    self, AccountDay, INSIGHTS_TTL_MS, MediaInsights, PROFILE_TTL_MS, Profile, day_start_ms,
    day_text, is_fresh, parse_day,
};
use relay::insights::sync::{RefreshRequest, Syncer};
use relay::store::accounts::{Account, Channel};
use relay::store::{Cursor, Listing};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, Duration as Span};
use utoipa::{IntoParams, ToSchema};

use super::accounts::owned_account;
use super::{Ids, Params};
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};

/// The longest range one request reads (a year, and a leap day).
const MAX_DAYS: i64 = 366;
/// Media rows per CSV page.
const CSV_PAGE: i32 = 1000;

/// Whether a stale read asked for a refresh.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshState {
    /// The figures are within their TTL.
    NotNeeded,
    /// A refresh was queued now.
    Queued,
    /// One was queued in the last few minutes.
    AlreadyRequested,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub account_id: String,
    /// `instagram` or `page`.
    pub channel: String,
    /// `fresh`, `stale` (older than an hour) or `no_data_yet`.
    pub status: String,
    /// By `kind`: `instagram` (username, name, profile_picture_url, followers_count,
    /// follows_count, media_count, biography, website) or `page` (name, category,
    /// fan_count, followers_count, link, picture_url). Null until first fetched.
    #[schema(value_type = Object)]
    pub profile: Option<Value>,
    /// When Relay fetched it (epoch ms).
    pub fetched_at: Option<i64>,
    pub fresh_until: Option<i64>,
    pub refresh: RefreshState,
}

/// One day of account insights.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Each asked metric; null is "no data yet".
    #[schema(value_type = Object)]
    pub values: BTreeMap<String, Option<i64>>,
    pub fetched_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InsightsView {
    pub account_id: String,
    pub since: String,
    pub until: String,
    pub metrics: Vec<String>,
    /// Every day of the range, oldest first.
    pub days: Vec<DayView>,
    /// When the last complete insights pass of the account finished (epoch ms).
    pub synced_at: Option<i64>,
    /// `fresh`, `stale` (no pass in 24 h) or `no_data_yet`.
    pub status: String,
    pub refresh: RefreshState,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaInsightsView {
    pub media_id: String,
    pub account_id: String,
    /// `image`, `carousel`, `reel` or `story`.
    pub kind: String,
    pub published_at: Option<i64>,
    pub permalink: Option<String>,
    /// The Relay post that published it.
    pub post_id: Option<String>,
    /// Every metric of the kind; null is "no data yet".
    #[schema(value_type = Object)]
    pub values: BTreeMap<String, Option<i64>>,
    pub fetched_at: i64,
    pub fresh_until: i64,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshView {
    pub account_id: String,
    /// `queued`: the sync function reads the account's profile and insights now.
    pub status: String,
}

/// The range and metrics of a read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InsightsQuery {
    /// Comma-separated metric names (default: all of the account's).
    pub metric: Option<String>,
    /// First day, `YYYY-MM-DD` (default: 29 days before `until`).
    pub since: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: yesterday, UTC).
    pub until: Option<String>,
}

/// What the CSV holds.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvQuery {
    /// `days` (one row per day, the default) or `media` (one row per media published in
    /// the range).
    pub rows: Option<String>,
    pub metric: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// Media rows come 1000 to a response; the `Link` header's `next` holds the cursor.
    pub cursor: Option<String>,
}

fn status(fetched_at: Option<i64>, ttl: i64, now: i64) -> &'static str {
    match fetched_at {
        None => "no_data_yet",
        Some(at) if is_fresh(at, ttl, now) => "fresh",
        Some(_) => "stale",
    }
}

/// Ask for a refresh when the figures are stale or missing.
async fn refresh_if(app: &App, account: &Account, needed: bool) -> ApiResult<RefreshState> {
    if !needed {
        return Ok(RefreshState::NotNeeded);
    }
    Ok(match request(app, account).await? {
        RefreshRequest::Queued => RefreshState::Queued,
        RefreshRequest::TooSoon { .. } => RefreshState::AlreadyRequested,
    })
}

async fn request(app: &App, account: &Account) -> ApiResult<RefreshRequest> {
    Syncer::request_refresh(
        &app.store,
        &app.sync,
        &app.syncing,
        &account.tenant_id,
        &account.account_id,
        app.clock.now_ms(),
    )
    .await
    .map_err(|e| Problem::internal("insights refresh", &e))
}

fn instagram(account: &Account) -> ApiResult<()> {
    if account.channel == Channel::Instagram {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::CONFLICT,
        "not-an-instagram-account",
        "Insights are read for Instagram accounts",
        "this account is a Facebook Page: its profile is at /v1/accounts/{id}/profile",
    ))
}

/// The metric names asked for, each checked against the table.
fn metrics_of(raw: Option<&str>, known: &[&'static str]) -> ApiResult<Vec<&'static str>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(known.to_vec());
    };
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if let Some(new) = metrics::replacement_of(name) {
            return Err(Problem::invalid_field(
                "metric",
                format!("Meta retired `{name}` on 2025-04-21: ask for `{new}`"),
            ));
        }
        let Some(found) = known.iter().find(|k| **k == name) else {
            return Err(Problem::invalid_field(
                "metric",
                format!("`{name}` is not a metric; use {}", known.join(", ")),
            ));
        };
        if !out.contains(found) {
            out.push(*found);
        }
    }
    Ok(out)
}

fn day_param(field: &str, raw: Option<&str>, default: Date) -> ApiResult<Date> {
    match raw {
        None => Ok(default),
        Some(text) => {
            parse_day(text).ok_or_else(|| Problem::invalid_field(field, "use a date as YYYY-MM-DD"))
        }
    }
}

/// `since..=until`, checked.
fn range(since: Option<&str>, until: Option<&str>, now: i64) -> ApiResult<(Date, Date)> {
    let yesterday = records::day_of(now).previous_day().unwrap_or(Date::MIN);
    let until = day_param("until", until, yesterday)?;
    let since = day_param(
        "since",
        since,
        until.checked_sub(Span::days(29)).unwrap_or(Date::MIN),
    )?;
    if since > until {
        return Err(Problem::invalid_field("since", "must not be after until"));
    }
    if (until - since).whole_days() >= MAX_DAYS {
        return Err(Problem::invalid_field(
            "since",
            format!("a request covers at most {MAX_DAYS} days"),
        ));
    }
    Ok((since, until))
}

/// Every stored day of the range, by date.
async fn stored_days(
    app: &App,
    account: &Account,
    since: Date,
    until: Date,
) -> ApiResult<BTreeMap<String, AccountDay>> {
    Ok(app
        .store
        .account_days_by_date(
            &account.tenant_id,
            &account.account_id,
            &day_text(since),
            &day_text(until),
        )
        .await?)
}

fn each_day(since: Date, until: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(since), move |d| d.next_day().filter(|n| *n <= until))
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}/profile", tag = "insights",
    params(("account_id" = String, Path, description = "Instagram account id or Page id")),
    responses((status = 200, body = ProfileView), (status = 404, body = crate::problem::Problem)))]
pub async fn profile(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<ProfileView>> {
    let account = owned_account(&app, &member, &ids[0]).await?;
    let now = app.clock.now_ms();
    let snapshot = app
        .store
        .get_snapshot(&account.tenant_id, &account.account_id)
        .await?;
    let fetched_at = snapshot.as_ref().map(|s| s.fetched_at);
    let state = status(fetched_at, PROFILE_TTL_MS, now);
    let refresh = refresh_if(&app, &account, state != "fresh").await?;
    Ok(Json(ProfileView {
        account_id: account.account_id.to_string(),
        channel: account.channel.as_str().into(),
        status: state.into(),
        profile: snapshot
            .as_ref()
            .map(|s| serde_json::to_value::<&Profile>(&s.profile).unwrap_or(Value::Null)),
        fetched_at,
        fresh_until: fetched_at.map(|at| at + PROFILE_TTL_MS),
        refresh,
    }))
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}/insights", tag = "insights",
    params(("account_id" = String, Path), InsightsQuery),
    responses((status = 200, body = InsightsView), (status = 404, body = crate::problem::Problem),
        (status = 409, description = "A Facebook Page (insights are read for Instagram accounts)", body = crate::problem::Problem),
        (status = 422, description = "An unknown or retired metric, or a bad range", body = crate::problem::Problem)))]
pub async fn account(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Params(query): Params<InsightsQuery>,
) -> ApiResult<Json<InsightsView>> {
    let account = owned_account(&app, &member, &ids[0]).await?;
    instagram(&account)?;
    let now = app.clock.now_ms();
    let known: Vec<&'static str> = metrics::account_metric_names().collect();
    let asked = metrics_of(query.metric.as_deref(), &known)?;
    let (since, until) = range(query.since.as_deref(), query.until.as_deref(), now)?;
    let stored = stored_days(&app, &account, since, until).await?;
    let days = each_day(since, until)
        .map(|day| {
            let date = day_text(day);
            let record = stored.get(&date);
            DayView {
                values: asked
                    .iter()
                    .map(|m| {
                        (
                            (*m).to_owned(),
                            record.and_then(|r| r.metrics.get(*m).copied()),
                        )
                    })
                    .collect(),
                fetched_at: record.map(|r| r.fetched_at),
                date,
            }
        })
        .collect();
    let synced_at = app
        .store
        .get_sync_state(&account.tenant_id, &account.account_id)
        .await?
        .and_then(|s| s.insights_at);
    let state = status(synced_at, INSIGHTS_TTL_MS, now);
    let refresh = refresh_if(&app, &account, state != "fresh").await?;
    Ok(Json(InsightsView {
        account_id: account.account_id.to_string(),
        since: day_text(since),
        until: day_text(until),
        metrics: asked.iter().map(|m| (*m).to_owned()).collect(),
        days,
        synced_at,
        status: state.into(),
        refresh,
    }))
}

fn media_view(m: &MediaInsights, now: i64) -> MediaInsightsView {
    MediaInsightsView {
        media_id: m.media_id.to_string(),
        account_id: m.account_id.to_string(),
        kind: m.kind.as_str().into(),
        published_at: m.published_at,
        permalink: m.permalink.clone(),
        post_id: m.post_id.as_ref().map(ToString::to_string),
        values: m
            .kind
            .metrics()
            .iter()
            .map(|metric| {
                (
                    metric.as_str().to_owned(),
                    m.metrics.get(metric.as_str()).copied(),
                )
            })
            .collect(),
        fetched_at: m.fetched_at,
        fresh_until: m.fetched_at + INSIGHTS_TTL_MS,
        status: status(Some(m.fetched_at), INSIGHTS_TTL_MS, now).into(),
    }
}

#[utoipa::path(get, path = "/v1/media/{media_id}/insights", tag = "insights",
    params(("media_id" = String, Path, description = "An Instagram media id (a published post's `progress.media_id`)")),
    responses((status = 200, body = MediaInsightsView),
        (status = 404, description = "No insights of this media in the caller's tenant yet: Relay reads a post's within a day of publishing", body = crate::problem::Problem)))]
pub async fn media(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<MediaInsightsView>> {
    let not_found = || Problem::not_found("media insights");
    let id = MediaId::parse(ids[0].as_str()).map_err(|_| not_found())?;
    let found = app
        .store
        .get_media_insights(&member.tenant, &id)
        .await?
        .ok_or_else(not_found)?;
    if !member.works(&found.account_id) {
        return Err(not_found());
    }
    let now = app.clock.now_ms();
    if !is_fresh(found.fetched_at, INSIGHTS_TTL_MS, now)
        && let Some(account) = app
            .store
            .get_account(&member.tenant, &found.account_id)
            .await?
    {
        refresh_if(&app, &account, true).await?;
    }
    Ok(Json(media_view(&found, now)))
}

#[utoipa::path(post, path = "/v1/accounts/{account_id}/insights/refresh", tag = "insights",
    params(("account_id" = String, Path)),
    responses((status = 202, body = RefreshView), (status = 404, body = crate::problem::Problem),
        (status = 429, description = "A refresh of this account was queued in the last few minutes (Retry-After says when the next may be)", body = crate::problem::Problem)))]
pub async fn refresh(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<(StatusCode, Json<RefreshView>)> {
    let account = owned_account(&app, &member, &ids[0]).await?;
    match request(&app, &account).await? {
        RefreshRequest::Queued => Ok((
            StatusCode::ACCEPTED,
            Json(RefreshView {
                account_id: account.account_id.to_string(),
                status: "queued".into(),
            }),
        )),
        RefreshRequest::TooSoon { retry_after } => {
            let seconds = retry_after.as_secs().max(1);
            let mut problem = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "refresh-too-soon",
                "Refreshed recently",
                format!(
                    "a refresh of this account was queued in the last {} minutes; try again in {seconds} s",
                    app.syncing.refresh_every.as_secs().div_ceil(60)
                ),
            );
            problem.retry_after = Some(seconds);
            Err(problem)
        }
    }
}

fn csv_failed(e: &csv::Error) -> Problem {
    Problem::internal("csv", e)
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}/insights.csv", tag = "insights",
    params(("account_id" = String, Path), CsvQuery),
    responses((status = 200, description = "RFC 4180 CSV with a header row; empty cells are \"no data yet\"", content_type = "text/csv"),
        (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn csv(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Params(query): Params<CsvQuery>,
) -> ApiResult<Response> {
    let account = owned_account(&app, &member, &ids[0]).await?;
    instagram(&account)?;
    let now = app.clock.now_ms();
    let (since, until) = range(query.since.as_deref(), query.until.as_deref(), now)?;
    let rows = query.rows.as_deref().unwrap_or("days");
    let (body, next) = match rows {
        "days" => {
            if query.cursor.is_some() {
                return Err(Problem::invalid_field(
                    "cursor",
                    "day rows come in one response",
                ));
            }
            let known: Vec<&'static str> = metrics::account_metric_names().collect();
            let asked = metrics_of(query.metric.as_deref(), &known)?;
            let stored = stored_days(&app, &account, since, until).await?;
            let mut table = Table::days(&asked).map_err(|e| csv_failed(&e))?;
            for day in each_day(since, until) {
                let date = day_text(day);
                table
                    .day(&date, stored.get(&date), &asked)
                    .map_err(|e| csv_failed(&e))?;
            }
            (table.finish().map_err(|e| csv_failed(&e))?, None)
        }
        "media" => {
            let known = metrics::media_metric_names();
            let asked = metrics_of(query.metric.as_deref(), &known)?;
            let listing = Listing {
                limit: CSV_PAGE,
                newest_first: false,
                cursor: query.cursor.as_deref().map(Cursor::parse).transpose()?,
            };
            let until_end = day_start_ms(until) + 86_400_000 - 1;
            let page = app
                .store
                .list_media_insights(
                    &account.tenant_id,
                    &account.account_id,
                    day_start_ms(since),
                    until_end,
                    &listing,
                )
                .await?;
            let mut table = Table::media(&asked).map_err(|e| csv_failed(&e))?;
            for media in &page.items {
                table.media_row(media, &asked).map_err(|e| csv_failed(&e))?;
            }
            (table.finish().map_err(|e| csv_failed(&e))?, page.next)
        }
        _ => {
            return Err(Problem::invalid_field("rows", "use `days` or `media`"));
        }
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
    );
    let name = format!(
        "attachment; filename=\"insights-{}-{rows}-{}-{}.csv\"",
        account.account_id,
        day_text(since),
        day_text(until)
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(next) = next {
        let mut pairs = vec![
            ("rows", rows.to_owned()),
            ("since", day_text(since)),
            ("until", day_text(until)),
            ("cursor", next.as_str().to_owned()),
        ];
        if let Some(metric) = &query.metric {
            pairs.push(("metric", metric.clone()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let link = format!(
            "</v1/accounts/{}/insights.csv?{query}>; rel=\"next\"",
            account.account_id
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn ranges_default_to_the_last_thirty_days_and_are_bounded() {
        let now = day_start_ms(parse_day("2026-03-31").unwrap()) + DAY / 2;
        let (since, until) = range(None, None, now).unwrap();
        assert_eq!(
            (day_text(since).as_str(), day_text(until).as_str()),
            ("2026-03-01", "2026-03-30")
        );
        assert_eq!(each_day(since, until).count(), 30);
        assert!(range(Some("2026-03-05"), Some("2026-03-04"), now).is_err());
        assert!(range(Some("2025-01-01"), Some("2026-03-04"), now).is_err());
        assert!(
            range(Some("2025-03-05"), Some("2026-03-04"), now).is_ok(),
            "a year"
        );
        assert!(range(Some("March"), None, now).is_err());
    }

    #[test]
    fn metric_names_are_checked_against_the_table() {
        let known: Vec<&'static str> = metrics::account_metric_names().collect();
        assert_eq!(metrics_of(None, &known).unwrap(), known);
        assert_eq!(
            metrics_of(Some("reach, views,reach"), &known).unwrap(),
            ["reach", "views"]
        );
        let retired = metrics_of(Some("impressions"), &known).unwrap_err();
        assert!(retired.detail.contains("views"), "{}", retired.detail);
        assert!(metrics_of(Some("reach,likez"), &known).is_err());
    }
}
