//! The Instagram professional account's profile (`instagram_business_basic`) and a
//! Facebook Page's (`pages_read_engagement`).

use serde::Deserialize;
use serde_json::Value;

use super::transport::{Auth, Call, with_query};
use super::{
    FacebookPage, GraphClient, GraphError, InstagramAccount, LoginKind, Response, id_text,
};
use crate::ids::AccountId;
use crate::secret::AccessToken;

/// Fields read with Instagram Login (`user_id` is the id webhooks carry).
const INSTAGRAM_LOGIN_FIELDS: &str = "user_id,username,name,account_type,profile_picture_url,followers_count,follows_count,media_count,biography,website";

/// Fields read for an account linked to a Page (no `user_id` or `account_type` there:
/// `id` is the professional account id).
const FACEBOOK_LOGIN_FIELDS: &str = "id,username,name,profile_picture_url,followers_count,follows_count,media_count,biography,website";

/// Fields read of a Page.
const PAGE_PROFILE_FIELDS: &str = "id,name,category,fan_count,followers_count,link,picture";

/// A Facebook Page's public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageProfile {
    pub id: AccountId,
    pub name: String,
    pub category: Option<String>,
    /// People who like the Page.
    pub fan_count: Option<u64>,
    pub followers_count: Option<u64>,
    pub link: Option<String>,
    pub picture_url: Option<String>,
}

#[derive(Deserialize)]
struct RawPageProfile {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    fan_count: Option<u64>,
    #[serde(default)]
    followers_count: Option<u64>,
    #[serde(default)]
    link: Option<String>,
    /// `{"data": {"url": ...}}`.
    #[serde(default)]
    picture: Option<Value>,
}

impl RawPageProfile {
    fn into_profile(self) -> Result<PageProfile, GraphError> {
        let decode = |detail: String| GraphError::Decode {
            context: "page_profile",
            detail,
        };
        let id = self
            .id
            .as_ref()
            .and_then(id_text)
            .ok_or_else(|| decode("missing the Page id".into()))?;
        Ok(PageProfile {
            id: AccountId::parse(id).map_err(|e| decode(e.to_string()))?,
            name: self.name.ok_or_else(|| decode("missing `name`".into()))?,
            category: self.category,
            fan_count: self.fan_count,
            followers_count: self.followers_count,
            link: self.link,
            picture_url: self
                .picture
                .as_ref()
                .and_then(|p| p.pointer("/data/url"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// A business's public Instagram profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstagramProfile {
    /// The professional account id (the `entry.id` of its webhooks).
    pub user_id: AccountId,
    pub username: String,
    pub name: Option<String>,
    pub account_type: Option<String>,
    pub profile_picture_url: Option<String>,
    pub followers_count: Option<u64>,
    pub follows_count: Option<u64>,
    pub media_count: Option<u64>,
    pub biography: Option<String>,
    pub website: Option<String>,
}

#[derive(Deserialize)]
struct RawProfile {
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    account_type: Option<String>,
    #[serde(default)]
    profile_picture_url: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
    #[serde(default)]
    follows_count: Option<u64>,
    #[serde(default)]
    media_count: Option<u64>,
    #[serde(default)]
    biography: Option<String>,
    #[serde(default)]
    website: Option<String>,
}

impl RawProfile {
    fn into_profile(self, login: LoginKind) -> Result<InstagramProfile, GraphError> {
        let decode = |detail: String| GraphError::Decode {
            context: "instagram_profile",
            detail,
        };
        // With Instagram Login `id` is an app-scoped id; only `user_id` is the account.
        let id = match login {
            LoginKind::Instagram => self.user_id.as_ref(),
            LoginKind::Facebook => self.id.as_ref(),
        };
        let user_id = id
            .and_then(id_text)
            .ok_or_else(|| decode("missing the account id".into()))?;
        let user_id = AccountId::parse(user_id).map_err(|e| decode(e.to_string()))?;
        Ok(InstagramProfile {
            user_id,
            username: self
                .username
                .ok_or_else(|| decode("missing `username`".into()))?,
            name: self.name,
            account_type: self.account_type,
            profile_picture_url: self.profile_picture_url,
            followers_count: self.followers_count,
            follows_count: self.follows_count,
            media_count: self.media_count,
            biography: self.biography,
            website: self.website,
        })
    }
}

impl GraphClient {
    /// The profile behind an Instagram Login token (`GET /me`), e.g. right after OAuth
    /// when the account id is not known yet.
    pub async fn instagram_profile_for_token(
        &self,
        token: &AccessToken,
    ) -> Result<Response<InstagramProfile>, GraphError> {
        let url = with_query(
            self.instagram_url(LoginKind::Instagram, &["me"]),
            &[("fields", INSTAGRAM_LOGIN_FIELDS)],
        );
        let call = Call::get("instagram_profile", url, Auth::Bearer(token));
        self.profile(&call, LoginKind::Instagram).await
    }

    /// The profile of a connected account.
    pub async fn instagram_profile(
        &self,
        account: &InstagramAccount,
    ) -> Result<Response<InstagramProfile>, GraphError> {
        let url = match account.login {
            LoginKind::Instagram => with_query(
                self.instagram_url(account.login, &["me"]),
                &[("fields", INSTAGRAM_LOGIN_FIELDS)],
            ),
            LoginKind::Facebook => with_query(
                self.instagram_url(account.login, &[account.id.as_str()]),
                &[("fields", FACEBOOK_LOGIN_FIELDS)],
            ),
        };
        let call = Call::get("instagram_profile", url, Auth::Bearer(&account.token))
            .for_account(&account.id);
        self.profile(&call, account.login).await
    }

    /// The profile of a connected Facebook Page.
    pub async fn page_profile(
        &self,
        page: &FacebookPage,
    ) -> Result<Response<PageProfile>, GraphError> {
        let url = with_query(
            self.facebook_url(&[page.id.as_str()]),
            &[("fields", PAGE_PROFILE_FIELDS)],
        );
        let call = Call::get("page_profile", url, Auth::Bearer(&page.token)).for_account(&page.id);
        let response = self.execute::<RawPageProfile>(&call).await?;
        let usage = response.usage;
        Ok(Response {
            value: response.value.into_profile()?,
            usage,
        })
    }

    async fn profile(
        &self,
        call: &Call<'_>,
        login: LoginKind,
    ) -> Result<Response<InstagramProfile>, GraphError> {
        let response = self.execute::<RawProfile>(call).await?;
        let usage = response.usage;
        Ok(Response {
            value: response.value.into_profile(login)?,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instagram_login_profile_uses_user_id() {
        let raw: RawProfile = serde_json::from_str(
            r#"{"id":"9000000000000001","user_id":"17841400000000001","username":"acme","name":"Acme",
                "account_type":"BUSINESS","followers_count":1520,"follows_count":12,"media_count":88}"#,
        )
        .expect("documented shape");
        let profile = raw
            .into_profile(LoginKind::Instagram)
            .expect("complete profile");
        assert_eq!(profile.user_id.as_str(), "17841400000000001");
        assert_eq!(profile.followers_count, Some(1520));
    }

    #[test]
    fn page_profiles_read_fans_and_the_picture() {
        let raw: RawPageProfile = serde_json::from_str(
            r#"{"id":"1029384756","name":"Acme","category":"Florist","fan_count":812,"followers_count":900,
                "picture":{"data":{"url":"https://example.test/p.jpg","is_silhouette":false}}}"#,
        )
        .expect("documented shape");
        let page = raw.into_profile().expect("complete profile");
        assert_eq!(page.fan_count, Some(812));
        assert_eq!(
            page.picture_url.as_deref(),
            Some("https://example.test/p.jpg")
        );
        let nameless: RawPageProfile = serde_json::from_str(r#"{"id":"1"}"#).expect("json");
        assert!(nameless.into_profile().is_err());
    }

    #[test]
    fn numeric_ids_and_missing_fields() {
        let raw: RawProfile =
            serde_json::from_str(r#"{"user_id":17841400000000001,"username":"acme"}"#)
                .expect("json");
        assert!(raw.into_profile(LoginKind::Instagram).is_ok());
        let raw: RawProfile =
            serde_json::from_str(r#"{"id":"1","username":"acme"}"#).expect("json");
        assert!(matches!(
            raw.into_profile(LoginKind::Instagram),
            Err(GraphError::Decode { .. })
        ));
    }
}
