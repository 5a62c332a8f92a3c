//! The HTTP surface: one router that stands in for every Meta host (each host is a
//! path prefix) plus the `/_sim/` admin API.
//!
//! Graph calls are parsed once into a [`Ctx`] (path below the version, parameters from
//! query, form or JSON body, the access token from `Authorization` or
//! `access_token`), then dispatched by the type of the node the id names, as the Graph
//! API does. The state lock is taken once per call and never held across an `await`
//! (media a container names is downloaded before the lock is taken, as Meta fetches
//! it while creating the container). A middleware applies injected faults before a
//! call (a lost answer after it) and adds the usage headers after it.

pub mod admin;
pub mod comments;
pub mod insights;
pub mod media_fetch;
pub mod messaging;
pub mod oauth;
pub mod publishing;
pub mod webhooks;

use crate::graph_error::GraphError;
use crate::state::accounts::{self, Capability, Platform, Token, TokenError, TokenKind};
use crate::state::faults::{Fault, FaultKind, take_fault};
use crate::state::messaging::Channel;
use crate::state::usage::Usage;
use crate::state::{Clock, RequestRecord, SimState};
use crate::webhook::BuiltEvent;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use media_fetch::MediaFetches;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    state: Arc<Mutex<SimState>>,
    pub http: reqwest::Client,
}

impl App {
    pub fn new(state: SimState) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a default HTTP client builds"),
        }
    }

    /// Locks the state. A panic while locked is a simulator bug; the data is still
    /// usable for the remaining calls of a test run, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn router(app: App) -> Router {
    let meta = Router::new()
        .route(
            "/www.instagram.com/oauth/authorize",
            get(oauth::ig_dialog).post(oauth::ig_dialog_decision),
        )
        .route(
            "/www.facebook.com/{version}/dialog/oauth",
            get(oauth::fb_dialog).post(oauth::fb_dialog_decision),
        )
        .route(
            "/api.instagram.com/oauth/access_token",
            post(oauth::ig_code_exchange),
        )
        .route("/graph.instagram.com/{*rest}", graph_on(Host::Instagram))
        .route("/graph.facebook.com/{*rest}", graph_on(Host::Facebook))
        .layer(middleware::from_fn_with_state(app.clone(), meta_layer));
    Router::new()
        .merge(meta)
        .merge(admin::router())
        .merge(webhooks::router())
        .fallback(|uri: Uri| async move {
            GraphError::unknown_path(uri.path().trim_start_matches('/')).into_response()
        })
        .with_state(app)
}

/// Which Graph host a call went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Instagram,
    Facebook,
}

impl Host {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Instagram => "graph.instagram.com",
            Self::Facebook => "graph.facebook.com",
        }
    }

    fn platform(self) -> Platform {
        match self {
            Self::Instagram => Platform::Instagram,
            Self::Facebook => Platform::Facebook,
        }
    }
}

/// Who a call is accounted to, for the usage headers.
#[derive(Clone, Debug)]
pub struct UsageTag {
    pub app_id: String,
    pub account: Option<String>,
    pub buc_type: &'static str,
    pub throttled: bool,
}

/// Call parameters, merged from the query string, a form body and a JSON body.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Map<String, Value>);

impl Params {
    pub fn parse(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Self, GraphError> {
        let mut map = Map::new();
        if let Some(q) = uri.query() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
                .map_err(|_| GraphError::param("Invalid query string"))?;
            for (k, v) in pairs {
                map.insert(k, Value::String(v));
            }
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let trimmed = body.iter().skip_while(|b| b.is_ascii_whitespace()).copied();
        let looks_json = trimmed.clone().next() == Some(b'{');
        if content_type.contains("json") || (content_type.is_empty() && looks_json) {
            if !body.is_empty() {
                let v: Value = serde_json::from_slice(body)
                    .map_err(|_| GraphError::param("Invalid JSON in request body"))?;
                let Value::Object(obj) = v else {
                    return Err(GraphError::param("The request body must be a JSON object"));
                };
                map.extend(obj);
            }
        } else if !body.is_empty() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| GraphError::param("Invalid form body"))?;
            for (k, v) in pairs {
                map.insert(k, Value::String(v));
            }
        }
        Ok(Self(map))
    }

    /// A parameter as text (numbers and booleans are accepted and printed).
    pub fn str(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A non-empty text parameter.
    pub fn nonempty(&self, name: &str) -> Option<String> {
        self.str(name).filter(|s| !s.trim().is_empty())
    }

    /// A parameter that is JSON: an object in a JSON body, or JSON text in a form.
    pub fn json(&self, name: &str) -> Result<Option<Value>, GraphError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| GraphError::param(format!("Param {name} must be a JSON object"))),
            Some(v) => Ok(Some(v.clone())),
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.0.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The top-level names of `fields` (`a,b{c,d},e` -> a, b, e).
    /// The requested `fields`, or the node's `default` ones when the call names none.
    pub fn fields_or(&self, default: &[&str]) -> Vec<String> {
        self.fields()
            .unwrap_or_else(|| default.iter().map(|f| (*f).to_owned()).collect())
    }

    pub fn fields(&self) -> Option<Vec<String>> {
        let raw = self.str("fields")?;
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut current = String::new();
        for c in raw.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    push_field(&mut out, &mut current);
                }
                _ if depth == 0 => current.push(c),
                _ => {}
            }
        }
        push_field(&mut out, &mut current);
        Some(out)
    }
}

fn push_field(out: &mut Vec<String>, current: &mut String) {
    let name = current.trim();
    // `field.limit(5)` and similar modifiers keep only the field name.
    let name = name.split('.').next().unwrap_or(name);
    if !name.is_empty() && !out.iter().any(|f| f == name) {
        out.push(name.to_owned());
    }
    current.clear();
}

/// A validated access token.
#[derive(Clone, Debug)]
pub struct Auth {
    pub value: String,
    pub token: Token,
}

impl Auth {
    pub fn require(&self, cap: Capability) -> Result<(), GraphError> {
        if accounts::grants(&self.token, cap) {
            Ok(())
        } else {
            Err(GraphError::missing_permission(
                cap,
                self.token.kind.platform(),
            ))
        }
    }
}

/// One Graph call being handled.
pub struct Ctx {
    pub host: Host,
    pub method: Method,
    pub version: String,
    pub segments: Vec<String>,
    pub params: Params,
    pub token: Option<String>,
    pub now: Clock,
    pub usage: UsageTag,
    /// Webhooks to send once the state is unlocked (echoes of sent messages).
    pub followups: Vec<BuiltEvent>,
    /// What downloading the media of a container call gave (empty for other calls).
    pub media: MediaFetches,
}

pub type GraphResult = Result<Value, GraphError>;

impl Ctx {
    pub fn method_name(&self) -> String {
        self.method.as_str().to_ascii_lowercase()
    }

    /// Validates the call's token for this host.
    pub fn authenticate(&mut self, state: &SimState) -> Result<Auth, GraphError> {
        let value = self.token.clone().ok_or_else(GraphError::missing_token)?;
        let for_host = match self.host {
            Host::Instagram => value.starts_with("IGAA"),
            Host::Facebook => value.starts_with("EAA"),
        };
        if !for_host {
            return Err(GraphError::unparsable_token());
        }
        let token = state
            .tokens
            .get(&value)
            .cloned()
            .ok_or(GraphError::token(TokenError::Unknown))?;
        let revocation = state.revocations.get(&token.subject);
        accounts::check_token(&token, revocation, self.now).map_err(GraphError::token)?;
        self.usage.app_id = app_id_for(state, self.host.platform());
        if state.config.enforce_usage_limits
            && app_usage(state, &self.usage.app_id, self.now).max() >= 100
        {
            return Err(GraphError::app_throttled());
        }
        Ok(Auth { value, token })
    }

    /// Marks the call as made on `account_id` and enforces that account's limit.
    pub fn on_account(
        &mut self,
        state: &SimState,
        account_id: &str,
        buc_type: &'static str,
    ) -> Result<(), GraphError> {
        self.usage.account = Some(account_id.to_owned());
        self.usage.buc_type = buc_type;
        if state.config.enforce_usage_limits
            && account_usage(state, account_id, self.now).max() >= 100
        {
            return Err(GraphError::account_throttled(buc_type));
        }
        Ok(())
    }

    /// What the id `id` found (`found`), if the token may act on its Instagram account
    /// (`account_of`); the call is then made on that account. A record the token may
    /// not act on does not exist for it.
    pub fn visible_to<T>(
        &mut self,
        state: &SimState,
        auth: &Auth,
        id: &str,
        found: Option<T>,
        account_of: impl Fn(&T) -> &str,
    ) -> Result<T, GraphError> {
        let Some(found) = found.filter(|f| may_act_on_ig(state, &auth.token, account_of(f))) else {
            return Err(GraphError::no_object(id, &self.method_name()));
        };
        self.on_account(state, account_of(&found), "instagram")?;
        Ok(found)
    }

    /// The Instagram account `id` names (`me`: the token's), if the token may act on it.
    pub fn ig_account(
        &mut self,
        state: &SimState,
        auth: &Auth,
        id: &str,
    ) -> Result<String, GraphError> {
        let account = if id == "me" {
            match auth.token.kind {
                TokenKind::IgShort | TokenKind::IgLong => Some(auth.token.subject.clone()),
                _ => None,
            }
        } else {
            state.ig_user(id).map(|u| u.user_id.clone())
        };
        self.visible_to(state, auth, id, account, String::as_str)
    }

    /// The page `id` names (`me`: the page token's), if the token may act on it.
    /// `page_token_only`: Meta requires a page token for this call.
    pub fn page(
        &mut self,
        state: &SimState,
        auth: &Auth,
        id: &str,
        page_token_only: bool,
        buc_type: &'static str,
    ) -> Result<String, GraphError> {
        let page_id = if id == "me" {
            auth.token.page_id.clone()
        } else {
            state.page(id).map(|p| p.id.clone())
        };
        let Some(page_id) = page_id else {
            return Err(GraphError::no_object(id, &self.method_name()));
        };
        let allowed = match auth.token.kind {
            TokenKind::Page => auth.token.page_id.as_deref() == Some(page_id.as_str()),
            TokenKind::FbShort | TokenKind::FbLong
                if state
                    .page(&page_id)
                    .is_some_and(|p| p.owner == auth.token.subject) =>
            {
                if page_token_only {
                    return Err(GraphError::page_token_required());
                }
                true
            }
            _ => false,
        };
        if !allowed {
            return Err(GraphError::no_object(id, &self.method_name()));
        }
        self.on_account(state, &page_id, buc_type)?;
        Ok(page_id)
    }

    /// `{base}/graph.x.com/vNN.N` for URLs the simulator hands out.
    pub fn graph_base(&self, state: &SimState) -> String {
        format!("{}/{}/{}", state.base_url, self.host.prefix(), self.version)
    }
}

/// What a node answers for one requested field.
pub enum Field {
    /// The field's value.
    Is(Value),
    /// A field the node has, left out while empty (as Meta leaves out a missing caption).
    Absent,
    /// No such field on this node.
    Unknown,
}

/// A node's answer to `?fields=`: each requested field as `field` answers it, or
/// Meta's nonexisting-field error (#100) naming `node_type` for the first unknown one.
pub fn answer_fields(
    fields: &[String],
    node_type: &str,
    mut field: impl FnMut(&str) -> Field,
) -> GraphResult {
    let mut out = Map::new();
    for f in fields {
        match field(f) {
            Field::Is(v) => {
                out.insert(f.clone(), v);
            }
            Field::Absent => {}
            Field::Unknown => return Err(GraphError::nonexisting_field(f, node_type)),
        }
    }
    Ok(Value::Object(out))
}

/// Whether a token may act on the Instagram account `account` (professional id).
pub fn may_act_on_ig(state: &SimState, token: &Token, account: &str) -> bool {
    match token.kind {
        TokenKind::IgShort | TokenKind::IgLong => token.subject == account,
        TokenKind::Page => token
            .page_id
            .as_deref()
            .and_then(|p| state.page(p))
            .is_some_and(|p| p.instagram_business_account.as_deref() == Some(account)),
        TokenKind::FbShort | TokenKind::FbLong => state.pages.iter().any(|p| {
            p.owner == token.subject && p.instagram_business_account.as_deref() == Some(account)
        }),
    }
}

pub fn app_id_for(state: &SimState, platform: Platform) -> String {
    match platform {
        Platform::Instagram => state.config.ig_app_id.clone(),
        Platform::Facebook => state.config.fb_app_id.clone(),
    }
}

fn app_usage(state: &SimState, app_id: &str, now: Clock) -> Usage {
    match state.usage_override {
        Some(o) => Usage::from_override(o),
        None => Usage::from_calls(
            state.usage.app_calls(app_id, now),
            state.config.app_calls_per_hour,
        ),
    }
}

fn account_usage(state: &SimState, account_id: &str, now: Clock) -> Usage {
    match state
        .account_usage_override
        .get(account_id)
        .copied()
        .or(state.usage_override)
    {
        Some(o) => Usage::from_override(o),
        None => Usage::from_calls(
            state.usage.account_calls(account_id, now),
            state.config.account_calls_per_hour,
        ),
    }
}

/// The access token of a call: `Authorization: Bearer|OAuth <t>` or `access_token`.
pub fn bearer_token(headers: &HeaderMap, params: &Params) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(|t| t.trim().to_owned());
    from_header
        .filter(|t| !t.is_empty())
        .or_else(|| params.nonempty("access_token"))
}

fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    })
}

/// Every Graph call to `host`, whatever its method and path.
fn graph_on(host: Host) -> MethodRouter<App> {
    any(
        move |State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            graph(app, host, method, uri, headers, body)
        },
    )
}

async fn graph(
    app: App,
    host: Host,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&uri, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let token = bearer_token(&headers, &params);
    let rest = uri
        .path()
        .trim_start_matches('/')
        .split_once('/')
        .map(|(_, r)| r)
        .unwrap_or("");
    let mut segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let media = if media_fetch::creates_container(&method, &segments) {
        media_fetch::fetch_for_call(&app, &params).await
    } else {
        MediaFetches::default()
    };
    let (result, usage, followups) = {
        let mut state = app.lock();
        let version = if segments.first().is_some_and(|s| is_version(s)) {
            segments.remove(0)
        } else {
            state.config.graph_version.clone()
        };
        let default_app = app_id_for(&state, host.platform());
        let mut ctx = Ctx {
            host,
            method,
            version,
            segments,
            params,
            token,
            now: state.now(),
            usage: UsageTag {
                app_id: default_app,
                account: None,
                buc_type: "instagram",
                throttled: false,
            },
            followups: Vec::new(),
            media,
        };
        let result = dispatch(&mut state, &mut ctx);
        (result, ctx.usage, ctx.followups)
    };
    if !followups.is_empty() {
        let app = app.clone();
        tokio::spawn(async move {
            webhooks::deliver_events(&app, followups).await;
        });
    }
    let mut res = match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    res.extensions_mut().insert(usage);
    res
}

/// The kind of object an id names, as the Graph API resolves nodes.
enum Node {
    IgAccount,
    Page,
    FbUser,
    Container,
    Media,
    Comment,
}

fn node_kind(state: &SimState, host: Host, id: &str, auth_kind: Option<TokenKind>) -> Option<Node> {
    if id == "me" {
        return match (host, auth_kind) {
            (Host::Instagram, _) => Some(Node::IgAccount),
            (Host::Facebook, Some(TokenKind::Page)) => Some(Node::Page),
            (Host::Facebook, _) => Some(Node::FbUser),
        };
    }
    if state.ig_user(id).is_some() {
        Some(Node::IgAccount)
    } else if state.containers.contains_key(id) {
        Some(Node::Container)
    } else if state.media_item(id).is_some() {
        Some(Node::Media)
    } else if state.comment(id).is_some() {
        Some(Node::Comment)
    } else if host == Host::Facebook && state.page(id).is_some() {
        Some(Node::Page)
    } else if host == Host::Facebook && state.fb_user(id).is_some() {
        Some(Node::FbUser)
    } else {
        None
    }
}

fn dispatch(state: &mut SimState, ctx: &mut Ctx) -> GraphResult {
    let segs: Vec<&str> = ctx.segments.iter().map(String::as_str).collect();
    match (ctx.host, segs.as_slice()) {
        (Host::Instagram, ["access_token"]) => return oauth::ig_exchange_long(state, ctx),
        (Host::Instagram, ["refresh_access_token"]) => return oauth::ig_refresh(state, ctx),
        (Host::Facebook, ["oauth", "access_token"]) => return oauth::fb_access_token(state, ctx),
        _ => {}
    }
    let (id, edge) = match segs.as_slice() {
        [id] => ((*id).to_owned(), None),
        [id, edge] => ((*id).to_owned(), Some((*edge).to_owned())),
        _ => return Err(GraphError::unknown_path(&ctx.segments.join("/"))),
    };
    let auth = ctx.authenticate(state)?;
    let method = ctx.method.clone();
    let Some(node) = node_kind(state, ctx.host, &id, Some(auth.token.kind)) else {
        return Err(GraphError::no_object(&id, &ctx.method_name()));
    };
    let edge = edge.as_deref();
    let unsupported = |ctx: &Ctx, node_type: &str| match &ctx.method {
        &Method::GET => Err(GraphError::nonexisting_field(edge.unwrap_or(""), node_type)),
        _ => Err(GraphError::no_object(&id, &ctx.method_name())),
    };
    match node {
        Node::IgAccount => {
            let account = ctx.ig_account(state, &auth, &id)?;
            match (edge, &method) {
                (None, &Method::GET) => oauth::ig_profile(state, ctx, &auth, &account),
                (Some("subscribed_apps"), _) => {
                    oauth::ig_subscriptions(state, ctx, &auth, &account)
                }
                (Some("messages"), &Method::POST) => {
                    messaging::send(state, ctx, &auth, &account, Channel::Instagram)
                }
                (Some("media"), &Method::POST) => {
                    publishing::create_container(state, ctx, &auth, &account)
                }
                (Some("media"), &Method::GET) => {
                    publishing::list_media(state, ctx, &auth, &account)
                }
                (Some("media_publish"), &Method::POST) => {
                    publishing::publish(state, ctx, &auth, &account)
                }
                (Some("content_publishing_limit"), &Method::GET) => {
                    publishing::publishing_limit(state, ctx, &auth, &account)
                }
                (Some("insights"), &Method::GET) => insights::account(state, ctx, &auth, &account),
                _ => unsupported(ctx, "User"),
            }
        }
        Node::Page => {
            let buc = if edge == Some("messages") {
                "messenger"
            } else {
                "pages"
            };
            let page_token_only = edge.is_some();
            let page = ctx.page(state, &auth, &id, page_token_only, buc)?;
            match (edge, &method) {
                (None, &Method::GET) => oauth::page_node(state, ctx, &page),
                (Some("subscribed_apps"), _) => oauth::page_subscriptions(state, ctx, &auth, &page),
                (Some("messages"), &Method::POST) => {
                    messaging::send_from_page(state, ctx, &auth, &page)
                }
                (Some(edge @ ("feed" | "photos")), &Method::POST) => {
                    publishing::page_post(state, ctx, &auth, &page, edge)
                }
                (Some(edge @ ("feed" | "photos")), &Method::GET) => {
                    publishing::page_posts(state, ctx, &page, edge)
                }
                _ => unsupported(ctx, "Page"),
            }
        }
        Node::FbUser => {
            let user = if id == "me" {
                auth.token.subject.clone()
            } else {
                id.clone()
            };
            if auth.token.kind == TokenKind::Page || auth.token.subject != user {
                return Err(GraphError::no_object(&id, &ctx.method_name()));
            }
            match (edge, &method) {
                (None, &Method::GET) => oauth::fb_me(state, ctx, &user),
                (Some("accounts"), &Method::GET) => oauth::me_accounts(state, ctx, &auth, &user),
                _ => unsupported(ctx, "User"),
            }
        }
        Node::Container => match (edge, &method) {
            (None, &Method::GET) => publishing::container_status(state, ctx, &auth, &id),
            _ => unsupported(ctx, "ShadowIGMediaBuilder"),
        },
        Node::Media => match (edge, &method) {
            (None, &Method::GET) => publishing::media_fields(state, ctx, &auth, &id),
            (None, &Method::POST) => comments::update_media(state, ctx, &auth, &id),
            (Some("children"), &Method::GET) => publishing::media_children(state, ctx, &auth, &id),
            (Some("comments"), &Method::GET) => comments::list(state, ctx, &auth, &id),
            (Some("comments"), &Method::POST) => comments::create_on_media(state, ctx, &auth, &id),
            (Some("insights"), &Method::GET) => insights::media(state, ctx, &auth, &id),
            _ => unsupported(ctx, "Media"),
        },
        Node::Comment => match (edge, &method) {
            (None, &Method::GET) => comments::get(state, ctx, &auth, &id),
            (None, &Method::POST) => comments::hide(state, ctx, &auth, &id),
            (None, &Method::DELETE) => comments::delete(state, ctx, &auth, &id),
            (Some("replies"), &Method::GET) => comments::replies(state, ctx, &auth, &id),
            (Some("replies"), &Method::POST) => comments::reply(state, ctx, &auth, &id),
            _ => unsupported(ctx, "Comment"),
        },
    }
}

/// Applies injected faults to a call to a Meta host (before it runs; a lost answer
/// after it ran), then adds `X-App-Usage` and `X-Business-Use-Case-Usage` and records
/// the call with the status the client saw.
async fn meta_layer(State(app): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let (fault, fault_account) = {
        let mut state = app.lock();
        let fault = take_fault(&mut state.faults, &path, &method);
        // An injected throttle answers like Meta's: with the usage of the account the
        // call was about, saturated, and when access comes back.
        let account = match &fault {
            Some(f) if f.kind == FaultKind::Throttle => {
                account_of_call(&state, &path, req.headers(), req.uri().query())
            }
            _ => None,
        };
        (fault, account)
    };
    let mut throttled = false;
    let mut res = match fault {
        Some(f) if f.kind == FaultKind::Slow => {
            tokio::time::sleep(Duration::from_millis(f.delay_ms.unwrap_or(1000))).await;
            next.run(req).await
        }
        Some(f) if f.kind == FaultKind::LostAnswer => lose_answer(next.run(req).await, &f),
        Some(f) => {
            throttled = f.kind == FaultKind::Throttle;
            fault_error(&f).into_response()
        }
        None => next.run(req).await,
    };
    let default_platform =
        if path.starts_with("/www.facebook.com") || path.starts_with("/graph.facebook.com") {
            Platform::Facebook
        } else {
            Platform::Instagram
        };
    let mut state = app.lock();
    let mut tag = res
        .extensions_mut()
        .remove::<UsageTag>()
        .unwrap_or_else(|| UsageTag {
            app_id: app_id_for(&state, default_platform),
            account: None,
            buc_type: "instagram",
            throttled: false,
        });
    tag.throttled |= throttled;
    if tag.account.is_none() {
        tag.account = fault_account;
    }
    let now = state.now();
    state.usage.record(now, &tag.app_id, tag.account.as_deref());
    let mut app_u = app_usage(&state, &tag.app_id, now);
    if tag.throttled {
        app_u = app_u.saturated();
    }
    set_json_header(res.headers_mut(), "x-app-usage", &app_u.app_header());
    if let Some(account) = &tag.account {
        let mut u = account_usage(&state, account, now);
        if tag.throttled {
            u = u.saturated();
        }
        let regain = if u.max() >= 100 {
            state
                .usage
                .minutes_until_account_call_expires(account, now)
                .max(1)
        } else {
            0
        };
        set_json_header(
            res.headers_mut(),
            "x-business-use-case-usage",
            &u.buc_header(account, tag.buc_type, regain),
        );
    }
    state.log_request(RequestRecord {
        method,
        path,
        status: res.status().as_u16(),
        at_ms: now.ms(),
    });
    res
}

/// The account a Graph call is about, without running it: the path's object (an
/// account, a Page, a media or comment of one) or, for `me`, the token's account.
fn account_of_call(
    state: &SimState,
    path: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/').skip(1);
    let mut object = segments.next()?;
    if is_version(object) {
        object = segments.next()?;
    }
    if object == "me" {
        let mut params = Params::default();
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default();
        for (k, v) in pairs {
            params.0.insert(k, Value::String(v));
        }
        let token = bearer_token(headers, &params)?;
        let token = state.tokens.get(&token)?;
        return Some(
            token
                .page_id
                .clone()
                .unwrap_or_else(|| token.subject.clone()),
        );
    }
    if state.ig_user(object).is_some() || state.page(object).is_some() {
        return Some(object.to_owned());
    }
    if let Some(comment) = state.comment(object) {
        return state
            .media_item(&comment.media_id)
            .map(|m| m.account_id.clone());
    }
    state.media_item(object).map(|m| m.account_id.clone())
}

/// What the client gets instead of the answer of a call that ran: the fault's error.
/// The call still counts against the usage of the account it was about.
fn lose_answer(mut answered: Response, f: &Fault) -> Response {
    let mut lost = fault_error(f).into_response();
    if let Some(tag) = answered.extensions_mut().remove::<UsageTag>() {
        lost.extensions_mut().insert(tag);
    }
    lost
}

fn set_json_header(headers: &mut HeaderMap, name: &'static str, value: &Value) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(name, v);
    }
}

fn fault_error(f: &Fault) -> GraphError {
    let (default_code, default_status, transient) = match f.kind {
        FaultKind::Throttle => (4, StatusCode::BAD_REQUEST, true),
        FaultKind::Transient => (2, StatusCode::SERVICE_UNAVAILABLE, true),
        FaultKind::ServerError => (1, StatusCode::INTERNAL_SERVER_ERROR, false),
        // A client whose call went through but whose answer was lost sees Meta's edge
        // fail: a gateway error with Meta's transient "unexpected error" (code 2).
        FaultKind::LostAnswer => (2, StatusCode::BAD_GATEWAY, true),
        FaultKind::Error | FaultKind::Slow => (100, StatusCode::BAD_REQUEST, false),
    };
    let code = f.code.unwrap_or(default_code);
    let message = f
        .message
        .clone()
        .unwrap_or_else(|| fault_message(f.kind, code));
    let status = f
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(default_status);
    let mut err = GraphError::new(code, message).status(status);
    if transient {
        err = err.transient();
    }
    err.subcode = f.subcode.or(err.subcode);
    if let Some(t) = f.is_transient {
        err.is_transient = t;
    }
    err
}

/// Meta's message for a fault of `kind` answering `code`, where the fault names none.
fn fault_message(kind: FaultKind, code: i64) -> String {
    match kind {
        FaultKind::Throttle => match code {
            4 => "(#4) Application request limit reached".into(),
            17 => "(#17) User request limit reached".into(),
            32 => "(#32) Page request limit reached".into(),
            613 => "(#613) Calls to this api have exceeded the rate limit.".into(),
            80_002 => "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.".into(),
            80_006 => "(#80006) There have been too many messenger api calls to this Page account. Wait a bit and try again.".into(),
            c => format!("(#{c}) Rate limit reached"),
        },
        FaultKind::Transient | FaultKind::LostAnswer => {
            "An unexpected error has occurred. Please retry your request later.".into()
        }
        FaultKind::ServerError => "An unknown error has occurred.".into(),
        FaultKind::Error | FaultKind::Slow => format!("(#{code}) Simulated error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_recognised() {
        assert!(is_version("v26.0"));
        assert!(is_version("v25"));
        assert!(!is_version("me"));
        assert!(!is_version("v"));
        assert!(!is_version("v26."));
    }

    #[test]
    fn fields_keep_top_level_names() {
        let mut p = Params::default();
        p.0.insert(
            "fields".into(),
            Value::String("id,from{id,username},text, media.limit(2)".into()),
        );
        assert_eq!(
            p.fields(),
            Some(vec![
                "id".into(),
                "from".into(),
                "text".into(),
                "media".into()
            ])
        );
    }

    #[test]
    fn params_merge_query_and_form_and_json() {
        let uri: Uri = "/x?a=1&b=2".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let p = Params::parse(&uri, &headers, b"b=3&c=%7B%22id%22%3A%221%22%7D").expect("parses");
        assert_eq!(p.str("a").as_deref(), Some("1"));
        assert_eq!(p.str("b").as_deref(), Some("3"));
        assert_eq!(
            p.json("c")
                .expect("json")
                .and_then(|v| v["id"].as_str().map(str::to_owned)),
            Some("1".into())
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let p = Params::parse(&uri, &headers, br#"{"recipient":{"id":"9"}}"#).expect("parses");
        assert_eq!(
            p.json("recipient").expect("json").map(|v| v["id"].clone()),
            Some(Value::String("9".into()))
        );
    }
}
