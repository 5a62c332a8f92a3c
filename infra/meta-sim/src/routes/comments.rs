//! Comment moderation: listing with cursor paging, replies, hide/unhide, delete, and
//! turning comments off on a media. Only the owner of the media (through any token
//! that may act on that account) can moderate its comments.

use super::publishing::{page_size, visible_media, with_paging};
use super::{Auth, Ctx, Field, GraphResult, answer_fields};
use crate::graph_error::GraphError;
use crate::state::SimState;
use crate::state::accounts::Capability;
use crate::state::clock::graph_timestamp_of;
use crate::state::comments::{Comment, paginate};
use serde_json::{Value, json};

fn comment_value(state: &SimState, c: &Comment, fields: &[String]) -> GraphResult {
    answer_fields(fields, "IGComment", |f| {
        Field::Is(match f {
            "id" => json!(c.id),
            "text" => json!(c.text),
            "timestamp" => json!(graph_timestamp_of(c.created_at_ms)),
            "from" => json!({"id": c.from_id, "username": c.from_username}),
            "username" => json!(c.from_username),
            "hidden" => json!(c.hidden),
            "like_count" => json!(c.like_count),
            "parent_id" => match &c.parent_id {
                Some(p) => json!(p),
                None => return Field::Absent,
            },
            "media" => json!({
                "id": c.media_id,
                "media_product_type": state.media_item(&c.media_id).map(|m| m.media_product_type.clone()).unwrap_or_else(|| "FEED".into()),
            }),
            "replies" => {
                let replies: Vec<Value> = state
                    .comments
                    .iter()
                    .filter(|r| r.parent_id.as_deref() == Some(c.id.as_str()) && !r.deleted)
                    .map(|r| json!({"id": r.id, "text": r.text, "timestamp": graph_timestamp_of(r.created_at_ms), "username": r.from_username}))
                    .collect();
                json!({"data": replies})
            }
            _ => return Field::Unknown,
        })
    })
}

const DEFAULT_FIELDS: &[&str] = &["timestamp", "text", "id"];

/// The comment `id`, if the token may moderate it.
fn visible_comment(
    state: &SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    id: &str,
) -> Result<Comment, GraphError> {
    auth.require(Capability::Comments)?;
    let found = state.comment(id).cloned();
    ctx.visible_to(state, auth, id, found, |c| &c.account_id)
}

fn listing(state: &SimState, ctx: &Ctx, items: Vec<Comment>, base: String) -> GraphResult {
    let fields = ctx.params.fields_or(DEFAULT_FIELDS);
    let limit = page_size(ctx)?;
    let after = ctx.params.str("after");
    let page = paginate(&items, |c| c.id.as_str(), after.as_deref(), limit);
    let mut data = Vec::new();
    for c in &page.items {
        data.push(comment_value(state, c, &fields)?);
    }
    Ok(with_paging(json!({"data": data}), &page, &base, ctx, limit))
}

/// `GET /<media_id>/comments`: top-level comments, newest first.
pub fn list(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, media_id: &str) -> GraphResult {
    auth.require(Capability::Comments)?;
    visible_media(state, ctx, auth, media_id)?;
    let items: Vec<Comment> = state
        .comments
        .iter()
        .rev()
        .filter(|c| c.media_id == media_id && c.parent_id.is_none() && !c.deleted)
        .cloned()
        .collect();
    let base = format!("{}/{media_id}/comments", ctx.graph_base(state));
    listing(state, ctx, items, base)
}

/// `POST /<media_id>/comments?message=`: a comment by the account itself.
pub fn create_on_media(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    media_id: &str,
) -> GraphResult {
    auth.require(Capability::Comments)?;
    let media = visible_media(state, ctx, auth, media_id)?;
    if !media.comment_enabled {
        return Err(GraphError::param("Comments are disabled for this media"));
    }
    post_as_account(state, ctx, media_id, &media.account_id, None)
}

/// The account's own comment (or reply to `parent`) with the call's `message`.
fn post_as_account(
    state: &mut SimState,
    ctx: &Ctx,
    media_id: &str,
    account_id: &str,
    parent: Option<&str>,
) -> GraphResult {
    let message = ctx
        .params
        .nonempty("message")
        .ok_or_else(|| GraphError::param("The parameter message is required."))?;
    let username = state
        .ig_user(account_id)
        .map(|u| u.username.clone())
        .unwrap_or_default();
    let id = state
        .add_comment(media_id, &message, account_id, &username, parent)
        .ok_or_else(|| GraphError::no_object(parent.unwrap_or(media_id), "post"))?;
    Ok(json!({"id": id}))
}

/// `POST /<media_id>?comment_enabled=true|false`.
pub fn update_media(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    media_id: &str,
) -> GraphResult {
    auth.require(Capability::Comments)?;
    visible_media(state, ctx, auth, media_id)?;
    let enabled = ctx.params.bool("comment_enabled").ok_or_else(|| {
        GraphError::param("The parameter comment_enabled is required (true or false).")
    })?;
    if let Some(m) = state.media_item_mut(media_id) {
        m.comment_enabled = enabled;
    }
    Ok(json!({"success": true}))
}

/// `GET /<comment_id>`.
pub fn get(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    let c = visible_comment(state, ctx, auth, id)?;
    let fields = ctx.params.fields_or(DEFAULT_FIELDS);
    comment_value(state, &c, &fields)
}

/// `POST /<comment_id>?hide=true|false`.
pub fn hide(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    visible_comment(state, ctx, auth, id)?;
    let hide = ctx
        .params
        .bool("hide")
        .ok_or_else(|| GraphError::param("The parameter hide is required (true or false)."))?;
    if let Some(c) = state.comment_mut(id) {
        c.hidden = hide;
    }
    Ok(json!({"success": true}))
}

/// `DELETE /<comment_id>`: the comment disappears from every listing and lookup.
pub fn delete(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    visible_comment(state, ctx, auth, id)?;
    if let Some(c) = state.comment_mut(id) {
        c.deleted = true;
    }
    Ok(json!({"success": true}))
}

/// `GET /<comment_id>/replies`.
pub fn replies(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    visible_comment(state, ctx, auth, id)?;
    let items: Vec<Comment> = state
        .comments
        .iter()
        .rev()
        .filter(|c| c.parent_id.as_deref() == Some(id) && !c.deleted)
        .cloned()
        .collect();
    let base = format!("{}/{id}/replies", ctx.graph_base(state));
    listing(state, ctx, items, base)
}

/// `POST /<comment_id>/replies?message=`: a public reply by the account. Instagram
/// threads are one level deep, so replies go to top-level comments only.
pub fn reply(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, id: &str) -> GraphResult {
    let c = visible_comment(state, ctx, auth, id)?;
    if c.parent_id.is_some() {
        return Err(GraphError::param(
            "Replies can only be made to top-level comments",
        ));
    }
    post_as_account(state, ctx, &c.media_id, &c.account_id, Some(id))
}
