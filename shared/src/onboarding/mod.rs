//! Onboarding: how a tenant's client connects an Instagram account or a Facebook Page.
//!
//! The pure half of the `oauth` function, usable by any function (the management API
//! issues onboarding links too, token refresh puts one in every reconnect event):
//!
//! - [`OnboardingLinks`]: the signed, expiring link an agency sends to its client.
//! - [`StateSigner`]: the OAuth `state` value, signed, bound to tenant, provider and return
//!   target, valid ten minutes. (Single use is enforced by the caller, which stores the
//!   nonce with a TTL and consumes it once.)
//! - [`verify_signed_request`]: Meta's deauthorize and data-deletion callbacks.
//! - [`html`]: the hosted pages, rendered from plain values.
//!
//! Guarantees: every signature is HMAC-SHA256 under a key derived from `OAUTH_STATE_KEY`
//! for its one purpose (a link can never pass as a state, nor the reverse), and is
//! compared in constant time. Nothing here is trusted before its signature is checked;
//! nothing here logs, and no error's `Display` holds a key, a signature or a payload.

mod deletion;
pub mod html;
mod keyed;
mod link;
mod signed_request;
mod state;

use serde::{Deserialize, Serialize};

pub use deletion::{DeletionCodes, DeletionStatus};
pub use link::{IssuedLink, LinkError, LinkGrant, ONBOARDING_PATH, OnboardingLinks, PublicBaseUrl};
pub use signed_request::{SignedRequest, SignedRequestError, verify_signed_request};
pub use state::{
    MAX_RETURN_LINK_LEN, OAuthState, ReturnLinkTooLong, ReturnTarget, STATE_LIFETIME_SECONDS,
    StateError, StateSigner,
};

use crate::accounts::LoginKind;
use crate::ids::TenantId;

/// Which Meta login a flow uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Instagram API with Instagram Login: the primary path, one professional account.
    Instagram,
    /// Facebook Login for Business: Pages, and the Instagram accounts linked to them.
    Facebook,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Instagram, Provider::Facebook];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instagram => "instagram",
            Self::Facebook => "facebook",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// How accounts connected through this provider are stored (and refreshed).
    pub fn login_kind(self) -> LoginKind {
        match self {
            Self::Instagram => LoginKind::InstagramLogin,
            Self::Facebook => LoginKind::FacebookLogin,
        }
    }

    /// What a person calls it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Instagram => "Instagram",
            Self::Facebook => "Facebook",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The audit chain that security events without a trustworthy tenant go to (a forged
/// OAuth state names a tenant, but nothing proves it). Tenant ids never start with `-`
/// when Relay creates them ([`is_reserved_tenant`]), so no tenant can share this chain.
pub fn security_audit_tenant() -> TenantId {
    TenantId::parse("-security").expect("a fixed, valid tenant id")
}

/// Tenant ids starting with `-` are Relay's own (see [`security_audit_tenant`]).
pub fn is_reserved_tenant(tenant: &TenantId) -> bool {
    tenant.as_str().starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_round_trip_their_names() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(Provider::parse("Instagram"), None);
        assert_eq!(Provider::Instagram.login_kind(), LoginKind::InstagramLogin);
    }

    #[test]
    fn the_security_chain_is_reserved() {
        assert!(is_reserved_tenant(&security_audit_tenant()));
        assert!(!is_reserved_tenant(&TenantId::parse("acme").unwrap()));
    }
}
