//! The tenant itself: its owner may erase everything Relay holds for it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use relay::audit::AuditEntry;
use relay::store::erase::TenantErasure;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::Body;
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};

/// The owner's confirmation: the tenant's own id, typed out.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The id of the tenant being erased.
    pub confirm: String,
}

/// What was erased. The audit trail is kept (append-only); every key of the tenant,
/// this one included, stops working within the authorizer's cache time (60 s).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    pub accounts: u64,
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub comments: u64,
    pub knowledge_entries: u64,
    pub posts: u64,
    pub api_keys: u64,
    pub other_items: u64,
}

impl ErasureView {
    fn of(erased: &TenantErasure) -> Self {
        let a = &erased.accounts;
        Self {
            accounts: a.accounts,
            contacts: a.contacts,
            conversations: a.conversations,
            messages: a.messages,
            comments: a.comments,
            knowledge_entries: erased.knowledge_entries,
            posts: erased.posts,
            api_keys: erased.api_keys,
            other_items: a.other_items + erased.other_items,
        }
    }
}

#[utoipa::path(post, path = "/v1/tenant/erase", tag = "tenant",
    request_body = EraseRequest,
    responses((status = 200, body = ErasureView,
        description = "Erased; a run cut short is finished by calling again"),
        (status = 422, body = crate::problem::Problem)))]
pub async fn erase(
    State(app): State<Arc<App>>,
    member: Member,
    Body(request): Body<EraseRequest>,
) -> ApiResult<Json<ErasureView>> {
    if request.confirm != member.tenant.as_str() {
        return Err(Problem::invalid_field(
            "confirm",
            "type the tenant's id to confirm that all its data is to be erased",
        ));
    }
    let erased = app.store.erase_tenant(&member.tenant).await?;
    let view = ErasureView::of(&erased);
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), "tenant.erased")
                .target(format!("tenant:{}", member.tenant))
                .details(json!(view)),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(Json(view))
}
