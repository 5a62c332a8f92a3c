//! Scheduled posts: the calendar, scheduling a post once it meets Meta's rules (its time,
//! its shape, and its media as fetched now), and changing or cancelling it while it
//! waits. Once the dispatcher claims a post it is the publisher's: changes are refused
//! with the reason.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use relay::audit::AuditEntry;
use relay::ids::{AccountId, PostId};
use relay::publishing::rules::{self, Refusal, When};
use relay::publishing::{Post, PostContent, PostStatus};
use relay::store::StoreError;
use relay::store::accounts::{Account, AccountStatus, Channel};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Ids, Paging, Params, uploads};
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};
use crate::views::{PostPage, PostView};

const DAY_MS: i64 = 86_400_000;

/// A post to schedule. Its time is `scheduled_at`, or `local_time` with `time_zone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// The connected Instagram account or Facebook Page that publishes it.
    pub account_id: String,
    /// What it publishes, by `type`. Instagram: `{"type": "image", "url", "alt_text"?}`
    /// (JPEG), `{"type": "reel", "video_url", "cover_url"?, "share_to_feed"?}`,
    /// `{"type": "carousel", "items": [{"kind": "image"|"video", "url"}, ...]}` (2 to 10),
    /// `{"type": "story", "media": {"kind", "url"}}`. Facebook Page: `{"type":
    /// "page_text"}` (the caption is the text), `{"type": "page_photo", "url"}`,
    /// `{"type": "page_link", "link"}`. Media must be at public https URLs, or
    /// uploads (`relay://uploads/<upload id>`, from `POST /v1/media`).
    #[schema(value_type = Object)]
    pub content: PostContent,
    /// Instagram: at most 2200 characters, 30 hashtags and 20 @mentions.
    pub caption: Option<String>,
    /// Instagram: posted by Relay under the post right after it is published.
    pub first_comment: Option<String>,
    /// RFC 3339 with an offset, e.g. `2026-12-24T09:00:00+01:00`.
    pub scheduled_at: Option<String>,
    /// A wall-clock time without offset, e.g. `2026-12-24T09:00`; with `time_zone`.
    pub local_time: Option<String>,
    /// The IANA zone of `local_time`, e.g. `Europe/Berlin`.
    pub time_zone: Option<String>,
}

/// A change to a waiting post: only what is given changes. `caption` and
/// `first_comment` are removed with null. A new time is `scheduled_at`, or `local_time`
/// with `time_zone`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostChange {
    /// The new content (the same forms as when scheduling); its media is fetched again.
    #[schema(value_type = Option<Object>)]
    pub content: Option<PostContent>,
    /// The new caption; null removes it.
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub caption: Option<Option<String>>,
    /// The new first comment; null removes it.
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub first_comment: Option<Option<String>>,
    /// A new time, RFC 3339 with an offset.
    pub scheduled_at: Option<String>,
    /// A new wall-clock time, with `time_zone`.
    pub local_time: Option<String>,
    /// The IANA zone of `local_time`.
    pub time_zone: Option<String>,
}

/// A field that is present, even as null (absent stays `None`).
fn given<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The calendar's window and filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarFilter {
    /// Posts scheduled at or after this time (epoch ms); by default the start of the UTC
    /// day 30 days ago.
    pub from: Option<i64>,
    /// Posts scheduled at or before this time (epoch ms); by default the end of the UTC
    /// day 365 days ahead.
    pub to: Option<i64>,
    /// Only this account's posts.
    pub account: Option<String>,
    /// Only posts in this status (`scheduled`, `queued`, `publishing`,
    /// `waiting_for_quota`, `published`, `failed`, `cancelled`).
    pub status: Option<String>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 200; 50 when not given.
    pub limit: Option<u32>,
}

/// A rule the post broke, as a 422 naming the field.
fn refused(r: Refusal) -> Problem {
    Problem::invalid_field(&r.field, r.rule)
}

fn not_editable(reason: &str) -> Problem {
    Problem::conflict("post-not-editable", reason)
}

/// `Conflict` from a conditional write: someone (most likely the dispatcher claiming the
/// post) wrote it since it was read.
fn saved(result: Result<Post, StoreError>) -> ApiResult<Post> {
    match result {
        Err(StoreError::Conflict { .. }) => Err(Problem::conflict(
            "post-changed",
            "the post changed meanwhile (it may have been claimed for publishing); read it again",
        )),
        other => other.map_err(Problem::from),
    }
}

/// Which time the caller gave, if any; exactly one form is taken.
fn when<'a>(
    scheduled_at: Option<&'a str>,
    local_time: Option<&'a str>,
    time_zone: Option<&'a str>,
) -> ApiResult<Option<When<'a>>> {
    match (scheduled_at, local_time, time_zone) {
        (None, None, None) => Ok(None),
        (Some(at), None, None) => Ok(Some(When::Instant(at))),
        (None, Some(time), Some(zone)) => Ok(Some(When::Local { time, zone })),
        (Some(_), _, _) => Err(Problem::invalid_field(
            "scheduled_at",
            "give scheduled_at or local_time with time_zone, not both",
        )),
        (None, Some(_), None) => Err(Problem::invalid_field(
            "time_zone",
            "local_time needs its IANA time zone, e.g. Europe/Berlin",
        )),
        (None, None, Some(_)) => Err(Problem::invalid_field(
            "local_time",
            "time_zone goes with a local_time, e.g. 2026-12-24T09:00",
        )),
    }
}

/// The moment in UTC and the zone to keep, ahead of `now` and within a year. A time given
/// as `local_time` is refused under that name.
fn resolve(when: &When<'_>, now: i64) -> ApiResult<(i64, Option<String>)> {
    let (at, zone) = rules::resolve_time(when).map_err(refused)?;
    rules::check_time(at, now).map_err(|mut r| {
        if matches!(when, When::Local { .. }) {
            r.field = "local_time".into();
        }
        refused(r)
    })?;
    Ok((at, zone))
}

/// The caller's account that will publish: it must be in the tenant and connected.
async fn publishing_account(app: &App, member: &Member, raw: &str) -> ApiResult<Account> {
    let unknown = || Problem::invalid_field("account_id", "no such account in this tenant");
    let id = AccountId::parse(raw).map_err(|_| unknown())?;
    let account = app
        .store
        .get_account(&member.tenant, &id)
        .await?
        .ok_or_else(unknown)?;
    if account.status != AccountStatus::Connected {
        return Err(Problem::invalid_field(
            "account_id",
            format!(
                "the account is {}; reconnect it before scheduling",
                account.status.as_str()
            ),
        ));
    }
    Ok(account)
}

/// The post's media as Meta will fetch them (uploads through a presigned GET), then
/// its uploads given to it.
async fn check_media(app: &App, member: &Member, post: &Post, on_page: bool) -> ApiResult<()> {
    let (uploads, fetch_at) = uploads::for_post(app, member, &post.content, &post.post_id).await?;
    app.media
        .check(&post.content, on_page, &fetch_at)
        .await
        .map_err(refused)?;
    uploads::claim(app, uploads, &post.post_id).await
}

/// The caller's post of this id, or 404 (another tenant's id is simply not found).
async fn owned_post(app: &App, member: &Member, raw: &str) -> ApiResult<Post> {
    let id = PostId::parse(raw).map_err(|_| Problem::not_found("post"))?;
    app.store
        .get_post(&member.tenant, &id)
        .await?
        .ok_or_else(|| Problem::not_found("post"))
}

async fn audit(
    app: &App,
    member: &Member,
    action: &str,
    post: &Post,
    details: Value,
) -> ApiResult<()> {
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), action)
                .target(format!("post:{}", post.post_id))
                .details(details),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(())
}

/// The calendar's window: the one asked for, or 30 days back to 365 ahead, in whole UTC
/// days (so a cursor's window stays the same from page to page).
fn window(filter: &CalendarFilter, now: i64) -> ApiResult<(i64, i64)> {
    let from = filter
        .from
        .unwrap_or_else(|| (now - 30 * DAY_MS).div_euclid(DAY_MS) * DAY_MS);
    let to = filter
        .to
        .unwrap_or_else(|| ((now + 365 * DAY_MS).div_euclid(DAY_MS) + 1) * DAY_MS - 1);
    if to < from {
        return Err(Problem::invalid_field("to", "must not be before from"));
    }
    Ok((from, to))
}

/// Reads of the calendar a filtered page may take before it is returned short.
const MAX_READS: usize = 5;

#[utoipa::path(get, path = "/v1/posts", tag = "posts", params(CalendarFilter),
    responses((status = 200, description = "In time order", body = PostPage),
        (status = 404, description = "No such account", body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    member: Member,
    Params(filter): Params<CalendarFilter>,
) -> ApiResult<Json<PostPage>> {
    let (from, to) = window(&filter, app.clock.now_ms())?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(raw) => Some(PostStatus::parse(raw).ok_or_else(|| {
            Problem::invalid_field(
                "status",
                "use scheduled, queued, publishing, waiting_for_quota, published, failed or cancelled",
            )
        })?),
    };
    let account = match filter.account.as_deref() {
        None => None,
        Some(raw) => Some(
            super::accounts::owned_account(&app, &member, raw)
                .await?
                .account_id,
        ),
    };
    let keeps = |p: &Post| {
        status.is_none_or(|s| p.status == s) && account.as_ref().is_none_or(|a| &p.account_id == a)
    };
    let paging = Paging {
        cursor: filter.cursor.clone(),
        limit: filter.limit,
    };
    let limit = paging.limit()? as usize;
    let mut listing = paging.listing()?;
    let mut items = Vec::new();
    // Each read asks for no more than the page still needs, so the store's cursor after
    // the last read is exactly where the next page starts.
    for _ in 0..MAX_READS {
        listing.limit = (limit - items.len()) as i32;
        let page = app
            .store
            .list_posts(&member.tenant, from, to, &listing)
            .await?;
        items.extend(page.items.iter().filter(|p| keeps(p)).map(PostView::of));
        listing.cursor = page.next;
        if listing.cursor.is_none() || items.len() >= limit {
            break;
        }
    }
    Ok(Json(PostPage {
        items,
        next_cursor: listing.cursor.map(|c| c.as_str().to_owned()),
    }))
}

#[utoipa::path(post, path = "/v1/posts", tag = "posts",
    params(("Idempotency-Key" = Option<String>, Header, description = "Schedules once per key and body within 24 h")),
    request_body = NewPost,
    responses((status = 201, body = PostView),
        (status = 422, description = "A rule the post breaks (its time, shape or media; the account), naming the field", body = crate::problem::Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    member: Member,
    Body(body): Body<NewPost>,
) -> ApiResult<(StatusCode, Json<PostView>)> {
    let account = publishing_account(&app, &member, &body.account_id).await?;
    let now = app.clock.now_ms();
    let when = when(
        body.scheduled_at.as_deref(),
        body.local_time.as_deref(),
        body.time_zone.as_deref(),
    )?
    .ok_or_else(|| {
        Problem::invalid_field(
            "scheduled_at",
            "give scheduled_at (RFC 3339 with an offset), or local_time with time_zone",
        )
    })?;
    let (scheduled_at, time_zone) = resolve(&when, now)?;
    let on_page = account.channel == Channel::Page;
    rules::check_shape(
        &body.content,
        body.caption.as_deref(),
        body.first_comment.as_deref(),
        on_page,
    )
    .map_err(refused)?;
    let post = Post {
        caption: body.caption,
        first_comment: body.first_comment,
        time_zone,
        ..Post::scheduled(
            member.tenant.clone(),
            account.account_id,
            body.content,
            scheduled_at,
            member.actor(),
            now,
        )
    };
    check_media(&app, &member, &post, on_page).await?;
    app.store.create_post(&post).await?;
    let post = claim_if_due(&app, post, now).await?;
    let details = json!({
        "account_id": post.account_id.as_str(),
        "type": post.content.name(),
        "scheduled_at": post.scheduled_at,
    });
    audit(&app, &member, "post.scheduled", &post, details).await?;
    Ok((StatusCode::CREATED, Json(PostView::of(&post))))
}

#[utoipa::path(get, path = "/v1/posts/{post_id}", tag = "posts",
    params(("post_id" = String, Path)),
    responses((status = 200, body = PostView), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<PostView>> {
    let post = owned_post(&app, &member, &ids[0]).await?;
    Ok(Json(PostView::of(&post)))
}

#[utoipa::path(patch, path = "/v1/posts/{post_id}", tag = "posts",
    params(("post_id" = String, Path)), request_body = PostChange,
    responses((status = 200, body = PostView), (status = 404, body = crate::problem::Problem),
        (status = 409, description = "The post is no longer waiting (the reason is given), or changed meanwhile", body = crate::problem::Problem),
        (status = 422, description = "A rule the changed post breaks, naming the field", body = crate::problem::Problem)))]
pub async fn change(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Body(change): Body<PostChange>,
) -> ApiResult<Json<PostView>> {
    let mut post = owned_post(&app, &member, &ids[0]).await?;
    post.editable().map_err(not_editable)?;
    // The stored content passed the account's channel when it was scheduled.
    let on_page = post.content.is_page_post();
    let now = app.clock.now_ms();
    let mut changed = Vec::new();
    let time = when(
        change.scheduled_at.as_deref(),
        change.local_time.as_deref(),
        change.time_zone.as_deref(),
    )?;
    if let Some(time) = time {
        (post.scheduled_at, post.time_zone) = resolve(&time, now)?;
        changed.push("scheduled_at");
    }
    if let Some(caption) = change.caption {
        post.caption = caption;
        changed.push("caption");
    }
    if let Some(comment) = change.first_comment {
        post.first_comment = comment;
        changed.push("first_comment");
    }
    let new_content = change.content.is_some();
    let before = post.content.uploads();
    if let Some(content) = change.content {
        post.content = content;
        changed.push("content");
    }
    if changed.is_empty() {
        return Ok(Json(PostView::of(&post)));
    }
    rules::check_shape(
        &post.content,
        post.caption.as_deref(),
        post.first_comment.as_deref(),
        on_page,
    )
    .map_err(refused)?;
    if new_content {
        check_media(&app, &member, &post, on_page).await?;
    }
    post.updated_at = now;
    let post = saved(app.store.save_post(&post).await)?;
    let dropped: Vec<_> = before
        .into_iter()
        .filter(|u| !post.content.uploads().contains(u))
        .collect();
    uploads::release(&app, &member, &dropped).await;
    let post = claim_if_due(&app, post, now).await?;
    audit(
        &app,
        &member,
        "post.changed",
        &post,
        json!({ "changed": changed }),
    )
    .await?;
    Ok(Json(PostView::of(&post)))
}

#[utoipa::path(delete, path = "/v1/posts/{post_id}", tag = "posts",
    params(("post_id" = String, Path)),
    responses((status = 204, description = "Cancelled; it stays in the calendar as cancelled"),
        (status = 404, body = crate::problem::Problem),
        (status = 409, description = "The post is no longer waiting (the reason is given), or changed meanwhile", body = crate::problem::Problem)))]
pub async fn cancel(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<StatusCode> {
    let mut post = owned_post(&app, &member, &ids[0]).await?;
    post.editable().map_err(not_editable)?;
    post.status = PostStatus::Cancelled;
    post.updated_at = app.clock.now_ms();
    let post = saved(app.store.save_post(&post).await)?;
    uploads::release(&app, &member, &post.content.uploads()).await;
    audit(&app, &member, "post.cancelled", &post, json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A post due inside the dispatcher's lead is claimed now: the minute's sweep may have
/// run already. Returns the post as stored.
async fn claim_if_due(app: &App, post: Post, now: i64) -> ApiResult<Post> {
    let lead = i64::try_from(app.publishing.lead.as_millis()).unwrap_or(i64::MAX);
    if post.scheduled_at > now + lead {
        return Ok(post);
    }
    let (tenant, id) = (post.tenant_id.clone(), post.post_id.clone());
    relay::publishing::run::claim(
        &app.store,
        &app.publish,
        post,
        now,
        app.publishing.prepare,
        app.publishing.watchdog,
    )
    .await
    .map_err(|e| Problem::internal("publish", &e))?;
    app.store
        .get_post(&tenant, &id)
        .await?
        .ok_or_else(|| Problem::not_found("post"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_form_of_time_is_taken() {
        let field = |r: ApiResult<Option<When<'_>>>| r.unwrap_err().errors[0].field.clone();
        assert_eq!(when(None, None, None).unwrap(), None);
        assert!(matches!(
            when(Some("2026-12-24T09:00:00+01:00"), None, None),
            Ok(Some(When::Instant(_)))
        ));
        assert!(matches!(
            when(None, Some("2026-12-24T09:00"), Some("Europe/Berlin")),
            Ok(Some(When::Local { .. }))
        ));
        assert_eq!(field(when(Some("x"), Some("y"), None)), "scheduled_at");
        assert_eq!(field(when(None, Some("y"), None)), "time_zone");
        assert_eq!(field(when(None, None, Some("Europe/Berlin"))), "local_time");
    }

    #[test]
    fn a_local_time_in_the_past_is_refused_under_its_own_name() {
        let now = 1_800_000_000_000;
        let past = When::Local {
            time: "2020-01-01T09:00",
            zone: "Europe/Berlin",
        };
        assert_eq!(
            resolve(&past, now).unwrap_err().errors[0].field,
            "local_time"
        );
        let instant = When::Instant("2020-01-01T09:00:00Z");
        assert_eq!(
            resolve(&instant, now).unwrap_err().errors[0].field,
            "scheduled_at"
        );
    }

    #[test]
    fn the_default_window_is_whole_utc_days_from_30_back_to_365_ahead() {
        let now = 1_800_000_123_456;
        let (from, to) = window(&CalendarFilter::default(), now).unwrap();
        assert_eq!(from % DAY_MS, 0);
        assert_eq!((to + 1) % DAY_MS, 0);
        assert!(from <= now - 30 * DAY_MS && from > now - 31 * DAY_MS);
        assert!(to >= now + rules::MAX_AHEAD_MS);
        let backwards = CalendarFilter {
            from: Some(10),
            to: Some(5),
            ..Default::default()
        };
        assert_eq!(window(&backwards, now).unwrap_err().errors[0].field, "to");
    }

    #[test]
    fn a_change_tells_a_removed_caption_from_one_left_alone() {
        let removed: PostChange = serde_json::from_str(r#"{"caption": null}"#).unwrap();
        assert_eq!(removed.caption, Some(None));
        let untouched: PostChange = serde_json::from_str(r#"{"first_comment": "hi"}"#).unwrap();
        assert_eq!(untouched.caption, None);
        assert_eq!(untouched.first_comment, Some(Some("hi".into())));
        assert!(serde_json::from_str::<PostChange>(r#"{"status": "published"}"#).is_err());
    }
}
