//! The installation's operators: tenants, their first owner key, onboarding links, and
//! the health and usage of every tenant's accounts. Nothing here reads a tenant's messages,
//! comments or drafts.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use relay::access::Role;
use relay::audit::AuditEntry;
use relay::ids::TenantId;
use relay::store::accounts::Tenant;
use relay::store::{Cursor, Listing};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::keys::{NewKey, make_key};
use super::{Body, Ids, Paging, Params};
use crate::App;
use crate::access::Caller;
use crate::problem::{ApiResult, Problem};
use crate::views::{
    AccountHealth, AccountView, Activity, CreatedKey, HealthView, OnboardingLinkView, TenantHealth,
    TenantPage, TenantView, UsageView,
};

fn operator_actor(caller: &Caller) -> String {
    match caller {
        Caller::Operator { key_id } => format!("operator:{key_id}"),
        Caller::Member(m) => m.actor(),
    }
}

async fn tenant_of(app: &App, raw: &str) -> ApiResult<Tenant> {
    let id = TenantId::parse(raw).map_err(|_| Problem::not_found("tenant"))?;
    app.store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| Problem::not_found("tenant"))
}

#[utoipa::path(get, path = "/v1/tenants", tag = "operator", params(Paging),
    responses((status = 200, body = TenantPage)))]
pub async fn list_tenants(
    State(app): State<Arc<App>>,
    Params(paging): Params<Paging>,
) -> ApiResult<Json<TenantPage>> {
    let page = app.store.list_tenants(&paging.listing()?).await?;
    Ok(Json(TenantPage {
        items: page.items.iter().map(TenantView::of).collect(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    }))
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1 to 64 characters of a-z, 0-9 and `-`.
    pub tenant_id: String,
    pub name: String,
}

#[utoipa::path(post, path = "/v1/tenants", tag = "operator",
    params(("Idempotency-Key" = Option<String>, Header)), request_body = NewTenant,
    responses((status = 201, body = TenantView), (status = 409, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn create_tenant(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Body(new): Body<NewTenant>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    let tenant_id = TenantId::parse(new.tenant_id.as_str())
        .map_err(|e| Problem::invalid_field("tenant_id", e.to_string()))?;
    if relay::onboarding::is_reserved_tenant(&tenant_id) {
        return Err(Problem::invalid_field(
            "tenant_id",
            "ids starting with '-' are reserved",
        ));
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Problem::invalid_field("name", "use 1 to 200 characters"));
    }
    let tenant = Tenant {
        tenant_id: tenant_id.clone(),
        name: name.to_owned(),
        created_at: app.clock.now_ms(),
    };
    match app.store.create_tenant(&tenant).await {
        Ok(()) => {}
        Err(relay::store::StoreError::Conflict { .. }) => {
            return Err(Problem::conflict(
                "tenant-exists",
                format!("tenant {tenant_id} exists"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    app.audit
        .append(
            &tenant_id,
            AuditEntry::new(operator_actor(&caller), "tenant.created")
                .target(format!("tenant:{tenant_id}")),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok((StatusCode::CREATED, Json(TenantView::of(&tenant))))
}

#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/keys", tag = "operator",
    params(("tenant_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 404, body = crate::problem::Problem)))]
pub async fn create_owner_key(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Ids(ids): Ids,
    Body(new): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let tenant = tenant_of(&app, &ids[0]).await?;
    // Operators hand a tenant its keys to begin with; the tenant's owners take it from there.
    let created = make_key(
        &app,
        &tenant.tenant_id,
        new,
        &operator_actor(&caller),
        |_: Role| true,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// How long an onboarding link works.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// 1 to 30 days; 7 when not given.
    pub days: Option<u32>,
}

#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/onboarding-links", tag = "operator",
    params(("tenant_id" = String, Path)), request_body = NewLink,
    responses((status = 201, body = OnboardingLinkView), (status = 404, body = crate::problem::Problem)))]
pub async fn onboarding_link(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Ids(ids): Ids,
    Body(new): Body<NewLink>,
) -> ApiResult<(StatusCode, Json<OnboardingLinkView>)> {
    let tenant = tenant_of(&app, &ids[0]).await?;
    let days = new.days.unwrap_or(7);
    if !(1..=30).contains(&days) {
        return Err(Problem::invalid_field("days", "use 1 to 30"));
    }
    let expires_at = app.clock.now_ms() / 1000 + i64::from(days) * 86_400;
    let link = app.links.issue(&tenant.tenant_id, expires_at);
    app.audit
        .append(
            &tenant.tenant_id,
            AuditEntry::new(operator_actor(&caller), "onboarding_link.issued")
                .details(json!({ "expires_at": expires_at })),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok((
        StatusCode::CREATED,
        Json(OnboardingLinkView {
            url: link.url,
            expires_at: expires_at * 1000,
        }),
    ))
}

#[utoipa::path(get, path = "/v1/health", tag = "operator", params(Paging),
    responses((status = 200, body = HealthView)))]
pub async fn health(
    State(app): State<Arc<App>>,
    Params(paging): Params<Paging>,
) -> ApiResult<Json<HealthView>> {
    let limit = paging.limit()?.min(50) as i32;
    let page = app
        .store
        .list_tenants(&Listing {
            limit,
            newest_first: false,
            cursor: paging.cursor.as_deref().map(Cursor::parse).transpose()?,
        })
        .await?;
    let now = app.clock.now_ms();
    let mut tenants = Vec::with_capacity(page.items.len());
    for tenant in &page.items {
        let accounts = app
            .store
            .list_accounts(
                &tenant.tenant_id,
                &Listing {
                    limit: 200,
                    ..Default::default()
                },
            )
            .await?;
        let t = &tenant.tenant_id;
        let (keys, usage) = tokio::try_join!(
            app.store.list_api_keys(Some(t)),
            app.store.usage_since(t, now - 29 * 86_400_000, now),
        )?;
        let mut healths = Vec::with_capacity(accounts.items.len());
        for account in &accounts.items {
            let activity = Activity {
                last_message_at: None,
                last_webhook_at: app.store.webhook_seen(t, &account.account_id).await?,
            };
            let view = AccountView::of(account, activity, now);
            healths.push(AccountHealth {
                account_id: view.account_id,
                channel: view.channel,
                status: view.status,
                token: view.token,
                last_webhook_at: view.last_webhook_at,
            });
        }
        tenants.push(TenantHealth {
            tenant_id: t.to_string(),
            accounts: healths,
            active_keys: keys.iter().filter(|k| k.is_active()).count() as u64,
            usage_30d: UsageView::of(&usage),
        });
    }
    Ok(Json(HealthView {
        tenants,
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    }))
}
