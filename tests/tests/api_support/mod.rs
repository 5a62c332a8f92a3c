//! The management API test harness: the ai-reply world (pipeline, a connected account,
//! knowledge, the AI in shadow mode) with the real authorizer and api handlers in front
//! of it, called the way API Gateway calls them: the authorizer with the request, then
//! the api function with the authorizer's context.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::sync::Arc;

use api::{App, Settings};
use aws_lambda_events::event::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use relay::access::{Grant, Role, mint_key};
use relay::accounts::Tokens;
use relay::ids::{AccountId, TenantId};
use relay::jobs::JobQueue;
use relay::meta::GraphClient;
use relay::onboarding::{OnboardingLinks, PublicBaseUrl};
use relay::replies::Replies;
use relay::secret::Secret;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::ai_support::{Ai, Brain};
use relay::inbox::AiMode;

pub const PUBLIC_BASE: &str = "https://relay.test";

/// An answer of the API, as a client sees it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
}

/// One test's product with the API in front.
pub struct World {
    pub ai: Ai,
    pub app: Arc<App>,
    pub router: axum::Router,
    pub authorizer: authorizer::Authorizer,
}

impl World {
    pub async fn start() -> Self {
        Self::with(Settings {
            rate: relay::access::RateLimit {
                per_second: 1000.0,
                burst: 10_000.0,
            },
        })
        .await
    }

    pub async fn with(settings: Settings) -> Self {
        let ai = Ai::start(AiMode::Shadow, Brain::Builtin).await;
        let p = &ai.p;
        let graph = GraphClient::new(relay_tests::sim::meta_config(&p.sim))
            .expect("the Graph client builds");
        let tokens = Tokens::new(
            p.store.clone(),
            relay::crypto::EnvelopeCipher::new(p.aws.kms(), p.aws.token_key_id.clone()),
            graph.clone(),
            p.audit.clone(),
            relay::events::EventBus::new(p.aws.eventbridge(), p.aws.event_bus.clone()),
            api::ACTOR,
        )
        .with_clock(ai.clock.clone());
        let clock: Arc<dyn relay::clock::Clock> = ai.clock.clone();
        let app = Arc::new(App {
            store: p.store.clone(),
            audit: p.audit.clone(),
            replies: Replies {
                store: p.store.clone(),
                audit: p.audit.clone(),
                graph,
                tokens,
                clock: clock.clone(),
            },
            moderation: JobQueue::new(p.aws.sqs(), p.aws.queues.moderation.clone()),
            publish: JobQueue::new(p.aws.sqs(), p.aws.queues.publish.clone()),
            publishing: relay::publishing::run::Settings::default(),
            links: OnboardingLinks::new(
                &Secret::new("an-oauth-state-key-of-at-least-32-characters"),
                PublicBaseUrl::parse(PUBLIC_BASE).unwrap(),
            ),
            clock: clock.clone(),
            settings,
            media: api::media::MediaProbe::new(std::time::Duration::from_secs(2)),
            uploads: relay::media::MediaBucket::new(&p.aws.sdk, p.aws.media_bucket.clone()),
            sync: JobQueue::new(p.aws.sqs(), p.aws.queues.sync.clone()),
            syncing: relay::insights::sync::Settings::default(),
        });
        let router = api::router(app.clone());
        let authorizer = authorizer::Authorizer::new(p.store.clone(), clock);
        Self {
            ai,
            app,
            router,
            authorizer,
        }
    }

    pub fn tenant(&self) -> &TenantId {
        &self.ai.tenant
    }

    pub fn account(&self) -> &str {
        &self.ai.account
    }

    pub fn account_id(&self) -> AccountId {
        self.ai.account_id()
    }

    /// A key for `grant`, stored as the API stores it.
    pub async fn store_key(&self, grant: Grant) -> String {
        let minted = mint_key(grant, "test key", "test", 1);
        self.ai
            .p
            .store
            .put_api_key(&minted.hash, &minted.record)
            .await
            .expect("the key is stored");
        minted.plaintext.expose().to_owned()
    }

    /// A key of `tenant` with `role` (and an agent's accounts).
    pub async fn key_for(&self, tenant: &TenantId, role: Role, accounts: &[AccountId]) -> String {
        self.store_key(Grant::Tenant {
            tenant_id: tenant.clone(),
            role,
            accounts: accounts.to_vec(),
        })
        .await
    }

    pub async fn key(&self, role: Role) -> String {
        self.key_for(self.tenant(), role, &[]).await
    }

    pub async fn operator_key(&self) -> String {
        self.store_key(Grant::Operator).await
    }

    /// A request as API Gateway handles it: routes under `/v1` but the spec go through
    /// the authorizer (no Authorization header: 401 without calling it; refused: 403).
    pub async fn call(
        &self,
        key: Option<&str>,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut headers = serde_json::Map::new();
        if let Some(key) = key {
            headers.insert("authorization".into(), json!(format!("Bearer {key}")));
        }
        if body.is_some() {
            headers.insert("content-type".into(), json!("application/json"));
        }
        for (k, v) in extra {
            headers.insert(k.to_ascii_lowercase(), json!(v));
        }
        let query_map: serde_json::Map<String, Value> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
        let mut event = json!({
            "version": "2.0",
            "routeKey": "ANY /v1/{proxy+}",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "queryStringParameters": query_map,
            "requestContext": {
                "accountId": "123456789012", "apiId": "test", "domainName": "relay.test",
                "domainPrefix": "relay", "requestId": "r", "routeKey": "ANY /v1/{proxy+}",
                "stage": "$default", "time": "06/Dec/2026:10:00:00 +0000", "timeEpoch": 0,
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "test" }
            },
            "isBase64Encoded": false,
        });
        if let Some(body) = &body {
            event["body"] = json!(body.to_string());
        }
        if path != "/v1/openapi.json" {
            if key.is_none() {
                return Answer {
                    status: 401,
                    headers: vec![],
                    body: json!({"message": "Unauthorized"}),
                };
            }
            let mut request = event.clone();
            request["type"] = json!("REQUEST");
            request["identitySource"] = json!([headers["authorization"]]);
            let request: ApiGatewayV2CustomAuthorizerV2Request =
                serde_json::from_value(request).expect("an authorizer request");
            let answer = self.authorizer.handle(request).await;
            if !answer.is_authorized {
                return Answer {
                    status: 403,
                    headers: vec![],
                    body: json!({"message": "Forbidden"}),
                };
            }
            event["requestContext"]["authorizer"] = json!({ "lambda": answer.context });
        }
        let request = lambda_http::request::from_str(&event.to_string()).expect("a v2 event");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router always answers");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, key: &str, path: &str) -> Answer {
        self.call(Some(key), "GET", path, None, &[]).await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Answer {
        self.call(Some(key), "POST", path, Some(body), &[]).await
    }

    /// A POST with an `Idempotency-Key`.
    pub async fn post_once(&self, key: &str, path: &str, body: Value, idempotency: &str) -> Answer {
        self.call(
            Some(key),
            "POST",
            path,
            Some(body),
            &[("Idempotency-Key", idempotency)],
        )
        .await
    }

    pub async fn patch(&self, key: &str, path: &str, body: Value) -> Answer {
        self.call(Some(key), "PATCH", path, Some(body), &[]).await
    }

    /// Every item of a table, as text (to look for what must not be stored).
    pub async fn table_text(&self, table: &str) -> String {
        let mut text = String::new();
        let mut start = None;
        loop {
            let out = self
                .ai
                .p
                .aws
                .dynamodb()
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("the table scans");
            for item in out.items.unwrap_or_default() {
                text.push_str(&format!("{item:?}\n"));
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return text,
            }
        }
    }

    /// The customer writes a DM and Relay ingests it; the conversation's API id.
    pub async fn customer_writes(&self, text: &str) -> String {
        self.ai.says(text).await;
        self.ai.ingest().await;
        format!("{}-{}", self.account(), crate::ai_support::CUSTOMER)
    }
}
