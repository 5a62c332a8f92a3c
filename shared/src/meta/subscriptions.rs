//! Webhook subscriptions (`subscribed_apps`) of Instagram accounts and Pages.
//!
//! Meta delivers an account's webhooks only while the app is subscribed on that account,
//! and unsubscribes it after an hour of failed deliveries, so Relay re-subscribes freely:
//! subscribing sets a state and is retried on transient failures, as is removal.

use serde::Deserialize;

use super::transport::{Auth, Call, Retry, with_query};
use super::{FacebookPage, GraphClient, GraphError, InstagramAccount, LoginKind, Response};

/// The Instagram fields Relay handles.
pub const DEFAULT_INSTAGRAM_WEBHOOK_FIELDS: [&str; 6] = [
    "messages",
    "comments",
    "message_reactions",
    "messaging_seen",
    "messaging_postbacks",
    "messaging_referral",
];

/// The Page (Messenger) fields Relay handles.
pub const DEFAULT_PAGE_WEBHOOK_FIELDS: [&str; 4] = [
    "messages",
    "message_echoes",
    "message_reactions",
    "messaging_postbacks",
];

/// One app subscribed on an account or Page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppSubscription {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub subscribed_fields: Vec<String>,
}

#[derive(Deserialize)]
struct Subscriptions {
    #[serde(default)]
    data: Vec<AppSubscription>,
}

/// Field names are lowercase words; anything else would smuggle extra parameters.
fn field_list(fields: &[&str]) -> Result<String, GraphError> {
    let valid = !fields.is_empty()
        && fields
            .iter()
            .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    if valid {
        Ok(fields.join(","))
    } else {
        Err(GraphError::InvalidInput {
            reason: "webhook fields must be one or more lowercase field names".into(),
        })
    }
}

impl GraphClient {
    /// Subscribes the app to an Instagram Login account's webhooks
    /// (`POST graph.instagram.com/me/subscribed_apps`).
    pub async fn subscribe_instagram_account(
        &self,
        account: &InstagramAccount,
        fields: &[&str],
    ) -> Result<Response<()>, GraphError> {
        instagram_login_only(account)?;
        let url = with_query(
            self.instagram_url(account.login, &["me", "subscribed_apps"]),
            &[("subscribed_fields", &field_list(fields)?)],
        );
        let call = Call::post(
            "subscribe_instagram_account",
            url,
            Auth::Bearer(&account.token),
            Retry::Idempotent,
        )
        .for_account(&account.id);
        self.acknowledged(&call).await
    }

    /// The apps subscribed on an Instagram Login account and their fields.
    pub async fn instagram_subscriptions(
        &self,
        account: &InstagramAccount,
    ) -> Result<Response<Vec<AppSubscription>>, GraphError> {
        instagram_login_only(account)?;
        let call = Call::get(
            "instagram_subscriptions",
            self.instagram_url(account.login, &["me", "subscribed_apps"]),
            Auth::Bearer(&account.token),
        )
        .for_account(&account.id);
        Ok(self.execute::<Subscriptions>(&call).await?.map(|s| s.data))
    }

    /// Removes the app's subscription from an Instagram Login account.
    pub async fn unsubscribe_instagram_account(
        &self,
        account: &InstagramAccount,
    ) -> Result<Response<()>, GraphError> {
        instagram_login_only(account)?;
        let call = Call::delete(
            "unsubscribe_instagram_account",
            self.instagram_url(account.login, &["me", "subscribed_apps"]),
            Auth::Bearer(&account.token),
            Retry::Idempotent,
        )
        .for_account(&account.id);
        self.acknowledged(&call).await
    }

    /// Subscribes the app to a Page's webhooks (needs pages_messaging and
    /// pages_manage_metadata). Instagram accounts linked to the Page are covered by it.
    pub async fn subscribe_page(
        &self,
        page: &FacebookPage,
        fields: &[&str],
    ) -> Result<Response<()>, GraphError> {
        let url = with_query(
            self.facebook_url(&[page.id.as_str(), "subscribed_apps"]),
            &[("subscribed_fields", &field_list(fields)?)],
        );
        let call = Call::post(
            "subscribe_page",
            url,
            Auth::Bearer(&page.token),
            Retry::Idempotent,
        )
        .for_account(&page.id);
        self.acknowledged(&call).await
    }

    /// The apps subscribed on a Page and their fields.
    pub async fn page_subscriptions(
        &self,
        page: &FacebookPage,
    ) -> Result<Response<Vec<AppSubscription>>, GraphError> {
        let call = Call::get(
            "page_subscriptions",
            self.facebook_url(&[page.id.as_str(), "subscribed_apps"]),
            Auth::Bearer(&page.token),
        )
        .for_account(&page.id);
        Ok(self.execute::<Subscriptions>(&call).await?.map(|s| s.data))
    }

    /// Removes the app's subscription from a Page.
    pub async fn unsubscribe_page(&self, page: &FacebookPage) -> Result<Response<()>, GraphError> {
        let call = Call::delete(
            "unsubscribe_page",
            self.facebook_url(&[page.id.as_str(), "subscribed_apps"]),
            Auth::Bearer(&page.token),
            Retry::Idempotent,
        )
        .for_account(&page.id);
        self.acknowledged(&call).await
    }
}

/// With Facebook Login, webhooks are subscribed on the linked Page instead.
fn instagram_login_only(account: &InstagramAccount) -> Result<(), GraphError> {
    match account.login {
        LoginKind::Instagram => Ok(()),
        LoginKind::Facebook => Err(GraphError::InvalidInput {
            reason: "accounts connected through Facebook Login subscribe through their Page".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_plain_names() {
        assert_eq!(
            field_list(&DEFAULT_INSTAGRAM_WEBHOOK_FIELDS).expect("valid"),
            "messages,comments,message_reactions,messaging_seen,messaging_postbacks,messaging_referral"
        );
        assert!(field_list(&[]).is_err());
        assert!(field_list(&["messages&access_token=x"]).is_err());
        assert!(field_list(&[""]).is_err());
    }
}
