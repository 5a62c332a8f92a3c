//! Who may call which route: the one table of route -> lowest role, the caller the
//! authorizer vouched for, and the gate every request passes (role, rate limit,
//! idempotency).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use relay::access::{KeyId, Role, key_hash, request_fingerprint};
use relay::ids::{AccountId, TenantId};
use relay::store::access::Idempotent;
use relay::store::usage::Counter;
use serde_json::Value;

use crate::App;
use crate::problem::Problem;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone (the spec).
    Public,
    /// A tenant key of at least this role.
    Tenant(Role),
    /// An operator key.
    Operator,
}

/// Every route of the API and the lowest role it needs. The router refuses a route
/// missing here, so a new route cannot be served without a rule.
pub const ROUTES: &[(&str, &str, Need)] = &[
    ("GET", "/v1/openapi.json", Need::Public),
    ("GET", "/v1/accounts", Need::Tenant(Role::Viewer)),
    (
        "GET",
        "/v1/accounts/{account_id}",
        Need::Tenant(Role::Viewer),
    ),
    (
        "PATCH",
        "/v1/accounts/{account_id}/settings",
        Need::Tenant(Role::Admin),
    ),
    (
        "DELETE",
        "/v1/accounts/{account_id}",
        Need::Tenant(Role::Admin),
    ),
    ("GET", "/v1/conversations", Need::Tenant(Role::Viewer)),
    (
        "GET",
        "/v1/conversations/{conversation_id}",
        Need::Tenant(Role::Viewer),
    ),
    (
        "GET",
        "/v1/conversations/{conversation_id}/messages",
        Need::Tenant(Role::Viewer),
    ),
    (
        "POST",
        "/v1/conversations/{conversation_id}/messages",
        Need::Tenant(Role::Agent),
    ),
    (
        "POST",
        "/v1/conversations/{conversation_id}/assign",
        Need::Tenant(Role::Agent),
    ),
    (
        "POST",
        "/v1/conversations/{conversation_id}/read",
        Need::Tenant(Role::Agent),
    ),
    (
        "POST",
        "/v1/conversations/{conversation_id}/pause",
        Need::Tenant(Role::Agent),
    ),
    (
        "POST",
        "/v1/conversations/{conversation_id}/resume",
        Need::Tenant(Role::Agent),
    ),
    ("GET", "/v1/drafts", Need::Tenant(Role::Viewer)),
    (
        "POST",
        "/v1/conversations/{conversation_id}/drafts/{draft_id}/approve",
        Need::Tenant(Role::Agent),
    ),
    (
        "POST",
        "/v1/conversations/{conversation_id}/drafts/{draft_id}/reject",
        Need::Tenant(Role::Agent),
    ),
    ("GET", "/v1/knowledge", Need::Tenant(Role::Viewer)),
    ("POST", "/v1/knowledge", Need::Tenant(Role::Manager)),
    (
        "GET",
        "/v1/knowledge/{entry_id}",
        Need::Tenant(Role::Viewer),
    ),
    (
        "PUT",
        "/v1/knowledge/{entry_id}",
        Need::Tenant(Role::Manager),
    ),
    (
        "DELETE",
        "/v1/knowledge/{entry_id}",
        Need::Tenant(Role::Manager),
    ),
    ("GET", "/v1/posts", Need::Tenant(Role::Viewer)),
    ("POST", "/v1/posts", Need::Tenant(Role::Manager)),
    ("GET", "/v1/posts/{post_id}", Need::Tenant(Role::Viewer)),
    ("PATCH", "/v1/posts/{post_id}", Need::Tenant(Role::Manager)),
    ("DELETE", "/v1/posts/{post_id}", Need::Tenant(Role::Manager)),
    ("POST", "/v1/media", Need::Tenant(Role::Manager)),
    (
        "GET",
        "/v1/accounts/{account_id}/profile",
        Need::Tenant(Role::Viewer),
    ),
    (
        "GET",
        "/v1/accounts/{account_id}/insights",
        Need::Tenant(Role::Viewer),
    ),
    (
        "GET",
        "/v1/accounts/{account_id}/insights.csv",
        Need::Tenant(Role::Viewer),
    ),
    // Reading numbers is a viewer's work; the refresh is rate limited per account.
    (
        "POST",
        "/v1/accounts/{account_id}/insights/refresh",
        Need::Tenant(Role::Viewer),
    ),
    (
        "GET",
        "/v1/media/{media_id}/insights",
        Need::Tenant(Role::Viewer),
    ),
    ("GET", "/v1/comments", Need::Tenant(Role::Viewer)),
    (
        "GET",
        "/v1/comments/{comment_id}",
        Need::Tenant(Role::Viewer),
    ),
    (
        "POST",
        "/v1/comments/{comment_id}/{action}",
        Need::Tenant(Role::Agent),
    ),
    ("GET", "/v1/audit", Need::Tenant(Role::Admin)),
    ("GET", "/v1/audit/verify", Need::Tenant(Role::Admin)),
    ("GET", "/v1/keys", Need::Tenant(Role::Admin)),
    ("POST", "/v1/keys", Need::Tenant(Role::Admin)),
    ("DELETE", "/v1/keys/{key_id}", Need::Tenant(Role::Admin)),
    ("POST", "/v1/tenant/erase", Need::Tenant(Role::Owner)),
    ("GET", "/v1/tenants", Need::Operator),
    ("POST", "/v1/tenants", Need::Operator),
    ("POST", "/v1/tenants/{tenant_id}/keys", Need::Operator),
    (
        "POST",
        "/v1/tenants/{tenant_id}/onboarding-links",
        Need::Operator,
    ),
    ("GET", "/v1/health", Need::Operator),
];

/// The rule of a route, by method and route template.
pub fn rule(method: &str, template: &str) -> Option<Need> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == template)
        .map(|(_, _, need)| *need)
}

/// The caller, as the authorizer described them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Member(Member),
    Operator { key_id: KeyId },
}

/// A member of a tenant's team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub tenant: TenantId,
    pub role: Role,
    pub key_id: KeyId,
    /// An agent's accounts; empty is every account.
    pub accounts: Vec<AccountId>,
}

impl Member {
    /// The audit trail's actor.
    pub fn actor(&self) -> String {
        self.key_id.actor()
    }

    /// Whether this member works the inbox and comments of `account`: every role above
    /// agent does; an agent only for the accounts assigned to the key (all if none).
    pub fn works(&self, account: &AccountId) -> bool {
        self.role != Role::Agent || self.accounts.is_empty() || self.accounts.contains(account)
    }
}

impl Caller {
    /// From the `requestContext.authorizer.lambda` API Gateway passes on.
    pub fn from_context(fields: &serde_json::Map<String, Value>) -> Option<Caller> {
        let text = |k: &str| fields.get(k).and_then(Value::as_str);
        let key_id = KeyId::parse(text("key_id")?)?;
        match text("kind")? {
            "operator" => Some(Caller::Operator { key_id }),
            "tenant" => Some(Caller::Member(Member {
                tenant: TenantId::parse(text("tenant_id")?).ok()?,
                role: Role::parse(text("role")?)?,
                key_id,
                accounts: text("accounts")
                    .unwrap_or("")
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(AccountId::parse)
                    .collect::<Result<_, _>>()
                    .ok()?,
            })),
            _ => None,
        }
    }

    fn of_request(request: &Request) -> Option<Caller> {
        match request.extensions().request_context_ref()? {
            RequestContext::ApiGatewayV2(ctx) => {
                let fields = &ctx.authorizer.as_ref()?.fields;
                Caller::from_context(&fields.clone().into_iter().collect())
            }
            _ => None,
        }
    }
}

/// Largest request body the API reads.
pub const MAX_BODY: usize = 256 * 1024;

/// The gate: the route's rule, the caller, the tenant's rate limit, and replays of
/// requests sent with an `Idempotency-Key`.
pub async fn gate(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(template) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return Problem::not_found("route").into_response();
    };
    let method = request.method().clone();
    let Some(need) = rule(method.as_str(), &template) else {
        return Problem::forbidden("this route has no access rule").into_response();
    };
    if need == Need::Public {
        return next.run(request).await;
    }
    let Some(caller) = Caller::of_request(&request) else {
        return Problem::unauthenticated().into_response();
    };
    let member = match (&caller, need) {
        (Caller::Operator { .. }, Need::Operator) => None,
        (Caller::Member(m), Need::Tenant(min)) if m.role >= min => Some(m.clone()),
        (Caller::Member(m), Need::Tenant(min)) => {
            return Problem::forbidden(format!(
                "this needs the {min} role or above; the key has {}",
                m.role
            ))
            .into_response();
        }
        (Caller::Member(_), _) => {
            return Problem::forbidden("this route is for the installation's operators")
                .into_response();
        }
        (Caller::Operator { .. }, _) => {
            return Problem::forbidden("operator keys read no tenant's data").into_response();
        }
    };
    if let Some(member) = &member {
        let now = app.clock.now_ms();
        let calls = std::collections::BTreeMap::from([(Counter::ApiCalls, 1)]);
        // Usage is counted beside the bucket, not after it, so it costs no latency.
        let (token, counted) = tokio::join!(
            app.store
                .take_rate_token(&member.tenant, app.settings.rate, now),
            app.store.count_usage(&member.tenant, now, &calls),
        );
        if let Err(error) = counted {
            tracing::warn!(%error, "api call not counted");
        }
        match token {
            Ok(Ok(())) => {}
            Ok(Err(wait)) => return Problem::rate_limited(wait).into_response(),
            Err(e) => return Problem::from(e).into_response(),
        }
    }
    let idempotency = request
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned));
    let mut request = request;
    request.extensions_mut().insert(caller.clone());
    match idempotency {
        Some(Ok(key)) if method == Method::POST => {
            idempotent(
                &app,
                member.as_ref().map(|m| &m.tenant),
                &key,
                request,
                next,
            )
            .await
        }
        Some(Err(_)) => {
            Problem::invalid_field("Idempotency-Key", "must be visible ASCII").into_response()
        }
        _ => next.run(request).await,
    }
}

/// Run a POST once per idempotency key: the first answer is kept 24 h and replayed for
/// the same request; the key with another request is refused.
async fn idempotent(
    app: &App,
    tenant: Option<&TenantId>,
    key: &str,
    request: Request,
    next: Next,
) -> Response {
    if key.is_empty() || key.len() > 255 {
        return Problem::invalid_field("Idempotency-Key", "use 1 to 255 characters")
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            format!("bodies are at most {MAX_BODY} bytes"),
        )
        .into_response();
    };
    let fingerprint = request_fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);
    let key_hash = key_hash(key);
    let now = app.clock.now_ms();
    match app
        .store
        .begin_idempotent(tenant, &key_hash, &fingerprint, now)
        .await
    {
        Ok(Idempotent::Proceed) => {}
        Ok(Idempotent::Replay {
            status,
            content_type,
            body,
        }) => {
            let mut response =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            let headers = response.headers_mut();
            let content_type = content_type.unwrap_or_else(|| "application/json".to_owned());
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                headers.insert("content-type", value);
            }
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            return response;
        }
        Ok(Idempotent::Mismatch) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was used within 24 h for another request",
            )
            .into_response();
        }
        Ok(Idempotent::InProgress) => {
            return Problem::conflict(
                "idempotent-request-in-progress",
                "the first request with this Idempotency-Key is still running; retry shortly",
            )
            .into_response();
        }
        Err(e) => return Problem::from(e).into_response(),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let status = parts.status;
    // Relay's own failures are not kept: the client's retry runs the request again.
    let kept = if status.is_server_error() {
        app.store.abandon_idempotent(tenant, &key_hash).await
    } else {
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        app.store
            .finish_idempotent(
                tenant,
                &key_hash,
                status.as_u16(),
                content_type,
                &String::from_utf8_lossy(&bytes),
            )
            .await
    };
    if let Err(e) = kept {
        tracing::warn!(error = %e, "idempotent answer not kept");
    }
    Response::from_parts(parts, Body::from(bytes))
}
