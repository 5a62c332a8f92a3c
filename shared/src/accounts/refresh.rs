//! The refresh rule (pure): which tokens are refreshed, when, and how.
//!
//! Instagram Login tokens live 60 days and Meta refreshes them (`ig_refresh_token`) only
//! once they are at least 24 hours old and not yet expired; Facebook Login user tokens
//! are renewed with `fb_exchange_token`; Page tokens read with a long-lived user token
//! never expire and are never refreshed.

use super::record::{Account, AccountStatus, LoginKind};
use crate::config::{ConfigError, Vars};

/// Meta refreshes an Instagram Login token only when it is at least 24 hours old.
pub const INSTAGRAM_MIN_AGE_FOR_REFRESH: i64 = 24 * 3600;
/// Long-lived tokens (both logins) last 60 days; used when Meta omits `expires_in`.
pub const LONG_LIVED_TOKEN_SECONDS: i64 = 60 * 86_400;
/// How Meta renews a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshMethod {
    /// `GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token`.
    InstagramRefresh,
    /// `GET graph.facebook.com/oauth/access_token?grant_type=fb_exchange_token`.
    FacebookExchange,
}

/// What to do with an account's token now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Disconnected or waiting for a reconnect: nothing to refresh.
    NotConnected,
    /// Connected without a stored token (should not happen; reported, not refreshed).
    NoToken,
    /// Page tokens from a long-lived user token do not expire.
    NeverExpires,
    /// Expires later than the horizon.
    NotDue {
        expires_at: i64,
    },
    /// Meta would refuse: an Instagram token younger than 24 hours.
    TooYoung {
        refreshable_at: i64,
    },
    /// Already expired: Meta cannot refresh it, a person must reconnect.
    Expired,
    Refresh(RefreshMethod),
}

/// The refresh rule: what to do with `account`'s token at `now`, refreshing tokens that
/// expire within `horizon_seconds`.
pub fn refresh_decision(account: &Account, now: i64, horizon_seconds: i64) -> RefreshDecision {
    if account.status != AccountStatus::Connected {
        return RefreshDecision::NotConnected;
    }
    if account.token_sealed.is_none() {
        return RefreshDecision::NoToken;
    }
    let Some(expires_at) = account.token_expires_at else {
        return RefreshDecision::NeverExpires;
    };
    if expires_at <= now {
        return RefreshDecision::Expired;
    }
    if expires_at - now > horizon_seconds {
        return RefreshDecision::NotDue { expires_at };
    }
    match account.login {
        LoginKind::InstagramLogin => {
            // Without a recorded issue time the age is unknown: let Meta judge (a
            // too-early refusal is handled as "too young").
            if let Some(issued_at) = account.token_issued_at {
                let refreshable_at = issued_at + INSTAGRAM_MIN_AGE_FOR_REFRESH;
                if now < refreshable_at {
                    return RefreshDecision::TooYoung { refreshable_at };
                }
            }
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        }
        // An expiring token on a Facebook Login account is a user token (Page tokens
        // from a long-lived user token never expire); a Page token that does expire
        // cannot be exchanged, and Meta's refusal leads to a reconnect, as it must.
        LoginKind::FacebookLogin => RefreshDecision::Refresh(RefreshMethod::FacebookExchange),
    }
}

/// Tunables of the token lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The schedule refreshes tokens expiring within this many seconds.
    pub horizon_seconds: i64,
    /// [`Tokens::access_token`] refreshes a token expiring within this many seconds.
    pub refresh_before_use_seconds: i64,
    /// Validity of the onboarding link put in an `AccountNeedsReconnect` event.
    pub reconnect_link_seconds: i64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            horizon_seconds: 10 * 86_400,
            refresh_before_use_seconds: 30 * 60,
            reconnect_link_seconds: 7 * 86_400,
        }
    }
}

impl TokenPolicy {
    pub const HORIZON_DAYS: &'static str = "RELAY_TOKEN_REFRESH_HORIZON_DAYS";
    pub const BEFORE_USE_MINUTES: &'static str = "RELAY_TOKEN_REFRESH_BEFORE_USE_MINUTES";
    pub const RECONNECT_LINK_DAYS: &'static str = "RELAY_RECONNECT_LINK_DAYS";

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let horizon_days: u32 = vars.parsed(Self::HORIZON_DAYS, 10);
        let before_use_minutes: u32 = vars.parsed(Self::BEFORE_USE_MINUTES, 30);
        let link_days: u32 = vars.parsed(Self::RECONNECT_LINK_DAYS, 7);
        if horizon_days == 0 || horizon_days > 59 {
            vars.invalid(Self::HORIZON_DAYS, "must be 1 to 59 days (tokens live 60)");
        }
        if link_days == 0 || link_days > 30 {
            vars.invalid(Self::RECONNECT_LINK_DAYS, "must be 1 to 30 days");
        }
        vars.finish()?;
        Ok(Self {
            horizon_seconds: i64::from(horizon_days) * 86_400,
            refresh_before_use_seconds: i64::from(before_use_minutes) * 60,
            reconnect_link_seconds: i64::from(link_days) * 86_400,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, TenantId};

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn account(login: LoginKind, issued: Option<i64>, expires: Option<i64>) -> Account {
        Account {
            tenant_id: TenantId::parse("acme").unwrap(),
            account_id: AccountId::parse("17841400000000001").unwrap(),
            channel: crate::accounts::Channel::Instagram,
            login,
            username: None,
            name: None,
            meta_user_id: None,
            linked_instagram_id: None,
            status: AccountStatus::Connected,
            token_sealed: Some("sealed".into()),
            token_issued_at: issued,
            token_expires_at: expires,
            connected_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn instagram_tokens_near_expiry_are_refreshed() {
        let a = account(
            LoginKind::InstagramLogin,
            Some(NOW - 55 * DAY),
            Some(NOW + 5 * DAY),
        );
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        );
    }

    #[test]
    fn tokens_beyond_the_horizon_wait() {
        let a = account(
            LoginKind::InstagramLogin,
            Some(NOW - DAY * 2),
            Some(NOW + 58 * DAY),
        );
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::NotDue {
                expires_at: NOW + 58 * DAY
            }
        );
    }

    #[test]
    fn instagram_tokens_under_24_hours_old_are_left_alone() {
        let a = account(
            LoginKind::InstagramLogin,
            Some(NOW - 3600),
            Some(NOW + 59 * DAY),
        );
        assert_eq!(
            refresh_decision(&a, NOW, 60 * DAY),
            RefreshDecision::TooYoung {
                refreshable_at: NOW - 3600 + DAY
            }
        );
        let exactly_a_day = account(LoginKind::InstagramLogin, Some(NOW - DAY), Some(NOW + DAY));
        assert_eq!(
            refresh_decision(&exactly_a_day, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        );
    }

    #[test]
    fn facebook_user_tokens_are_exchanged_without_an_age_rule() {
        let a = account(LoginKind::FacebookLogin, Some(NOW - 60), Some(NOW + DAY));
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::FacebookExchange)
        );
    }

    #[test]
    fn page_tokens_never_expire_and_expired_tokens_need_a_person() {
        let page = account(LoginKind::FacebookLogin, Some(NOW - DAY), None);
        assert_eq!(
            refresh_decision(&page, NOW, 10 * DAY),
            RefreshDecision::NeverExpires
        );
        let expired = account(LoginKind::InstagramLogin, Some(NOW - 61 * DAY), Some(NOW));
        assert_eq!(
            refresh_decision(&expired, NOW, 10 * DAY),
            RefreshDecision::Expired
        );
    }

    #[test]
    fn only_connected_accounts_with_tokens_are_considered() {
        let mut a = account(
            LoginKind::InstagramLogin,
            Some(NOW - 50 * DAY),
            Some(NOW + DAY),
        );
        a.status = AccountStatus::NeedsReconnect;
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::NotConnected
        );
        a.status = AccountStatus::Connected;
        a.token_sealed = None;
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::NoToken
        );
    }

    #[test]
    fn unknown_age_is_left_to_meta() {
        let a = account(LoginKind::InstagramLogin, None, Some(NOW + DAY));
        assert_eq!(
            refresh_decision(&a, NOW, 10 * DAY),
            RefreshDecision::Refresh(RefreshMethod::InstagramRefresh)
        );
    }

    #[test]
    fn policy_reads_days_and_minutes() {
        let vars = Vars::from_map(std::collections::HashMap::from([
            (TokenPolicy::HORIZON_DAYS.to_owned(), "14".to_owned()),
            (TokenPolicy::BEFORE_USE_MINUTES.to_owned(), "5".to_owned()),
        ]));
        let p = TokenPolicy::from_vars(&vars).unwrap();
        assert_eq!(p.horizon_seconds, 14 * DAY);
        assert_eq!(p.refresh_before_use_seconds, 300);
        let bad = Vars::from_map(std::collections::HashMap::from([(
            TokenPolicy::HORIZON_DAYS.to_owned(),
            "90".to_owned(),
        )]));
        assert!(TokenPolicy::from_vars(&bad).is_err());
    }
}
