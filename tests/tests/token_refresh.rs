//! The token-refresh function and the get-token helper against moto and the Meta
//! simulator, on the simulator's clock: Meta's refresh rules (24 hours, expiry, revoked
//! tokens), throttling of one account among many, the reconnect event with a working
//! onboarding link, and the index the run reads instead of scanning.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use meta_sim::{MetaSim, SimConfig};
use relay::accounts::{Account, AccountStatus, Channel, LoginKind};
use relay::accounts::{TokenError, TokenPolicy, Tokens};
use relay::audit::AuditTrail;
use relay::clock::{Clock, SystemClock};
use relay::crypto::{EncryptionContext, EnvelopeCipher, Purpose};
use relay::events::EventBus;
use relay::ids::{AccountId, TenantId};
use relay::meta::{GraphClient, InstagramAccount, PageLimits, RetryPolicy};
use relay::onboarding::{OnboardingLinks, PublicBaseUrl};
use relay::secret::{AccessToken, Secret};
use relay::store::Store;
use relay_tests::TestAws;
use serde_json::{Value, json};
use token_refresh::{RunSummary, Settings, TokenRefresh};

const DAY: i64 = 86_400;
const STATE_KEY: &str = "token-refresh-test-state-key-0123456789";
const PUBLIC_BASE: &str = "https://relay.example.com";

/// The simulator's clock, as Relay sees it: wall time plus the simulator's advances.
#[derive(Default)]
struct SimClock {
    offset: AtomicI64,
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset.load(Ordering::SeqCst) * 1000
    }
}

struct World {
    aws: TestAws,
    sim: MetaSim,
    admin: reqwest::Client,
    clock: Arc<SimClock>,
    graph: GraphClient,
    store: Store,
    cipher: EnvelopeCipher,
    audit: AuditTrail,
    tokens: Tokens,
    /// Receives every event published on this test's bus.
    events_queue: String,
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

impl World {
    async fn start() -> Self {
        Self::with_policy(TokenPolicy::default()).await
    }

    async fn with_policy(policy: TokenPolicy) -> Self {
        let aws = TestAws::provision().await;
        let sim = MetaSim::start(SimConfig::default())
            .await
            .expect("simulator");
        let mut meta = relay_tests::sim::meta_config(&sim);
        // Throttling is never retried by the client; transient failures are, quickly.
        meta.retry = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(5),
        };
        let graph = GraphClient::new(meta).unwrap();
        let store = Store::new(aws.dynamodb(), aws.tables.main.clone());
        let cipher = EnvelopeCipher::new(aws.kms(), aws.token_key_id.clone());
        let audit = AuditTrail::new(aws.dynamodb(), aws.tables.audit.clone());
        let clock = Arc::new(SimClock::default());
        let tokens = Tokens::new(
            store.clone(),
            cipher.clone(),
            graph.clone(),
            audit.clone(),
            EventBus::new(aws.eventbridge(), aws.event_bus.clone()),
            "system:token-refresh",
        )
        .with_clock(clock.clone())
        .with_policy(policy)
        .with_links(OnboardingLinks::new(
            &Secret::new(STATE_KEY),
            PublicBaseUrl::parse(PUBLIC_BASE).unwrap(),
        ));
        let events_queue = aws.capture_bus_events(None).await;
        let world = World {
            aws,
            sim,
            admin: reqwest::Client::new(),
            clock,
            graph,
            store,
            cipher,
            audit,
            tokens,
            events_queue,
        };
        world.sync_clock().await;
        world
    }

    async fn events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let received = self
                .aws
                .sqs()
                .receive_message()
                .queue_url(&self.events_queue)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if received.is_empty() {
                return out;
            }
            for m in received {
                out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            }
        }
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .admin
            .post(format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn admin_get(&self, path: &str) -> Value {
        self.admin
            .get(format!("{}{path}", self.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn sync_clock(&self) {
        let now = self.admin_get("/_sim/clock").await["now"].as_i64().unwrap();
        self.clock
            .offset
            .store(now - SystemClock.now_secs(), Ordering::SeqCst);
    }

    /// Moves the simulator's clock, and Relay's with it.
    async fn advance(&self, seconds: i64) {
        self.admin("/_sim/clock/advance", json!({"seconds": seconds}))
            .await;
        self.sync_clock().await;
    }

    async fn refresh_calls(&self) -> usize {
        self.admin_get("/_sim/requests")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("refresh_access_token")
            })
            .count()
    }

    /// An Instagram Login account connected now, with a 60-day token minted by Meta.
    async fn instagram_account(&self, username: &str) -> Account {
        let user = self
            .admin("/_sim/ig-users", json!({"username": username}))
            .await;
        let id = user["user_id"].as_str().unwrap().to_owned();
        let minted = self
            .admin("/_sim/tokens", json!({"user_id": id, "kind": "ig_long"}))
            .await;
        self.connect(
            AccountId::parse(&id).unwrap(),
            Channel::Instagram,
            LoginKind::InstagramLogin,
            &minted,
        )
        .await
    }

    async fn connect(
        &self,
        id: AccountId,
        channel: Channel,
        login: LoginKind,
        minted: &Value,
    ) -> Account {
        let now = self.clock.now_secs();
        let token = AccessToken::new(minted["access_token"].as_str().unwrap());
        let sealed = self
            .cipher
            .seal_token(&token, &Self::context(&id))
            .await
            .unwrap();
        let account = Account {
            tenant_id: tenant(),
            account_id: id,
            channel,
            login,
            username: None,
            name: None,
            meta_user_id: None,
            linked_instagram_id: None,
            status: AccountStatus::Connected,
            token_sealed: Some(sealed),
            token_issued_at: Some(now),
            token_expires_at: minted["expires_in"].as_i64().map(|s| now + s),
            connected_at: now,
            updated_at: now,
        };
        self.store.put_account(&account).await.unwrap();
        account
    }

    fn context(id: &AccountId) -> EncryptionContext {
        EncryptionContext::new(tenant(), id.clone(), Purpose::AccessToken)
    }

    async fn reload(&self, account: &Account) -> Account {
        self.store
            .get_account(&tenant(), &account.account_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn token(&self, account: &Account) -> AccessToken {
        self.cipher
            .open_token(
                account.token_sealed.as_deref().unwrap(),
                &Self::context(&account.account_id),
            )
            .await
            .unwrap()
    }

    fn function(&self) -> TokenRefresh {
        TokenRefresh::new(self.tokens.clone(), Settings { concurrency: 4 })
    }

    async fn run(&self) -> RunSummary {
        let raw = include_str!("../../events/token-refresh/scheduled.json");
        let event: EventBridgeEvent<Value> = serde_json::from_str(raw).unwrap();
        self.function()
            .handle(event)
            .await
            .expect("the run reads the index")
    }

    async fn in_index(&self, account: &Account, within: i64) -> bool {
        self.store
            .accounts_expiring_before(self.clock.now_secs() + within)
            .await
            .unwrap()
            .iter()
            .any(|a| a.account_id == account.account_id)
    }

    async fn actions(&self) -> Vec<String> {
        self.audit
            .records(&tenant())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect()
    }
}

#[tokio::test]
async fn a_token_under_24_hours_old_is_left_alone_then_refreshed_once_meta_allows() {
    // A horizon longer than a token's life, so the young token is due at once.
    let world = World::with_policy(TokenPolicy {
        horizon_seconds: 61 * DAY,
        ..TokenPolicy::default()
    })
    .await;
    let account = world.instagram_account("young").await;

    world.advance(23 * 3600).await;
    let summary = world.run().await;
    assert_eq!(
        (summary.due, summary.skipped, summary.refreshed),
        (1, 1, 0),
        "{summary:?}"
    );
    assert_eq!(
        world.refresh_calls().await,
        0,
        "Meta was asked to refresh a token under 24 h old"
    );
    assert_eq!(
        world.reload(&account).await,
        account,
        "a young token was changed"
    );

    world.advance(2 * 3600).await;
    let summary = world.run().await;
    assert_eq!(summary.refreshed, 1, "{summary:?}");
    assert_eq!(world.refresh_calls().await, 1);
    let refreshed = world.reload(&account).await;
    assert_ne!(refreshed.token_sealed, account.token_sealed);
    // The simulator's clock follows wall time between the refresh and this read: allow
    // the few seconds that may have passed.
    let now = world.clock.now_secs();
    let expires = refreshed.token_expires_at.unwrap();
    assert!(
        (now + 60 * DAY - 5..=now + 60 * DAY).contains(&expires),
        "the new token lives 60 days from the refresh: expires {expires}, now {now}"
    );
    let issued = refreshed.token_issued_at.unwrap();
    assert!(
        (now - 5..=now).contains(&issued),
        "the refresh time is recorded: issued {issued}, now {now}"
    );
    // The index moved with the expiry (the run's conditional write and the store agree).
    let at = |t: i64| world.store.accounts_expiring_before(t);
    assert!(
        at(expires + 1)
            .await
            .unwrap()
            .iter()
            .any(|a| a.account_id == account.account_id)
    );
    assert!(
        !at(expires)
            .await
            .unwrap()
            .iter()
            .any(|a| a.account_id == account.account_id)
    );

    let new_token = world.token(&refreshed).await;
    assert_ne!(new_token.expose(), world.token(&account).await.expose());
    world
        .graph
        .instagram_profile(&InstagramAccount::instagram_login(
            account.account_id.clone(),
            new_token,
        ))
        .await
        .expect("the refreshed token works");
    assert!(
        world
            .actions()
            .await
            .contains(&"token.refreshed".to_owned())
    );
}

#[tokio::test]
async fn only_tokens_within_the_horizon_are_read_and_refreshed() {
    let world = World::start().await;
    let soon = world.instagram_account("soon").await;
    world.advance(20 * DAY).await;
    let later = world.instagram_account("later").await;
    world.advance(35 * DAY).await; // soon: 5 days left; later: 25 days left

    let summary = world.run().await;
    assert_eq!(
        summary.due, 1,
        "the run read more than the due accounts: {summary:?}"
    );
    assert_eq!(summary.refreshed, 1);
    assert_ne!(world.reload(&soon).await.token_sealed, soon.token_sealed);
    assert_eq!(
        world.reload(&later).await,
        later,
        "a token beyond the horizon was refreshed"
    );
    assert!(
        world.events().await.is_empty(),
        "a successful run publishes nothing"
    );
}

#[tokio::test]
async fn an_expired_token_marks_the_account_and_publishes_a_reconnect_event() {
    let world = World::start().await;
    let account = world.instagram_account("expired").await;
    world.advance(61 * DAY).await;

    let summary = world.run().await;
    assert_eq!(summary.needs_reconnect, 1, "{summary:?}");
    assert_eq!(
        world.refresh_calls().await,
        0,
        "an expired token cannot be refreshed"
    );
    let marked = world.reload(&account).await;
    assert_eq!(marked.status, AccountStatus::NeedsReconnect);
    assert!(
        marked.token_sealed.is_some(),
        "data and token record are kept"
    );
    assert!(
        !world.in_index(&account, 365 * DAY).await,
        "still in the refresh index"
    );

    let events = world.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["detail-type"], "AccountNeedsReconnect");
    assert_eq!(event["source"], "relay");
    let detail = &event["detail"];
    assert_eq!(detail["tenant_id"], "acme");
    assert_eq!(detail["account_id"], account.account_id.as_str());
    assert_eq!(detail["reason"], "token expired");
    let url = detail["reconnect_url"].as_str().expect("a reconnect link");
    let token = url
        .strip_prefix(&format!("{PUBLIC_BASE}/onboard?link="))
        .expect("an onboarding link");
    let links = OnboardingLinks::new(
        &Secret::new(STATE_KEY),
        PublicBaseUrl::parse(PUBLIC_BASE).unwrap(),
    );
    let grant = links
        .verify(token, world.clock.now_secs())
        .expect("the link in the event works");
    assert_eq!(grant.tenant, tenant());
    assert!(
        world
            .actions()
            .await
            .contains(&"account.needs_reconnect".to_owned())
    );

    // The next run leaves it alone: a person has to reconnect.
    assert_eq!(world.run().await.due, 0);
    assert!(world.events().await.is_empty());
}

#[tokio::test]
async fn a_revoked_token_marks_the_account_needs_reconnect() {
    let world = World::start().await;
    let account = world.instagram_account("revoked").await;
    let user = account.account_id.as_str().to_owned();
    world.advance(55 * DAY).await;
    world
        .admin(
            "/_sim/tokens/revoke",
            json!({"user_id": user, "subcode": 460}),
        )
        .await;

    let summary = world.run().await;
    assert_eq!(summary.needs_reconnect, 1, "{summary:?}");
    assert_eq!(
        world.reload(&account).await.status,
        AccountStatus::NeedsReconnect
    );
    let events = world.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["reason"], "password changed");
}

#[tokio::test]
async fn throttling_of_one_account_does_not_stop_the_others() {
    let world = World::start().await;
    let mut accounts = Vec::new();
    for name in ["one", "two", "three"] {
        accounts.push(world.instagram_account(name).await);
    }
    world.advance(55 * DAY).await;
    world
        .admin(
            "/_sim/faults",
            json!({"kind": "throttle", "count": 1, "path_contains": "refresh_access_token"}),
        )
        .await;

    let summary = world.run().await;
    assert_eq!(
        (summary.due, summary.refreshed, summary.deferred),
        (3, 2, 1),
        "{summary:?}"
    );
    assert_eq!(summary.failed + summary.needs_reconnect, 0);
    let mut deferred = None;
    for account in &accounts {
        let now = world.reload(account).await;
        assert_eq!(now.status, AccountStatus::Connected);
        if now.token_sealed == account.token_sealed {
            deferred = Some(now);
        }
    }
    let deferred = deferred.expect("one account kept its token");
    assert!(
        world.in_index(&deferred, 10 * DAY).await,
        "the throttled account left the index"
    );
    assert!(
        world.events().await.is_empty(),
        "throttling is not an incident"
    );

    // The next run picks it up.
    let summary = world.run().await;
    assert_eq!((summary.due, summary.refreshed), (1, 1), "{summary:?}");
    assert_ne!(
        world.reload(&deferred).await.token_sealed,
        deferred.token_sealed
    );
}

#[tokio::test]
async fn facebook_user_tokens_are_renewed_by_exchange() {
    let world = World::start().await;
    let fb = world
        .admin(
            "/_sim/fb-users",
            json!({"name": "Ada", "pages": [{"name": "P", "instagram": false}]}),
        )
        .await;
    let user = fb["user_id"].as_str().unwrap().to_owned();
    let minted = world
        .admin("/_sim/tokens", json!({"user_id": user, "kind": "fb_long"}))
        .await;
    let page_id = AccountId::parse(fb["pages"][0]["id"].as_str().unwrap()).unwrap();
    let account = world
        .connect(page_id, Channel::Page, LoginKind::FacebookLogin, &minted)
        .await;
    world.advance(52 * DAY).await;

    let summary = world.run().await;
    assert_eq!(summary.refreshed, 1, "{summary:?}");
    let renewed = world.reload(&account).await;
    assert_within_seconds_of(renewed.token_expires_at, world.clock.now_secs() + 60 * DAY);
    let token = world.token(&renewed).await;
    assert!(token.expose().starts_with("EAA"));
    world
        .graph
        .facebook_pages(&token, PageLimits::default())
        .await
        .expect("the renewed user token works");
}

#[tokio::test]
async fn the_get_token_helper_refreshes_a_token_about_to_expire() {
    let world = World::start().await;
    let fresh = world.instagram_account("fresh").await;
    let closing = world.instagram_account("closing").await;
    world.advance(60 * DAY - 10 * 60).await;
    // `fresh` was connected at the same time, so reconnect it with a new token now.
    let minted = world
        .admin(
            "/_sim/tokens",
            json!({"user_id": fresh.account_id.as_str(), "kind": "ig_long"}),
        )
        .await;
    let fresh = world
        .connect(
            fresh.account_id.clone(),
            Channel::Instagram,
            LoginKind::InstagramLogin,
            &minted,
        )
        .await;

    let token = world
        .tokens
        .access_token(&fresh)
        .await
        .expect("a usable token");
    assert_eq!(token.expose(), world.token(&fresh).await.expose());
    assert_eq!(
        world.refresh_calls().await,
        0,
        "a token far from expiry was refreshed"
    );

    // Ten minutes left: refreshed before use, stored, and the new one is handed out.
    let (stored, token) = world
        .tokens
        .access_token_for(&tenant(), &closing.account_id)
        .await
        .expect("a usable token");
    assert_eq!(world.refresh_calls().await, 1);
    let after = world.reload(&stored).await;
    assert_eq!(token.expose(), world.token(&after).await.expose());
    assert_within_seconds_of(after.token_expires_at, world.clock.now_secs() + 60 * DAY);
    world
        .graph
        .instagram_profile(&InstagramAccount::instagram_login(
            closing.account_id.clone(),
            token,
        ))
        .await
        .expect("the handed-out token works");

    // An expired one cannot be used or refreshed: the account is flagged for a person.
    world.advance(61 * DAY).await;
    let err = world
        .tokens
        .access_token(&world.reload(&fresh).await)
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::NeedsReconnect { .. }), "{err}");
    assert_eq!(
        world.reload(&fresh).await.status,
        AccountStatus::NeedsReconnect
    );
    assert_eq!(world.events().await.len(), 1);
    assert!(matches!(
        world.tokens.access_token(&world.reload(&fresh).await).await,
        Err(TokenError::NotConnected(AccountStatus::NeedsReconnect))
    ));
}

/// The simulator's clock follows wall time: a value stamped a moment before `expected`
/// was computed may be a few seconds behind it.
fn assert_within_seconds_of(actual: Option<i64>, expected: i64) {
    let actual = actual.expect("an expiry is stored");
    assert!(
        (expected - 5..=expected).contains(&actual),
        "expected about {expected}, got {actual}"
    );
}
