//! The demo tenant: created by the operator command `onboarding-link` (which also signs
//! its onboarding link), connected to a simulated Instagram account through the real
//! OAuth flow (onboarding page -> Connect -> the simulator's dialog -> Allow -> Relay's
//! callback, all over HTTP through the router), and to a simulated Facebook Page the
//! same way through Facebook Login, then given an API key, AI replies in auto mode and
//! a few knowledge entries.
//!
//! Each step that cannot run because a piece is not there yet (the oauth function not
//! wired in template.yaml) is reported as a gap, and the rest still runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use relay::ai::knowledge::{
    Availability, EntryId, Faq, KnowledgeEntry, KnowledgeKind, Price, Product,
};
use relay::ai::settings::AiSettings;
use relay::ids::{AccountId, TenantId};
use relay::inbox::AiMode;
use relay::store::{Listing, Store};
use serde_json::{Value, json};

use crate::logs::Logs;
use crate::state::Demo;

pub const DEMO_TENANT: &str = "demo";
pub const DEMO_TENANT_NAME: &str = "Demo Shop";
pub const DEMO_USERNAME: &str = "demo.shop";

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{step}: {reason}")]
    Step { step: &'static str, reason: String },
}

fn step(step: &'static str) -> impl Fn(String) -> SeedError {
    move |reason| SeedError::Step { step, reason }
}

/// What seeding needs.
pub struct Seed<'a> {
    pub store: Store,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub main_table: String,
    pub sim_url: &'a str,
    /// The operator command, and the environment it runs with (the oauth function's).
    pub onboarding_link: Option<(&'a Path, &'a BTreeMap<String, String>)>,
    pub logs: Logs,
}

/// The seeded tenant, the onboarding link, and what could not be done.
pub struct Seeded {
    pub demo: Demo,
    pub onboarding_url: Option<String>,
    pub gaps: Vec<String>,
}

impl Seed<'_> {
    pub async fn run(&self) -> Result<Seeded, SeedError> {
        let tenant = TenantId::parse(DEMO_TENANT).expect("the demo tenant id is valid");
        let mut gaps = Vec::new();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a plain HTTP client always builds");

        // The Instagram professional account the simulator's dialog logs in as.
        let user: Value = http
            .post(format!("{}/_sim/ig-users", self.sim_url))
            .json(&json!({"username": DEMO_USERNAME, "name": DEMO_TENANT_NAME, "followers_count": 1520}))
            .send()
            .await
            .map_err(|e| step("create the simulated Instagram account")(e.to_string()))?
            .json()
            .await
            .map_err(|e| step("create the simulated Instagram account")(e.to_string()))?;
        let ig_user_id = user["user_id"].as_str().map(str::to_owned);

        let mut onboarding_url = None;
        let mut account_id = None;
        let mut page_id = None;
        match self.onboarding_link {
            None => gaps.push(
                "demo onboarding: template.yaml wires no oauth function (binary oauth) with the \
                 onboarding routes yet, so the demo tenant has no connected account"
                    .into(),
            ),
            Some((program, env)) => {
                let link = issue_link(program, env).await?;
                self.logs.line(
                    "stack",
                    "demo tenant: onboarding link issued; connecting through OAuth",
                );
                let connected = connect(&http, &link, self.sim_url, "connect-instagram").await?;
                self.logs.line(
                    "stack",
                    &format!("demo tenant: OAuth callback answered: {connected}"),
                );
                let accounts = self
                    .store
                    .list_accounts(&tenant, &Listing::default())
                    .await
                    .map_err(|e| step("read the connected account")(e.to_string()))?;
                let account = accounts
                    .items
                    .into_iter()
                    .find(|a| Some(a.account_id.as_str()) == ig_user_id.as_deref())
                    .ok_or_else(|| {
                        step("connect the demo account")(
                            "the OAuth flow finished but no account of the simulated user was stored"
                                .into(),
                        )
                    })?;
                account_id = Some(account.account_id.clone());
                page_id = Some(self.connect_page(&http, &tenant, &link).await?);
                onboarding_url = Some(link);
            }
        }

        if let Some(account) = &account_id {
            self.ai_settings(&tenant, account).await?;
        } else if self.onboarding_link.is_some() {
            gaps.push("demo AI settings: no connected account".into());
        }
        self.knowledge(&tenant).await?;
        let api_key = self
            .api_key(
                relay::access::Grant::Tenant {
                    tenant_id: tenant.clone(),
                    role: relay::access::Role::Owner,
                    accounts: Vec::new(),
                },
                "demo owner key (local stack)",
            )
            .await?;
        let operator_key = self
            .api_key(relay::access::Grant::Operator, "operator key (local stack)")
            .await?;
        Ok(Seeded {
            demo: Demo {
                tenant_id: DEMO_TENANT.into(),
                api_key,
                operator_key: Some(operator_key),
                instagram_account_id: account_id.map(|a| a.as_str().to_owned()),
                page_id: page_id.map(|p: AccountId| p.as_str().to_owned()),
                instagram_username: Some(DEMO_USERNAME.into()),
            },
            onboarding_url,
            gaps,
        })
    }

    /// The tenant's Facebook Page (Messenger), connected through Facebook Login from
    /// the same onboarding link: a simulated Facebook user who manages one Page.
    async fn connect_page(
        &self,
        http: &reqwest::Client,
        tenant: &TenantId,
        link: &str,
    ) -> Result<AccountId, SeedError> {
        let fail = step("connect the demo Facebook Page");
        let user: Value = http
            .post(format!("{}/_sim/fb-users", self.sim_url))
            .json(&json!({"name": "Demo Shop Owner", "pages": [{"name": DEMO_TENANT_NAME, "instagram": false}]}))
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?
            .json()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let page = user["pages"][0]["id"]
            .as_str()
            .ok_or_else(|| fail(format!("the simulator created no Page: {user}")))?
            .to_owned();
        let connected = connect(http, link, self.sim_url, "connect-facebook").await?;
        self.logs.line(
            "stack",
            &format!("demo tenant: Facebook Login callback answered: {connected}"),
        );
        let accounts = self
            .store
            .list_accounts(tenant, &Listing::default())
            .await
            .map_err(|e| fail(e.to_string()))?;
        accounts
            .items
            .into_iter()
            .find(|a| a.account_id.as_str() == page)
            .map(|a| a.account_id)
            .ok_or_else(|| fail("the OAuth flow finished but the Page was not stored".into()))
    }

    async fn ai_settings(&self, tenant: &TenantId, account: &AccountId) -> Result<(), SeedError> {
        let settings = AiSettings {
            mode: AiMode::Auto,
            business_name: Some(DEMO_TENANT_NAME.into()),
            persona: "A warm, brief assistant for Demo Shop's Instagram messages.".into(),
            rules: vec!["Never promise a delivery date.".into()],
            updated_at: now_ms(),
            ..AiSettings::default()
        };
        self.store
            .put_ai_settings(tenant, account, &settings)
            .await
            .map_err(|e| step("store the AI settings")(e.to_string()))
    }

    async fn knowledge(&self, tenant: &TenantId) -> Result<(), SeedError> {
        let faq = |id: &str, question: &str, answer: &str| {
            (
                id.to_owned(),
                KnowledgeKind::Faq(Faq {
                    question: question.into(),
                    answer: answer.into(),
                }),
                vec!["faq".to_owned()],
            )
        };
        let product =
            |id: &str, name: &str, sku: &str, price: &str, availability, description: &str| {
                (
                    id.to_owned(),
                    KnowledgeKind::Product(Product {
                        name: name.into(),
                        sku: Some(sku.into()),
                        price: Some(Price::parse(price, "EUR").expect("demo prices are valid")),
                        availability,
                        url: Some(format!("https://shop.example/{id}")),
                        description: Some(description.into()),
                    }),
                    vec!["product".to_owned()],
                )
            };
        let entries = [
            faq(
                "opening-hours",
                "What are your opening hours?",
                "Our shop is open Monday to Friday 9:00-18:00 and Saturday 10:00-14:00; closed on Sundays.",
            ),
            faq(
                "shipping",
                "How much is shipping and how long does it take?",
                "Shipping within the EU costs 4.90 EUR and is free from 50 EUR; parcels arrive in 2-4 working days.",
            ),
            product(
                "linen-tote",
                "Linen Tote Bag",
                "TOTE-01",
                "24.00",
                Availability::InStock,
                "A sturdy natural linen tote with inner pocket.",
            ),
            product(
                "ceramic-mug",
                "Ceramic Mug",
                "MUG-02",
                "14.50",
                Availability::InStock,
                "Hand-glazed stoneware mug, 350 ml, dishwasher safe.",
            ),
            product(
                "wool-scarf",
                "Merino Wool Scarf",
                "SCARF-03",
                "39.00",
                Availability::Preorder,
                "Soft merino scarf in three colours; ships from next month.",
            ),
        ];
        for (id, entry, tags) in entries {
            let entry = KnowledgeEntry {
                tenant_id: tenant.clone(),
                entry_id: EntryId::parse(id).expect("demo entry ids are valid"),
                entry,
                tags,
                updated_at: now_ms(),
            };
            self.store
                .put_knowledge(tenant, &entry)
                .await
                .map_err(|e| step("store a knowledge entry")(e.to_string()))?;
        }
        Ok(())
    }

    /// A new API key (`grant`), stored as the data model says: only its SHA-256.
    async fn api_key(&self, grant: relay::access::Grant, name: &str) -> Result<String, SeedError> {
        let minted = relay::access::mint_key(grant, name, "system:local-stack", now_ms());
        Store::new(self.dynamodb.clone(), self.main_table.clone())
            .put_api_key(&minted.hash, &minted.record)
            .await
            .map_err(|e| step("store the API key")(e.to_string()))?;
        Ok(minted.plaintext.expose().to_owned())
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    )
    .unwrap_or(i64::MAX)
}

/// Runs `onboarding-link --tenant demo --name "Demo Shop"`; its stdout is the link.
async fn issue_link(program: &Path, env: &BTreeMap<String, String>) -> Result<String, SeedError> {
    let out = tokio::process::Command::new(program)
        .args([
            "--tenant",
            DEMO_TENANT,
            "--name",
            DEMO_TENANT_NAME,
            "--days",
            "30",
        ])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(env)
        .output()
        .await
        .map_err(|e| step("run onboarding-link")(format!("{}: {e}", program.display())))?;
    if !out.status.success() {
        return Err(step("run onboarding-link")(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !link.starts_with("http") {
        return Err(step("run onboarding-link")("it printed no link".into()));
    }
    Ok(link)
}

/// Walks the onboarding like a person ([`crate::browse::connect`]).
async fn connect(
    http: &reqwest::Client,
    link: &str,
    sim_url: &str,
    button: &str,
) -> Result<u16, SeedError> {
    crate::browse::connect(http, link, sim_url, button)
        .await
        .map_err(step("connect the demo account through OAuth"))
}
