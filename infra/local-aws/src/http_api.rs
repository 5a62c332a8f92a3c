//! The local API Gateway: an HTTP server on 127.0.0.1 that serves the HTTP API routes of
//! template.yaml. Each request is matched to a route as API Gateway matches HTTP API
//! routes (the most specific path wins, a method beats `ANY`, `$default` catches the
//! rest), checked by the route's Lambda authorizer if it has one, turned into an API
//! Gateway HTTP API event (payload format 2.0) and handed to the function (an
//! [`Invoke`]: cargo-lambda in the local stack, a handler in process in the tests); the
//! function's answer, read as payload format 2.0, becomes the HTTP response.
//!
//! What API Gateway answers itself is answered here the same way: no route 404, a
//! failed function 500 `Internal Server Error`, no answer within the integration
//! timeout (30 s at most) 503 `Service Unavailable`, a body over 10 MB 413.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::lambda::{Invoke, Invoked};
use crate::local_aws::{ACCOUNT_ID, REGION};
use crate::template::{FunctionSpec, HttpRoute, LambdaAuthorizer, Trigger};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// API Gateway's longest integration timeout for HTTP APIs.
const MAX_INTEGRATION: Duration = Duration::from_secs(30);
/// API Gateway's timeout for a Lambda authorizer.
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// A route and the function behind it.
#[derive(Debug, Clone)]
pub struct Route {
    pub route_key: String,
    method: Option<String>,
    /// None for `$default`.
    segments: Option<Vec<Segment>>,
    /// The function behind the route, by the name its [`Invoke`] knows it under (the
    /// workspace binary).
    pub function: String,
    pub timeout: Duration,
    /// The route's Lambda authorizer and the function that runs it.
    pub authorizer: Option<(LambdaAuthorizer, String)>,
}

/// The routes of the template.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    pub fn from_functions(functions: &[FunctionSpec]) -> Routes {
        let mut routes = Vec::new();
        for f in functions {
            for event in &f.events {
                if let Trigger::Http(route) = &event.trigger {
                    let mut r = Route::new(route, f);
                    r.authorizer = route.authorizer.as_ref().and_then(|a| {
                        let binary = functions.iter().find(|g| g.logical_id == a.function)?;
                        Some((a.clone(), binary.binary.clone()))
                    });
                    routes.push(r);
                }
            }
        }
        Routes(routes)
    }

    /// One `$default` route to `function`, which then gets every request.
    pub fn catch_all(function: impl Into<String>) -> Routes {
        Routes(vec![Route {
            route_key: "$default".into(),
            method: None,
            segments: None,
            function: function.into(),
            timeout: MAX_INTEGRATION,
            authorizer: None,
        }])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.0.iter()
    }

    /// The route API Gateway would pick for `method` and `path`, with the path
    /// parameters it captured.
    pub fn find(&self, method: &str, path: &str) -> Option<(&Route, BTreeMap<String, String>)> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.0
            .iter()
            .filter(|r| r.method.as_deref().is_none_or(|m| m == method))
            .filter_map(|r| Some((r, r.captures(&parts)?)))
            .max_by_key(|(r, _)| r.rank())
    }
}

impl Route {
    fn new(route: &HttpRoute, f: &FunctionSpec) -> Route {
        let segments = (route.path != "$default").then(|| {
            route
                .path
                .trim_start_matches('/')
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(inner) => match inner.strip_suffix('+') {
                            Some(name) => Segment::Greedy(name.to_owned()),
                            None => Segment::Param(inner.to_owned()),
                        },
                        None => Segment::Literal(s.to_owned()),
                    },
                )
                .collect()
        });
        Route {
            route_key: route.route_key(),
            method: route.method.clone(),
            segments,
            function: f.binary.clone(),
            timeout: Duration::from_secs(u64::from(f.timeout_seconds)).min(MAX_INTEGRATION),
            authorizer: None,
        }
    }

    fn captures(&self, parts: &[&str]) -> Option<BTreeMap<String, String>> {
        let Some(segments) = &self.segments else {
            return Some(BTreeMap::new());
        };
        let mut params = BTreeMap::new();
        for (i, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Greedy(name) => {
                    let rest = parts
                        .get(i..)
                        .filter(|r| !r.is_empty() && !r[0].is_empty())?;
                    params.insert(name.clone(), percent_decode(&rest.join("/")));
                    return Some(params);
                }
                Segment::Literal(text) => {
                    if parts.get(i)? != text {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = parts.get(i).filter(|v| !v.is_empty())?;
                    params.insert(name.clone(), percent_decode(value));
                }
            }
        }
        (parts.len() == segments.len()).then_some(params)
    }

    /// Higher is more specific: any path beats `$default`; literal segments beat
    /// parameters, which beat a greedy tail, segment by segment; a method beats `ANY`.
    fn rank(&self) -> (bool, Vec<u8>, bool) {
        let segments = self.segments.as_ref().map(|segments| {
            segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(_) => 3,
                    Segment::Param(_) => 2,
                    Segment::Greedy(_) => 1,
                })
                .collect()
        });
        (
            segments.is_some(),
            segments.unwrap_or_default(),
            self.method.is_some(),
        )
    }
}

/// Decodes `%XX` escapes (not `+`: in a path it is a plus sign).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(u8::try_from(high * 16 + low).expect("two hex digits fit a byte"));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An incoming request, as the API saw it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: &'a str,
}

/// The API Gateway HTTP API (payload format 2.0) event for a request on `route`.
pub fn event(
    request: &Incoming<'_>,
    route_key: &str,
    path_parameters: &BTreeMap<String, String>,
    request_id: &str,
    now: time::OffsetDateTime,
) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in request.headers {
        let Ok(value) = value.to_str() else { continue };
        if name.as_str() == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in
        serde_urlencoded::from_str::<Vec<(String, String)>>(request.query).unwrap_or_default()
    {
        query
            .entry(k)
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert(v);
    }
    let content_type = headers
        .get("content-type")
        .map(String::as_str)
        .unwrap_or("");
    let textual = content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("application/xml")
        || content_type.contains("+json");
    // API Gateway passes text as it is and base64-encodes everything else.
    let (body, encoded) = match std::str::from_utf8(request.body) {
        _ if request.body.is_empty() => (Value::Null, false),
        Ok(text) if textual => (Value::String(text.to_owned()), false),
        _ => (Value::String(B64.encode(request.body)), true),
    };
    let time_format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".into());
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or("local"),
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(time_format).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "isBase64Encoded": encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// The HTTP answer to a function's result, as API Gateway builds it for payload 2.0.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    fn message(status: u16, message: &str) -> Answer {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({ "message": message }).to_string().into_bytes(),
        }
    }
}

/// A function result in payload format 2.0: a response object (`statusCode`,
/// `headers`, `multiValueHeaders`, `cookies`, `body`, `isBase64Encoded`), or any other
/// JSON, which API Gateway sends as a 200 `application/json` body.
pub fn answer(result: &[u8]) -> Answer {
    let Ok(value) = serde_json::from_slice::<Value>(result) else {
        return Answer::message(500, "Internal Server Error");
    };
    let Some(status) = value
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..600).contains(s))
    else {
        return Answer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: result.to_vec(),
        };
    };
    let mut headers = Vec::new();
    if let Some(map) = value.get("headers").and_then(Value::as_object) {
        for (k, v) in map {
            if let Some(v) = v.as_str() {
                headers.push((k.to_ascii_lowercase(), v.to_owned()));
            }
        }
    }
    if let Some(map) = value.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, values) in map {
            let name = k.to_ascii_lowercase();
            if headers.iter().any(|(n, _)| *n == name) {
                continue;
            }
            for v in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                headers.push((name.clone(), v.to_owned()));
            }
        }
    }
    for cookie in value
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        headers.push(("set-cookie".into(), cookie.to_owned()));
    }
    let text = value.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if value
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        match B64.decode(text) {
            Ok(bytes) => bytes,
            Err(_) => return Answer::message(500, "Internal Server Error"),
        }
    } else {
        text.as_bytes().to_vec()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Where the API writes a line about each request and each failed function.
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// An HTTP API: its routes and the functions behind them.
pub struct HttpApi<F> {
    pub routes: Routes,
    pub functions: F,
    pub log: Log,
    /// Authorizer answers by authorizer and identity, until they expire (API Gateway
    /// caches allow and deny alike for `ReauthorizeEvery`).
    authorized: AuthCache,
}

/// An authorizer's answer for one identity: until when it holds, and the context if
/// the request is allowed.
type CachedAnswer = (Instant, Option<Value>);

/// Cached authorizer answers by (authorizer, identity).
#[derive(Default)]
struct AuthCache(std::sync::Mutex<std::collections::HashMap<(String, String), CachedAnswer>>);

/// What an authorizer decided for a request.
enum Authorized {
    /// Let it through with this `requestContext.authorizer.lambda`.
    Allow(Value),
    /// API Gateway's own answer (401, 403 or 500).
    Refuse(Answer),
}

impl<F: Invoke> HttpApi<F> {
    pub fn new(routes: Routes, functions: F, log: Log) -> HttpApi<F> {
        HttpApi {
            routes,
            functions,
            log,
            authorized: AuthCache::default(),
        }
    }

    /// Run the route's authorizer as API Gateway does: a request without every identity
    /// header is 401 without a call; `isAuthorized: false` is 403; an authorizer that
    /// fails or answers nonsense is 500; answers are cached per identity for the TTL.
    async fn authorize(&self, auth: &LambdaAuthorizer, binary: &str, event: &Value) -> Authorized {
        let headers = &event["headers"];
        let identity: Option<Vec<String>> = auth
            .identity_headers
            .iter()
            .map(|h| headers.get(h).and_then(Value::as_str).map(str::to_owned))
            .collect();
        let Some(identity) = identity else {
            return Authorized::Refuse(Answer::message(401, "Unauthorized"));
        };
        let key = (auth.name.clone(), identity.join("\u{0}"));
        let cached = self
            .authorized
            .0
            .lock()
            .expect("authorizer cache lock is never poisoned")
            .get(&key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, context)| context.clone());
        let context = match cached {
            Some(context) => context,
            None => {
                let mut request = event.clone();
                if let Some(map) = request.as_object_mut() {
                    map.remove("body");
                    map.remove("isBase64Encoded");
                    map.insert("type".into(), json!("REQUEST"));
                    map.insert("identitySource".into(), json!(identity));
                    let route_arn = format!(
                        "arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:local/$default/{}",
                        event["routeKey"]
                            .as_str()
                            .unwrap_or("")
                            .replacen(' ', "", 1)
                    );
                    map.insert("routeArn".into(), json!(route_arn));
                }
                let body = serde_json::to_vec(&request).expect("a JSON value always serialises");
                let answer = match self
                    .functions
                    .invoke(binary, &body, AUTHORIZER_TIMEOUT)
                    .await
                {
                    Invoked::Result(result) => serde_json::from_slice::<Value>(&result).ok(),
                    Invoked::FunctionError(e) => {
                        (self.log)(&format!("authorizer {binary} failed: {e}"));
                        None
                    }
                    Invoked::NoAnswer(e) => {
                        (self.log)(&format!("authorizer {binary} did not answer: {e}"));
                        None
                    }
                };
                let Some(allowed) = answer
                    .as_ref()
                    .and_then(|a| a.get("isAuthorized"))
                    .and_then(Value::as_bool)
                else {
                    return Authorized::Refuse(Answer::message(500, "Internal Server Error"));
                };
                let context = allowed.then(|| {
                    answer
                        .as_ref()
                        .and_then(|a| a.get("context"))
                        .cloned()
                        .unwrap_or(json!({}))
                });
                if auth.ttl_seconds > 0 {
                    self.authorized
                        .0
                        .lock()
                        .expect("authorizer cache lock is never poisoned")
                        .insert(
                            key,
                            (
                                Instant::now() + Duration::from_secs(u64::from(auth.ttl_seconds)),
                                context.clone(),
                            ),
                        );
                }
                context
            }
        };
        match context {
            Some(context) => Authorized::Allow(context),
            None => Authorized::Refuse(Answer::message(403, "Forbidden")),
        }
    }
}

/// Serves the API on `listener` until the task is dropped.
pub async fn serve<F: Invoke + 'static>(
    listener: tokio::net::TcpListener,
    api: Arc<HttpApi<F>>,
) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(handle::<F>).with_state(api);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
}

async fn handle<F: Invoke>(
    State(api): State<Arc<HttpApi<F>>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: Request<Body>,
) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let (answer, target) = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => (Answer::message(413, "Request Entity Too Large"), None),
        Ok(body) => match api.routes.find(&method, &path) {
            None => (Answer::message(404, "Not Found"), None),
            Some((route, params)) => {
                let incoming = Incoming {
                    method: &method,
                    path: &path,
                    query: &query,
                    headers: &parts.headers,
                    body: &body,
                    source_ip: &peer.ip().to_string(),
                };
                let request_id = uuid::Uuid::new_v4().to_string();
                let event = event(
                    &incoming,
                    &route.route_key,
                    &params,
                    &request_id,
                    time::OffsetDateTime::now_utc(),
                );
                let mut event = event;
                let authorized = match &route.authorizer {
                    None => Authorized::Allow(Value::Null),
                    Some((auth, function)) => api.authorize(auth, function, &event).await,
                };
                let answer = match authorized {
                    Authorized::Refuse(answer) => answer,
                    Authorized::Allow(context) => {
                        if !context.is_null() {
                            event["requestContext"]["authorizer"] = json!({ "lambda": context });
                        }
                        call(&api, route, &event).await
                    }
                };
                (answer, Some(route.function.clone()))
            }
        },
    };
    (api.log)(&format!(
        "{method} {path} -> {} {} ({} ms)",
        target.as_deref().unwrap_or("-"),
        answer.status,
        started.elapsed().as_millis()
    ));
    let mut response = Response::builder()
        .status(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in &answer.headers {
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(Bytes::from(answer.body)))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

async fn call<F: Invoke>(api: &HttpApi<F>, route: &Route, event: &Value) -> Answer {
    let body = serde_json::to_vec(event).expect("a JSON value always serialises");
    // The integration timeout covers the function's run (the invoker may allow for a
    // cold start on top).
    match api
        .functions
        .invoke(&route.function, &body, route.timeout)
        .await
    {
        Invoked::Result(result) => answer(&result),
        Invoked::FunctionError(error) => {
            (api.log)(&format!("{} failed: {error}", route.function));
            Answer::message(500, "Internal Server Error")
        }
        Invoked::NoAnswer(reason) => {
            (api.log)(&format!("{} did not answer: {reason}", route.function));
            Answer::message(503, "Service Unavailable")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Template;

    const TEMPLATE: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Hook:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: hook } }
    Properties:
      Timeout: 10
      Events:
        Get: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /webhooks/meta, Method: GET } }
        Post: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /webhooks/meta, Method: POST } }
  Oauth:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: oauth } }
    Properties:
      Events:
        Callback: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: "/oauth/callback/{provider}", Method: GET } }
        Any: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: "/oauth/{proxy+}" } }
        Status: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: "/oauth/data-deletion/status", Method: GET } }
  Api2:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: api } }
    Properties:
      Events:
        Rest: { Type: HttpApi, Properties: { ApiId: !Ref Api } }
"#;

    fn routes() -> Routes {
        Routes::from_functions(&Template::parse(TEMPLATE).unwrap().functions().unwrap())
    }

    fn pick(method: &str, path: &str) -> Option<(String, BTreeMap<String, String>)> {
        let routes = routes();
        routes
            .find(method, path)
            .map(|(r, p)| (r.route_key.clone(), p))
    }

    #[test]
    fn the_most_specific_route_wins_as_in_api_gateway() {
        assert_eq!(
            pick("GET", "/webhooks/meta").unwrap().0,
            "GET /webhooks/meta"
        );
        assert_eq!(
            pick("POST", "/webhooks/meta").unwrap().0,
            "POST /webhooks/meta"
        );
        // No PUT route for the webhook: the catch-all takes it.
        assert_eq!(pick("PUT", "/webhooks/meta").unwrap().0, "$default");
        let (key, params) = pick("GET", "/oauth/callback/instagram").unwrap();
        assert_eq!(key, "GET /oauth/callback/{provider}");
        assert_eq!(params["provider"], "instagram");
        assert_eq!(
            pick("GET", "/oauth/data-deletion/status").unwrap().0,
            "GET /oauth/data-deletion/status"
        );
        let (key, params) = pick("POST", "/oauth/deauthorize/instagram").unwrap();
        assert_eq!(key, "ANY /oauth/{proxy+}");
        assert_eq!(params["proxy"], "deauthorize/instagram");
        // A greedy parameter needs at least one segment.
        assert_eq!(pick("GET", "/oauth").unwrap().0, "$default");
        assert_eq!(pick("GET", "/anything/else").unwrap().0, "$default");
    }

    #[test]
    fn no_route_without_a_default() {
        let functions = Template::parse(&TEMPLATE.replace(
            "Rest: { Type: HttpApi, Properties: { ApiId: !Ref Api } }",
            "Rest: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /x } }",
        ))
        .unwrap()
        .functions()
        .unwrap();
        let routes = Routes::from_functions(&functions);
        assert!(routes.find("GET", "/nothing").is_none());
        let (route, _) = routes.find("GET", "/webhooks/meta").unwrap();
        assert_eq!(route.function, "hook");
        assert_eq!(route.timeout, Duration::from_secs(10));
    }

    #[test]
    fn events_carry_what_lambda_http_reads() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-hub-signature-256", "sha256=ab".parse().unwrap());
        headers.insert("cookie", "a=1; b=2".parse().unwrap());
        headers.append("x-multi", "1".parse().unwrap());
        headers.append("x-multi", "2".parse().unwrap());
        let request = Incoming {
            method: "POST",
            path: "/webhooks/meta",
            query: "hub.mode=subscribe&x=1&x=2",
            headers: &headers,
            body: br#"{"object":"instagram"}"#,
            source_ip: "127.0.0.1",
        };
        let now = time::macros::datetime!(2026-11-21 10:00:00 UTC);
        let built = event(
            &request,
            "POST /webhooks/meta",
            &BTreeMap::new(),
            "req-1",
            now,
        );
        assert_eq!(built["routeKey"], "POST /webhooks/meta");
        assert_eq!(built["body"], r#"{"object":"instagram"}"#);
        assert_eq!(built["isBase64Encoded"], false);
        assert_eq!(built["headers"]["x-hub-signature-256"], "sha256=ab");
        assert_eq!(built["headers"]["x-multi"], "1,2");
        assert!(built["headers"].get("cookie").is_none());
        assert_eq!(built["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(built["queryStringParameters"]["x"], "1,2");
        assert_eq!(built["queryStringParameters"]["hub.mode"], "subscribe");
        assert_eq!(
            built["requestContext"]["time"],
            "21/Nov/2026:10:00:00 +0000"
        );
        assert_eq!(built["requestContext"]["http"]["method"], "POST");
        // lambda_http reads it back into the same request.
        let parsed = lambda_http::request::from_str(&built.to_string()).unwrap();
        assert_eq!(parsed.method(), "POST");
        assert_eq!(parsed.body().as_ref(), br#"{"object":"instagram"}"#);

        let binary = Incoming {
            body: &[0xff, 0x00],
            query: "",
            headers: &HeaderMap::new(),
            ..request
        };
        let encoded = event(&binary, "$default", &BTreeMap::new(), "req-2", now);
        assert_eq!(encoded["isBase64Encoded"], true);
        assert_eq!(encoded["body"], B64.encode([0xff, 0x00]));
    }

    #[test]
    fn function_results_become_http_answers() {
        let a = answer(
            br#"{"statusCode":302,"headers":{"Location":"https://x/y"},"cookies":["s=1"],"body":"","isBase64Encoded":false}"#,
        );
        assert_eq!(a.status, 302);
        assert!(
            a.headers
                .contains(&("location".into(), "https://x/y".into()))
        );
        assert!(a.headers.contains(&("set-cookie".into(), "s=1".into())));
        let a = answer(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#);
        assert_eq!(a.body, b"hi");
        // Payload 2.0: JSON without statusCode is a 200 JSON body.
        let a = answer(br#"{"ok":true}"#);
        assert_eq!((a.status, a.body.as_slice()), (200, &br#"{"ok":true}"#[..]));
        assert_eq!(answer(b"not json").status, 500);
    }

    #[test]
    fn percent_escapes_in_path_parameters_are_decoded() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
