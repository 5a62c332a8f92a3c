//! The knowledge the AI is grounded in: FAQ entries and products.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use relay::ai::{EntryId, KnowledgeEntry, KnowledgeKind};
use relay::audit::AuditEntry;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{Body, Ids, Paging, Params};
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};
use crate::views::{KnowledgePage, KnowledgeView};

/// An entry as people write it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    /// `{"kind": "faq", "question": "...", "answer": "..."}` or `{"kind": "product",
    /// "name": "...", "sku": "...", "price": {"amount": "14.50", "currency": "EUR"},
    /// "availability": "in_stock", "url": "https://...", "description": "..."}`.
    #[schema(value_type = Object)]
    pub entry: Value,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn entry_of(member: &Member, id: EntryId, body: EntryBody, now: i64) -> ApiResult<KnowledgeEntry> {
    let kind: KnowledgeKind = serde_json::from_value(body.entry)
        .map_err(|e| Problem::invalid_field("entry", e.to_string()))?;
    let entry = KnowledgeEntry {
        tenant_id: member.tenant.clone(),
        entry_id: id,
        entry: kind,
        tags: body.tags,
        updated_at: now,
    };
    entry
        .validate()
        .map_err(|e| Problem::invalid_field("entry", e.to_string()))?;
    Ok(entry)
}

fn entry_id(raw: &str) -> ApiResult<EntryId> {
    EntryId::parse(raw).map_err(|_| Problem::not_found("knowledge entry"))
}

async fn store(app: &App, member: &Member, entry: &KnowledgeEntry, action: &str) -> ApiResult<()> {
    app.store
        .put_knowledge(&member.tenant, entry)
        .await
        .map_err(|e| Problem::internal("knowledge", &e))?;
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), action)
                .target(format!("knowledge:{}", entry.entry_id.as_str())),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(())
}

#[utoipa::path(get, path = "/v1/knowledge", tag = "knowledge", params(Paging),
    responses((status = 200, body = KnowledgePage)))]
pub async fn list(
    State(app): State<Arc<App>>,
    member: Member,
    Params(paging): Params<Paging>,
) -> ApiResult<Json<KnowledgePage>> {
    let page = app
        .store
        .list_knowledge(&member.tenant, &paging.listing()?)
        .await?;
    Ok(Json(KnowledgePage {
        items: page.items.iter().map(KnowledgeView::of).collect(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    }))
}

#[utoipa::path(post, path = "/v1/knowledge", tag = "knowledge",
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = EntryBody,
    responses((status = 201, body = KnowledgeView), (status = 422, body = crate::problem::Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    member: Member,
    Body(body): Body<EntryBody>,
) -> ApiResult<(StatusCode, Json<KnowledgeView>)> {
    let entry = entry_of(&member, EntryId::generate(), body, app.clock.now_ms())?;
    store(&app, &member, &entry, "knowledge.created").await?;
    Ok((StatusCode::CREATED, Json(KnowledgeView::of(&entry))))
}

#[utoipa::path(get, path = "/v1/knowledge/{entry_id}", tag = "knowledge",
    params(("entry_id" = String, Path)),
    responses((status = 200, body = KnowledgeView), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<KnowledgeView>> {
    let id = entry_id(&ids[0])?;
    let entry = app
        .store
        .get_knowledge(&member.tenant, &id)
        .await?
        .ok_or_else(|| Problem::not_found("knowledge entry"))?;
    Ok(Json(KnowledgeView::of(&entry)))
}

#[utoipa::path(put, path = "/v1/knowledge/{entry_id}", tag = "knowledge",
    params(("entry_id" = String, Path)), request_body = EntryBody,
    responses((status = 200, body = KnowledgeView), (status = 404, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn replace(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Body(body): Body<EntryBody>,
) -> ApiResult<Json<KnowledgeView>> {
    let id = entry_id(&ids[0])?;
    if app
        .store
        .get_knowledge(&member.tenant, &id)
        .await?
        .is_none()
    {
        return Err(Problem::not_found("knowledge entry"));
    }
    let entry = entry_of(&member, id, body, app.clock.now_ms())?;
    store(&app, &member, &entry, "knowledge.updated").await?;
    Ok(Json(KnowledgeView::of(&entry)))
}

#[utoipa::path(delete, path = "/v1/knowledge/{entry_id}", tag = "knowledge",
    params(("entry_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::problem::Problem)))]
pub async fn remove(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<StatusCode> {
    let id = entry_id(&ids[0])?;
    if app
        .store
        .get_knowledge(&member.tenant, &id)
        .await?
        .is_none()
    {
        return Err(Problem::not_found("knowledge entry"));
    }
    app.store.delete_knowledge(&member.tenant, &id).await?;
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), "knowledge.deleted")
                .target(format!("knowledge:{}", id.as_str()))
                .details(json!({})),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(StatusCode::NO_CONTENT)
}
