//! One test's oauth function behind an HTTP front (API Gateway v2 events on 127.0.0.1),
//! with its own tables, key and Meta simulator, and a browser-like client that follows
//! the onboarding flow: the onboarding page, Connect, Meta's dialog, Allow or Cancel.
//! Shared by the oauth and browser tests.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use meta_sim::{MetaSim, SimConfig};
use oauth::{Oauth, OauthDeps, Settings};
use relay::accounts::{Account, Tenant};
use relay::audit::{AuditRecord, AuditTrail};
use relay::clock::{Clock, SystemClock};
use relay::crypto::{EncryptionContext, EnvelopeCipher, Purpose};
use relay::ids::TenantId;
use relay::meta::{GraphClient, RetryPolicy};
use relay::onboarding::{Provider, PublicBaseUrl};
use relay::secret::{AccessToken, Secret};
use relay::store::Store;
use relay_tests::TestAws;
use relay_tests::pipeline::{HttpHandler, WebhookServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const STATE_KEY: &str = "oauth-integration-test-state-key-0123456789";

/// Wall time plus an offset the test moves (only this function's clock; the simulator
/// keeps its own).
#[derive(Default)]
pub struct TestClock {
    pub offset: AtomicI64,
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset.load(Ordering::SeqCst) * 1000
    }
}

impl TestClock {
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }
}

/// One test's oauth function behind an HTTP front, its simulator, tables and key.
pub struct World {
    pub aws: TestAws,
    pub sim: MetaSim,
    pub server: WebhookServer,
    pub oauth: Arc<Oauth>,
    pub clock: Arc<TestClock>,
    pub graph: GraphClient,
    pub browser: reqwest::Client,
    pub store: Store,
    pub audit: AuditTrail,
    pub cipher: EnvelopeCipher,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location on a {} answer: {}", self.status, self.body))
            .to_owned()
    }
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("test tenant ids are valid")
}

pub fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attribute` in the first tag that contains `marker`.
pub fn attribute(html: &str, marker: &str, attribute: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let needle = format!("{attribute}=\"");
    let value_start = tag.find(&needle)? + needle.len();
    let value_end = value_start + tag[value_start..].find('"')?;
    Some(unescape(&tag[value_start..value_end]))
}

/// Every hidden input of a form, as a browser would submit them.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.match_indices("<input type=\"hidden\"")
        .filter_map(|(at, _)| {
            let tag = &html[at..=at + html[at..].find('>')?];
            let name = attribute(tag, "name=", "name")?;
            let value = attribute(tag, "name=", "value")?;
            Some((name, value))
        })
        .collect()
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// `register`: the simulator accepts only Relay's two redirect URIs, as Meta does
    /// once they are registered in the apps' settings.
    pub async fn start_with(register: bool) -> Self {
        let aws = TestAws::provision().await;
        let slot: Arc<OnceLock<Arc<Oauth>>> = Arc::default();
        let handler: HttpHandler = {
            let slot = slot.clone();
            Arc::new(move |request| {
                let oauth = slot
                    .get()
                    .expect("the handler is set before the first request")
                    .clone();
                Box::pin(async move { oauth.handle(request).await })
            })
        };
        let server = WebhookServer::start(handler).await;
        // Meta accepts only registered redirect URIs; register exactly Relay's two.
        let allowed_redirect_uris = if register {
            vec![
                format!("{}/oauth/callback/instagram", server.url),
                format!("{}/oauth/callback/facebook", server.url),
            ]
        } else {
            Vec::new()
        };
        let sim = MetaSim::start(SimConfig {
            allowed_redirect_uris,
            ..SimConfig::default()
        })
        .await
        .expect("the simulator starts");
        let sim_config = sim.config().clone();
        let mut meta = relay_tests::sim::meta_config(&sim);
        meta.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(10),
        };
        let graph = GraphClient::new(meta).expect("graph client");
        let clock = Arc::new(TestClock::default());
        let store = Store::new(aws.dynamodb(), aws.tables.main.clone());
        let audit = AuditTrail::new(aws.dynamodb(), aws.tables.audit.clone());
        let cipher = EnvelopeCipher::new(aws.kms(), aws.token_key_id.clone());
        let oauth = Arc::new(Oauth::new(OauthDeps {
            store: store.clone(),
            cipher: cipher.clone(),
            graph: graph.clone(),
            audit: audit.clone(),
            state_key: Secret::new(STATE_KEY),
            instagram_app_secret: Secret::new(sim_config.ig_app_secret.clone()),
            facebook_app_secret: Secret::new(sim_config.fb_app_secret.clone()),
            clock: clock.clone(),
            settings: Settings {
                public_base: PublicBaseUrl::parse(&server.url).expect("server URL"),
                allowed_origin: Some(server.url.clone()),
                facebook_config_id: None,
                link_days: 7,
            },
        }));
        assert!(slot.set(oauth.clone()).is_ok(), "the handler is set once");
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        World {
            aws,
            sim,
            server,
            oauth,
            clock,
            graph,
            browser,
            store,
            audit,
            cipher,
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        let response = self
            .browser
            .get(url)
            .send()
            .await
            .expect("GET reaches the server");
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn post_form(&self, url: &str, form: &[(String, String)]) -> Page {
        let response = self
            .browser
            .post(url)
            .form(form)
            .send()
            .await
            .expect("POST reaches the server");
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .browser
            .post(format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .expect("admin call");
        assert!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        response.json().await.expect("admin JSON")
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.browser
            .get(format!("{}{path}", self.sim.base_url()))
            .send()
            .await
            .expect("admin call")
            .json()
            .await
            .expect("admin JSON")
    }

    /// A tenant and an onboarding link for it.
    pub async fn onboarding_link(&self, id: &str, name: &str) -> String {
        self.store
            .put_tenant(&Tenant {
                tenant_id: tenant(id),
                name: name.into(),
                created_at: 0,
            })
            .await
            .expect("tenant stored");
        self.oauth
            .links()
            .issue(&tenant(id), self.clock.now_secs() + 7 * 86_400)
            .url
    }

    /// An Instagram professional account the Instagram dialog logs in as.
    pub async fn instagram_user(&self, username: &str) -> Value {
        self.admin(
            "/_sim/ig-users",
            json!({"username": username, "name": "Acme Shop", "followers_count": 1520}),
        )
        .await
    }

    /// Open the onboarding page, click Connect, follow to Meta's dialog.
    pub async fn dialog(&self, link_url: &str, provider: Provider) -> String {
        let page = self.get(link_url).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "onboarding page: {}",
            page.body
        );
        let href = attribute(&page.body, &format!("id=\"connect-{provider}\""), "href")
            .expect("a Connect button");
        self.dialog_from_start(&href).await
    }

    pub async fn dialog_from_start(&self, start_url: &str) -> String {
        let start = self.get(start_url).await;
        assert_eq!(start.status, StatusCode::FOUND, "start: {}", start.body);
        start.location()
    }

    /// Press Allow or Cancel on Meta's dialog; the redirect back to Relay.
    pub async fn decide(&self, dialog_url: &str, decision: &str) -> String {
        let dialog = self.get(dialog_url).await;
        assert_eq!(dialog.status, StatusCode::OK, "dialog: {}", dialog.body);
        let action = attribute(&dialog.body, "<form", "action").expect("the dialog's form");
        let mut form = hidden_inputs(&dialog.body);
        form.push(("decision".into(), decision.into()));
        let answer = self
            .post_form(&format!("{}{action}", self.sim.base_url()), &form)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FOUND,
            "dialog answer: {}",
            answer.body
        );
        answer.location()
    }

    /// Onboarding page -> Connect -> Allow: the callback URL Meta sends the person to.
    pub async fn allowed_callback(&self, link_url: &str, provider: Provider) -> String {
        let dialog = self.dialog(link_url, provider).await;
        self.decide(&dialog, "allow").await
    }

    pub async fn accounts(&self, id: &str) -> Vec<Account> {
        self.store
            .list_accounts(&tenant(id), &relay::store::Listing::default())
            .await
            .expect("accounts listed")
            .items
    }

    pub async fn token_of(&self, account: &Account) -> AccessToken {
        self.cipher
            .open_token(
                account.token_sealed.as_deref().expect("a sealed token"),
                &EncryptionContext::new(
                    account.tenant_id.clone(),
                    account.account_id.clone(),
                    Purpose::AccessToken,
                ),
            )
            .await
            .expect("the stored token opens under its own context")
    }

    pub async fn audit_records(&self, tenant: &TenantId) -> Vec<AuditRecord> {
        self.audit.records(tenant).await.expect("audit records")
    }

    pub async fn actions(&self, tenant: &TenantId) -> Vec<String> {
        self.audit_records(tenant)
            .await
            .into_iter()
            .map(|r| r.action)
            .collect()
    }

    /// Calls that reached Meta's hosts (paths only).
    pub async fn meta_calls(&self, path: &str) -> usize {
        self.admin_get("/_sim/requests")
            .await
            .as_array()
            .expect("a list")
            .iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(path)))
            .count()
    }

    /// Every item of a table, as JSON.
    pub async fn scan(&self, table: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .aws
                .dynamodb()
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in out.items.unwrap_or_default() {
                items.push(to_json(&item));
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        items
    }
}

pub fn to_json(item: &HashMap<String, AttributeValue>) -> Value {
    pub fn value(v: &AttributeValue) -> Value {
        match v {
            AttributeValue::S(s) => json!(s),
            AttributeValue::N(n) => json!(n),
            AttributeValue::Bool(b) => json!(b),
            AttributeValue::M(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), value(v))).collect())
            }
            AttributeValue::L(l) => Value::Array(l.iter().map(value).collect()),
            AttributeValue::Ss(l) => json!(l),
            AttributeValue::Null(_) => Value::Null,
            other => json!(format!("{other:?}")),
        }
    }
    Value::Object(item.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).expect("a URL");
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == name {
                (k, value.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.set_fragment(None);
    parsed.to_string()
}
