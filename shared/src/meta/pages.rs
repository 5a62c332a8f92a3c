//! Facebook Pages: the Pages a Facebook Login user manages (with their Page tokens and
//! linked Instagram accounts), and posts on a Page.

use std::fmt;

use serde::Deserialize;

use super::transport::{Auth, Call, PageLimits, Paged, Retry, with_query};
use super::{FacebookPage, GraphClient, GraphError, Response};
use crate::ids::AccountId;
use crate::secret::AccessToken;

const PAGE_FIELDS: &str = "id,name,access_token,tasks,instagram_business_account";

/// A Page the user manages, from `/me/accounts`.
#[derive(Clone, Deserialize)]
#[serde(try_from = "RawPageAccount")]
pub struct FacebookPageAccount {
    pub id: AccountId,
    pub name: String,
    /// The Page token; from a long-lived user token it does not expire.
    pub access_token: AccessToken,
    /// What the user may do on the Page: MESSAGING, MODERATE, ANALYZE, CREATE_CONTENT...
    pub tasks: Vec<String>,
    /// The Instagram professional account linked to the Page, if any.
    pub instagram_business_account: Option<AccountId>,
}

impl FacebookPageAccount {
    /// The Page as a client handle for Page calls.
    pub fn page(&self) -> FacebookPage {
        FacebookPage {
            id: self.id.clone(),
            token: self.access_token.clone(),
        }
    }
}

impl fmt::Debug for FacebookPageAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FacebookPageAccount")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("access_token", &self.access_token)
            .field("tasks", &self.tasks)
            .field(
                "instagram_business_account",
                &self.instagram_business_account,
            )
            .finish()
    }
}

#[derive(Deserialize)]
struct RawPageAccount {
    id: AccountId,
    #[serde(default)]
    name: String,
    access_token: Option<String>,
    #[serde(default)]
    tasks: Vec<String>,
    #[serde(default)]
    instagram_business_account: Option<LinkedAccount>,
}

#[derive(Deserialize)]
struct LinkedAccount {
    id: AccountId,
}

impl TryFrom<RawPageAccount> for FacebookPageAccount {
    type Error = &'static str;

    fn try_from(raw: RawPageAccount) -> Result<Self, Self::Error> {
        // Without a token the Page cannot be used: the user lacks a role on it.
        let token = raw
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or("a page has no access_token")?;
        Ok(Self {
            id: raw.id,
            name: raw.name,
            access_token: AccessToken::new(token),
            tasks: raw.tasks,
            instagram_business_account: raw.instagram_business_account.map(|l| l.id),
        })
    }
}

/// A post on a Page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagePost<'a> {
    /// A status update (`/feed`).
    Text { message: &'a str },
    /// A link share with optional text (`/feed`).
    Link {
        link: &'a str,
        message: Option<&'a str>,
    },
    /// A photo by public URL (`/photos`).
    Photo {
        url: &'a str,
        caption: Option<&'a str>,
    },
}

/// Meta's ids for a new Page post. For photos `id` is the photo and `post_id` the feed
/// post; for feed posts `id` is the post (`<PAGE_ID>_<POST_ID>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PagePostRef {
    pub id: String,
    #[serde(default)]
    pub post_id: Option<String>,
}

impl GraphClient {
    /// The Pages the Facebook Login user manages, following paging within `limits`.
    pub async fn facebook_pages(
        &self,
        user_token: &AccessToken,
        limits: PageLimits,
    ) -> Result<Response<Paged<FacebookPageAccount>>, GraphError> {
        let url = with_query(
            self.facebook_url(&["me", "accounts"]),
            &[("fields", PAGE_FIELDS)],
        );
        let call = Call::get("facebook_pages", url, Auth::Bearer(user_token));
        let base = self.endpoints().facebook_graph.clone();
        self.execute_paged(call, &base, limits).await
    }

    /// Publishes a post on a Page. Sent once.
    pub async fn publish_page_post(
        &self,
        page: &FacebookPage,
        post: PagePost<'_>,
    ) -> Result<Response<PagePostRef>, GraphError> {
        let (edge, form): (&str, Vec<(&'static str, String)>) = match post {
            PagePost::Text { message } => {
                if message.trim().is_empty() {
                    return Err(GraphError::InvalidInput {
                        reason: "the post text is empty".into(),
                    });
                }
                ("feed", vec![("message", message.to_owned())])
            }
            PagePost::Link { link, message } => {
                let mut form = vec![("link", link.to_owned())];
                if let Some(message) = message {
                    form.push(("message", message.to_owned()));
                }
                ("feed", form)
            }
            PagePost::Photo { url, caption } => {
                let mut form = vec![("url", url.to_owned())];
                if let Some(caption) = caption {
                    form.push(("caption", caption.to_owned()));
                }
                ("photos", form)
            }
        };
        let call = Call::post(
            "publish_page_post",
            self.facebook_url(&[page.id.as_str(), edge]),
            Auth::Bearer(&page.token),
            Retry::Once,
        )
        .for_account(&page.id)
        .form(form);
        self.execute::<PagePostRef>(&call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_with_linked_instagram_and_hide_tokens() {
        let page: FacebookPageAccount = serde_json::from_str(
            r#"{"id":"1029384756","name":"Acme","access_token":"EAApagetoken","tasks":["MESSAGING","MODERATE"],
                "instagram_business_account":{"id":"17841400000000001"}}"#,
        )
        .expect("documented shape");
        assert_eq!(
            page.instagram_business_account
                .as_ref()
                .map(AccountId::as_str),
            Some("17841400000000001")
        );
        assert_eq!(page.page().token.expose(), "EAApagetoken");
        assert!(!format!("{page:?}").contains("EAApagetoken"));
        let err = serde_json::from_str::<FacebookPageAccount>(r#"{"id":"1","name":"x"}"#)
            .expect_err("no token");
        assert!(err.to_string().contains("no access_token"));
    }
}
