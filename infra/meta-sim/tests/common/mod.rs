//! Helpers shared by the simulator's integration tests: a started simulator with a
//! client, admin shortcuts, and a tiny webhook receiver.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use meta_sim::{MetaSim, SimConfig};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub struct Sim {
    pub sim: MetaSim,
    pub http: reqwest::Client,
}

pub const V: &str = "v26.0";

impl Sim {
    pub async fn start() -> Self {
        Self::with(SimConfig::default()).await
    }

    pub async fn with(config: SimConfig) -> Self {
        let sim = MetaSim::start(config).await.expect("simulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client builds");
        Self { sim, http }
    }

    /// A started simulator with the Instagram account `shop`: (sim, account id, token).
    pub async fn shop() -> (Self, String, String) {
        Self::shop_with(SimConfig::default()).await
    }

    /// [`Sim::shop`] on a simulator started with `config`.
    pub async fn shop_with(config: SimConfig) -> (Self, String, String) {
        let sim = Self::with(config).await;
        let (account, token) = sim.ig_account("shop").await;
        (sim, account, token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    pub fn ig(&self, path: &str) -> String {
        self.url(&format!("/graph.instagram.com/{V}{path}"))
    }

    pub fn fb(&self, path: &str) -> String {
        self.url(&format!("/graph.facebook.com/{V}{path}"))
    }

    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.admin_try(path, body).await;
        assert!(
            (200..300).contains(&status),
            "admin {path} failed: {status} {v}"
        );
        v
    }

    /// An admin POST as sent, whatever it answers.
    pub async fn admin_try(&self, path: &str, body: Value) -> (u16, Value) {
        answer(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("admin call answers")
            .json()
            .await
            .expect("admin answers JSON")
    }

    /// Creates `body` at the admin `path` and returns the string `field` of the answer.
    pub async fn admin_str(&self, path: &str, body: Value, field: &str) -> String {
        let v = self.admin(path, body).await;
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("admin {path} answers no {field}: {v}"))
            .to_owned()
    }

    /// A token minted by the admin API (`kind` and `user_id`, `page_id` or `scopes`).
    pub async fn token(&self, body: Value) -> String {
        self.admin_str("/_sim/tokens", body, "access_token").await
    }

    /// How many records an admin list holds.
    pub async fn count(&self, path: &str) -> Option<usize> {
        self.admin_get(path).await.as_array().map(Vec::len)
    }

    /// A Facebook user owning one page (`page` as an entry of `/_sim/fb-users`'
    /// `pages`): the user, the page id and a page token.
    pub async fn fb_page(&self, page: Value) -> (Value, String, String) {
        let user = self
            .admin("/_sim/fb-users", json!({"name": "Ana", "pages": [page]}))
            .await;
        let page = user["pages"][0]["id"].as_str().expect("page").to_owned();
        let token = self.token(json!({"kind": "page", "page_id": page})).await;
        (user, page, token)
    }

    /// An Instagram account and a long-lived token for it.
    pub async fn ig_account(&self, username: &str) -> (String, String) {
        let id = self
            .admin_str("/_sim/ig-users", json!({"username": username}), "user_id")
            .await;
        let token = self.token(json!({"user_id": id, "kind": "ig_long"})).await;
        (id, token)
    }

    pub async fn advance(&self, seconds: i64) {
        self.admin("/_sim/clock/advance", json!({"seconds": seconds}))
            .await;
    }

    pub async fn get(&self, url: &str, token: &str) -> (u16, Value) {
        answer(self.http.get(url).bearer_auth(token)).await
    }

    pub async fn post_json(&self, url: &str, token: &str, body: Value) -> (u16, Value) {
        answer(self.http.post(url).bearer_auth(token).json(&body)).await
    }

    pub async fn post_form(&self, url: &str, token: &str, form: &[(&str, &str)]) -> (u16, Value) {
        answer(self.http.post(url).bearer_auth(token).form(form)).await
    }

    /// Every answer of a listing, from `url` on through its `paging.next` links.
    pub async fn pages(&self, mut url: String, token: &str) -> Vec<Value> {
        let mut answers = Vec::new();
        loop {
            let (status, body) = self.get(&url, token).await;
            assert_eq!(status, 200, "{body}");
            let next = body["paging"]["next"].as_str().map(str::to_owned);
            answers.push(body);
            match next {
                Some(next) => url = next,
                None => return answers,
            }
            assert!(answers.len() < 10, "paging ends");
        }
    }

    /// A media of `account` seeded through the admin API: its id.
    pub async fn seed_media(&self, account: &str) -> String {
        self.admin_str("/_sim/media", json!({"account_id": account}), "id")
            .await
    }

    pub async fn ig_get(&self, path: &str, token: &str) -> (u16, Value) {
        self.get(&self.ig(path), token).await
    }

    pub async fn fb_get(&self, path: &str, token: &str) -> (u16, Value) {
        self.get(&self.fb(path), token).await
    }

    pub async fn ig_post_json(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.post_json(&self.ig(path), token, body).await
    }

    pub async fn fb_post_json(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.post_json(&self.fb(path), token, body).await
    }

    pub async fn ig_post_form(
        &self,
        path: &str,
        token: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        self.post_form(&self.ig(path), token, form).await
    }

    pub async fn fb_post_form(
        &self,
        path: &str,
        token: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        self.post_form(&self.fb(path), token, form).await
    }
}

/// The `id` of every item of a listing answer's `data`.
pub fn ids(answer: &Value) -> Vec<String> {
    answer["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {answer}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Sends a request and returns its status and JSON body.
pub async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let res = request.send().await.expect("answers");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

/// `(code, subcode)` of a Meta error body.
pub fn err(v: &Value) -> (i64, Option<i64>) {
    (
        v["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("not an error body: {v}")),
        v["error"]["error_subcode"].as_i64(),
    )
}

/// A header of `res` that carries JSON (Meta's usage headers).
pub fn header_json(res: &reqwest::Response, name: &str) -> Value {
    let raw = res
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .expect("ascii");
    serde_json::from_str(raw).expect("json header")
}

/// One webhook POST as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A webhook endpoint on 127.0.0.1:0 that records every POST and answers with the
/// queued statuses (200 once the queue is empty).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
    arrived: Arc<Notify>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
    default_status: u16,
    arrived: Arc<Notify>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::answering(200).await
    }

    /// A receiver whose default answer is `status`.
    pub async fn answering(default_status: u16) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(VecDeque::new()));
        let arrived = Arc::new(Notify::new());
        let state = ReceiverState {
            received: received.clone(),
            statuses: statuses.clone(),
            default_status,
            arrived: arrived.clone(),
        };
        let app = Router::new()
            .route("/webhook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver binds");
        let addr = listener.local_addr().expect("receiver address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Self {
            url: format!("http://{addr}/webhook"),
            received,
            statuses,
            arrived,
        }
    }

    /// Waits (at most 5 s) until `n` POSTs have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let notified = self.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "only {} of {n} webhook POSTs arrived",
                    self.received().len()
                );
            }
        }
    }

    pub fn queue_statuses(&self, statuses: &[u16]) {
        self.statuses.lock().expect("lock").extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.received
        .lock()
        .expect("lock")
        .push(Received { headers, body });
    s.arrived.notify_waiters();
    let status = s
        .statuses
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(s.default_status);
    StatusCode::from_u16(status).expect("valid status")
}
