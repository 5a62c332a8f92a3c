//! Connected accounts: their connection and token health, their AI and moderation
//! settings, and disconnecting one.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use relay::ai::AiSettings;
use relay::audit::AuditEntry;
use relay::ids::AccountId;
use relay::moderation::ModerationPolicy;
use relay::store::accounts::{Account, AccountStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{Body, Ids};
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};
use crate::views::{AccountDetail, AccountPage, AccountView, Activity, SettingsView};

/// The caller's account of this id, or 404 (another tenant's id is simply not found).
pub async fn owned_account(app: &App, member: &Member, raw: &str) -> ApiResult<Account> {
    let id = AccountId::parse(raw).map_err(|_| Problem::not_found("account"))?;
    app.store
        .get_account(&member.tenant, &id)
        .await?
        .ok_or_else(|| Problem::not_found("account"))
}

/// The account's latest message and latest webhook, read together.
async fn activity(app: &App, account: &Account) -> ApiResult<Activity> {
    let (t, a) = (&account.tenant_id, &account.account_id);
    let (latest, seen) = tokio::try_join!(
        app.store.conversations_before(t, a, None, 1),
        app.store.webhook_seen(t, a),
    )?;
    Ok(Activity {
        last_message_at: latest.first().map(|c| c.last_activity_at),
        last_webhook_at: seen,
    })
}

#[utoipa::path(get, path = "/v1/accounts", tag = "accounts",
    responses((status = 200, body = AccountPage), (status = 401, body = crate::problem::Problem)))]
pub async fn list(State(app): State<Arc<App>>, member: Member) -> ApiResult<Json<AccountPage>> {
    let page = app
        .store
        .list_accounts(
            &member.tenant,
            &relay::store::Listing {
                limit: 200,
                ..Default::default()
            },
        )
        .await?;
    let now = app.clock.now_ms();
    let mut items = Vec::with_capacity(page.items.len());
    for account in &page.items {
        items.push(AccountView::of(
            account,
            activity(&app, account).await?,
            now,
        ));
    }
    Ok(Json(AccountPage {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}", tag = "accounts",
    params(("account_id" = String, Path, description = "Instagram account id or Page id")),
    responses((status = 200, body = AccountDetail), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<Json<AccountDetail>> {
    let account = owned_account(&app, &member, &ids[0]).await?;
    let settings = settings_of(&app, &account).await?;
    Ok(Json(AccountDetail {
        account: AccountView::of(
            &account,
            activity(&app, &account).await?,
            app.clock.now_ms(),
        ),
        settings,
    }))
}

async fn settings_of(app: &App, account: &Account) -> ApiResult<SettingsView> {
    let (t, a) = (&account.tenant_id, &account.account_id);
    let ai = app.store.get_ai_settings(t, a).await?.unwrap_or_default();
    let moderation = app
        .store
        .get_moderation_policy(t, a)
        .await
        .map_err(|e| Problem::internal("policy", &e))?
        .unwrap_or_default();
    Ok(SettingsView { ai, moderation })
}

/// A change to an account's settings: each part is a JSON merge patch (RFC 7396) of the
/// current settings; unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// e.g. `{"mode": "shadow", "handoff_message": null}`.
    #[schema(value_type = Object)]
    pub ai: Option<Value>,
    /// e.g. `{"hide": {"link": true}, "blocked_words": ["scam*"]}`.
    #[schema(value_type = Object)]
    pub moderation: Option<Value>,
}

#[utoipa::path(patch, path = "/v1/accounts/{account_id}/settings", tag = "accounts",
    params(("account_id" = String, Path)),
    request_body = SettingsPatch,
    responses((status = 200, body = SettingsView), (status = 404, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn update_settings(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
    Body(patch): Body<SettingsPatch>,
) -> ApiResult<Json<SettingsView>> {
    let account = owned_account(&app, &member, &ids[0]).await?;
    let current = settings_of(&app, &account).await?;
    let now = app.clock.now_ms();
    let (t, a) = (&account.tenant_id, &account.account_id);
    let mut changed = Vec::new();
    let ai = match &patch.ai {
        Some(p) => {
            let mut ai: AiSettings = merged(&current.ai, p, "ai")?;
            ai.updated_at = now;
            app.store
                .put_ai_settings(t, a, &ai)
                .await
                .map_err(|e| Problem::invalid_field("ai", e.to_string()))?;
            changed.push("ai");
            ai
        }
        None => current.ai,
    };
    let moderation = match &patch.moderation {
        Some(p) => {
            let mut policy: ModerationPolicy = merged(&current.moderation, p, "moderation")?;
            policy.updated_at = now;
            policy
                .validate()
                .map_err(|e| Problem::invalid_field("moderation", e.to_string()))?;
            app.store
                .put_moderation_policy(t, a, &policy)
                .await
                .map_err(|e| Problem::invalid_field("moderation", e.to_string()))?;
            changed.push("moderation");
            policy
        }
        None => current.moderation,
    };
    app.audit
        .append(
            t,
            AuditEntry::new(member.actor(), "account.settings_changed")
                .target(format!("account:{a}"))
                .details(json!({ "changed": changed, "ai_mode": ai.mode })),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(Json(SettingsView { ai, moderation }))
}

/// Apply a merge patch to `current`, refusing fields it does not have.
fn merged<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: &Value,
    part: &str,
) -> ApiResult<T> {
    let mut value = serde_json::to_value(current).map_err(|e| Problem::internal("settings", &e))?;
    if !patch.is_object() {
        return Err(Problem::invalid_field(part, "must be an object"));
    }
    merge(&mut value, patch, part)?;
    serde_json::from_value(value).map_err(|e| Problem::invalid_field(part, e.to_string()))
}

fn merge(target: &mut Value, patch: &Value, at: &str) -> ApiResult<()> {
    let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) else {
        return Ok(());
    };
    for (key, value) in patch {
        let field = format!("{at}.{key}");
        let Some(slot) = target.get_mut(key) else {
            return Err(Problem::invalid_field(&field, "unknown field"));
        };
        if value.is_object() && slot.is_object() {
            merge(slot, value, &field)?;
        } else {
            *slot = value.clone();
        }
    }
    Ok(())
}

#[utoipa::path(delete, path = "/v1/accounts/{account_id}", tag = "accounts",
    params(("account_id" = String, Path)),
    responses((status = 204, description = "Disconnected; its token is destroyed"),
        (status = 404, body = crate::problem::Problem)))]
pub async fn disconnect(
    State(app): State<Arc<App>>,
    member: Member,
    Ids(ids): Ids,
) -> ApiResult<StatusCode> {
    let mut account = owned_account(&app, &member, &ids[0]).await?;
    let had_token = account.token_sealed.is_some();
    account.status = AccountStatus::Disconnected;
    account.token_sealed = None;
    account.token_issued_at = None;
    account.token_expires_at = None;
    account.updated_at = app.clock.now_ms() / 1000;
    app.store.update_account(&account).await?;
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), "account.disconnected")
                .target(format!("account:{}", account.account_id))
                .details(json!({ "token_destroyed": had_token })),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_patch_changes_only_what_it_names_and_refuses_unknown_fields() {
        let current = AiSettings::default();
        let next: AiSettings = merged(&current, &json!({"mode": "shadow"}), "ai").unwrap();
        assert_eq!(next.mode, relay::inbox::AiMode::Shadow);
        assert_eq!(next.persona, current.persona);
        let refused = merged::<AiSettings>(&current, &json!({"mood": "happy"}), "ai").unwrap_err();
        assert_eq!(refused.errors[0].field, "ai.mood");
        let refused = merged::<AiSettings>(&current, &json!({"mode": "loud"}), "ai").unwrap_err();
        assert_eq!(refused.errors[0].field, "ai");
    }
}
