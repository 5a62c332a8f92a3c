//! The connect rules on in-memory doubles of the ports: a new account, a reconnect,
//! another tenant's account, and refused states.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::accounts::record::{AccountStatus, Route};
use crate::meta::{FacebookPage, FacebookPageAccount, InstagramProfile};
use crate::secret::Secret;

const NOW: i64 = 1_800_000_000;
const IG_ID: &str = "17841400000000001";
const PAGE_ID: &str = "100200300";
const LINKED_ID: &str = "17841400000000002";

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn id(raw: &str) -> AccountId {
    AccountId::parse(raw).unwrap()
}

#[derive(Default)]
struct MemoryStore {
    accounts: Mutex<HashMap<(TenantId, AccountId), Account>>,
    routes: Mutex<HashMap<(Channel, AccountId), Route>>,
    nonces: Mutex<HashSet<String>>,
    claims: Mutex<HashSet<(TenantId, String)>>,
}

impl MemoryStore {
    fn get(&self, tenant: &TenantId, account: &str) -> Option<Account> {
        let key = (tenant.clone(), id(account));
        self.accounts.lock().unwrap().get(&key).cloned()
    }

    fn owner(&self, channel: Channel, account: &str) -> Option<TenantId> {
        let routes = self.routes.lock().unwrap();
        routes
            .get(&(channel, id(account)))
            .map(|r| r.tenant_id.clone())
    }
}

impl AccountStore for MemoryStore {
    async fn account(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self.get(tenant, account.as_str()))
    }

    async fn route(
        &self,
        channel: Channel,
        account: &AccountId,
    ) -> Result<Option<Route>, StoreError> {
        Ok(self
            .routes
            .lock()
            .unwrap()
            .get(&(channel, account.clone()))
            .cloned())
    }

    async fn put_with_route(&self, account: &Account) -> Result<(), StoreError> {
        self.routes.lock().unwrap().insert(
            (account.channel, account.account_id.clone()),
            Route {
                channel: account.channel,
                account_id: account.account_id.clone(),
                tenant_id: account.tenant_id.clone(),
            },
        );
        self.update(account).await
    }

    async fn update(&self, account: &Account) -> Result<(), StoreError> {
        let key = (account.tenant_id.clone(), account.account_id.clone());
        self.accounts.lock().unwrap().insert(key, account.clone());
        Ok(())
    }
}

impl OnceMarkers for MemoryStore {
    async fn put_nonce(&self, nonce: &str, _until: i64) -> Result<bool, StoreError> {
        Ok(self.nonces.lock().unwrap().insert(nonce.to_owned()))
    }

    async fn consume_nonce(&self, nonce: &str, _now: i64) -> Result<bool, StoreError> {
        Ok(self.nonces.lock().unwrap().remove(nonce))
    }

    async fn claim(&self, tenant: &TenantId, key: &str, _until: i64) -> Result<bool, StoreError> {
        let claim = (tenant.clone(), key.to_owned());
        Ok(self.claims.lock().unwrap().insert(claim))
    }
}

#[derive(Default)]
struct MemoryAudit(Mutex<Vec<(TenantId, AuditEntry)>>);

impl MemoryAudit {
    fn actions(&self, tenant: &TenantId) -> Vec<String> {
        let records = self.0.lock().unwrap();
        let of_tenant = records.iter().filter(|(t, _)| t == tenant);
        of_tenant.map(|(_, e)| e.action.clone()).collect()
    }
}

impl AuditLog for MemoryAudit {
    async fn record(&self, tenant: &TenantId, entry: AuditEntry) {
        self.0.lock().unwrap().push((tenant.clone(), entry));
    }
}

/// Seals by naming the token and the account it is bound to.
struct NamingSealer;

impl TokenSealer for NamingSealer {
    async fn seal(
        &self,
        token: &AccessToken,
        context: &EncryptionContext,
    ) -> Result<String, CryptoError> {
        Ok(format!("sealed:{}:{}", context.account, token.expose()))
    }
}

/// Meta as a script: what each login grants, and the calls it was asked for.
#[derive(Default)]
struct ScriptedMeta {
    pages: Vec<FacebookPageAccount>,
    permissions: Vec<String>,
    subscribed: Mutex<Vec<String>>,
}

impl MetaLogin for ScriptedMeta {
    fn dialog_url(&self, provider: Provider, redirect_uri: &str, state: &str) -> String {
        format!("https://meta.example/{provider}?redirect_uri={redirect_uri}&state={state}")
    }

    async fn instagram_login(
        &self,
        code: &AuthorizationCode,
        _redirect_uri: &str,
    ) -> Result<InstagramGrant, ConnectError> {
        if code.expose() == "used" {
            return Err(ConnectError::CodeRejected(GraphError::InvalidInput {
                reason: "code used".into(),
            }));
        }
        Ok(InstagramGrant {
            account: NewAccount {
                account_id: id(IG_ID),
                channel: Channel::Instagram,
                login: LoginKind::InstagramLogin,
                username: Some("acme.shop".into()),
                name: None,
                meta_user_id: "9001".into(),
                linked_instagram_id: None,
            },
            token: AccessToken::new("IGAA-long"),
            lifetime: 60 * 86_400,
            permissions: self.permissions.clone(),
        })
    }

    async fn facebook_login(
        &self,
        _code: &AuthorizationCode,
        _redirect_uri: &str,
    ) -> Result<FacebookGrant, ConnectError> {
        Ok(FacebookGrant {
            user_id: "7007".into(),
            pages: self.pages.clone(),
        })
    }

    async fn linked_instagram_profile(
        &self,
        account: &AccountId,
        _page_token: &AccessToken,
    ) -> Result<InstagramProfile, GraphError> {
        Ok(InstagramProfile {
            user_id: account.clone(),
            username: "acme.linked".into(),
            name: None,
            account_type: None,
            profile_picture_url: None,
            followers_count: None,
            follows_count: None,
            media_count: None,
            biography: None,
            website: None,
        })
    }

    async fn subscribe_instagram(&self, account: &InstagramAccount) -> Result<(), GraphError> {
        self.subscribed.lock().unwrap().push(account.id.to_string());
        Ok(())
    }

    async fn subscribe_page(&self, page: &FacebookPage) -> Result<(), GraphError> {
        self.subscribed.lock().unwrap().push(page.id.to_string());
        Ok(())
    }
}

type TestConnect = Connect<MemoryStore, ScriptedMeta, MemoryAudit, NamingSealer>;

struct World {
    connect: TestConnect,
    clock: Arc<AtomicI64>,
}

impl World {
    fn new() -> Self {
        Self::with_meta(ScriptedMeta::default())
    }

    fn with_meta(meta: ScriptedMeta) -> Self {
        let clock = Arc::new(AtomicI64::new(NOW * 1000));
        let ms = clock.clone();
        let connect = Connect {
            store: MemoryStore::default(),
            meta,
            audit: MemoryAudit::default(),
            sealer: NamingSealer,
            states: StateSigner::new(&Secret::new("0123456789abcdef0123456789abcdef")),
            public_base: PublicBaseUrl::parse("https://relay.example").unwrap(),
            clock: Arc::new(move || ms.load(Ordering::SeqCst)),
            metrics: Metrics::new("oauth"),
        };
        Self { connect, clock }
    }

    fn advance(&self, seconds: i64) {
        self.clock.fetch_add(seconds * 1000, Ordering::SeqCst);
    }

    /// Start a flow for `tenant` and return the state Meta would echo back.
    async fn start(&self, tenant: &TenantId, provider: Provider) -> String {
        let dialog = self
            .connect
            .start(tenant, provider, ReturnTarget::Page, NOW + 86_400)
            .await
            .expect("the flow starts");
        let redirect = self.connect.redirect_uri(provider);
        assert!(dialog.contains(&redirect), "{dialog}");
        dialog.rsplit_once("state=").unwrap().1.to_owned()
    }

    async fn callback(&self, provider: Provider, state: &str, code: &str) -> Callback {
        let redirect = Redirect {
            state: Some(state),
            code: Some(code),
            ..Redirect::default()
        };
        self.connect.callback(provider, &redirect).await
    }

    fn store(&self) -> &MemoryStore {
        &self.connect.store
    }

    fn audit(&self, tenant: &TenantId) -> Vec<String> {
        self.connect.audit.actions(tenant)
    }

    /// An Instagram account `owner` connected earlier.
    async fn connected_earlier(&self, owner: &TenantId) -> Account {
        let earlier = NewAccount {
            account_id: id(IG_ID),
            channel: Channel::Instagram,
            login: LoginKind::InstagramLogin,
            username: Some("old.name".into()),
            name: Some("Acme Shop".into()),
            meta_user_id: "9001".into(),
            linked_instagram_id: None,
        };
        let account = Account::connected(owner.clone(), earlier, "sealed:old".into(), None, 5);
        self.store().put_with_route(&account).await.unwrap();
        account
    }
}

fn accounts(outcome: Callback) -> Vec<Connected> {
    match outcome {
        Callback::Connected { accounts, .. } => accounts,
        other => panic!("nothing was connected: {other:?}"),
    }
}

#[tokio::test]
async fn a_new_account_is_stored_connected_with_its_route_sealed_token_and_audit() {
    let world = World::new();
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Instagram).await;
    let connected = accounts(world.callback(Provider::Instagram, &state, "code#_").await);
    assert_eq!(connected.len(), 1);
    assert!(!connected[0].reconnected);
    assert_eq!(connected[0].username.as_deref(), Some("acme.shop"));
    let account = world
        .store()
        .get(&acme, IG_ID)
        .expect("the account is stored");
    assert_eq!(account.status, AccountStatus::Connected);
    assert_eq!(
        account.token_sealed.as_deref(),
        Some(format!("sealed:{IG_ID}:IGAA-long").as_str()),
        "the token is stored sealed, bound to its account"
    );
    assert_eq!(
        (account.token_issued_at, account.token_expires_at),
        (Some(NOW), Some(NOW + 60 * 86_400))
    );
    assert_eq!(account.meta_user_id.as_deref(), Some("9001"));
    assert_eq!(
        world.store().owner(Channel::Instagram, IG_ID),
        Some(acme.clone())
    );
    assert_eq!(*world.connect.meta.subscribed.lock().unwrap(), [IG_ID]);
    assert_eq!(
        world.audit(&acme),
        ["account.connected", "webhooks.subscribed"]
    );
    assert_eq!(world.connect.metrics.get("AccountsConnected"), 1);
}

#[tokio::test]
async fn a_reconnect_keeps_the_accounts_history_and_says_so() {
    let world = World::new();
    let acme = tenant("acme");
    world.connected_earlier(&acme).await;
    world.advance(3600);
    let state = world.start(&acme, Provider::Instagram).await;
    let connected = accounts(world.callback(Provider::Instagram, &state, "code").await);
    assert!(
        connected[0].reconnected,
        "the account was the tenant's already"
    );
    let account = world.store().get(&acme, IG_ID).unwrap();
    assert_eq!(account.connected_at, 5, "first connected at 5, still");
    assert_eq!(
        account.username.as_deref(),
        Some("acme.shop"),
        "the new login's"
    );
    assert_eq!(
        account.name.as_deref(),
        Some("Acme Shop"),
        "kept: the login said none"
    );
    assert_eq!(
        account.token_sealed.as_deref(),
        Some(format!("sealed:{IG_ID}:IGAA-long").as_str())
    );
    assert_eq!(account.updated_at, NOW + 3600);
    assert_eq!(
        world.audit(&acme),
        ["account.reconnected", "webhooks.subscribed"]
    );
}

#[tokio::test]
async fn an_account_another_tenant_holds_is_released_there_first() {
    let world = World::new();
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    world.connected_earlier(&globex).await;
    let state = world.start(&acme, Provider::Instagram).await;
    let connected = accounts(world.callback(Provider::Instagram, &state, "code").await);
    assert!(!connected[0].reconnected, "new to this tenant");
    let released = world.store().get(&globex, IG_ID).unwrap();
    assert_eq!(released.status, AccountStatus::Disconnected);
    assert_eq!(released.token_sealed, None, "its token is destroyed there");
    assert_eq!(world.audit(&globex), ["account.released"]);
    let account = world.store().get(&acme, IG_ID).unwrap();
    assert_eq!(account.status, AccountStatus::Connected);
    assert_eq!(
        account.connected_at, NOW,
        "a new connection for this tenant"
    );
    assert_eq!(
        world.store().owner(Channel::Instagram, IG_ID),
        Some(acme),
        "webhooks now reach the new tenant"
    );
}

#[tokio::test]
async fn facebook_login_connects_each_page_and_its_linked_instagram_account() {
    let page = |id_: &str, linked: Option<&str>| FacebookPageAccount {
        id: id(id_),
        name: format!("Page {id_}"),
        access_token: AccessToken::new(format!("EAA-{id_}")),
        tasks: vec!["MESSAGING".into()],
        instagram_business_account: linked.map(id),
    };
    let world = World::with_meta(ScriptedMeta {
        pages: vec![page(PAGE_ID, Some(LINKED_ID)), page("100200399", None)],
        ..ScriptedMeta::default()
    });
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Facebook).await;
    let connected = accounts(world.callback(Provider::Facebook, &state, "code").await);
    let vias: Vec<&Via> = connected.iter().map(|c| &c.via).collect();
    assert_eq!(
        vias,
        [
            &Via::Page {
                linked_instagram: true
            },
            &Via::LinkedToPage {
                page_name: format!("Page {PAGE_ID}")
            },
            &Via::Page {
                linked_instagram: false
            },
        ]
    );
    assert_eq!(connected[1].username.as_deref(), Some("acme.linked"));
    let linked = world.store().get(&acme, LINKED_ID).unwrap();
    assert_eq!(
        (linked.login, linked.token_expires_at),
        (LoginKind::FacebookLogin, None),
        "the linked account speaks with its Page's token, which does not expire"
    );
    assert_eq!(
        linked.token_sealed.as_deref(),
        Some(format!("sealed:{LINKED_ID}:EAA-{PAGE_ID}").as_str())
    );
    let page = world.store().get(&acme, PAGE_ID).unwrap();
    assert_eq!(page.linked_instagram_id, Some(id(LINKED_ID)));
    assert_eq!(page.meta_user_id.as_deref(), Some("7007"));
}

#[tokio::test]
async fn a_facebook_login_sharing_no_page_connects_nothing() {
    let world = World::new();
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Facebook).await;
    let outcome = world.callback(Provider::Facebook, &state, "code").await;
    assert!(matches!(
        outcome,
        Callback::Failed {
            error: ConnectError::NoPages,
            ..
        }
    ));
    assert_eq!(world.audit(&acme), ["oauth.failed"]);
}

#[tokio::test]
async fn a_forged_state_connects_nothing_and_is_audited_once_a_minute_on_the_security_chain() {
    let world = World::new();
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Instagram).await;
    let (payload, _) = state.split_once('.').unwrap();
    let forged = format!("{payload}.c2lnbmF0dXJlLW9mLXNvbWVvbmUtZWxzZQ");
    for _ in 0..3 {
        let outcome = world.callback(Provider::Instagram, &forged, "code").await;
        assert!(matches!(
            outcome,
            Callback::Refused {
                state: None,
                refusal: Refusal::State(StateError::BadSignature)
            }
        ));
    }
    assert!(
        world.store().get(&acme, IG_ID).is_none(),
        "nothing connected"
    );
    assert!(world.connect.meta.subscribed.lock().unwrap().is_empty());
    assert!(
        world.audit(&acme).is_empty(),
        "the tenant it names is not trusted"
    );
    assert_eq!(world.audit(&security_audit_tenant()), ["oauth.rejected"]);
    assert_eq!(world.connect.metrics.get("OAuthRejected"), 3);
    assert_eq!(world.connect.metrics.get("OAuthRejectedNotAudited"), 2);
    world.advance(60);
    world.callback(Provider::Instagram, &forged, "code").await;
    assert_eq!(
        world.audit(&security_audit_tenant()).len(),
        2,
        "a new minute, a new record"
    );
}

#[tokio::test]
async fn an_expired_or_cross_provider_state_is_refused_against_its_tenant() {
    let world = World::new();
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Instagram).await;
    let outcome = world.callback(Provider::Facebook, &state, "code").await;
    assert!(matches!(
        outcome,
        Callback::Refused {
            state: Some(_),
            refusal: Refusal::State(StateError::WrongProvider(_))
        }
    ));
    world.advance(STATE_LIFETIME_SECONDS);
    let outcome = world.callback(Provider::Instagram, &state, "code").await;
    match outcome {
        Callback::Refused {
            state: Some(state),
            refusal: Refusal::State(StateError::Expired(_)),
        } => assert_eq!(state.tenant, acme, "authentic: the tenant is known"),
        other => panic!("an expired state must be refused: {other:?}"),
    }
    assert_eq!(world.audit(&acme), ["oauth.rejected", "oauth.rejected"]);
    assert!(world.store().get(&acme, IG_ID).is_none());
}

#[tokio::test]
async fn a_state_is_used_once() {
    let world = World::new();
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Instagram).await;
    accounts(world.callback(Provider::Instagram, &state, "code").await);
    let again = world.callback(Provider::Instagram, &state, "code").await;
    assert!(matches!(
        again,
        Callback::Refused {
            state: Some(_),
            refusal: Refusal::Replayed
        }
    ));
    assert_eq!(world.connect.meta.subscribed.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_cancelled_dialog_or_a_rejected_code_connects_nothing() {
    let world = World::new();
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Instagram).await;
    let cancelled = Redirect {
        state: Some(&state),
        error: Some("access_denied"),
        ..Redirect::default()
    };
    let outcome = world
        .connect
        .callback(Provider::Instagram, &cancelled)
        .await;
    assert!(matches!(
        outcome,
        Callback::Declined {
            cancelled: true,
            ..
        }
    ));
    let state = world.start(&acme, Provider::Instagram).await;
    let outcome = world.callback(Provider::Instagram, &state, "used").await;
    assert!(matches!(
        outcome,
        Callback::Failed {
            error: ConnectError::CodeRejected(_),
            ..
        }
    ));
    let state = world.start(&acme, Provider::Instagram).await;
    let no_code = Redirect {
        state: Some(&state),
        ..Redirect::default()
    };
    let outcome = world.connect.callback(Provider::Instagram, &no_code).await;
    assert!(matches!(
        outcome,
        Callback::Refused {
            refusal: Refusal::CodeMissing,
            ..
        }
    ));
    assert_eq!(
        world.audit(&acme),
        ["oauth.cancelled", "oauth.failed", "oauth.rejected"]
    );
    assert!(world.store().get(&acme, IG_ID).is_none());
}

#[tokio::test]
async fn scopes_the_person_did_not_grant_are_named() {
    let world = World::with_meta(ScriptedMeta {
        permissions: vec!["instagram_business_basic".into()],
        ..ScriptedMeta::default()
    });
    let acme = tenant("acme");
    let state = world.start(&acme, Provider::Instagram).await;
    let connected = accounts(world.callback(Provider::Instagram, &state, "code").await);
    let Via::InstagramLogin { missing_scopes } = &connected[0].via else {
        panic!("an Instagram Login account: {:?}", connected[0].via);
    };
    assert!(!missing_scopes.is_empty());
    assert!(!missing_scopes.contains(&"instagram_business_basic"));
}

#[tokio::test]
async fn a_return_link_too_long_for_a_state_starts_no_flow() {
    let world = World::new();
    let long = ReturnTarget::Url(format!("https://app.example/{}", "a".repeat(3000)));
    let started = world
        .connect
        .start(&tenant("acme"), Provider::Instagram, long, NOW)
        .await;
    assert!(matches!(started, Err(StartError::ReturnLinkTooLong(_))));
    assert!(world.store().nonces.lock().unwrap().is_empty());
}
