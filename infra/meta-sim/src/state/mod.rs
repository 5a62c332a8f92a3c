//! Everything the simulator remembers, and Meta's rules over it.
//!
//! The data is plain; the rules are pure functions in the submodules, each taking a
//! [`Clock`] reading so they can be tested at exact instants. [`SimState`] ties them
//! together and is kept behind one mutex by the server, which never holds it across
//! an `await`.

pub mod accounts;
pub mod clock;
pub mod comments;
pub mod faults;
pub mod ids;
pub mod messaging;
pub mod publishing;
pub mod usage;

pub use clock::{Clock, SimClock};

use crate::config::SimConfig;
use accounts::{AuthCode, FbUser, IgUser, Page, Platform, Revocation, Token, TokenKind};
use comments::Comment;
use faults::Fault;
use messaging::{Channel, SentMessage, Thread};
use publishing::{Container, Media, PagePost};
use serde::Serialize;
use std::collections::HashMap;
use usage::{UsageLog, UsageOverride};

/// Most request records kept for `GET /_sim/requests`.
const REQUEST_LOG_CAP: usize = 10_000;

/// One attempt to deliver a webhook body.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryAttempt {
    /// Same for every attempt (and retry) of one body.
    pub delivery_id: u64,
    pub attempt: u32,
    pub url: String,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// Why no status was received (connection refused, timeout).
    pub error: Option<String>,
    pub ok: bool,
    pub signature: String,
    /// The exact bytes sent, as text.
    pub body: String,
    pub sent_at_ms: i64,
}

/// One call to a Meta host, without its query string (which may hold tokens).
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at_ms: i64,
}

/// Where and how webhooks go; changeable at run time.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookSettings {
    pub url: Option<String>,
    #[serde(skip)]
    pub secret: String,
    pub retry_attempts: u32,
    pub timeout_ms: u64,
    pub echo_sent_messages: bool,
    pub require_subscription: bool,
}

impl WebhookSettings {
    fn from_config(c: &SimConfig) -> Self {
        Self {
            url: c.webhook_url.clone(),
            secret: c.webhook_secret.clone(),
            retry_attempts: c.webhook_retry_attempts,
            timeout_ms: c.webhook_timeout_ms,
            echo_sent_messages: c.echo_sent_messages,
            require_subscription: c.require_webhook_subscription,
        }
    }
}

pub struct SimState {
    /// The configuration in force (run-time settings of `POST /_sim/config` included).
    pub config: SimConfig,
    /// The configuration the simulator started with, which a reset restores.
    start_config: SimConfig,
    pub base_url: String,
    pub clock: SimClock,
    pub ig_users: Vec<IgUser>,
    pub fb_users: Vec<FbUser>,
    pub pages: Vec<Page>,
    pub tokens: HashMap<String, Token>,
    token_serial: u64,
    pub revocations: HashMap<String, Revocation>,
    pub codes: HashMap<String, AuthCode>,
    pub threads: HashMap<(String, String), Thread>,
    pub messages: Vec<SentMessage>,
    pub containers: HashMap<String, Container>,
    pub media: Vec<Media>,
    pub comments: Vec<Comment>,
    pub page_posts: Vec<PagePost>,
    pub faults: Vec<Fault>,
    pub usage: UsageLog,
    pub usage_override: Option<UsageOverride>,
    /// Overrides for single accounts' business use case usage.
    pub account_usage_override: HashMap<String, UsageOverride>,
    pub webhook: WebhookSettings,
    pub deliveries: Vec<DeliveryAttempt>,
    next_delivery_id: u64,
    pub requests: Vec<RequestRecord>,
}

impl SimState {
    pub fn new(config: SimConfig, base_url: String) -> Self {
        let webhook = WebhookSettings::from_config(&config);
        Self {
            start_config: config.clone(),
            config,
            base_url,
            clock: SimClock::default(),
            ig_users: Vec::new(),
            fb_users: Vec::new(),
            pages: Vec::new(),
            tokens: HashMap::new(),
            token_serial: 0,
            revocations: HashMap::new(),
            codes: HashMap::new(),
            threads: HashMap::new(),
            messages: Vec::new(),
            containers: HashMap::new(),
            media: Vec::new(),
            comments: Vec::new(),
            page_posts: Vec::new(),
            faults: Vec::new(),
            usage: UsageLog::default(),
            usage_override: None,
            account_usage_override: HashMap::new(),
            webhook,
            deliveries: Vec::new(),
            next_delivery_id: 1,
            requests: Vec::new(),
        }
    }

    /// Clears all data and settings back to the configuration the simulator started
    /// with (run-time changes of `POST /_sim/config` included). The clock keeps its
    /// reading: simulated time never runs backwards.
    pub fn reset(&mut self) {
        let clock = std::mem::take(&mut self.clock);
        *self = Self::new(self.start_config.clone(), self.base_url.clone());
        self.clock = clock;
    }

    pub fn now(&self) -> Clock {
        self.clock.now()
    }

    // ----- accounts -----

    pub fn ig_user(&self, id: &str) -> Option<&IgUser> {
        self.ig_users.iter().find(|u| u.is(id))
    }

    pub fn ig_user_mut(&mut self, id: &str) -> Option<&mut IgUser> {
        self.ig_users.iter_mut().find(|u| u.is(id))
    }

    pub fn fb_user(&self, id: &str) -> Option<&FbUser> {
        self.fb_users.iter().find(|u| u.id == id)
    }

    pub fn page(&self, id: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.id == id)
    }

    pub fn page_mut(&mut self, id: &str) -> Option<&mut Page> {
        self.pages.iter_mut().find(|p| p.id == id)
    }

    /// Creates an Instagram professional account; returns its professional id.
    pub fn create_ig_user(
        &mut self,
        username: &str,
        name: Option<&str>,
        followers_count: Option<u64>,
        linked_page: Option<&str>,
    ) -> String {
        let user_id = ids::ig_account_id();
        let seed = seed_of(&user_id);
        self.ig_users.push(IgUser {
            user_id: user_id.clone(),
            app_scoped_id: ids::ig_app_scoped_id(),
            username: username.to_owned(),
            name: name.unwrap_or(username).to_owned(),
            account_type: "BUSINESS".into(),
            followers_count: followers_count.unwrap_or(100 + seed % 9900),
            follows_count: 10 + seed % 490,
            biography: format!("Welcome to {username}"),
            website: format!("https://{username}.example"),
            profile_picture_url: format!(
                "https://scontent.cdninstagram.com/v/t51.2885-19/{user_id}_n.jpg"
            ),
            linked_page: linked_page.map(str::to_owned),
            subscribed_fields: Vec::new(),
        });
        user_id
    }

    /// Creates a Facebook user with pages; pages flagged `instagram` get a linked
    /// Instagram professional account. Returns the user id.
    pub fn create_fb_user(&mut self, name: &str, pages: &[(String, bool)]) -> String {
        let user_id = ids::fb_user_id();
        let mut page_ids = Vec::new();
        for (page_name, with_instagram) in pages {
            let page_id = ids::page_id();
            let ig = with_instagram.then(|| {
                let username = slug(page_name);
                self.create_ig_user(&username, Some(page_name), None, Some(&page_id))
            });
            self.pages.push(Page {
                id: page_id.clone(),
                name: page_name.clone(),
                owner: user_id.clone(),
                category: "Local business".into(),
                instagram_business_account: ig,
                subscribed_fields: Vec::new(),
            });
            page_ids.push(page_id);
        }
        self.fb_users.push(FbUser {
            id: user_id.clone(),
            name: name.to_owned(),
            page_ids,
        });
        user_id
    }

    /// Mints a token. `subject` is the Instagram professional id (Instagram tokens) or
    /// the Facebook user id (Facebook tokens).
    pub fn mint_token(
        &mut self,
        kind: TokenKind,
        subject: &str,
        page_id: Option<&str>,
        scopes: Vec<String>,
        expires_at_ms: Option<i64>,
    ) -> (String, Token) {
        self.token_serial += 1;
        let now = self.now();
        let value = match kind.platform() {
            Platform::Instagram => ids::ig_token(),
            Platform::Facebook => ids::fb_token(),
        };
        let token = Token {
            kind,
            subject: subject.to_owned(),
            page_id: page_id.map(str::to_owned),
            scopes,
            issued_at_ms: now.ms(),
            expires_at_ms,
            serial: self.token_serial,
        };
        self.tokens.insert(value.clone(), token.clone());
        (value, token)
    }

    /// Invalidates every token issued so far to `subject` (and, for a Facebook user,
    /// the page tokens derived from their login).
    pub fn revoke(&mut self, subject: &str, subcode: u32) {
        let subject = self
            .ig_user(subject)
            .map(|u| u.user_id.clone())
            .unwrap_or_else(|| subject.to_owned());
        self.revocations.insert(
            subject,
            Revocation {
                serial: self.token_serial,
                subcode,
            },
        );
    }

    /// Whether the subject exists (Instagram account of either id, or Facebook user).
    pub fn subject_exists(&self, id: &str) -> bool {
        self.ig_user(id).is_some() || self.fb_user(id).is_some()
    }

    // ----- messaging -----

    pub fn channel_of(&self, account_id: &str) -> Option<Channel> {
        if self.ig_user(account_id).is_some() {
            Some(Channel::Instagram)
        } else if self.page(account_id).is_some() {
            Some(Channel::Messenger)
        } else {
            None
        }
    }

    /// The canonical account id (professional id for Instagram accounts).
    pub fn canonical_account(&self, account_id: &str) -> String {
        self.ig_user(account_id)
            .map(|u| u.user_id.clone())
            .unwrap_or_else(|| account_id.to_owned())
    }

    pub fn thread(&self, account_id: &str, customer_id: &str) -> Option<&Thread> {
        self.threads
            .get(&(account_id.to_owned(), customer_id.to_owned()))
    }

    fn thread_mut(&mut self, account_id: &str, customer_id: &str, channel: Channel) -> &mut Thread {
        self.threads
            .entry((account_id.to_owned(), customer_id.to_owned()))
            .or_insert_with(|| Thread {
                account_id: account_id.to_owned(),
                customer_id: customer_id.to_owned(),
                channel,
                last_inbound_ms: None,
                mids: Vec::new(),
            })
    }

    /// A person wrote to the account: opens (or renews) the messaging window.
    pub fn record_inbound(&mut self, account_id: &str, customer_id: &str, mid: &str, at_ms: i64) {
        let channel = self.channel_of(account_id).unwrap_or(Channel::Instagram);
        let thread = self.thread_mut(account_id, customer_id, channel);
        thread.last_inbound_ms = Some(thread.last_inbound_ms.map_or(at_ms, |t| t.max(at_ms)));
        if !mid.is_empty() {
            thread.mids.push(mid.to_owned());
        }
    }

    /// A message of the business appeared in the conversation (echo or Send API): known
    /// as a reaction target, but it does not open the window.
    pub fn record_outbound_mid(&mut self, account_id: &str, customer_id: &str, mid: &str) {
        let channel = self.channel_of(account_id).unwrap_or(Channel::Instagram);
        self.thread_mut(account_id, customer_id, channel)
            .mids
            .push(mid.to_owned());
    }

    // ----- publishing -----

    pub fn media_item(&self, id: &str) -> Option<&Media> {
        self.media.iter().find(|m| m.id == id)
    }

    pub fn media_item_mut(&mut self, id: &str) -> Option<&mut Media> {
        self.media.iter_mut().find(|m| m.id == id)
    }

    /// Publishes by the account within the quota window.
    pub fn published_in_window(&self, account_id: &str) -> u32 {
        let now = self.now();
        publishing::quota_usage(
            self.media
                .iter()
                .filter(|m| {
                    m.account_id == account_id && m.counts_toward_quota && m.parent.is_none()
                })
                .map(|m| m.published_at_ms),
            now,
        )
    }

    /// Adds a published media directly, now (comment webhooks need one).
    pub fn seed_media(
        &mut self,
        account_id: &str,
        caption: Option<&str>,
        media_type: &str,
    ) -> String {
        let now = self.now().ms();
        self.seed_media_at(account_id, caption, media_type, "FEED", now)
    }

    /// Adds a media that already existed: published at `published_at_ms` (which may
    /// lie in the past) as `media_product_type` (`FEED`, `REELS` or `STORY`). It does
    /// not count against the publishing quota.
    pub fn seed_media_at(
        &mut self,
        account_id: &str,
        caption: Option<&str>,
        media_type: &str,
        media_product_type: &str,
        published_at_ms: i64,
    ) -> String {
        let id = ids::media_id();
        let code = ids::shortcode();
        let permalink = match media_product_type {
            "REELS" => format!("https://www.instagram.com/reel/{code}/"),
            "STORY" => {
                let username = self
                    .ig_user(account_id)
                    .map(|u| u.username.clone())
                    .unwrap_or_default();
                format!("https://www.instagram.com/stories/{username}/{id}/")
            }
            _ => format!("https://www.instagram.com/p/{code}/"),
        };
        let extension = if media_type == "VIDEO" { "mp4" } else { "jpg" };
        self.media.push(Media {
            caption: caption.map(str::to_owned),
            media_url: Some(format!(
                "https://scontent.cdninstagram.com/v/{id}.{extension}"
            )),
            permalink,
            ..Media::new(
                id.clone(),
                account_id,
                media_type,
                media_product_type,
                published_at_ms,
            )
        });
        id
    }

    // ----- comments -----

    pub fn comment(&self, id: &str) -> Option<&Comment> {
        self.comments.iter().find(|c| c.id == id && !c.deleted)
    }

    pub fn comment_mut(&mut self, id: &str) -> Option<&mut Comment> {
        self.comments.iter_mut().find(|c| c.id == id && !c.deleted)
    }

    /// Adds a comment on `media_id` and returns its id.
    pub fn add_comment(
        &mut self,
        media_id: &str,
        text: &str,
        from_id: &str,
        from_username: &str,
        parent_id: Option<&str>,
    ) -> Option<String> {
        let account_id = self.media_item(media_id)?.account_id.clone();
        let id = ids::comment_id();
        let now = self.now();
        self.comments.push(Comment {
            id: id.clone(),
            media_id: media_id.to_owned(),
            account_id,
            text: text.to_owned(),
            from_id: from_id.to_owned(),
            from_username: from_username.to_owned(),
            created_at_ms: now.ms(),
            hidden: false,
            deleted: false,
            parent_id: parent_id.map(str::to_owned),
            private_replied: false,
            like_count: seed_of(&id) % 20,
        });
        Some(id)
    }

    // ----- logs -----

    pub fn next_delivery_id(&mut self) -> u64 {
        let id = self.next_delivery_id;
        self.next_delivery_id += 1;
        id
    }

    pub fn log_request(&mut self, record: RequestRecord) {
        if self.requests.len() >= REQUEST_LOG_CAP {
            self.requests.remove(0);
        }
        self.requests.push(record);
    }
}

/// A stable number derived from an id, for plausible deterministic figures.
pub fn seed_of(id: &str) -> u64 {
    // FNV-1a: tiny, stable across runs and platforms.
    id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_lowercase())
            } else if c == ' ' || c == '_' || c == '.' {
                Some('_')
            } else {
                None
            }
        })
        .collect();
    if s.is_empty() { "page".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SimState {
        SimState::new(SimConfig::default().resolved(), "http://127.0.0.1:1".into())
    }

    #[test]
    fn fb_user_pages_with_instagram_get_a_linked_account() {
        let mut s = state();
        let user = s.create_fb_user(
            "Ana",
            &[("Ana's Bakery".into(), true), ("Ana Blog".into(), false)],
        );
        let pages: Vec<_> = s.pages.iter().filter(|p| p.owner == user).collect();
        assert_eq!(pages.len(), 2);
        let ig = pages[0].instagram_business_account.clone().expect("linked");
        assert_eq!(
            s.ig_user(&ig).map(|u| u.username.as_str()),
            Some("anas_bakery")
        );
        assert!(pages[1].instagram_business_account.is_none());
    }

    #[test]
    fn revocation_applies_to_tokens_minted_before_it() {
        let mut s = state();
        let ig = s.create_ig_user("shop", None, None, None);
        let (_, old) = s.mint_token(TokenKind::IgLong, &ig, None, vec![], None);
        s.revoke(&ig, 460);
        let (_, new) = s.mint_token(TokenKind::IgLong, &ig, None, vec![], None);
        let rev = s.revocations.get(&ig).copied();
        let now = s.now();
        assert!(accounts::check_token(&old, rev.as_ref(), now).is_err());
        assert!(accounts::check_token(&new, rev.as_ref(), now).is_ok());
    }

    #[test]
    fn inbound_messages_open_the_window_and_reset_keeps_time() {
        let mut s = state();
        let ig = s.create_ig_user("shop", None, None, None);
        s.record_inbound(&ig, "123", "mid.1", 5_000);
        s.record_inbound(&ig, "123", "mid.0", 4_000);
        assert_eq!(
            s.thread(&ig, "123").and_then(|t| t.last_inbound_ms),
            Some(5_000)
        );
        s.clock.advance_secs(1000);
        let before = s.now();
        s.reset();
        assert!(s.ig_users.is_empty() && s.threads.is_empty());
        assert!(s.now() >= before);
    }
}
