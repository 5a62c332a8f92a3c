//! A tenant's API keys: list, create (the key is shown once), revoke. Owners manage
//! every key; admins the keys of roles below admin.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use relay::access::{Grant, KeyId, Role, mint_key};
use relay::audit::AuditEntry;
use relay::ids::{AccountId, TenantId};
use relay::store::access::MAX_KEYS;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Body, Ids};
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};
use crate::views::{CreatedKey, KeyPage, KeyView};

/// A key to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What people call it (1 to 100 characters).
    pub name: String,
    /// `viewer`, `agent`, `manager`, `admin` or `owner`.
    pub role: String,
    /// For agents: the accounts they work; empty or absent is all.
    #[serde(default)]
    pub accounts: Vec<String>,
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = KeyPage)))]
pub async fn list(State(app): State<Arc<App>>, member: Member) -> ApiResult<Json<KeyPage>> {
    let keys = app.store.list_api_keys(Some(&member.tenant)).await?;
    Ok(Json(KeyPage {
        items: keys.iter().map(KeyView::of).collect(),
        next_cursor: None,
    }))
}

/// Make a key for `tenant` after checking the request; shared with the operators' route.
pub async fn make_key(
    app: &App,
    tenant: &TenantId,
    new: NewKey,
    created_by: &str,
    may_grant: impl Fn(Role) -> bool,
) -> ApiResult<CreatedKey> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Problem::invalid_field("name", "use 1 to 100 characters"));
    }
    let role = Role::parse(&new.role).ok_or_else(|| {
        Problem::invalid_field("role", "use viewer, agent, manager, admin or owner")
    })?;
    if !may_grant(role) {
        return Err(Problem::forbidden(format!(
            "your key may not make {role} keys"
        )));
    }
    let accounts: Vec<AccountId> = new
        .accounts
        .iter()
        .map(|a| AccountId::parse(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|_| Problem::invalid_field("accounts", "not account ids"))?;
    if !accounts.is_empty() && role != Role::Agent {
        return Err(Problem::invalid_field(
            "accounts",
            "only agents are assigned accounts",
        ));
    }
    for account in &accounts {
        if app.store.get_account(tenant, account).await?.is_none() {
            return Err(Problem::invalid_field(
                "accounts",
                format!("no account {account}"),
            ));
        }
    }
    if app.store.list_api_keys(Some(tenant)).await?.len() >= MAX_KEYS {
        return Err(Problem::conflict(
            "too-many-keys",
            format!("a tenant holds at most {MAX_KEYS} keys"),
        ));
    }
    let grant = Grant::Tenant {
        tenant_id: tenant.clone(),
        role,
        accounts,
    };
    let minted = mint_key(grant, name, created_by, app.clock.now_ms());
    app.store.put_api_key(&minted.hash, &minted.record).await?;
    app.audit
        .append(
            tenant,
            AuditEntry::new(created_by, "key.created")
                .target(format!("key:{}", minted.record.key_id))
                .details(json!({ "role": role.as_str() })),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(CreatedKey {
        key: minted.plaintext.expose().to_owned(),
        record: KeyView::of(&minted.record),
    })
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = NewKey,
    responses((status = 201, body = CreatedKey, description = "`key` is shown this once"),
        (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    member: Member,
    Body(new): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let created = make_key(&app, &member.tenant, new, &member.actor(), |role| {
        member.role.may_manage_key_of(role)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "keys",
    params(("key_id" = String, Path)),
    responses((status = 200, body = KeyView, description = "Revoked; refused by the authorizer within 60 s"),
        (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem),
        (status = 409, description = "The key that makes the request", body = crate::problem::Problem)))]
pub async fn revoke(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<KeyView>> {
    let id = KeyId::parse(&ids[0]).ok_or_else(|| Problem::not_found("key"))?;
    let keys = app.store.list_api_keys(Some(&member.tenant)).await?;
    let key = keys
        .iter()
        .find(|k| k.key_id == id)
        .ok_or_else(|| Problem::not_found("key"))?;
    let role = match &key.grant {
        Grant::Tenant { role, .. } => *role,
        Grant::Operator => return Err(Problem::not_found("key")),
    };
    if !member.role.may_manage_key_of(role) {
        return Err(Problem::forbidden(format!(
            "your key may not revoke {role} keys"
        )));
    }
    // A key does not revoke itself: only owners revoke owner keys, so a tenant always
    // keeps an owner key this way.
    if id == member.key_id {
        return Err(Problem::conflict(
            "key-revokes-itself",
            "a key cannot revoke itself; revoke it with another key",
        ));
    }
    let revoked = app
        .store
        .revoke_api_key(Some(&member.tenant), &id, app.clock.now_ms())
        .await?
        .ok_or_else(|| Problem::not_found("key"))?;
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), "key.revoked").target(format!("key:{id}")),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(Json(KeyView::of(&revoked)))
}
