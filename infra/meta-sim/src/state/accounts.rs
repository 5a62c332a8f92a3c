//! Accounts, tokens and OAuth codes, and the rules Meta applies to them.
//!
//! Guarantees (each enforced by a pure function below and unit-tested):
//! - an authorization code is single-use, valid for one hour, and redeemable only by
//!   the app it was issued to with the exact `redirect_uri` of the dialog;
//! - short-lived tokens live one hour, long-lived tokens 60 days, page tokens minted
//!   from a long-lived user token never expire;
//! - an Instagram long-lived token can be refreshed only when it is at least 24 hours
//!   old and not expired;
//! - a revocation invalidates every token of the user issued before it, with the
//!   chosen 190 subcode, while tokens from a later login work again.

use super::Clock;
use serde::Serialize;

/// Short-lived Instagram and Facebook user tokens: one hour.
pub const SHORT_TOKEN_TTL_SECS: i64 = 3600;
/// Long-lived tokens: 60 days (Meta answers `expires_in: 5184000`).
pub const LONG_TOKEN_TTL_SECS: i64 = 60 * 86_400;
/// Authorization codes are valid for one hour.
pub const CODE_TTL_SECS: i64 = 3600;
/// Meta refuses to refresh an Instagram token younger than 24 hours.
pub const REFRESH_MIN_AGE_SECS: i64 = 86_400;

/// The scopes of the Instagram API with Instagram Login.
pub const IG_SCOPES: &[&str] = &[
    "instagram_business_basic",
    "instagram_business_manage_messages",
    "instagram_business_manage_comments",
    "instagram_business_content_publish",
    "instagram_business_manage_insights",
];

/// Scope names Instagram Login stopped accepting on 2025-01-27.
pub const LEGACY_IG_SCOPES: &[&str] = &[
    "business_basic",
    "business_manage_messages",
    "business_manage_comments",
    "business_content_publish",
    "business_manage_insights",
];

/// Facebook Login permissions the simulator knows.
pub const FB_SCOPES: &[&str] = &[
    "public_profile",
    "email",
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "pages_read_user_content",
    "pages_manage_posts",
    "pages_manage_engagement",
    "read_insights",
    "business_management",
    "instagram_basic",
    "instagram_manage_messages",
    "instagram_manage_comments",
    "instagram_content_publish",
    "instagram_manage_insights",
];

/// Which login product (and so which app, host and token prefix) something belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Instagram,
    Facebook,
}

/// An Instagram professional account.
#[derive(Clone, Debug, Serialize)]
pub struct IgUser {
    /// The professional account id (`/me?fields=user_id`, webhook `entry.id`).
    pub user_id: String,
    /// The app-scoped id (`/me` `id`, and the `user_id` of the code exchange).
    pub app_scoped_id: String,
    pub username: String,
    pub name: String,
    pub account_type: String,
    pub followers_count: u64,
    pub follows_count: u64,
    pub biography: String,
    pub website: String,
    pub profile_picture_url: String,
    /// The Facebook Page this account is linked to, when created through a page.
    pub linked_page: Option<String>,
    /// Fields subscribed through `POST /me/subscribed_apps` (Instagram Login).
    pub subscribed_fields: Vec<String>,
}

impl IgUser {
    /// Whether `id` names this account (either of its two ids).
    pub fn is(&self, id: &str) -> bool {
        self.user_id == id || self.app_scoped_id == id
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FbUser {
    pub id: String,
    pub name: String,
    pub page_ids: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub category: String,
    pub instagram_business_account: Option<String>,
    pub subscribed_fields: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    IgShort,
    IgLong,
    FbShort,
    FbLong,
    Page,
}

impl TokenKind {
    pub fn platform(self) -> Platform {
        match self {
            Self::IgShort | Self::IgLong => Platform::Instagram,
            Self::FbShort | Self::FbLong | Self::Page => Platform::Facebook,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "ig_short" => Self::IgShort,
            "ig_long" => Self::IgLong,
            "fb_short" => Self::FbShort,
            "fb_long" => Self::FbLong,
            "page" => Self::Page,
            _ => return None,
        })
    }

    /// Lifetime of a freshly minted token of this kind (`None`: no expiry).
    pub fn ttl_secs(self) -> Option<i64> {
        match self {
            Self::IgShort | Self::FbShort => Some(SHORT_TOKEN_TTL_SECS),
            Self::IgLong | Self::FbLong => Some(LONG_TOKEN_TTL_SECS),
            Self::Page => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Token {
    pub kind: TokenKind,
    /// Instagram tokens: the professional account id. Facebook tokens: the user id.
    pub subject: String,
    /// Page tokens: the page.
    pub page_id: Option<String>,
    pub scopes: Vec<String>,
    pub issued_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    /// Monotonic issue number, compared with revocations.
    pub serial: u64,
}

impl Token {
    pub fn expires_in_secs(&self, now: Clock) -> Option<i64> {
        self.expires_at_ms
            .map(|exp| (exp - now.ms()).div_euclid(1000).max(0))
    }
}

/// Every token of a user with a serial up to `serial` is invalid with `subcode`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Revocation {
    pub serial: u64,
    pub subcode: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is not known")]
    Unknown,
    #[error("the access token expired")]
    Expired { expired_at_ms: i64 },
    #[error("the access token was invalidated (subcode {subcode})")]
    Revoked { subcode: u32 },
}

/// Meta's validity rule for an access token at `now`.
pub fn check_token(
    token: &Token,
    revocation: Option<&Revocation>,
    now: Clock,
) -> Result<(), TokenError> {
    if let Some(rev) = revocation
        && token.serial <= rev.serial
    {
        return Err(TokenError::Revoked {
            subcode: rev.subcode,
        });
    }
    match token.expires_at_ms {
        Some(exp) if now.ms() >= exp => Err(TokenError::Expired { expired_at_ms: exp }),
        _ => Ok(()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("only long-lived Instagram tokens can be refreshed")]
    NotLongLived,
    #[error("the token is younger than 24 hours")]
    TooEarly { age_secs: i64 },
    #[error(transparent)]
    Invalid(#[from] TokenError),
}

/// Instagram's refresh rule: a valid long-lived token at least 24 hours old.
pub fn check_refresh(
    token: &Token,
    revocation: Option<&Revocation>,
    now: Clock,
) -> Result<(), RefreshError> {
    check_token(token, revocation, now)?;
    if token.kind != TokenKind::IgLong {
        return Err(RefreshError::NotLongLived);
    }
    let age_secs = now.secs_since(token.issued_at_ms);
    if age_secs < REFRESH_MIN_AGE_SECS {
        return Err(RefreshError::TooEarly { age_secs });
    }
    Ok(())
}

/// An authorization code handed to the redirect URI by the OAuth dialog.
#[derive(Clone, Debug, Serialize)]
pub struct AuthCode {
    pub platform: Platform,
    pub client_id: String,
    /// Instagram: the professional account id. Facebook: the user id.
    pub subject: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub issued_at_ms: i64,
    pub used: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the authorization code is not known")]
    Unknown,
    #[error("the authorization code has been used")]
    Used,
    #[error("the authorization code has expired")]
    Expired,
    #[error("the redirect_uri differs from the one of the dialog")]
    RedirectMismatch,
    #[error("the code was issued to another app")]
    WrongClient,
}

/// Redeems `code`: single use, one hour, same app, byte-identical `redirect_uri`.
/// A failed attempt leaves the code as it was, except that it stays used once used.
pub fn redeem_code(
    code: &mut AuthCode,
    client_id: &str,
    redirect_uri: &str,
    now: Clock,
) -> Result<(), CodeError> {
    if code.used {
        return Err(CodeError::Used);
    }
    if code.client_id != client_id {
        return Err(CodeError::WrongClient);
    }
    if now.secs_since(code.issued_at_ms) >= CODE_TTL_SECS {
        return Err(CodeError::Expired);
    }
    if code.redirect_uri != redirect_uri {
        return Err(CodeError::RedirectMismatch);
    }
    code.used = true;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("no scope requested")]
    Empty,
    #[error("scopes renamed on 2025-01-27: {}", .0.join(","))]
    Legacy(Vec<String>),
    #[error("unknown scopes: {}", .0.join(","))]
    Unknown(Vec<String>),
}

/// Splits a `scope` parameter (comma or space separated), keeping order, dropping
/// duplicates, and checking every name against `known`. Instagram Login rejects the
/// pre-2025 `business_*` names with their own message.
pub fn parse_scopes(raw: &str, known: &[&str]) -> Result<Vec<String>, ScopeError> {
    let mut scopes: Vec<String> = Vec::new();
    for name in raw
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !scopes.iter().any(|s| s == name) {
            scopes.push(name.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(ScopeError::Empty);
    }
    let legacy: Vec<String> = scopes
        .iter()
        .filter(|s| LEGACY_IG_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect();
    if !legacy.is_empty() && known == IG_SCOPES {
        return Err(ScopeError::Legacy(legacy));
    }
    let unknown: Vec<String> = scopes
        .iter()
        .filter(|s| !known.contains(&s.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(ScopeError::Unknown(unknown));
    }
    Ok(scopes)
}

/// What a call needs a token to be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    Basic,
    Messages,
    Comments,
    Publish,
    Insights,
    PageMessaging,
    PagePosts,
    PageMetadata,
}

impl Capability {
    /// The permissions that grant this capability (any one suffices).
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Self::Basic => &["instagram_business_basic", "instagram_basic"],
            Self::Messages => &[
                "instagram_business_manage_messages",
                "instagram_manage_messages",
            ],
            Self::Comments => &[
                "instagram_business_manage_comments",
                "instagram_manage_comments",
            ],
            Self::Publish => &[
                "instagram_business_content_publish",
                "instagram_content_publish",
            ],
            Self::Insights => &[
                "instagram_business_manage_insights",
                "instagram_manage_insights",
            ],
            Self::PageMessaging => &["pages_messaging"],
            Self::PagePosts => &["pages_manage_posts"],
            Self::PageMetadata => &["pages_manage_metadata"],
        }
    }

    /// The permission named in Meta's "(#200) Requires ... permission" error.
    pub fn required_permission(self, platform: Platform) -> &'static str {
        let perms = self.permissions();
        match (platform, perms.len()) {
            (Platform::Facebook, 2) => perms[1],
            _ => perms[0],
        }
    }
}

/// Whether the token's scopes grant `cap`.
pub fn grants(token: &Token, cap: Capability) -> bool {
    cap.permissions()
        .iter()
        .any(|p| token.scopes.iter().any(|s| s == p))
}

/// All permissions a token minted through the admin API receives.
pub fn all_scopes(platform: Platform) -> Vec<String> {
    let list = match platform {
        Platform::Instagram => IG_SCOPES,
        Platform::Facebook => FB_SCOPES,
    };
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;

    fn token(kind: TokenKind, issued_secs: i64, serial: u64) -> Token {
        Token {
            kind,
            subject: "17841400000000001".into(),
            page_id: None,
            scopes: all_scopes(kind.platform()),
            issued_at_ms: issued_secs * 1000,
            expires_at_ms: kind.ttl_secs().map(|t| (issued_secs + t) * 1000),
            serial,
        }
    }

    fn code(issued_secs: i64) -> AuthCode {
        AuthCode {
            platform: Platform::Instagram,
            client_id: "app".into(),
            subject: "17841400000000001".into(),
            redirect_uri: "https://relay.example/oauth/callback".into(),
            scopes: vec!["instagram_business_basic".into()],
            issued_at_ms: issued_secs * 1000,
            used: false,
        }
    }

    #[test]
    fn short_token_expires_after_one_hour() {
        let t = token(TokenKind::IgShort, T0, 1);
        assert_eq!(check_token(&t, None, Clock::at_secs(T0 + 3599)), Ok(()));
        assert!(matches!(
            check_token(&t, None, Clock::at_secs(T0 + 3600)),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn long_token_lives_sixty_days_and_page_token_forever() {
        let t = token(TokenKind::IgLong, T0, 1);
        assert_eq!(
            check_token(&t, None, Clock::at_secs(T0 + 5_184_000 - 1)),
            Ok(())
        );
        assert!(check_token(&t, None, Clock::at_secs(T0 + 5_184_000)).is_err());
        let page = token(TokenKind::Page, T0, 1);
        assert_eq!(
            check_token(&page, None, Clock::at_secs(T0 + 10 * 365 * 86_400)),
            Ok(())
        );
    }

    #[test]
    fn revocation_hits_earlier_tokens_only() {
        let rev = Revocation {
            serial: 5,
            subcode: 460,
        };
        let old = token(TokenKind::IgLong, T0, 5);
        let new = token(TokenKind::IgLong, T0, 6);
        assert_eq!(
            check_token(&old, Some(&rev), Clock::at_secs(T0)),
            Err(TokenError::Revoked { subcode: 460 })
        );
        assert_eq!(check_token(&new, Some(&rev), Clock::at_secs(T0)), Ok(()));
    }

    #[test]
    fn refresh_needs_a_day_old_unexpired_long_token() {
        let t = token(TokenKind::IgLong, T0, 1);
        assert!(matches!(
            check_refresh(&t, None, Clock::at_secs(T0 + 86_399)),
            Err(RefreshError::TooEarly { age_secs: 86_399 })
        ));
        assert_eq!(check_refresh(&t, None, Clock::at_secs(T0 + 86_400)), Ok(()));
        assert_eq!(
            check_refresh(&t, None, Clock::at_secs(T0 + 59 * 86_400)),
            Ok(())
        );
        assert!(matches!(
            check_refresh(&t, None, Clock::at_secs(T0 + 60 * 86_400)),
            Err(RefreshError::Invalid(TokenError::Expired { .. }))
        ));
        let short = token(TokenKind::IgShort, T0, 1);
        assert_eq!(
            check_refresh(&short, None, Clock::at_secs(T0 + 10)),
            Err(RefreshError::NotLongLived)
        );
    }

    #[test]
    fn code_is_single_use() {
        let mut c = code(T0);
        let uri = c.redirect_uri.clone();
        assert_eq!(
            redeem_code(&mut c, "app", &uri, Clock::at_secs(T0 + 5)),
            Ok(())
        );
        assert_eq!(
            redeem_code(&mut c, "app", &uri, Clock::at_secs(T0 + 6)),
            Err(CodeError::Used)
        );
    }

    #[test]
    fn code_is_valid_for_one_hour() {
        let mut c = code(T0);
        let uri = c.redirect_uri.clone();
        assert_eq!(
            redeem_code(&mut c, "app", &uri, Clock::at_secs(T0 + 3600)),
            Err(CodeError::Expired)
        );
        let mut c = code(T0);
        assert_eq!(
            redeem_code(&mut c, "app", &uri, Clock::at_secs(T0 + 3599)),
            Ok(())
        );
    }

    #[test]
    fn code_needs_the_exact_redirect_uri_and_is_not_burnt_by_a_mismatch() {
        let mut c = code(T0);
        for wrong in [
            "https://relay.example/oauth/callback/",
            "https://relay.example/oauth/callback?x=1",
            "http://relay.example/oauth/callback",
            "https://RELAY.example/oauth/callback",
        ] {
            assert_eq!(
                redeem_code(&mut c, "app", wrong, Clock::at_secs(T0 + 1)),
                Err(CodeError::RedirectMismatch),
                "{wrong} must not match"
            );
        }
        let uri = c.redirect_uri.clone();
        assert_eq!(
            redeem_code(&mut c, "other-app", &uri, Clock::at_secs(T0)),
            Err(CodeError::WrongClient)
        );
        assert_eq!(
            redeem_code(&mut c, "app", &uri, Clock::at_secs(T0 + 2)),
            Ok(())
        );
    }

    #[test]
    fn scopes_reject_legacy_and_unknown_names() {
        assert_eq!(
            parse_scopes(
                "instagram_business_basic,instagram_business_manage_messages",
                IG_SCOPES
            ),
            Ok(vec![
                "instagram_business_basic".to_owned(),
                "instagram_business_manage_messages".to_owned()
            ])
        );
        assert_eq!(
            parse_scopes("business_basic,business_manage_messages", IG_SCOPES),
            Err(ScopeError::Legacy(vec![
                "business_basic".into(),
                "business_manage_messages".into()
            ]))
        );
        assert_eq!(
            parse_scopes("instagram_business_basic,nope", IG_SCOPES),
            Err(ScopeError::Unknown(vec!["nope".into()]))
        );
        assert_eq!(parse_scopes(" , ", IG_SCOPES), Err(ScopeError::Empty));
        assert_eq!(
            parse_scopes("pages_show_list pages_messaging", FB_SCOPES).map(|s| s.len()),
            Ok(2)
        );
    }

    #[test]
    fn capabilities_follow_scopes() {
        let mut t = token(TokenKind::IgLong, T0, 1);
        assert!(grants(&t, Capability::Messages));
        t.scopes = vec!["instagram_business_basic".into()];
        assert!(!grants(&t, Capability::Messages));
        assert!(grants(&t, Capability::Basic));
    }
}
