//! The hosted pages of onboarding, rendered from plain values.
//!
//! Plain HTML with one inline stylesheet and, on popup results only, one inline script;
//! both carry a per-response nonce that the Content-Security-Policy of
//! [`content_security_policy`] names, so no other script can run and nothing is loaded
//! from anywhere. Every value is HTML-escaped; values placed in the script are JSON with
//! `<`, `>` and `&` escaped, so no value can end the script. Pages work on a phone
//! (viewport, fluid layout, 44-pixel targets), by keyboard (links and buttons only,
//! visible focus) and with a screen reader (landmarks, headings, labelled lists), with
//! text contrast above WCAG AA.

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{DeletionStatus, Provider};

/// What Relay does with a group of permissions, in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    pub title: &'static str,
    pub explanation: &'static str,
    /// The Instagram Login permissions it needs.
    pub instagram: &'static [&'static str],
    /// The Facebook Login permissions it needs.
    pub facebook: &'static [&'static str],
}

/// Every permission Relay asks for, grouped by what it is used for. A unit test holds
/// this list and the scopes of the dialog URLs (`meta::INSTAGRAM_LOGIN_SCOPES`,
/// `meta::FACEBOOK_LOGIN_SCOPES`) in step.
pub const CAPABILITIES: [Capability; 5] = [
    Capability {
        title: "Read and answer your direct messages",
        explanation: "New messages arrive in your team's inbox as they are sent; your team, or an assistant your business sets up, replies from there.",
        instagram: &["instagram_business_manage_messages"],
        facebook: &[
            "instagram_manage_messages",
            "pages_messaging",
            "pages_manage_metadata",
        ],
    },
    Capability {
        title: "Publish the posts you schedule",
        explanation: "Posts, reels and stories your team schedules are published at the chosen time, and only those.",
        instagram: &["instagram_business_content_publish"],
        facebook: &["instagram_content_publish", "pages_manage_posts"],
    },
    Capability {
        title: "Moderate comments",
        explanation: "Read comments on your posts, answer them, and hide or delete spam according to your rules.",
        instagram: &["instagram_business_manage_comments"],
        facebook: &["instagram_manage_comments", "pages_read_engagement"],
    },
    Capability {
        title: "Read insights",
        explanation: "Reach, views and engagement of your account and posts, for your team's reports.",
        instagram: &["instagram_business_manage_insights"],
        facebook: &["instagram_manage_insights"],
    },
    Capability {
        title: "Show your profile",
        explanation: "The name, username and picture of each connected account (and, with Facebook, the Pages you choose and the Instagram accounts linked to them), so your team sees which account is which.",
        instagram: &["instagram_business_basic"],
        facebook: &["instagram_basic", "pages_show_list", "business_management"],
    },
];

/// The Content-Security-Policy header for a page rendered with `nonce`.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element.
fn script_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .expect("page values always serialise")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A date for people: `2026-11-21 14:05 UTC`.
pub fn human_time(epoch_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch_seconds)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| "an unknown time".to_owned())
}

const STYLE: &str = "\
:root{color-scheme:light}\
*{box-sizing:border-box}\
body{margin:0;background:#f4f5f7;color:#1c1e21;font:1rem/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
main{max-width:40rem;margin:0 auto;padding:1.5rem 1.25rem 3rem;background:#fff;min-height:100vh}\
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 1rem}\
h2{font-size:1.125rem;margin:1.75rem 0 .5rem}\
p{margin:.75rem 0}\
.brand{font-size:.875rem;color:#4b4f56;margin:0}\
ul.list{list-style:none;padding:0;margin:0}\
ul.list li{border-top:1px solid #dadde1;padding:.75rem 0}\
ul.list li:last-child{border-bottom:1px solid #dadde1}\
.item-title{display:block;font-weight:600}\
.detail{display:block;color:#4b4f56;font-size:.9375rem}\
.perms{display:block;color:#4b4f56;font-size:.8125rem;overflow-wrap:anywhere}\
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.75rem 0 1rem}\
.button{display:inline-flex;align-items:center;justify-content:center;min-height:2.75rem;padding:.625rem 1.25rem;\
border-radius:.5rem;border:2px solid #0a58ca;font-weight:600;text-decoration:none;flex:1 1 14rem;text-align:center}\
.primary{background:#0a58ca;color:#fff}\
.secondary{background:#fff;color:#0a58ca}\
.button:hover{text-decoration:underline}\
a:focus-visible,.button:focus-visible{outline:3px solid #1c1e21;outline-offset:3px}\
.fine{font-size:.875rem;color:#4b4f56}\
.status{display:inline-block;padding:.125rem .625rem;border-radius:1rem;background:#e7f0fd;color:#0a3f91;font-weight:600}\
.status.done{background:#e6f4ea;color:#0b5a2a}\
.status.failed{background:#fdecea;color:#8a1c12}\
@media (prefers-reduced-motion:reduce){*{transition:none!important}}";

fn document(title: &str, nonce: &str, main: &str, script: Option<&str>) -> String {
    let script = script
        .map(|s| format!("<script nonce=\"{}\">{s}</script>", escape(nonce)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta name=\"robots\" content=\"noindex\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{title}</title><style nonce=\"{nonce}\">{STYLE}</style></head>\
         <body><main id=\"main\"><p class=\"brand\">Relay</p>{main}</main>{script}</body></html>",
        title = escape(title),
        nonce = escape(nonce),
    )
}

/// The onboarding page of a tenant.
#[derive(Debug, Clone)]
pub struct OnboardingView<'a> {
    pub tenant_name: &'a str,
    /// `/oauth/start` for Instagram Login.
    pub instagram_start_url: &'a str,
    /// `/oauth/start` for Facebook Login.
    pub facebook_start_url: &'a str,
    pub link_expires_at: i64,
}

fn capability_items() -> String {
    CAPABILITIES
        .iter()
        .map(|c| {
            format!(
                "<li><span class=\"item-title\">{}</span><span class=\"detail\">{}</span>\
                 <span class=\"perms\">Instagram permission: {}. Facebook permissions: {}.</span></li>",
                escape(c.title),
                escape(c.explanation),
                escape(&c.instagram.join(", ")),
                escape(&c.facebook.join(", ")),
            )
        })
        .collect()
}

pub fn onboarding_page(view: &OnboardingView<'_>, nonce: &str) -> String {
    let tenant = escape(view.tenant_name);
    let main = format!(
        "<h1>Connect your accounts to {tenant}</h1>\
         <p>{tenant} uses Relay to look after your Instagram account: messages, comments, \
         scheduled posts and insights in one place. Connecting takes a minute; you sign in \
         with Instagram or Facebook, never here.</p>\
         <h2 id=\"what-relay-does\">What Relay will do with the permissions it asks for</h2>\
         <ul class=\"list\" aria-labelledby=\"what-relay-does\">{items}</ul>\
         <p>Relay acts only as {tenant} sets it up to. You can disconnect at any time in \
         your Instagram or Facebook settings, and ask for your data to be deleted.</p>\
         <div class=\"actions\">\
         <a class=\"button primary\" id=\"connect-instagram\" href=\"{ig}\">Connect with Instagram</a>\
         <a class=\"button secondary\" id=\"connect-facebook\" href=\"{fb}\">Connect a Facebook Page</a>\
         </div>\
         <p class=\"fine\">Choose <strong>Connect with Instagram</strong> for an Instagram \
         professional account. Choose <strong>Connect a Facebook Page</strong> to answer \
         Messenger, or if your Instagram account is managed through a Facebook Page.</p>\
         <p class=\"fine\">This link was made for {tenant} and works until {expires}.</p>",
        items = capability_items(),
        ig = escape(view.instagram_start_url),
        fb = escape(view.facebook_start_url),
        expires = escape(&human_time(view.link_expires_at)),
    );
    document(
        &format!("Connect your accounts to {}", view.tenant_name),
        nonce,
        &main,
        None,
    )
}

/// One account a flow connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectedAccountView {
    pub account_id: String,
    /// `instagram` or `page`.
    pub channel: &'static str,
    /// `@username` or the Page's name.
    pub display_name: String,
    /// A remark, such as "Messenger only: no Instagram account is linked to this Page".
    pub note: Option<String>,
}

/// Where the outcome goes in popup mode: posted to the opener, on this origin only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopupTarget<'a> {
    pub origin: &'a str,
}

/// The message a popup posts to its opener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PopupMessage<'a> {
    /// Always `relay.onboarding`, so the opener can tell it from other messages.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `connected`, `cancelled` or `failed`.
    pub status: &'static str,
    pub provider: Option<Provider>,
    pub accounts: &'a [ConnectedAccountView],
    /// A stable reason when not connected, e.g. `state_expired`.
    pub reason: Option<&'a str>,
}

fn popup_script(target: &PopupTarget<'_>, message: &PopupMessage<'_>) -> String {
    format!(
        "(function(){{var message={};var origin={};\
         if(window.opener&&!window.opener.closed){{window.opener.postMessage(message,origin);window.close();}}}})();",
        script_json(message),
        script_json(&target.origin),
    )
}

/// The result page after accounts were connected.
#[derive(Debug, Clone)]
pub struct SuccessView<'a> {
    pub tenant_name: &'a str,
    pub provider: Provider,
    pub accounts: &'a [ConnectedAccountView],
    /// A link back to the tenant's app, when the flow named one.
    pub return_url: Option<&'a str>,
    pub popup: Option<PopupTarget<'a>>,
}

pub fn success_page(view: &SuccessView<'_>, nonce: &str) -> String {
    let tenant = escape(view.tenant_name);
    let items: String = view
        .accounts
        .iter()
        .map(|a| {
            let kind = match a.channel {
                "page" => "Facebook Page",
                _ => "Instagram account",
            };
            let note = a
                .note
                .as_deref()
                .map(|n| format!("<span class=\"detail\">{}</span>", escape(n)))
                .unwrap_or_default();
            format!(
                "<li data-account-id=\"{id}\"><span class=\"item-title\">{name}</span>\
                 <span class=\"detail\">{kind}</span>{note}</li>",
                id = escape(&a.account_id),
                name = escape(&a.display_name),
            )
        })
        .collect();
    let count = view.accounts.len();
    let summary = if count == 1 {
        "This account is now connected".to_owned()
    } else {
        format!("These {count} accounts are now connected")
    };
    let back = view
        .return_url
        .map(|url| {
            format!(
                "<div class=\"actions\"><a class=\"button primary\" id=\"return\" href=\"{}\">Continue</a></div>",
                escape(url)
            )
        })
        .unwrap_or_default();
    let main = format!(
        "<h1 id=\"result\">Connected to {tenant}</h1>\
         <p>{summary} to {tenant}. New messages and comments will reach the team from now on.</p>\
         <h2 id=\"connected\">Connected accounts</h2>\
         <ul class=\"list\" id=\"connected-accounts\" aria-labelledby=\"connected\">{items}</ul>\
         {back}<p class=\"fine\">You can close this page.</p>"
    );
    let script = view.popup.as_ref().map(|target| {
        popup_script(
            target,
            &PopupMessage {
                kind: "relay.onboarding",
                status: "connected",
                provider: Some(view.provider),
                accounts: view.accounts,
                reason: None,
            },
        )
    });
    document(
        &format!("Connected to {}", view.tenant_name),
        nonce,
        &main,
        script.as_deref(),
    )
}

/// A page that explains why nothing was connected (a cancel, an expired or invalid
/// sign-in, a failure at Meta) and what to do next.
#[derive(Debug, Clone)]
pub struct ProblemView<'a> {
    pub title: &'a str,
    pub message: &'a str,
    /// A button to start again, when one can be offered.
    pub retry_url: Option<&'a str>,
    /// Posted to the opener in popup mode (status and reason).
    pub popup: Option<(PopupTarget<'a>, PopupMessage<'a>)>,
}

pub fn problem_page(view: &ProblemView<'_>, nonce: &str) -> String {
    let retry = view
        .retry_url
        .map(|url| {
            format!(
                "<div class=\"actions\"><a class=\"button primary\" id=\"retry\" href=\"{}\">Try again</a></div>",
                escape(url)
            )
        })
        .unwrap_or_default();
    let main = format!(
        "<h1 id=\"result\">{title}</h1><p id=\"message\">{message}</p>{retry}",
        title = escape(view.title),
        message = escape(view.message),
    );
    let script = view
        .popup
        .as_ref()
        .map(|(target, message)| popup_script(target, message));
    document(view.title, nonce, &main, script.as_deref())
}

/// What a deletion removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeletionCounts {
    pub accounts: u64,
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub comments: u64,
    pub other_items: u64,
}

impl DeletionCounts {
    /// Counts accumulate across runs: a resumed deletion adds what it erased this time.
    pub fn add(&mut self, more: &DeletionCounts) {
        self.accounts += more.accounts;
        self.contacts += more.contacts;
        self.conversations += more.conversations;
        self.messages += more.messages;
        self.comments += more.comments;
        self.other_items += more.other_items;
    }
}

/// The status page of a data-deletion request.
#[derive(Debug, Clone)]
pub struct DeletionView<'a> {
    pub confirmation_code: &'a str,
    pub status: DeletionStatus,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    pub counts: DeletionCounts,
}

pub fn deletion_status_page(view: &DeletionView<'_>, nonce: &str) -> String {
    let (badge_class, badge, sentence) = match view.status {
        DeletionStatus::InProgress => (
            "status",
            "In progress",
            "We are deleting the data. This page shows the result when it is done.".to_owned(),
        ),
        DeletionStatus::Completed => (
            "status done",
            "Completed",
            format!(
                "All data was deleted on {}.",
                human_time(view.completed_at.unwrap_or(view.requested_at))
            ),
        ),
        DeletionStatus::Failed => (
            "status failed",
            "Not finished yet",
            "A step of the deletion failed and will be retried. Nothing has to be done on your side.".to_owned(),
        ),
    };
    let c = view.counts;
    let counts = if view.status == DeletionStatus::Completed {
        format!(
            "<h2 id=\"deleted\">What was deleted</h2><ul class=\"list\" aria-labelledby=\"deleted\">\
             <li>{} connected accounts, with their access tokens</li>\
             <li>{} contacts</li><li>{} conversations</li><li>{} messages</li>\
             <li>{} comments</li><li>{} other records (profile and insight snapshots, events)</li></ul>",
            c.accounts, c.contacts, c.conversations, c.messages, c.comments, c.other_items
        )
    } else {
        String::new()
    };
    let main = format!(
        "<h1>Data deletion request</h1>\
         <p>Confirmation code: <strong id=\"code\">{code}</strong></p>\
         <p>Status: <span class=\"{badge_class}\" id=\"status\">{badge}</span></p>\
         <p>{sentence}</p>\
         <p class=\"fine\">Requested on {requested}.</p>{counts}\
         <h2 id=\"scope\">What this request covers</h2>\
         <p>Every Instagram account and Facebook Page you connected to Relay, their access \
         tokens, and the contacts, conversations, messages and comments stored for them. \
         The audit trail of actions taken is kept, as the law requires; it holds no message \
         content and no access tokens.</p>",
        code = escape(view.confirmation_code),
        sentence = escape(&sentence),
        requested = escape(&human_time(view.requested_at)),
    );
    document("Data deletion request", nonce, &main, None)
}

/// A page for an unknown address or a request that makes no sense.
pub fn not_found_page(nonce: &str) -> String {
    document(
        "Page not found",
        nonce,
        "<h1>Page not found</h1><p>This address does not lead anywhere. If someone sent you \
         a link to connect your accounts, open that link again.</p>",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{FACEBOOK_LOGIN_SCOPES, INSTAGRAM_LOGIN_SCOPES};
    use std::collections::BTreeSet;

    #[test]
    fn every_requested_permission_is_explained_once_and_nothing_else() {
        let explained_ig: Vec<&str> = CAPABILITIES
            .iter()
            .flat_map(|c| c.instagram)
            .copied()
            .collect();
        let explained_fb: Vec<&str> = CAPABILITIES
            .iter()
            .flat_map(|c| c.facebook)
            .copied()
            .collect();
        assert_eq!(
            explained_ig.iter().copied().collect::<BTreeSet<_>>(),
            INSTAGRAM_LOGIN_SCOPES
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
        );
        assert_eq!(
            explained_ig.len(),
            INSTAGRAM_LOGIN_SCOPES.len(),
            "explained twice"
        );
        assert_eq!(
            explained_fb.iter().copied().collect::<BTreeSet<_>>(),
            FACEBOOK_LOGIN_SCOPES
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
        );
        assert_eq!(
            explained_fb.len(),
            FACEBOOK_LOGIN_SCOPES.len(),
            "explained twice"
        );
    }

    #[test]
    fn the_onboarding_page_escapes_the_tenant_name() {
        let page = onboarding_page(
            &OnboardingView {
                tenant_name: "<script>alert(1)</script> & Co",
                instagram_start_url: "https://r.example/oauth/start?a=1&b=2",
                facebook_start_url: "https://r.example/oauth/start?p=facebook",
                link_expires_at: 1_800_000_000,
            },
            "n0nce",
        );
        assert!(
            !page.contains("<script>alert"),
            "tenant name reached the page raw"
        );
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
        assert!(page.contains("href=\"https://r.example/oauth/start?a=1&amp;b=2\""));
        assert!(page.contains("<style nonce=\"n0nce\">"));
        assert!(
            !page.contains("<script"),
            "the onboarding page runs no script"
        );
        assert!(page.contains("2027-01-15 08:00 UTC"));
        for c in CAPABILITIES {
            assert!(page.contains(&escape(c.title)));
        }
    }

    #[test]
    fn popup_results_post_only_to_the_configured_origin() {
        let accounts = [ConnectedAccountView {
            account_id: "17841400000000001".into(),
            channel: "instagram",
            display_name: "@acme</script><script>x()".into(),
            note: None,
        }];
        let page = success_page(
            &SuccessView {
                tenant_name: "Acme",
                provider: Provider::Instagram,
                accounts: &accounts,
                return_url: None,
                popup: Some(PopupTarget {
                    origin: "https://app.acme.example",
                }),
            },
            "abc",
        );
        assert!(page.contains("postMessage(message,origin)"));
        assert!(page.contains("var origin=\"https://app.acme.example\""));
        assert!(!page.contains("\"*\""));
        assert_eq!(
            page.matches("</script>").count(),
            1,
            "a value closed the script"
        );
        assert!(page.contains("<script nonce=\"abc\">"));
        assert!(page.contains("data-account-id=\"17841400000000001\""));
    }

    #[test]
    fn a_full_page_result_has_no_script() {
        let page = success_page(
            &SuccessView {
                tenant_name: "Acme",
                provider: Provider::Facebook,
                accounts: &[],
                return_url: Some("https://app.acme.example/done"),
                popup: None,
            },
            "abc",
        );
        assert!(!page.contains("<script"));
        assert!(page.contains("id=\"return\" href=\"https://app.acme.example/done\""));
    }

    #[test]
    fn the_csp_allows_only_the_nonce() {
        let csp = content_security_policy("xyz");
        assert!(csp.contains("script-src 'nonce-xyz'"));
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn deletion_pages_say_where_the_request_stands() {
        let page = deletion_status_page(
            &DeletionView {
                confirmation_code: "0123456789abcdef0123",
                status: DeletionStatus::Completed,
                requested_at: 1_800_000_000,
                completed_at: Some(1_800_000_060),
                counts: DeletionCounts {
                    accounts: 2,
                    messages: 17,
                    ..DeletionCounts::default()
                },
            },
            "n",
        );
        assert!(page.contains("Completed"));
        assert!(page.contains("<li>17 messages</li>"));
        assert!(page.contains("0123456789abcdef0123"));
    }
}
