//! OAuth dialogs, code and token exchanges, profiles, pages and webhook
//! subscriptions (Instagram Login and Facebook Login).
//!
//! The dialogs are real HTML forms (Allow / Cancel) so a headless browser or a plain
//! form POST drives them; the POST re-validates everything, as nothing in a form can
//! be trusted. Codes and tokens follow the rules in [`crate::state::accounts`].

use super::{App, Auth, Ctx, Field, GraphResult, Host, Params, answer_fields};
use crate::graph_error::{GraphError, IgOAuthError};
use crate::state::accounts::{
    self, AuthCode, Capability, CodeError, FB_SCOPES, IG_SCOPES, LONG_TOKEN_TTL_SECS, Platform,
    ScopeError, TokenKind,
};
use crate::state::comments::paginate;
use crate::state::{SimState, ids};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

/// Scopes a Facebook Login for Business `config_id` grants.
const CONFIG_ID_SCOPES: &[&str] = &[
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "pages_manage_posts",
    "business_management",
    "instagram_basic",
    "instagram_manage_messages",
    "instagram_manage_comments",
    "instagram_content_publish",
    "instagram_manage_insights",
];

const IG_WEBHOOK_FIELDS: &[&str] = &[
    "messages",
    "messaging_postbacks",
    "messaging_seen",
    "messaging_optins",
    "message_reactions",
    "messaging_referral",
    "messaging_handover",
    "message_edit",
    "standby",
    "comments",
    "live_comments",
    "mentions",
    "story_insights",
    "messaging_policy_enforcement",
];

const PAGE_WEBHOOK_FIELDS: &[&str] = &[
    "messages",
    "message_echoes",
    "message_reactions",
    "message_reads",
    "message_deliveries",
    "message_edits",
    "messaging_postbacks",
    "messaging_optins",
    "messaging_referrals",
    "messaging_handovers",
    "messaging_policy_enforcement",
    "messaging_account_linking",
    "standby",
    "feed",
    "mention",
];

const PAGE_TASKS: &[&str] = &[
    "ADVERTISE",
    "ANALYZE",
    "CREATE_CONTENT",
    "MESSAGING",
    "MODERATE",
    "MANAGE",
];

// ---------------------------------------------------------------- dialogs

/// A dialog request that passed validation.
struct Dialog {
    platform: Platform,
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    scope_param: String,
    state: Option<String>,
    /// Who logs in: Instagram professional id or Facebook user id.
    subject: String,
    subject_label: String,
    config_id: Option<String>,
}

/// A dialog that cannot even redirect back (bad app or redirect URI): Meta shows an
/// error page instead.
struct DialogError(String);

impl IntoResponse for DialogError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Error</title></head>\
             <body><h1>Sorry, this content isn't available right now</h1>\
             <p id=\"error\">{}</p></body></html>",
            escape(&self.0)
        );
        (StatusCode::BAD_REQUEST, Html(body)).into_response()
    }
}

fn validate_dialog(
    state: &SimState,
    platform: Platform,
    p: &Params,
) -> Result<Dialog, DialogError> {
    let app_id = match platform {
        Platform::Instagram => &state.config.ig_app_id,
        Platform::Facebook => &state.config.fb_app_id,
    };
    let client_id = p.nonempty("client_id").ok_or_else(|| {
        DialogError("Invalid Request: the client_id parameter is missing.".into())
    })?;
    if &client_id != app_id {
        return Err(DialogError(
            "Invalid app ID: the client_id does not name an app.".into(),
        ));
    }
    let redirect_uri = p.nonempty("redirect_uri").ok_or_else(|| {
        DialogError("Invalid Request: the redirect_uri parameter is missing.".into())
    })?;
    if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) {
        return Err(DialogError(
            "Invalid redirect_uri: it must be an absolute http(s) URL.".into(),
        ));
    }
    if !state.config.allowed_redirect_uris.is_empty()
        && !state.config.allowed_redirect_uris.contains(&redirect_uri)
    {
        return Err(DialogError(
            "URL Blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.".into(),
        ));
    }
    if let Some(rt) = p.str("response_type")
        && rt != "code"
    {
        return Err(DialogError(format!(
            "Invalid response_type: {rt}. Only code is supported."
        )));
    }
    let config_id = p.nonempty("config_id");
    let scope_param = p.str("scope").unwrap_or_default();
    let scopes = match platform {
        Platform::Instagram => accounts::parse_scopes(&scope_param, IG_SCOPES),
        Platform::Facebook if scope_param.trim().is_empty() && config_id.is_some() => {
            Ok(CONFIG_ID_SCOPES.iter().map(|s| (*s).to_owned()).collect())
        }
        Platform::Facebook if scope_param.trim().is_empty() => Ok(vec!["public_profile".to_owned()]),
        Platform::Facebook => accounts::parse_scopes(&scope_param, FB_SCOPES),
    }
    .map_err(|e| {
        DialogError(match e {
            ScopeError::Empty => "Invalid Scopes: no scope was requested.".into(),
            ScopeError::Legacy(names) => format!(
                "Invalid Scopes: {}. These scope names were replaced by instagram_business_* on January 27, 2025.",
                names.join(", ")
            ),
            ScopeError::Unknown(names) => format!("Invalid Scopes: {}.", names.join(", ")),
        })
    })?;
    let chosen = p.nonempty("as");
    let (subject, subject_label) = match platform {
        Platform::Instagram => {
            let user = match &chosen {
                Some(id) => state.ig_user(id),
                None => state.ig_users.last(),
            }
            .ok_or_else(|| DialogError("No Instagram professional account is logged in (create one with POST /_sim/ig-users).".into()))?;
            (user.user_id.clone(), format!("@{}", user.username))
        }
        Platform::Facebook => {
            let user = match &chosen {
                Some(id) => state.fb_user(id),
                None => state.fb_users.last(),
            }
            .ok_or_else(|| {
                DialogError(
                    "No Facebook user is logged in (create one with POST /_sim/fb-users).".into(),
                )
            })?;
            (user.id.clone(), user.name.clone())
        }
    };
    Ok(Dialog {
        platform,
        client_id,
        redirect_uri,
        scopes,
        scope_param,
        state: p.str("state"),
        subject,
        subject_label,
        config_id,
    })
}

fn scope_description(scope: &str) -> &'static str {
    match scope {
        "instagram_business_basic" | "instagram_basic" => "Access your profile and media",
        "instagram_business_manage_messages" | "instagram_manage_messages" => {
            "Read and send your messages"
        }
        "instagram_business_manage_comments" | "instagram_manage_comments" => {
            "Read, reply to and moderate comments"
        }
        "instagram_business_content_publish" | "instagram_content_publish" => {
            "Publish posts, reels and stories"
        }
        "instagram_business_manage_insights" | "instagram_manage_insights" => {
            "Read insights about your account and media"
        }
        "pages_show_list" => "Show the list of Pages you manage",
        "pages_messaging" => "Manage and access Page conversations in Messenger",
        "pages_manage_metadata" => "Manage Page settings and webhooks",
        "pages_manage_posts" => "Create and manage Page posts",
        "pages_read_engagement" => "Read content posted on the Page",
        "business_management" => "Manage your business",
        _ => "Access granted to the app",
    }
}

fn render_dialog(d: &Dialog, app_name: &str, action: &str) -> Html<String> {
    let (site, heading) = match d.platform {
        Platform::Instagram => (
            "Instagram",
            "Allow access to your Instagram professional account?",
        ),
        Platform::Facebook => ("Facebook", "Continue with Facebook?"),
    };
    let scopes: String = d
        .scopes
        .iter()
        .map(|s| {
            format!(
                "<li data-scope=\"{0}\"><code>{0}</code>: {1}</li>",
                escape(s),
                escape(scope_description(s))
            )
        })
        .collect();
    let mut hidden = vec![
        ("client_id", d.client_id.clone()),
        ("redirect_uri", d.redirect_uri.clone()),
        ("response_type", "code".to_owned()),
        ("as", d.subject.clone()),
    ];
    if !d.scope_param.is_empty() {
        hidden.push(("scope", d.scope_param.clone()));
    }
    if let Some(s) = &d.state {
        hidden.push(("state", s.clone()));
    }
    if let Some(c) = &d.config_id {
        hidden.push(("config_id", c.clone()));
    }
    let inputs: String = hidden
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape(v)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{site} · {app}</title>\
         <style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}\
         button{{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}}</style></head>\
         <body><h1>{heading}</h1>\
         <p><strong id=\"app-name\">{app}</strong> is requesting access for \
         <strong id=\"account\">{who}</strong>.</p>\
         <p>{app} will be able to:</p><ul id=\"scopes\">{scopes}</ul>\
         <form method=\"post\" action=\"{action}\">{inputs}\
         <button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"cancel\" id=\"cancel\">Cancel</button>\
         </form></body></html>",
        app = escape(app_name),
        who = escape(&d.subject_label),
        action = escape(action),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `uri` with `pairs` appended to its query, then `fragment`.
fn redirect_with(uri: &str, pairs: &[(&str, &str)], fragment: Option<&str>) -> String {
    let base = uri.split('#').next().unwrap_or(uri);
    let sep = if base.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string(pairs).expect("string pairs always encode");
    let mut out = format!("{base}{sep}{query}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

pub async fn ig_dialog(State(app): State<App>, uri: Uri, headers: HeaderMap) -> Response {
    dialog_page(&app, Platform::Instagram, &uri, &headers)
}

pub async fn fb_dialog(State(app): State<App>, uri: Uri, headers: HeaderMap) -> Response {
    dialog_page(&app, Platform::Facebook, &uri, &headers)
}

fn dialog_page(app: &App, platform: Platform, uri: &Uri, headers: &HeaderMap) -> Response {
    let params = match Params::parse(uri, headers, b"") {
        Ok(p) => p,
        Err(_) => {
            return DialogError("Invalid Request: the query string cannot be read.".into())
                .into_response();
        }
    };
    let state = app.lock();
    match validate_dialog(&state, platform, &params) {
        Ok(d) => render_dialog(&d, &state.config.app_name, uri.path()).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn ig_dialog_decision(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dialog_decision(&app, Platform::Instagram, &uri, &headers, &body)
}

pub async fn fb_dialog_decision(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dialog_decision(&app, Platform::Facebook, &uri, &headers, &body)
}

fn dialog_decision(
    app: &App,
    platform: Platform,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let params = match Params::parse(uri, headers, body) {
        Ok(p) => p,
        Err(_) => {
            return DialogError("Invalid Request: the form cannot be read.".into()).into_response();
        }
    };
    let mut state = app.lock();
    let d = match validate_dialog(&state, platform, &params) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let state_param = d.state.clone().unwrap_or_default();
    let with_state = |mut pairs: Vec<(&'static str, String)>| {
        if d.state.is_some() {
            pairs.push(("state", state_param.clone()));
        }
        pairs
    };
    let allow = params.str("decision").as_deref() == Some("allow");
    if !allow {
        let mut pairs = vec![
            ("error", "access_denied".to_owned()),
            ("error_reason", "user_denied".to_owned()),
            (
                "error_description",
                "The user denied your request.".to_owned(),
            ),
        ];
        if platform == Platform::Facebook {
            pairs.insert(1, ("error_code", "200".to_owned()));
        }
        let pairs = with_state(pairs);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return found(&redirect_with(&d.redirect_uri, &refs, None));
    }
    let code = ids::auth_code();
    let now = state.now();
    state.codes.insert(
        code.clone(),
        AuthCode {
            platform,
            client_id: d.client_id.clone(),
            subject: d.subject.clone(),
            redirect_uri: d.redirect_uri.clone(),
            scopes: d.scopes.clone(),
            issued_at_ms: now.ms(),
            used: false,
        },
    );
    let pairs = with_state(vec![("code", code)]);
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Instagram appends `#_` to the redirect; clients must strip it.
    let fragment = (platform == Platform::Instagram).then_some("_");
    found(&redirect_with(&d.redirect_uri, &refs, fragment))
}

// ---------------------------------------------------------------- exchanges

/// `POST api.instagram.com/oauth/access_token`: code -> short-lived token.
pub async fn ig_code_exchange(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&uri, &headers, &body) {
        Ok(p) => p,
        Err(_) => return IgOAuthError("Invalid request body".into()).into_response(),
    };
    let mut state = app.lock();
    match ig_code_exchange_locked(&mut state, &params) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn ig_code_exchange_locked(state: &mut SimState, p: &Params) -> Result<Value, IgOAuthError> {
    let field = |name: &str| {
        p.nonempty(name)
            .ok_or_else(|| IgOAuthError(format!("Missing required field {name}")))
    };
    let client_id = field("client_id")?;
    if client_id != state.config.ig_app_id {
        return Err(IgOAuthError("Invalid platform app".into()));
    }
    if field("client_secret")? != state.config.ig_app_secret {
        return Err(IgOAuthError("Error validating client secret.".into()));
    }
    if field("grant_type")? != "authorization_code" {
        return Err(IgOAuthError(
            "Unsupported grant_type; expected authorization_code".into(),
        ));
    }
    let redirect_uri = field("redirect_uri")?;
    let code_value = field("code")?;
    let now = state.now();
    let code = state
        .codes
        .get_mut(&code_value)
        .filter(|c| c.platform == Platform::Instagram)
        .ok_or_else(|| IgOAuthError::code(CodeError::Unknown))?;
    accounts::redeem_code(code, &client_id, &redirect_uri, now).map_err(IgOAuthError::code)?;
    let (subject, scopes) = (code.subject.clone(), code.scopes.clone());
    let app_scoped = state
        .ig_user(&subject)
        .map(|u| u.app_scoped_id.clone())
        .ok_or_else(|| IgOAuthError::code(CodeError::Unknown))?;
    let expires = now.plus_secs(accounts::SHORT_TOKEN_TTL_SECS).ms();
    let (token, _) = state.mint_token(
        TokenKind::IgShort,
        &subject,
        None,
        scopes.clone(),
        Some(expires),
    );
    Ok(json!({"data": [{
        "access_token": token,
        "user_id": app_scoped,
        "permissions": scopes.join(","),
    }]}))
}

fn token_answer(token: &str, expires_in: Option<i64>) -> Value {
    let mut v = json!({"access_token": token, "token_type": "bearer"});
    if let Some(e) = expires_in {
        v["expires_in"] = json!(e);
    }
    v
}

/// `GET graph.instagram.com/access_token?grant_type=ig_exchange_token`.
pub fn ig_exchange_long(state: &mut SimState, ctx: &mut Ctx) -> GraphResult {
    if ctx.params.str("grant_type").as_deref() != Some("ig_exchange_token") {
        return Err(GraphError::param("grant_type must be ig_exchange_token"));
    }
    if ctx.params.str("client_secret").as_deref() != Some(state.config.ig_app_secret.as_str()) {
        return Err(GraphError::new(101, "Error validating client secret."));
    }
    let auth = ctx.authenticate(state)?;
    if auth.token.kind != TokenKind::IgShort {
        return Err(GraphError::param(
            "Invalid token type: only short-lived Instagram User access tokens can be exchanged",
        ));
    }
    ctx.on_account(state, &auth.token.subject, "instagram")?;
    let expires = ctx.now.plus_secs(LONG_TOKEN_TTL_SECS).ms();
    let (token, _) = state.mint_token(
        TokenKind::IgLong,
        &auth.token.subject,
        None,
        auth.token.scopes.clone(),
        Some(expires),
    );
    Ok(token_answer(&token, Some(LONG_TOKEN_TTL_SECS)))
}

/// `GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token`.
pub fn ig_refresh(state: &mut SimState, ctx: &mut Ctx) -> GraphResult {
    if ctx.params.str("grant_type").as_deref() != Some("ig_refresh_token") {
        return Err(GraphError::param("grant_type must be ig_refresh_token"));
    }
    let value = ctx.token.clone().ok_or_else(GraphError::missing_token)?;
    if !value.starts_with("IGAA") {
        return Err(GraphError::unparsable_token());
    }
    let token = state
        .tokens
        .get(&value)
        .cloned()
        .ok_or(GraphError::token(accounts::TokenError::Unknown))?;
    accounts::check_refresh(&token, state.revocations.get(&token.subject), ctx.now)
        .map_err(GraphError::refresh)?;
    ctx.on_account(state, &token.subject, "instagram")?;
    let expires = ctx.now.plus_secs(LONG_TOKEN_TTL_SECS).ms();
    let (new_token, _) = state.mint_token(
        TokenKind::IgLong,
        &token.subject,
        None,
        token.scopes.clone(),
        Some(expires),
    );
    Ok(token_answer(&new_token, Some(LONG_TOKEN_TTL_SECS)))
}

/// `GET graph.facebook.com/vNN/oauth/access_token`: code exchange or long-lived
/// exchange (`grant_type=fb_exchange_token`).
pub fn fb_access_token(state: &mut SimState, ctx: &mut Ctx) -> GraphResult {
    let p = &ctx.params;
    if p.str("client_id").as_deref() != Some(state.config.fb_app_id.as_str()) {
        return Err(GraphError::new(
            101,
            "Error validating application. Invalid application ID.",
        ));
    }
    if p.str("client_secret").as_deref() != Some(state.config.fb_app_secret.as_str()) {
        return Err(GraphError::new(1, "Error validating client secret."));
    }
    let now = ctx.now;
    if p.str("grant_type").as_deref() == Some("fb_exchange_token") {
        let value = p
            .nonempty("fb_exchange_token")
            .ok_or_else(|| GraphError::param("The parameter fb_exchange_token is required"))?;
        let token = state
            .tokens
            .get(&value)
            .cloned()
            .filter(|t| matches!(t.kind, TokenKind::FbShort | TokenKind::FbLong))
            .ok_or(GraphError::token(accounts::TokenError::Unknown))?;
        accounts::check_token(&token, state.revocations.get(&token.subject), now)
            .map_err(GraphError::token)?;
        let expires = now.plus_secs(LONG_TOKEN_TTL_SECS).ms();
        let (new_token, _) = state.mint_token(
            TokenKind::FbLong,
            &token.subject,
            None,
            token.scopes.clone(),
            Some(expires),
        );
        return Ok(token_answer(&new_token, Some(LONG_TOKEN_TTL_SECS)));
    }
    let redirect_uri = p.str("redirect_uri").unwrap_or_default();
    let code_value = p
        .nonempty("code")
        .ok_or_else(|| GraphError::param("Missing authorization code"))?;
    let client_id = state.config.fb_app_id.clone();
    let code = state
        .codes
        .get_mut(&code_value)
        .filter(|c| c.platform == Platform::Facebook)
        .ok_or(GraphError::fb_code(CodeError::Unknown))?;
    accounts::redeem_code(code, &client_id, &redirect_uri, now).map_err(GraphError::fb_code)?;
    let (subject, scopes) = (code.subject.clone(), code.scopes.clone());
    let expires = now.plus_secs(accounts::SHORT_TOKEN_TTL_SECS).ms();
    let (token, _) = state.mint_token(TokenKind::FbShort, &subject, None, scopes, Some(expires));
    Ok(token_answer(&token, Some(accounts::SHORT_TOKEN_TTL_SECS)))
}

// ---------------------------------------------------------------- profiles

/// `GET /me` (Instagram token) or `GET /<IG_ID>`.
pub fn ig_profile(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, account: &str) -> GraphResult {
    auth.require(Capability::Basic)?;
    let user = state
        .ig_user(account)
        .ok_or_else(|| GraphError::no_object(account, "get"))?;
    let fields = ctx.params.fields_or(&["id"]);
    let media_count = state
        .media
        .iter()
        .filter(|m| m.account_id == user.user_id && m.parent.is_none())
        .count();
    answer_fields(&fields, "User", |f| {
        Field::Is(match f {
            // Instagram Login answers the app-scoped id; Facebook Login the account id.
            "id" => json!(if ctx.host == Host::Instagram {
                &user.app_scoped_id
            } else {
                &user.user_id
            }),
            "user_id" | "ig_id" => json!(user.user_id),
            "username" => json!(user.username),
            "name" => json!(user.name),
            "account_type" => json!(user.account_type),
            "profile_picture_url" => json!(user.profile_picture_url),
            "followers_count" => json!(user.followers_count),
            "follows_count" => json!(user.follows_count),
            "media_count" => json!(media_count),
            "biography" => json!(user.biography),
            "website" => json!(user.website),
            _ => return Field::Unknown,
        })
    })
}

fn requested_subscription_fields(ctx: &Ctx, known: &[&str]) -> Result<Vec<String>, GraphError> {
    let raw = match ctx.params.0.get("subscribed_fields") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if s.trim_start().starts_with('[') => serde_json::from_str::<
            Vec<String>,
        >(s)
        .map_err(|_| {
            GraphError::param("Param subscribed_fields must be an array or a comma separated list")
        })?,
        Some(Value::String(s)) => s
            .split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    if raw.is_empty() {
        return Err(GraphError::param(
            "The parameter subscribed_fields is required.",
        ));
    }
    for (i, f) in raw.iter().enumerate() {
        if !known.contains(&f.as_str()) {
            return Err(GraphError::param(format!(
                "Param subscribed_fields[{i}] must be one of {{{}}} - got \"{f}\"",
                known.join(", ")
            )));
        }
    }
    let mut unique: Vec<String> = Vec::new();
    for f in raw {
        if !unique.contains(&f) {
            unique.push(f);
        }
    }
    Ok(unique)
}

fn subscription_answer(state: &SimState, fields: &[String], app_id: &str) -> Value {
    if fields.is_empty() {
        json!({"data": []})
    } else {
        json!({"data": [{"id": app_id, "name": state.config.app_name, "subscribed_fields": fields}]})
    }
}

/// `POST|GET|DELETE graph.instagram.com/vNN/me/subscribed_apps` (Instagram Login).
pub fn ig_subscriptions(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    account: &str,
) -> GraphResult {
    if ctx.host != Host::Instagram {
        return Err(GraphError::no_object(account, &ctx.method_name()));
    }
    auth.require(Capability::Basic)?;
    let app_id = state.config.ig_app_id.clone();
    subscriptions(state, ctx, account, &app_id, IG_WEBHOOK_FIELDS, |s| {
        s.ig_user_mut(account).map(|u| &mut u.subscribed_fields)
    })
}

/// `POST|GET|DELETE graph.facebook.com/vNN/<PAGE_ID>/subscribed_apps` (page token).
pub fn page_subscriptions(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    page_id: &str,
) -> GraphResult {
    auth.require(Capability::PageMetadata)?;
    let app_id = state.config.fb_app_id.clone();
    subscriptions(state, ctx, page_id, &app_id, PAGE_WEBHOOK_FIELDS, |s| {
        s.page_mut(page_id).map(|p| &mut p.subscribed_fields)
    })
}

/// One node's app subscriptions (an Instagram account's or a Page's): POST replaces
/// them with `subscribed_fields` (each one of `known`), DELETE clears them, GET lists.
fn subscriptions(
    state: &mut SimState,
    ctx: &Ctx,
    node: &str,
    app_id: &str,
    known: &[&str],
    subscribed_of: impl FnOnce(&mut SimState) -> Option<&mut Vec<String>>,
) -> GraphResult {
    let method = ctx.method.clone();
    let requested = if method == axum::http::Method::POST {
        Some(requested_subscription_fields(ctx, known)?)
    } else {
        None
    };
    let subscribed = subscribed_of(state).ok_or_else(|| GraphError::no_object(node, "get"))?;
    match method {
        // DELETE has no fields: it leaves none.
        axum::http::Method::POST | axum::http::Method::DELETE => {
            *subscribed = requested.unwrap_or_default();
            Ok(json!({"success": true}))
        }
        axum::http::Method::GET => {
            let fields = subscribed.clone();
            Ok(subscription_answer(state, &fields, app_id))
        }
        _ => Err(GraphError::no_object(node, &ctx.method_name())),
    }
}

/// `GET graph.facebook.com/vNN/<PAGE_ID>` (and `/me` with a page token): `id, name,
/// category, instagram_business_account, connected_instagram_account, fan_count,
/// followers_count, link, about, picture` (`{"data":{"url",...}}`, as Meta shapes it).
pub fn page_node(state: &mut SimState, ctx: &mut Ctx, page_id: &str) -> GraphResult {
    let page = state
        .page(page_id)
        .ok_or_else(|| GraphError::no_object(page_id, "get"))?;
    let fields = ctx.params.fields_or(&["id", "name"]);
    answer_fields(&fields, "Page", |f| {
        Field::Is(match f {
            "id" => json!(page.id),
            "name" => json!(page.name),
            "category" => json!(page.category),
            "instagram_business_account" => match &page.instagram_business_account {
                Some(ig) => json!({"id": ig}),
                None => return Field::Absent,
            },
            "connected_instagram_account" => match &page.instagram_business_account {
                Some(ig) => json!({"id": ig}),
                None => return Field::Absent,
            },
            "fan_count" => json!(page_fans(&page.id)),
            "followers_count" => json!(page_followers(&page.id)),
            "link" => json!(format!("https://www.facebook.com/{}", page.id)),
            "about" => json!(format!("{} on Facebook.", page.name)),
            "picture" => json!({"data": {
                "height": 50,
                "width": 50,
                "is_silhouette": false,
                "url": format!("https://example.test/pages/{}.jpg", page.id),
            }}),
            _ => return Field::Unknown,
        })
    })
}

/// A Page's likes (`fan_count`): stable per page, 100 to 15099.
pub fn page_fans(page_id: &str) -> u64 {
    super::insights::figure(page_id, "fan_count", 100, 15_000)
}

/// A Page's followers: its fans and up to 4900 more (so at most 19999).
pub fn page_followers(page_id: &str) -> u64 {
    page_fans(page_id) + super::insights::figure(page_id, "followers_count", 0, 4_900)
}

/// `GET graph.facebook.com/vNN/me` with a user token.
pub fn fb_me(state: &mut SimState, ctx: &mut Ctx, user_id: &str) -> GraphResult {
    let user = state
        .fb_user(user_id)
        .ok_or_else(|| GraphError::no_object(user_id, "get"))?;
    let fields = ctx.params.fields_or(&["id", "name"]);
    answer_fields(&fields, "User", |f| {
        Field::Is(match f {
            "id" => json!(user.id),
            "name" => json!(user.name),
            _ => return Field::Unknown,
        })
    })
}

/// `GET graph.facebook.com/vNN/me/accounts`: the user's pages with page tokens. Page
/// tokens minted from a long-lived user token never expire; from a short-lived one
/// they expire with it.
pub fn me_accounts(state: &mut SimState, ctx: &mut Ctx, auth: &Auth, user_id: &str) -> GraphResult {
    let fields = ctx
        .params
        .fields_or(&["access_token", "category", "name", "id", "tasks"]);
    let owned: Vec<_> = state
        .pages
        .iter()
        .filter(|p| p.owner == user_id)
        .cloned()
        .collect();
    let limit = super::publishing::page_size(ctx)?;
    let after = ctx.params.str("after");
    let page_of_pages = paginate(&owned, |p| p.id.as_str(), after.as_deref(), limit);
    let pages = &page_of_pages.items;
    let page_expiry = match auth.token.kind {
        TokenKind::FbLong => None,
        _ => auth.token.expires_at_ms,
    };
    let mut data = Vec::new();
    for page in pages {
        data.push(answer_fields(&fields, "Page", |f| {
            Field::Is(match f {
                "id" => json!(page.id),
                "name" => json!(page.name),
                "category" => json!(page.category),
                "tasks" => json!(PAGE_TASKS),
                "access_token" => {
                    let (t, _) = state.mint_token(
                        TokenKind::Page,
                        user_id,
                        Some(&page.id),
                        auth.token.scopes.clone(),
                        page_expiry,
                    );
                    json!(t)
                }
                "instagram_business_account" => match &page.instagram_business_account {
                    Some(ig) => json!({"id": ig}),
                    None => return Field::Absent,
                },
                _ => return Field::Unknown,
            })
        })?);
    }
    let base = format!("{}/{user_id}/accounts", ctx.graph_base(state));
    Ok(super::publishing::with_paging(
        json!({"data": data}),
        &page_of_pages,
        &base,
        ctx,
        limit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_appends_to_existing_query_and_drops_old_fragment() {
        assert_eq!(
            redirect_with(
                "https://a.example/cb?x=1#frag",
                &[("code", "c d"), ("state", "s")],
                Some("_")
            ),
            "https://a.example/cb?x=1&code=c+d&state=s#_"
        );
        assert_eq!(
            redirect_with("https://a.example/cb", &[("code", "c")], None),
            "https://a.example/cb?code=c"
        );
    }

    #[test]
    fn html_escaping_covers_attribute_breakouts() {
        assert_eq!(
            escape("\"><script>&'"),
            "&quot;&gt;&lt;script&gt;&amp;&#39;"
        );
    }
}
