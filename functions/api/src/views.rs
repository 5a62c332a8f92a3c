//! What the API returns: views of the stored entities that hold what a person needs and
//! nothing Relay keeps for itself (no token, no sealed record, no app secret).

use relay::access::{ApiKey, Grant};
use relay::ai::{AiSettings, Draft};
use relay::audit::AuditRecord;
use relay::ids::{AccountId, CommentId, CustomerId};
use relay::inbox::{Conversation, StoredComment, StoredMessage};
use relay::moderation::ModerationPolicy;
use relay::publishing::Post;
use relay::replies::{STANDARD_WINDOW_MS, Window, person_window};
use relay::store::accounts::{Account, AccountStatus, Tenant};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::problem::Problem;

/// The stored name of an enum value (its serde name).
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A conversation's id in paths: `<account id>-<customer id>`.
pub fn conversation_id(account: &AccountId, customer: &CustomerId) -> String {
    format!("{}-{}", account.as_str(), customer.as_str())
}

pub fn parse_conversation_id(raw: &str) -> Result<(AccountId, CustomerId), Problem> {
    let (a, c) = raw
        .split_once('-')
        .ok_or_else(|| Problem::not_found("conversation"))?;
    match (AccountId::parse(a), CustomerId::parse(c)) {
        (Ok(a), Ok(c)) => Ok((a, c)),
        _ => Err(Problem::not_found("conversation")),
    }
}

/// A comment's id in paths: `<account id>-<comment id>`.
pub fn comment_id(account: &AccountId, comment: &CommentId) -> String {
    format!("{}-{}", account.as_str(), comment.as_str())
}

pub fn parse_comment_id(raw: &str) -> Result<(AccountId, CommentId), Problem> {
    let (a, c) = raw
        .split_once('-')
        .ok_or_else(|| Problem::not_found("comment"))?;
    match (AccountId::parse(a), CommentId::parse(c)) {
        (Ok(a), Ok(c)) => Ok((a, c)),
        _ => Err(Problem::not_found("comment")),
    }
}

/// How an account's token stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenHealth {
    /// `ok`, `expiring` (within 7 days), `expired`, `missing` or `needs_reconnect`.
    pub health: String,
    /// Epoch ms; null for tokens that do not expire.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub account_id: String,
    /// `instagram` or `page`.
    pub channel: String,
    /// `instagram_login` or `facebook_login`.
    pub login: String,
    pub username: Option<String>,
    pub name: Option<String>,
    /// `connected`, `needs_reconnect` or `disconnected`.
    pub status: String,
    pub linked_instagram_id: Option<String>,
    pub connected_at: i64,
    pub token: TokenHealth,
    /// Latest message either way (epoch ms); null before the first.
    pub last_message_at: Option<i64>,
    /// When Meta's last webhook for the account arrived (epoch ms, to the minute); null
    /// before the first.
    pub last_webhook_at: Option<i64>,
}

/// What an account's view is made of besides the account item.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    pub last_message_at: Option<i64>,
    pub last_webhook_at: Option<i64>,
}

impl AccountView {
    pub fn of(account: &Account, activity: Activity, now_ms: i64) -> AccountView {
        let health = match (
            account.status,
            &account.token_sealed,
            account.token_expires_at,
        ) {
            (AccountStatus::NeedsReconnect, _, _) => "needs_reconnect",
            (_, None, _) => "missing",
            (_, Some(_), Some(at)) if at <= now_ms / 1000 => "expired",
            (_, Some(_), Some(at)) if at - now_ms / 1000 < 7 * 86_400 => "expiring",
            _ => "ok",
        };
        AccountView {
            account_id: account.account_id.to_string(),
            channel: account.channel.as_str().into(),
            login: name(&account.login),
            username: account.username.clone(),
            name: account.name.clone(),
            status: account.status.as_str().into(),
            linked_instagram_id: account.linked_instagram_id.as_ref().map(|a| a.to_string()),
            connected_at: account.connected_at * 1000,
            token: TokenHealth {
                health: health.into(),
                expires_at: account.token_expires_at.map(|s| s * 1000),
            },
            last_message_at: activity.last_message_at,
            last_webhook_at: activity.last_webhook_at,
        }
    }
}

/// One account with its settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountDetail {
    #[serde(flatten)]
    pub account: AccountView,
    pub settings: SettingsView,
}

/// An account's AI and moderation settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SettingsView {
    /// The AI settings (mode `off`, `shadow` or `auto`, persona, rules, escalation words,
    /// hand-off message, ...).
    #[schema(value_type = Object)]
    pub ai: AiSettings,
    /// The moderation policy (which labels hide a comment, blocked words, allowed
    /// domains, repeat rule).
    #[schema(value_type = Object)]
    pub moderation: ModerationPolicy,
}

/// Meta's messaging window for a person's reply.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WindowView {
    /// `standard` (24 h), `human_agent` (24 h to 7 days, tagged) or `closed`.
    pub kind: String,
    /// When the current window closes (epoch ms); null when closed.
    pub closes_at: Option<i64>,
}

impl WindowView {
    pub fn of(last_inbound_at: Option<i64>, now_ms: i64) -> WindowView {
        let window = person_window(last_inbound_at, now_ms);
        let week = relay::ai::policy::HUMAN_AGENT_WINDOW.as_millis() as i64;
        let (kind, closes_at) = match (window, last_inbound_at) {
            (Window::Standard, Some(at)) => ("standard", Some(at + STANDARD_WINDOW_MS)),
            (Window::HumanAgent, Some(at)) => ("human_agent", Some(at + week)),
            _ => ("closed", None),
        };
        WindowView {
            kind: kind.into(),
            closes_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationView {
    /// `<account id>-<customer id>`.
    pub id: String,
    pub account_id: String,
    pub customer_id: String,
    pub username: Option<String>,
    pub last_activity_at: i64,
    pub last_inbound_at: Option<i64>,
    pub unread_count: u64,
    pub message_count: u64,
    /// The conversation's own AI mode; null follows the account's.
    pub ai_mode: Option<String>,
    pub ai_paused: bool,
    pub paused_reason: Option<String>,
    pub assigned_to: Option<String>,
    pub window: WindowView,
}

impl ConversationView {
    pub fn of(c: &Conversation, username: Option<String>, now_ms: i64) -> Option<ConversationView> {
        let (account, customer) = (c.account_id.as_ref()?, c.customer_id.as_ref()?);
        Some(ConversationView {
            id: conversation_id(account, customer),
            account_id: account.to_string(),
            customer_id: customer.as_str().to_owned(),
            username,
            last_activity_at: c.last_activity_at,
            last_inbound_at: c.last_inbound_at,
            unread_count: c.unread_count,
            message_count: c.message_count,
            ai_mode: c.ai_mode.map(|m| name(&m)),
            ai_paused: c.paused,
            paused_reason: c.paused_reason.clone(),
            assigned_to: c.assigned_to.clone(),
            window: WindowView::of(c.last_inbound_at, now_ms),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttachmentView {
    pub kind: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub mid: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `customer`, `human` or `ai`.
    pub author: String,
    /// `text`, `attachment`, `postback` or `unsupported`.
    pub kind: String,
    pub text: Option<String>,
    pub attachments: Vec<AttachmentView>,
    /// Event time (epoch ms).
    pub timestamp: i64,
    pub read_at: Option<i64>,
    pub deleted: bool,
    pub edit_count: u32,
    /// The model that wrote it, for the AI's messages.
    pub ai_model: Option<String>,
}

impl MessageView {
    pub fn of(m: &StoredMessage) -> MessageView {
        MessageView {
            mid: m.mid.to_string(),
            direction: name(&m.direction),
            author: name(&m.author),
            kind: name(&m.kind),
            text: if m.deleted { None } else { m.text.clone() },
            attachments: m
                .attachments
                .iter()
                .map(|a| AttachmentView {
                    kind: a.kind.clone(),
                    url: a.url.clone(),
                })
                .collect(),
            timestamp: m.timestamp_ms,
            read_at: m.read_at,
            deleted: m.deleted,
            edit_count: m.edit_count,
            ai_model: m.ai.as_ref().map(|a| a.model.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DraftView {
    pub draft_id: String,
    pub conversation_id: String,
    pub text: String,
    /// The messages it would be sent as (at most 1000 bytes each).
    pub parts: Vec<String>,
    /// `pending`, `approved`, `edited` or `discarded`.
    pub status: String,
    pub model: String,
    pub created_at: i64,
    pub resolved_by: Option<String>,
}

impl DraftView {
    pub fn of(d: &Draft) -> DraftView {
        DraftView {
            draft_id: d.draft_id.to_string(),
            conversation_id: conversation_id(&d.account_id, &d.customer_id),
            text: d.text.clone(),
            parts: d.parts.clone(),
            status: name(&d.status),
            model: d.ai.model.clone(),
            created_at: d.created_at,
            resolved_by: d.resolved_by.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommentView {
    /// `<account id>-<comment id>`.
    pub id: String,
    pub account_id: String,
    pub comment_id: String,
    pub media_id: Option<String>,
    pub parent_id: Option<String>,
    pub username: Option<String>,
    pub text: Option<String>,
    /// `new`, `spam`, `hidden`, `replied` or `deleted`.
    pub status: String,
    pub labels: Vec<String>,
    /// Why it was labelled, in Relay's words.
    pub signals: Vec<String>,
    pub hidden: bool,
    pub created_at: i64,
    pub replied_at: Option<i64>,
    pub private_replied_at: Option<i64>,
}

impl CommentView {
    pub fn of(c: &StoredComment) -> CommentView {
        CommentView {
            id: comment_id(&c.account_id, &c.comment_id),
            account_id: c.account_id.to_string(),
            comment_id: c.comment_id.to_string(),
            media_id: c.media_id.as_ref().map(|m| m.to_string()),
            parent_id: c.parent_id.as_ref().map(|p| p.to_string()),
            username: c.username.clone(),
            text: if c.deleted_at.is_some() {
                None
            } else {
                c.text.clone()
            },
            status: c.derived_status().as_str().into(),
            labels: c.labels.iter().map(|l| l.as_str().to_owned()).collect(),
            signals: c.signals.clone(),
            hidden: c.hidden,
            created_at: c.created_at,
            replied_at: c.replied_at,
            private_replied_at: c.private_replied_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KnowledgeView {
    pub entry_id: String,
    /// `{"kind": "faq", "question", "answer"}` or `{"kind": "product", "name", "sku",
    /// "price": {"amount", "currency"}, "availability", "url", "description"}`.
    #[schema(value_type = Object)]
    pub entry: Value,
    pub tags: Vec<String>,
    pub updated_at: i64,
}

impl KnowledgeView {
    pub fn of(e: &relay::ai::KnowledgeEntry) -> KnowledgeView {
        KnowledgeView {
            entry_id: e.entry_id.as_str().to_owned(),
            entry: serde_json::to_value(&e.entry).unwrap_or(Value::Null),
            tags: e.tags.clone(),
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditRecordView {
    pub seq: u64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub hash: String,
    pub prev_hash: String,
}

impl AuditRecordView {
    pub fn of(r: &AuditRecord) -> AuditRecordView {
        AuditRecordView {
            seq: r.seq,
            at: r.at,
            actor: r.actor.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            details: match serde_json::from_str(&r.details) {
                Ok(Value::Object(map)) => Value::Object(map),
                _ => Value::Object(Default::default()),
            },
            hash: r.hash.clone(),
            prev_hash: r.prev_hash.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerificationView {
    pub intact: bool,
    pub records: u64,
    /// The first broken link: `edited`, `missing`, `unlinked`, ...
    pub first_break: Option<BreakView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BreakView {
    pub seq: u64,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub name: String,
    /// `viewer`, `agent`, `manager`, `admin`, `owner`, or `operator`.
    pub role: String,
    /// For agents: the accounts they work (empty: all).
    pub accounts: Vec<String>,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl KeyView {
    pub fn of(k: &ApiKey) -> KeyView {
        let (role, accounts) = match &k.grant {
            Grant::Tenant { role, accounts, .. } => (
                role.as_str().to_owned(),
                accounts.iter().map(|a| a.to_string()).collect(),
            ),
            Grant::Operator => ("operator".to_owned(), Vec::new()),
        };
        KeyView {
            key_id: k.key_id.to_string(),
            name: k.name.clone(),
            role,
            accounts,
            prefix: k.prefix.clone(),
            created_at: k.created_at,
            created_by: k.created_by.clone(),
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just made. `key` is shown this once; Relay keeps only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: KeyView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    pub tenant_id: String,
    pub name: String,
    pub created_at: i64,
}

impl TenantView {
    pub fn of(t: &Tenant) -> TenantView {
        TenantView {
            tenant_id: t.tenant_id.to_string(),
            name: t.name.clone(),
            created_at: t.created_at,
        }
    }
}

/// A comment action that was queued for the moderation function.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Queued {
    /// `hide`, `unhide`, `delete`, `reply` or `private_reply`.
    pub action: String,
    pub comment: String,
    /// Names the action; the same request id acts once.
    pub request_id: String,
}

/// What a person's reply or an approved draft became at Meta.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SentView {
    pub sent_mids: Vec<String>,
    /// Sent with Meta's HUMAN_AGENT tag (24 h to 7 days after the customer's message).
    pub human_agent_tag: bool,
}

/// A scheduled post as the team sees it: what it publishes, when, and how far publishing
/// got. The publisher's own bookkeeping (lease, revision, containers, retry counts) is not
/// shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostView {
    pub post_id: String,
    pub account_id: String,
    /// `scheduled` (editable), `queued`, `publishing`, `waiting_for_quota`, `published`,
    /// `failed` or `cancelled`.
    pub status: String,
    /// When it goes out (epoch ms, UTC).
    pub scheduled_at: i64,
    /// The IANA zone the time was chosen in (for display); null when given with an offset.
    pub time_zone: Option<String>,
    /// What it publishes, by `type`: `image`, `reel`, `carousel`, `story`, `page_text`,
    /// `page_photo` or `page_link` (as sent when it was scheduled).
    #[schema(value_type = Object)]
    pub content: Value,
    pub caption: Option<String>,
    pub first_comment: Option<String>,
    pub progress: ProgressView,
    /// Why it will not go out and what to do; null unless it failed.
    pub failure: Option<FailureView>,
    pub published_at: Option<i64>,
    /// Where its insights are read (`/v1/media/{media_id}/insights`), once an Instagram
    /// post is published; null before, and for Page posts.
    pub insights: Option<String>,
    /// The key that scheduled it (`user:key_...`).
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How far publishing got.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    /// The published Instagram media or Page post.
    pub media_id: Option<String>,
    pub permalink: Option<String>,
    /// The first comment Relay posted under it.
    pub first_comment_id: Option<String>,
    /// Why it is waiting (the account's publishing quota is used up, ...).
    pub waiting: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FailureView {
    /// In Meta's words where Meta gave any.
    pub reason: String,
    /// `change_the_media`, `reconnect_the_account` or `try_again_later`.
    pub fix: String,
    pub at: i64,
}

/// Where a published Instagram post's insights are read (Page posts have none here).
fn insights_link(p: &Post) -> Option<String> {
    use relay::publishing::PostContent as C;
    let instagram = matches!(
        p.content,
        C::Image { .. } | C::Reel { .. } | C::Carousel { .. } | C::Story { .. }
    );
    let media = p.progress.media_id.as_deref()?;
    (instagram && p.status == relay::publishing::PostStatus::Published)
        .then(|| format!("/v1/media/{media}/insights"))
}

impl PostView {
    pub fn of(p: &Post) -> PostView {
        PostView {
            post_id: p.post_id.to_string(),
            account_id: p.account_id.to_string(),
            status: p.status.as_str().into(),
            scheduled_at: p.scheduled_at,
            time_zone: p.time_zone.clone(),
            content: serde_json::to_value(&p.content).unwrap_or(Value::Null),
            caption: p.caption.clone(),
            first_comment: p.first_comment.clone(),
            progress: ProgressView {
                media_id: p.progress.media_id.clone(),
                permalink: p.progress.permalink.clone(),
                first_comment_id: p.progress.first_comment_id.clone(),
                waiting: p.progress.waiting.clone(),
            },
            failure: p.failure.as_ref().map(|f| FailureView {
                reason: f.reason.clone(),
                fix: name(&f.fix),
                at: f.at,
            }),
            published_at: p.published_at,
            insights: insights_link(p),
            created_by: p.created_by.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// One page of a listing; pass `next_cursor` as `cursor` for the next.
macro_rules! page {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub next_cursor: Option<String>,
        }
    };
}

page!(AccountPage, AccountView);
page!(ConversationPage, ConversationView);
page!(MessagePage, MessageView);
page!(DraftPage, DraftView);
page!(KnowledgePage, KnowledgeView);
page!(CommentPage, CommentView);
page!(AuditPage, AuditRecordView);
page!(KeyPage, KeyView);
page!(TenantPage, TenantView);
page!(PostPage, PostView);

/// One tenant's health, for operators: no messages, comments or drafts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantHealth {
    pub tenant_id: String,
    pub accounts: Vec<AccountHealth>,
    pub active_keys: u64,
    /// Counts of the last 30 UTC days, today included.
    pub usage_30d: UsageView,
}

/// What a tenant used: stored for the first time, so redeliveries are not counted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UsageView {
    /// Customers' messages received.
    pub messages_received: u64,
    /// The business's messages (by Relay, a person or the Instagram app).
    pub messages_sent: u64,
    pub comments_received: u64,
    /// Management API calls.
    pub api_calls: u64,
}

impl UsageView {
    pub fn of(usage: &relay::store::usage::Usage) -> UsageView {
        UsageView {
            messages_received: usage.messages_received,
            messages_sent: usage.messages_sent,
            comments_received: usage.comments_received,
            api_calls: usage.api_calls,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountHealth {
    pub account_id: String,
    pub channel: String,
    pub status: String,
    pub token: TokenHealth,
    pub last_webhook_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    pub tenants: Vec<TenantHealth>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OnboardingLinkView {
    pub url: String,
    pub expires_at: i64,
}
