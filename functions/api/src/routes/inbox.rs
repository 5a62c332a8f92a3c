//! The inbox: conversations newest activity first, their messages, a person's reply,
//! assignment, read state, pausing the AI, and the AI's drafts in shadow mode.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use relay::ai::DraftKey;
use relay::audit::AuditEntry;
use relay::ids::{AccountId, CustomerId};
use relay::inbox::Conversation;
use relay::replies::Thread;
use relay::store::Listing;
use relay::store::keys::time_sk;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{Body, Ids, Paging, Params};
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};
use crate::views::{
    ConversationPage, ConversationView, DraftPage, DraftView, MessagePage, MessageView, SentView,
    parse_conversation_id,
};

/// The caller's conversation of this id, provided the caller works its account.
async fn owned(
    app: &App,
    member: &Member,
    raw: &str,
) -> ApiResult<(AccountId, CustomerId, Conversation)> {
    let (account, customer) = parse_conversation_id(raw)?;
    if !member.works(&account) {
        return Err(Problem::not_found("conversation"));
    }
    let conversation = app
        .store
        .get_conversation(&member.tenant, &account, &customer)
        .await?
        .ok_or_else(|| Problem::not_found("conversation"))?;
    Ok((account, customer, conversation))
}

async fn view(app: &App, member: &Member, c: &Conversation) -> ApiResult<Option<ConversationView>> {
    let (Some(a), Some(cu)) = (&c.account_id, &c.customer_id) else {
        return Ok(None);
    };
    let contact = app.store.get_contact(&member.tenant, a, cu).await?;
    Ok(ConversationView::of(
        c,
        contact.and_then(|c| c.username),
        app.clock.now_ms(),
    ))
}

/// Filters of the conversation list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationFilter {
    /// Only this account's conversations.
    pub account: Option<String>,
    /// Only conversations with (true) or without (false) unread messages.
    pub unread: Option<bool>,
    /// Only conversations assigned to this person; `none` for unassigned ones.
    pub assigned: Option<String>,
    /// Only conversations whose AI is paused (true) or not (false).
    pub ai_paused: Option<bool>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 200; 50 when not given.
    pub limit: Option<u32>,
}

impl ConversationFilter {
    fn paging(&self) -> Paging {
        Paging {
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }

    fn keeps(&self, c: &Conversation) -> bool {
        self.unread.is_none_or(|u| (c.unread_count > 0) == u)
            && self.ai_paused.is_none_or(|p| c.paused == p)
            && match self.assigned.as_deref() {
                None => true,
                Some("none") => c.assigned_to.is_none(),
                Some(who) => c.assigned_to.as_deref() == Some(who),
            }
    }
}

/// A conversation's place in the activity order (as the index sorts it).
fn position(c: &Conversation) -> String {
    format!(
        "{}#{}",
        time_sk(c.last_activity_at),
        c.customer_id.as_ref().map_or("", |c| c.as_str())
    )
}

#[utoipa::path(get, path = "/v1/conversations", tag = "inbox", params(ConversationFilter),
    responses((status = 200, body = ConversationPage), (status = 422, body = crate::problem::Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    member: Member,
    Params(filter): Params<ConversationFilter>,
) -> ApiResult<Json<ConversationPage>> {
    let limit = filter.paging().limit()? as usize;
    let before = match &filter.cursor {
        None => None,
        Some(c) => Some(
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|p| {
                    !p.is_empty()
                        && p.len() <= 128
                        && p.bytes().all(|b| b.is_ascii_digit() || b == b'#')
                })
                .ok_or_else(|| Problem::invalid_field("cursor", "not a cursor of this listing"))?,
        ),
    };
    let accounts: Vec<AccountId> = match &filter.account {
        Some(raw) => vec![
            super::accounts::owned_account(&app, &member, raw)
                .await?
                .account_id,
        ],
        None => app
            .store
            .list_accounts(
                &member.tenant,
                &Listing {
                    limit: 200,
                    ..Default::default()
                },
            )
            .await?
            .items
            .into_iter()
            .map(|a| a.account_id)
            .collect(),
    };
    let accounts: Vec<AccountId> = accounts.into_iter().filter(|a| member.works(a)).collect();
    // Keyset pages merged across accounts: read each account from the cursor down, keep
    // what is certainly in order (above every unfinished account's last position), and
    // read further while filters leave the page short (bounded).
    let chunk = (limit as i32).clamp(10, 200);
    let mut from: Vec<Option<String>> = vec![before.clone(); accounts.len()];
    let mut done = vec![false; accounts.len()];
    let mut seen: Vec<Conversation> = Vec::new();
    let mut horizon: Option<String>;
    let mut rounds = 0;
    loop {
        rounds += 1;
        for (i, account) in accounts.iter().enumerate() {
            if done[i] {
                continue;
            }
            let items = app
                .store
                .conversations_before(&member.tenant, account, from[i].as_deref(), chunk)
                .await?;
            done[i] = items.len() < chunk as usize;
            from[i] = items.last().map(position).or(from[i].take());
            seen.extend(items);
        }
        horizon = (0..accounts.len())
            .filter(|&i| !done[i])
            .filter_map(|i| from[i].clone())
            .max();
        let ready = seen
            .iter()
            .filter(|c| horizon.as_ref().is_none_or(|h| &position(c) > h) && filter.keeps(c))
            .count();
        if horizon.is_none() || ready > limit || rounds >= 5 {
            break;
        }
    }
    let mut ready: Vec<Conversation> = seen
        .into_iter()
        .filter(|c| horizon.as_ref().is_none_or(|h| &position(c) > h) && filter.keeps(c))
        .collect();
    ready.sort_by_key(|c| std::cmp::Reverse(position(c)));
    let more = ready.len() > limit || horizon.is_some();
    ready.truncate(limit);
    let next_cursor = match (more, ready.last(), &horizon) {
        (false, _, _) => None,
        (true, Some(last), _) => Some(URL_SAFE_NO_PAD.encode(position(last))),
        (true, None, Some(h)) => Some(URL_SAFE_NO_PAD.encode(h)),
        (true, None, None) => None,
    };
    let mut items = Vec::with_capacity(ready.len());
    for c in &ready {
        if let Some(v) = view(&app, &member, c).await? {
            items.push(v);
        }
    }
    Ok(Json(ConversationPage { items, next_cursor }))
}

#[utoipa::path(get, path = "/v1/conversations/{conversation_id}", tag = "inbox",
    params(("conversation_id" = String, Path, description = "`<account id>-<customer id>`")),
    responses((status = 200, body = ConversationView), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<ConversationView>> {
    let (_, _, c) = owned(&app, &member, &ids[0]).await?;
    view(&app, &member, &c)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("conversation"))
}

#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/messages", tag = "inbox",
    params(("conversation_id" = String, Path), Paging),
    responses((status = 200, body = MessagePage), (status = 404, body = crate::problem::Problem)))]
pub async fn messages(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Params(paging): Params<Paging>,
) -> ApiResult<Json<MessagePage>> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    let page = app
        .store
        .list_messages(&member.tenant, &account, &customer, &paging.listing()?)
        .await?;
    Ok(Json(MessagePage {
        items: page.items.iter().map(MessageView::of).collect(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    }))
}

/// A person's reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// Up to five messages of 1000 bytes are sent; longer text is split at sentences.
    pub text: String,
}

#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/messages", tag = "inbox",
    params(("conversation_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Sends once per key and body within 24 h")),
    request_body = ReplyBody,
    responses((status = 201, body = SentView), (status = 404, body = crate::problem::Problem),
        (status = 409, description = "The account cannot send (it needs reconnecting)", body = crate::problem::Problem),
        (status = 422, description = "Meta's 7-day window closed, or the text is empty", body = crate::problem::Problem),
        (status = 502, body = crate::problem::Problem)))]
pub async fn reply(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Body(body): Body<ReplyBody>,
) -> ApiResult<(StatusCode, Json<SentView>)> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    let thread = Thread {
        tenant: &member.tenant,
        account: &account,
        customer: &customer,
    };
    let sent = app
        .replies
        .reply(&thread, &body.text, &member.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(sent_view(&sent))))
}

fn sent_view(sent: &relay::replies::Sent) -> SentView {
    SentView {
        sent_mids: sent.mids.iter().map(|m| m.to_string()).collect(),
        human_agent_tag: sent.human_agent_tag,
    }
}

/// Who works the conversation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A team member's name or e-mail (at most 200 characters); null unassigns.
    pub assignee: Option<String>,
}

#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/assign", tag = "inbox",
    params(("conversation_id" = String, Path)), request_body = AssignBody,
    responses((status = 200, body = ConversationView), (status = 404, body = crate::problem::Problem)))]
pub async fn assign(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Body(body): Body<AssignBody>,
) -> ApiResult<Json<ConversationView>> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    let assignee = body
        .assignee
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if assignee.is_some_and(|a| a.chars().count() > 200) {
        return Err(Problem::invalid_field("assignee", "at most 200 characters"));
    }
    app.store
        .assign_conversation(&member.tenant, &account, &customer, assignee)
        .await?;
    audit(&app, &member, "conversation.assigned", &account, &customer).await?;
    show(State(app), member, Ids(ids)).await
}

#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/read", tag = "inbox",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = ConversationView), (status = 404, body = crate::problem::Problem)))]
pub async fn mark_read(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<ConversationView>> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    app.store
        .mark_conversation_read(&member.tenant, &account, &customer)
        .await?;
    show(State(app), member, Ids(ids)).await
}

#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/pause", tag = "inbox",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = ConversationView), (status = 404, body = crate::problem::Problem)))]
pub async fn pause(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<ConversationView>> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    let now = app.clock.now_ms();
    if app
        .store
        .pause_conversation(&member.tenant, &account, &customer, "paused_by_person", now)
        .await?
    {
        audit(&app, &member, "conversation.paused", &account, &customer).await?;
    }
    show(State(app), member, Ids(ids)).await
}

#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/resume", tag = "inbox",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = ConversationView), (status = 404, body = crate::problem::Problem)))]
pub async fn resume(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<ConversationView>> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    app.store
        .resume_conversation(&member.tenant, &account, &customer)
        .await?;
    audit(&app, &member, "conversation.resumed", &account, &customer).await?;
    show(State(app), member, Ids(ids)).await
}

async fn audit(
    app: &App,
    member: &Member,
    action: &str,
    account: &AccountId,
    customer: &CustomerId,
) -> ApiResult<()> {
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), action)
                .target(format!("conversation:{account}:{}", customer.fingerprint())),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(())
}

/// Which drafts to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DraftFilter {
    /// The account whose pending drafts to list.
    pub account: String,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 200; 50 when not given.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/drafts", tag = "drafts", params(DraftFilter),
    responses((status = 200, body = DraftPage), (status = 404, body = crate::problem::Problem)))]
pub async fn drafts(
    State(app): State<Arc<App>>,
    member: Member,
    Params(filter): Params<DraftFilter>,
) -> ApiResult<Json<DraftPage>> {
    let paging = Paging {
        cursor: filter.cursor.clone(),
        limit: filter.limit,
    };
    let account = super::accounts::owned_account(&app, &member, &filter.account).await?;
    if !member.works(&account.account_id) {
        return Err(Problem::not_found("account"));
    }
    let page = app
        .store
        .list_pending_drafts(&member.tenant, &account.account_id, &paging.listing()?)
        .await?;
    Ok(Json(DraftPage {
        items: page.items.iter().map(DraftView::of).collect(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    }))
}

/// Approve a draft, optionally edited.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The text to send instead of the draft's.
    pub text: Option<String>,
}

#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/drafts/{draft_id}/approve", tag = "drafts",
    params(("conversation_id" = String, Path), ("draft_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header)),
    request_body = ApproveBody,
    responses((status = 201, body = SentView), (status = 404, body = crate::problem::Problem),
        (status = 409, description = "Approved or rejected already, or the account cannot send", body = crate::problem::Problem),
        (status = 502, description = "Meta refused the message", body = crate::problem::Problem),
        (status = 422, description = "Meta's window closed", body = crate::problem::Problem)))]
pub async fn approve(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Body(body): Body<ApproveBody>,
) -> ApiResult<(StatusCode, Json<SentView>)> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    let draft = DraftKey::parse(&ids[1]).ok_or_else(|| Problem::not_found("draft"))?;
    let thread = Thread {
        tenant: &member.tenant,
        account: &account,
        customer: &customer,
    };
    let sent = app
        .replies
        .approve_draft(&thread, &draft, body.text.as_deref(), &member.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(sent_view(&sent))))
}

#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/drafts/{draft_id}/reject", tag = "drafts",
    params(("conversation_id" = String, Path), ("draft_id" = String, Path)),
    responses((status = 204, description = "Discarded"), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn reject(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<StatusCode> {
    let (account, customer, _) = owned(&app, &member, &ids[0]).await?;
    let draft = DraftKey::parse(&ids[1]).ok_or_else(|| Problem::not_found("draft"))?;
    let thread = Thread {
        tenant: &member.tenant,
        account: &account,
        customer: &customer,
    };
    app.replies
        .reject_draft(&thread, &draft, &member.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_filters_keep_what_they_name() {
        let c = Conversation {
            unread_count: 2,
            paused: true,
            assigned_to: Some("ana".into()),
            ..Default::default()
        };
        let f = |q: &str| serde_urlencoded::from_str::<ConversationFilter>(q).unwrap();
        assert!(f("").keeps(&c));
        assert!(f("unread=true&ai_paused=true&assigned=ana").keeps(&c));
        assert!(!f("unread=false").keeps(&c));
        assert!(!f("assigned=none").keeps(&c));
        assert!(!f("assigned=bo").keeps(&c));
        assert!(!f("ai_paused=false").keeps(&c));
    }
}
