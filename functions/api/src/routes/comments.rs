//! The comment queue: comments by account, status and media, and people's actions on
//! them. Actions are jobs for the moderation function, the one code path that acts on
//! comments for people and policy alike (audited there, each request once).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use relay::ids::MediaId;
use relay::inbox::CommentStatus;
use relay::jobs::ModerationJob;
use relay::moderation::ModerationAction;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{Body, Ids, Paging, Params};
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};
use crate::views::{CommentPage, CommentView, Queued, parse_comment_id};

/// Which comments to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommentFilter {
    pub account: String,
    /// `new`, `spam`, `hidden`, `replied` or `deleted` (default `new`); ignored with `media`.
    pub status: Option<String>,
    /// Only comments on this media (every status).
    pub media: Option<String>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 200; 50 when not given.
    pub limit: Option<u32>,
}

fn status_of(raw: &str) -> ApiResult<CommentStatus> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| Problem::invalid_field("status", "use new, spam, hidden, replied or deleted"))
}

#[utoipa::path(get, path = "/v1/comments", tag = "comments", params(CommentFilter),
    responses((status = 200, body = CommentPage), (status = 404, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    member: Member,
    Params(filter): Params<CommentFilter>,
) -> ApiResult<Json<CommentPage>> {
    let account = super::accounts::owned_account(&app, &member, &filter.account).await?;
    if !member.works(&account.account_id) {
        return Err(Problem::not_found("account"));
    }
    let listing = Paging {
        cursor: filter.cursor.clone(),
        limit: filter.limit,
    }
    .listing()?;
    let page = match &filter.media {
        Some(media) => {
            let media = MediaId::parse(media.as_str())
                .map_err(|_| Problem::invalid_field("media", "not a media id"))?;
            app.store
                .list_comments_by_media(&member.tenant, &account.account_id, &media, &listing)
                .await?
        }
        None => {
            let status = status_of(filter.status.as_deref().unwrap_or("new"))?;
            app.store
                .list_comments_by_status(&member.tenant, &account.account_id, status, &listing)
                .await?
        }
    };
    Ok(Json(CommentPage {
        items: page.items.iter().map(CommentView::of).collect(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    }))
}

async fn owned(app: &App, member: &Member, raw: &str) -> ApiResult<relay::inbox::StoredComment> {
    let (account, comment) = parse_comment_id(raw)?;
    if !member.works(&account) {
        return Err(Problem::not_found("comment"));
    }
    app.store
        .get_comment(&member.tenant, &account, &comment)
        .await?
        .ok_or_else(|| Problem::not_found("comment"))
}

#[utoipa::path(get, path = "/v1/comments/{comment_id}", tag = "comments",
    params(("comment_id" = String, Path, description = "`<account id>-<comment id>`")),
    responses((status = 200, body = CommentView), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<CommentView>> {
    Ok(Json(CommentView::of(&owned(&app, &member, &ids[0]).await?)))
}

/// The text of a public or private reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentReply {
    pub text: String,
}

#[utoipa::path(post, path = "/v1/comments/{comment_id}/{action}", tag = "comments",
    params(("comment_id" = String, Path),
        ("action" = String, Path, description = "`hide`, `unhide`, `delete`, `reply` or `private-reply`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Also the action's request id: it acts once")),
    request_body(content = CommentReply, description = "For `reply` and `private-reply`"),
    responses((status = 202, body = Queued), (status = 404, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn act(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    request: Request,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let comment = owned(&app, &member, &ids[0]).await?;
    let request_id = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("idem-{}", &relay::access::key_hash(k)[..32]))
        .unwrap_or_else(|| format!("api-{}", uuid::Uuid::new_v4().simple()));
    let by = member.actor();
    let text = |request: Request| async {
        let Body(reply) =
            <Body<CommentReply> as axum::extract::FromRequest<()>>::from_request(request, &())
                .await?;
        Ok::<_, Problem>(reply.text)
    };
    let action = match ids[1].as_str() {
        "hide" => ModerationAction::Hide { by },
        "unhide" => ModerationAction::Unhide { by },
        "delete" => ModerationAction::Delete { by },
        "reply" => ModerationAction::Reply {
            by,
            request_id: request_id.clone(),
            text: text(request).await?,
        },
        "private-reply" => ModerationAction::PrivateReply {
            by,
            request_id: request_id.clone(),
            text: text(request).await?,
        },
        _ => return Err(Problem::not_found("comment action")),
    };
    action
        .validate()
        .map_err(|e| Problem::invalid_field("text", e.to_string()))?;
    let name = action.name().to_owned();
    app.moderation
        .send(
            &ModerationJob {
                tenant_id: member.tenant.clone(),
                account_id: comment.account_id.clone(),
                comment_id: comment.comment_id.clone(),
                action,
            },
            0,
        )
        .await
        .map_err(|e| Problem::internal("queue", &e))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            action: name,
            comment: ids[0].clone(),
            request_id,
        }),
    ))
}
