//! Content publishing: media containers, their status, `media_publish`, the publishing
//! quota, media objects, and Facebook Page posts. The rules live in
//! [`crate::state::publishing`]; this module reads Meta's parameters and shapes
//! Meta's answers.

use super::{Auth, Ctx, Field, GraphResult, answer_fields};
use crate::graph_error::GraphError;
use crate::state::accounts::Capability;
use crate::state::comments::{cursor_of, paginate};
use crate::state::publishing::{
    self, Container, ContainerKind, ContainerStatus, Media, MediaFetch, PagePost, PublishRefusal,
};
use crate::state::{SimState, clock::graph_timestamp_of, ids, seed_of};
use serde_json::{Value, json};

const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 100;

fn valid_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://")) && url.len() > "https://".len()
}

/// `POST /<IG_ID>/media`: creates a container (image, reel, story, carousel item or
/// carousel) once Meta has downloaded its media (see [`super::media_fetch`]).
pub fn create_container(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    account: &str,
) -> GraphResult {
    auth.require(Capability::Publish)?;
    let p = &ctx.params;
    let media_type = p.nonempty("media_type").map(|m| m.to_ascii_uppercase());
    let is_item = p.bool("is_carousel_item").unwrap_or(false);
    let image_url = p.nonempty("image_url");
    let video_url = p.nonempty("video_url");
    let caption = p.str("caption");
    if let Some(c) = &caption {
        publishing::check_caption(c).map_err(GraphError::container)?;
    }
    for (name, url) in [("image_url", &image_url), ("video_url", &video_url)] {
        if let Some(u) = url
            && !valid_url(u)
        {
            return Err(GraphError::param(format!(
                "Param {name} must be a valid URL"
            )));
        }
    }
    let now = ctx.now;
    let (kind, is_video, media_url, children) = match (media_type.as_deref(), is_item) {
        (Some("CAROUSEL"), _) => {
            let ids = parse_children(p.0.get("children"))?;
            let found: Vec<Option<&Container>> =
                ids.iter().map(|id| state.containers.get(id)).collect();
            publishing::check_carousel_children(account, &found, &ids, now)
                .map_err(GraphError::container)?;
            (ContainerKind::Carousel, false, None, ids)
        }
        (Some("REELS"), false) => {
            let url = video_url.ok_or_else(|| {
                GraphError::param("The parameter video_url is required for REELS")
            })?;
            (ContainerKind::Reels, true, Some(url), Vec::new())
        }
        (Some("STORIES"), false) => match (image_url, video_url) {
            (Some(img), None) => (ContainerKind::Stories, false, Some(img), Vec::new()),
            (None, Some(vid)) => (ContainerKind::Stories, true, Some(vid), Vec::new()),
            _ => {
                return Err(GraphError::param(
                    "A story needs exactly one of image_url or video_url",
                ));
            }
        },
        (Some("VIDEO"), false) => {
            return Err(GraphError::param(
                "The VIDEO media type is no longer supported for publishing; use media_type=REELS",
            ));
        }
        (None | Some("IMAGE") | Some("VIDEO"), true) => match (image_url, video_url) {
            (Some(img), None) => (ContainerKind::CarouselItem, false, Some(img), Vec::new()),
            (None, Some(vid)) => (ContainerKind::CarouselItem, true, Some(vid), Vec::new()),
            _ => {
                return Err(GraphError::param(
                    "A carousel item needs exactly one of image_url or video_url",
                ));
            }
        },
        (None | Some("IMAGE"), false) => {
            if video_url.is_some() && image_url.is_none() {
                return Err(GraphError::param(
                    "Videos are published with media_type=REELS",
                ));
            }
            let img = image_url
                .ok_or_else(|| GraphError::param("The parameter image_url is required."))?;
            (ContainerKind::Image, false, Some(img), Vec::new())
        }
        (Some(other), _) => {
            return Err(GraphError::param(format!(
                "Param media_type must be one of {{CAROUSEL, REELS, STORIES, VIDEO}} - got \"{other}\""
            )));
        }
    };
    let cover_url = match kind {
        ContainerKind::Reels => p.nonempty("cover_url"),
        _ => None,
    };
    if let Some(u) = &cover_url
        && !valid_url(u)
    {
        return Err(GraphError::param("Param cover_url must be a valid URL"));
    }
    check_downloads(ctx, media_url.as_deref(), is_video, cover_url.as_deref())?;
    // Media on a public host is not downloaded, so its URL says how processing goes.
    let failure = media_url
        .as_deref()
        .filter(|u| ctx.media.of(u) == MediaFetch::Public)
        .and_then(|u| publishing::media_failure(u, is_video));
    let polls_needed = publishing::polls_needed(
        is_video,
        state.config.container_polls_until_finished,
        state.config.video_processing_factor,
    );
    let id = ids::container_id();
    state.containers.insert(
        id.clone(),
        Container {
            id: id.clone(),
            account_id: account.to_owned(),
            kind,
            is_video,
            media_url,
            caption: if kind == ContainerKind::CarouselItem {
                None
            } else {
                caption
            },
            alt_text: p.str("alt_text"),
            children,
            created_at_ms: now.ms(),
            polls_seen: 0,
            polls_needed,
            failure,
            published_media: None,
        },
    );
    Ok(json!({"id": id}))
}

/// Meta's verdict on what it downloaded for a container: the media and, for a reel,
/// the cover image.
fn check_downloads(
    ctx: &Ctx,
    media_url: Option<&str>,
    is_video: bool,
    cover_url: Option<&str>,
) -> Result<(), GraphError> {
    let media = media_url.map(|u| (u, is_video));
    let cover = cover_url.map(|u| (u, false));
    for (url, video) in media.into_iter().chain(cover) {
        publishing::check_media(url, &ctx.media.of(url), video).map_err(GraphError::container)?;
    }
    Ok(())
}

/// `children` as a comma-separated list or a JSON array.
fn parse_children(raw: Option<&Value>) -> Result<Vec<String>, GraphError> {
    let ids: Vec<String> = match raw {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .collect(),
        Some(Value::String(s)) if s.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<Value>>(s)
                .map_err(|_| GraphError::param("Param children must be a list of container ids"))?
                .iter()
                .filter_map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_u64().map(|n| n.to_string()))
                })
                .collect()
        }
        Some(Value::String(s)) => s
            .split(',')
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    if ids.is_empty() {
        return Err(GraphError::param(
            "The parameter children is required for a carousel",
        ));
    }
    Ok(ids)
}

fn status_text(c: &Container, status: ContainerStatus) -> String {
    match status {
        ContainerStatus::InProgress => "In Progress: Media is still being processed.".into(),
        ContainerStatus::Finished => {
            "Finished: Media has been uploaded and it is ready to be published.".into()
        }
        ContainerStatus::Error => c
            .failure
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_else(|| "Error".into()),
        ContainerStatus::Expired => {
            "Expired: The media container was not published within 24 hours.".into()
        }
        ContainerStatus::Published => "Published: Media has been published.".into(),
    }
}

/// `GET /<container_id>?fields=status_code,status`. Each read of the status counts
/// as one poll of a container still processing.
pub fn container_status(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    let account = state.containers.get(id).map(|c| c.account_id.clone());
    ctx.visible_to(state, auth, id, account, String::as_str)?;
    let fields = ctx.params.fields_or(&["id"]);
    let wants_status = fields.iter().any(|f| f == "status_code" || f == "status");
    let now = ctx.now;
    let c = state
        .containers
        .get_mut(id)
        .expect("the container was found above under the same lock");
    let status = if wants_status {
        publishing::observe(c, now)
    } else {
        publishing::status_at(c, now)
    };
    answer_fields(&fields, "ShadowIGMediaBuilder", |f| {
        Field::Is(match f {
            "id" => json!(c.id),
            "status_code" => json!(status.code()),
            "status" => json!(status_text(c, status)),
            "media_type" => json!(match c.kind {
                ContainerKind::Carousel => "CAROUSEL",
                ContainerKind::Reels => "REELS",
                ContainerKind::Stories => "STORIES",
                _ if c.is_video => "VIDEO",
                _ => "IMAGE",
            }),
            _ => return Field::Unknown,
        })
    })
}

/// `POST /<IG_ID>/media_publish?creation_id=`: publishes a finished container, once.
pub fn publish(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, account: &str) -> GraphResult {
    auth.require(Capability::Publish)?;
    let creation_id = ctx
        .params
        .nonempty("creation_id")
        .ok_or_else(|| GraphError::param("The parameter creation_id is required."))?;
    let now = ctx.now;
    let container = state
        .containers
        .get(&creation_id)
        .filter(|c| c.account_id == account)
        .cloned()
        .ok_or_else(|| {
            GraphError::new(
                24,
                format!("The media builder with creation id = {creation_id} does not exist or has been removed."),
            )
            .subcode(2_207_008)
        })?;
    let used = state.published_in_window(account);
    publishing::check_publish(&container, now, used, state.config.publish_quota_total)
        .map_err(|e: PublishRefusal| GraphError::publish(e, &creation_id))?;

    let username = state
        .ig_user(account)
        .map(|u| u.username.clone())
        .unwrap_or_default();
    let media_id = ids::media_id();
    let code = ids::shortcode();
    let (media_type, product, permalink) = match container.kind {
        ContainerKind::Reels => (
            "VIDEO",
            "REELS",
            format!("https://www.instagram.com/reel/{code}/"),
        ),
        ContainerKind::Stories => (
            if container.is_video { "VIDEO" } else { "IMAGE" },
            "STORY",
            format!("https://www.instagram.com/stories/{username}/{media_id}/"),
        ),
        ContainerKind::Carousel => (
            "CAROUSEL_ALBUM",
            "FEED",
            format!("https://www.instagram.com/p/{code}/"),
        ),
        ContainerKind::Image | ContainerKind::CarouselItem => (
            "IMAGE",
            "FEED",
            format!("https://www.instagram.com/p/{code}/"),
        ),
    };
    let mut child_ids = Vec::new();
    for child_container in &container.children {
        let child_id = ids::media_id();
        let child = state.containers.get_mut(child_container);
        let (is_video, url) = child
            .as_ref()
            .map(|c| (c.is_video, c.media_url.clone()))
            .unwrap_or((false, None));
        if let Some(c) = child {
            c.published_media = Some(child_id.clone());
        }
        let child_type = if is_video { "VIDEO" } else { "IMAGE" };
        state.media.push(Media {
            media_url: url,
            permalink: format!("https://www.instagram.com/p/{code}/"),
            parent: Some(media_id.clone()),
            container_id: Some(child_container.clone()),
            ..Media::new(child_id.clone(), account, child_type, "FEED", now.ms())
        });
        child_ids.push(child_id);
    }
    state.media.push(Media {
        caption: container.caption.clone(),
        alt_text: container.alt_text.clone(),
        media_url: container.media_url.clone(),
        permalink,
        children: child_ids,
        container_id: Some(creation_id.clone()),
        counts_toward_quota: true,
        ..Media::new(media_id.clone(), account, media_type, product, now.ms())
    });
    if let Some(c) = state.containers.get_mut(&creation_id) {
        c.published_media = Some(media_id.clone());
    }
    Ok(json!({"id": media_id}))
}

/// `GET /<IG_ID>/content_publishing_limit?fields=quota_usage,config`.
pub fn publishing_limit(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    account: &str,
) -> GraphResult {
    auth.require(Capability::Publish)?;
    let fields = ctx.params.fields_or(&["quota_usage"]);
    Ok(
        json!({"data": [answer_fields(&fields, "ContentPublishingLimit", |f| {
        Field::Is(match f {
            "quota_usage" => json!(state.published_in_window(account)),
            "config" => json!({
                "quota_total": state.config.publish_quota_total,
                "quota_duration": publishing::QUOTA_WINDOW_SECS,
            }),
            _ => return Field::Unknown,
        })
    })?]}),
    )
}

/// Figures that stay the same for a media across calls.
pub fn like_count(media_id: &str) -> u64 {
    seed_of(media_id) % 500 + 3
}

fn media_value(state: &SimState, m: &Media, fields: &[String]) -> GraphResult {
    answer_fields(fields, "Media", |f| {
        Field::Is(match f {
            "id" => json!(m.id),
            "caption" => match &m.caption {
                Some(c) => json!(c),
                None => return Field::Absent,
            },
            "alt_text" => match &m.alt_text {
                Some(a) => json!(a),
                None => return Field::Absent,
            },
            "media_type" => json!(m.media_type),
            "media_product_type" => json!(m.media_product_type),
            "media_url" => match &m.media_url {
                Some(u) => json!(u),
                None => return Field::Absent,
            },
            "thumbnail_url" if m.media_type == "VIDEO" => json!(format!(
                "https://scontent.cdninstagram.com/v/{}_thumb.jpg",
                m.id
            )),
            "thumbnail_url" => return Field::Absent,
            "permalink" => json!(m.permalink),
            "shortcode" => json!(
                m.permalink
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
            ),
            "timestamp" => json!(graph_timestamp_of(m.published_at_ms)),
            "username" => json!(
                state
                    .ig_user(&m.account_id)
                    .map(|u| u.username.clone())
                    .unwrap_or_default()
            ),
            "owner" => json!({"id": m.account_id}),
            "like_count" => json!(like_count(&m.id)),
            "comments_count" => json!(
                state
                    .comments
                    .iter()
                    .filter(|c| c.media_id == m.id && !c.deleted)
                    .count()
            ),
            "is_comment_enabled" => json!(m.comment_enabled),
            "is_shared_to_feed" => json!(m.media_product_type != "STORY"),
            "children" => {
                json!({"data": m.children.iter().map(|c| json!({"id": c})).collect::<Vec<_>>()})
            }
            _ => return Field::Unknown,
        })
    })
}

/// The media `id`, if the token may see it; marks the call as made on its account.
pub fn visible_media(
    state: &SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    id: &str,
) -> Result<Media, GraphError> {
    let found = state.media_item(id).cloned();
    ctx.visible_to(state, auth, id, found, |m| &m.account_id)
}

/// `GET /<media_id>?fields=...`.
pub fn media_fields(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    auth.require(Capability::Basic)?;
    let media = visible_media(state, ctx, auth, id)?;
    let fields = ctx.params.fields_or(&["id"]);
    media_value(state, &media, &fields)
}

/// `GET /<media_id>/children`.
pub fn media_children(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    auth.require(Capability::Basic)?;
    let media = visible_media(state, ctx, auth, id)?;
    let fields = ctx.params.fields_or(&["id"]);
    let mut data = Vec::new();
    for child in &media.children {
        if let Some(m) = state.media_item(child) {
            data.push(media_value(state, m, &fields)?);
        }
    }
    Ok(json!({"data": data}))
}

/// `GET /<IG_ID>/media`: the account's media, newest first, with cursor paging;
/// `since`/`until` (unix seconds) keep media published in `[since, until)`.
pub fn list_media(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, account: &str) -> GraphResult {
    auth.require(Capability::Basic)?;
    let fields = ctx.params.fields_or(&["id"]);
    let limit = page_size(ctx)?;
    let since = super::insights::unix_param(ctx, "since")?;
    let until = super::insights::unix_param(ctx, "until")?;
    let mut items: Vec<Media> = state
        .media
        .iter()
        .rev()
        .filter(|m| m.account_id == account && m.parent.is_none())
        .filter(|m| {
            let at = m.published_at_ms.div_euclid(1000);
            since.is_none_or(|s| at >= s) && until.is_none_or(|u| at < u)
        })
        .cloned()
        .collect();
    // Newest first by publication time (seeded media may be published in the past);
    // the sort is stable, so media of the same second stay newest-created first.
    items.sort_by_key(|m| std::cmp::Reverse(m.published_at_ms));
    let after = ctx.params.str("after");
    let page = paginate(&items, |m| m.id.as_str(), after.as_deref(), limit);
    let mut data = Vec::new();
    for m in &page.items {
        data.push(media_value(state, m, &fields)?);
    }
    let base = format!("{}/{account}/media", ctx.graph_base(state));
    Ok(with_paging(json!({"data": data}), &page, &base, ctx, limit))
}

/// `limit` of a listing (default 25, at most 100).
pub fn page_size(ctx: &Ctx) -> Result<usize, GraphError> {
    match ctx.params.str("limit") {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(MAX_PAGE_SIZE))
            .ok_or_else(|| GraphError::param("Param limit must be a positive integer")),
    }
}

/// Adds Meta's `paging` object; `next` is an absolute URL back to the simulator that
/// repeats the call's fields, limit and token.
pub fn with_paging<T>(
    mut answer: Value,
    page: &crate::state::comments::Page<T>,
    base: &str,
    ctx: &Ctx,
    limit: usize,
) -> Value {
    let (Some(before), Some(after)) = (&page.before, &page.after) else {
        return answer;
    };
    let mut paging = json!({"cursors": {"before": before, "after": after}});
    if page.has_more {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(t) = &ctx.token {
            pairs.push(("access_token".into(), t.clone()));
        }
        for name in ["fields", "since", "until"] {
            if let Some(v) = ctx.params.str(name) {
                pairs.push((name.into(), v));
            }
        }
        pairs.push(("limit".into(), limit.to_string()));
        pairs.push(("after".into(), after.clone()));
        let query = serde_urlencoded::to_string(&pairs).expect("string pairs always encode");
        paging["next"] = json!(format!("{base}?{query}"));
    }
    answer["paging"] = paging;
    answer
}

/// `POST /<PAGE_ID>/feed` (message, link) and `POST /<PAGE_ID>/photos` (url, caption).
pub fn page_post(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    page_id: &str,
    edge: &str,
) -> GraphResult {
    auth.require(Capability::PagePosts)?;
    let p = &ctx.params;
    let message = p.nonempty("message").or_else(|| p.nonempty("caption"));
    let link = p.nonempty("link");
    let url = p.nonempty("url");
    if edge == "feed" {
        if message.is_none() && link.is_none() {
            return Err(GraphError::param("A post needs a message or a link"));
        }
        if let Some(l) = &link
            && !valid_url(l)
        {
            return Err(GraphError::param("Param link must be a valid URL"));
        }
    } else {
        let u = url
            .as_deref()
            .ok_or_else(|| GraphError::new(324, "(#324) Requires upload file"))?;
        let lower = u.to_ascii_lowercase();
        if !valid_url(u) || lower.contains("bad") || lower.contains("invalid") {
            return Err(GraphError::new(324, "(#324) Missing or invalid image file"));
        }
    }
    let post_id = format!("{page_id}_{}", ids::page_post_id());
    let photo_id = ids::page_post_id();
    state.page_posts.push(PagePost {
        id: if edge == "feed" {
            post_id.clone()
        } else {
            photo_id.clone()
        },
        page_id: page_id.to_owned(),
        edge: edge.to_owned(),
        message,
        link,
        url,
        published_at: ctx.now.secs(),
    });
    Ok(if edge == "feed" {
        json!({"id": post_id})
    } else {
        json!({"id": photo_id, "post_id": post_id})
    })
}

/// `GET /<PAGE_ID>/feed|photos`: what was posted through the API.
pub fn page_posts(state: &mut SimState, _ctx: &mut Ctx, page_id: &str, edge: &str) -> GraphResult {
    let data: Vec<Value> = state
        .page_posts
        .iter()
        .rev()
        .filter(|p| p.page_id == page_id && p.edge == edge)
        .map(|p| {
            let mut v =
                json!({"id": p.id, "created_time": graph_timestamp_of(p.published_at * 1000)});
            if let Some(m) = &p.message {
                v["message"] = json!(m);
            }
            v
        })
        .collect();
    let mut answer = json!({"data": data});
    if let (Some(first), Some(last)) = (data.first(), data.last()) {
        answer["paging"] = json!({"cursors": {
            "before": cursor_of(first["id"].as_str().unwrap_or_default()),
            "after": cursor_of(last["id"].as_str().unwrap_or_default()),
        }});
    }
    Ok(answer)
}
