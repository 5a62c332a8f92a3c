//! The OAuth `state` parameter: `<payload>.<signature>`, both base64url.
//!
//! The payload names the tenant, the provider, where the person returns to, the
//! onboarding link's expiry (so a "try again" button can be offered without keeping the
//! link), a random nonce and an expiry ten minutes out. Meta echoes `state` back
//! unchanged, so the callback learns all of this without any lookup, and trusts it only
//! after the signature checks. Single use is the caller's part: it stores the nonce with
//! a TTL when the flow starts and consumes it once in the callback.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::Provider;
use super::keyed::Keyed;
use crate::ids::TenantId;
use crate::secret::Secret;

/// How long a person has between leaving for Meta's dialog and coming back.
pub const STATE_LIFETIME_SECONDS: i64 = 600;

const VERSION: u8 = 1;
/// The longest return link a state carries. The state travels in Meta's dialog URL and
/// back in the callback's, and browsers and proxies are reliable with URLs up to about
/// 2,000 characters more than that.
pub const MAX_RETURN_LINK_LEN: usize = 2048;
/// Room for a state with the longest return link and tenant id (JSON in base64url, then
/// the signature); [`StateSigner::issue`] never signs a longer one, so every issued state
/// verifies, and anything longer is junk, refused before any decoding.
const MAX_ENCODED_LEN: usize = 4096;

/// Where the person goes when the flow ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnTarget {
    /// The hosted result page, in the same window (full-page redirect).
    Page,
    /// A popup opened by the tenant's app: the result page posts the outcome to its
    /// opener (only to the configured origin) and closes.
    Popup,
    /// The hosted result page, with a link back to this address of the tenant's app
    /// (which must be on the configured origin).
    Url(String),
}

/// A verified state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    #[serde(rename = "v")]
    pub version: u8,
    #[serde(rename = "t")]
    pub tenant: TenantId,
    #[serde(rename = "p")]
    pub provider: Provider,
    #[serde(rename = "r")]
    pub return_to: ReturnTarget,
    /// When the onboarding link this flow started from expires.
    #[serde(rename = "l")]
    pub link_expires_at: i64,
    /// Random, base64url; stored when the flow starts and consumed once.
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// Why a state was refused. Variants after the signature check carry the (authentic)
/// state, so the caller can audit against its tenant and offer a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the OAuth state is missing")]
    Missing,
    #[error("the OAuth state is malformed")]
    Malformed,
    #[error("the OAuth state's signature is invalid")]
    BadSignature,
    #[error("the OAuth state expired")]
    Expired(Box<OAuthState>),
    #[error("the OAuth state was issued for {} login", .0.provider)]
    WrongProvider(Box<OAuthState>),
}

impl StateError {
    /// The authentic state behind the refusal, if the signature held.
    pub fn authentic_state(&self) -> Option<&OAuthState> {
        match self {
            Self::Expired(s) | Self::WrongProvider(s) => Some(s),
            _ => None,
        }
    }

    /// A short, stable reason for audit records and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "state_missing",
            Self::Malformed => "state_malformed",
            Self::BadSignature => "state_forged",
            Self::Expired(_) => "state_expired",
            Self::WrongProvider(_) => "state_wrong_provider",
        }
    }
}

/// Why no state was issued: its return link is too long to travel in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the return link is longer than an OAuth state carries ({MAX_RETURN_LINK_LEN} characters)")]
pub struct ReturnLinkTooLong;

/// Issues and verifies states.
#[derive(Debug, Clone)]
pub struct StateSigner {
    key: Keyed,
}

impl StateSigner {
    pub fn new(state_key: &Secret) -> Self {
        Self {
            key: Keyed::derive(state_key, "oauth-state/v1"),
        }
    }

    /// A fresh state (random nonce, valid [`STATE_LIFETIME_SECONDS`] from `now`) and its
    /// encoded form for the dialog URL; refused when its return link is longer than
    /// [`MAX_RETURN_LINK_LEN`] (or, escaped, would not fit), so that what is issued
    /// always verifies.
    pub fn issue(
        &self,
        tenant: TenantId,
        provider: Provider,
        return_to: ReturnTarget,
        link_expires_at: i64,
        now: i64,
    ) -> Result<(OAuthState, String), ReturnLinkTooLong> {
        if matches!(&return_to, ReturnTarget::Url(url) if url.len() > MAX_RETURN_LINK_LEN) {
            return Err(ReturnLinkTooLong);
        }
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let state = OAuthState {
            version: VERSION,
            tenant,
            provider,
            return_to,
            link_expires_at,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            expires_at: now + STATE_LIFETIME_SECONDS,
        };
        let encoded = self.encode(&state);
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(ReturnLinkTooLong);
        }
        Ok((state, encoded))
    }

    fn encode(&self, state: &OAuthState) -> String {
        let json = serde_json::to_vec(state).expect("a state always serialises");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let signature = self.key.sign_b64(payload.as_bytes());
        format!("{payload}.{signature}")
    }

    /// The state, if it is authentic, unexpired at `now` and meant for `provider`.
    pub fn verify(
        &self,
        encoded: Option<&str>,
        provider: Provider,
        now: i64,
    ) -> Result<OAuthState, StateError> {
        let encoded = encoded
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(StateError::Missing)?;
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(StateError::Malformed);
        }
        let (payload, signature) = encoded.split_once('.').ok_or(StateError::Malformed)?;
        if signature.contains('.') {
            return Err(StateError::Malformed);
        }
        // Nothing of the payload is read before its signature holds.
        if !self.key.verify_b64(payload.as_bytes(), signature) {
            return Err(StateError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StateError::Malformed)?;
        let state: OAuthState = serde_json::from_slice(&json).map_err(|_| StateError::Malformed)?;
        if state.version != VERSION {
            return Err(StateError::Malformed);
        }
        if now >= state.expires_at {
            return Err(StateError::Expired(Box::new(state)));
        }
        if state.provider != provider {
            return Err(StateError::WrongProvider(Box::new(state)));
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> StateSigner {
        StateSigner::new(&Secret::new("0123456789abcdef0123456789abcdef"))
    }

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn a_state_verifies_for_its_provider_within_ten_minutes() {
        let s = signer();
        let (issued, encoded) = s
            .issue(
                tenant(),
                Provider::Instagram,
                ReturnTarget::Popup,
                5_000,
                1_000,
            )
            .unwrap();
        assert_eq!(issued.expires_at, 1_600);
        let verified = s
            .verify(Some(&encoded), Provider::Instagram, 1_599)
            .expect("fresh state");
        assert_eq!(verified, issued);
        assert!(encoded.len() < 400, "state stays short: {}", encoded.len());
    }

    #[test]
    fn expired_and_cross_provider_states_are_refused_but_authentic() {
        let s = signer();
        let (_, encoded) = s
            .issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 1_000)
            .unwrap();
        let expired = s
            .verify(Some(&encoded), Provider::Instagram, 1_600)
            .unwrap_err();
        assert!(matches!(expired, StateError::Expired(_)));
        assert_eq!(expired.authentic_state().unwrap().tenant, tenant());
        let cross = s
            .verify(Some(&encoded), Provider::Facebook, 1_000)
            .unwrap_err();
        assert!(matches!(cross, StateError::WrongProvider(_)));
        assert_eq!(cross.reason(), "state_wrong_provider");
    }

    #[test]
    fn forged_states_are_refused_before_their_payload_is_read() {
        let s = signer();
        let (_, encoded) = s
            .issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 1_000)
            .unwrap();
        let (payload, signature) = encoded.split_once('.').unwrap();
        // Another tenant in the payload, the old signature.
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(json.replace("\"acme\"", "\"globex\""));
        assert_eq!(
            s.verify(
                Some(&format!("{forged_payload}.{signature}")),
                Provider::Instagram,
                1_000
            ),
            Err(StateError::BadSignature)
        );
        let other = StateSigner::new(&Secret::new("another-key-another-key-another-key"));
        assert_eq!(
            other.verify(Some(&encoded), Provider::Instagram, 1_000),
            Err(StateError::BadSignature)
        );
        assert_eq!(
            s.verify(None, Provider::Instagram, 0),
            Err(StateError::Missing)
        );
        for junk in ["nodot", "a.b.c", ".", "x.", &"a".repeat(5000)] {
            assert!(
                s.verify(Some(junk), Provider::Instagram, 0).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn an_onboarding_link_signature_does_not_verify_as_a_state() {
        use crate::onboarding::{OnboardingLinks, PublicBaseUrl};
        let key = Secret::new("0123456789abcdef0123456789abcdef");
        let link = OnboardingLinks::new(&key, PublicBaseUrl::parse("https://r.example").unwrap())
            .issue(&tenant(), 10);
        let signature = link.token.rsplit('.').next().unwrap();
        let payload = URL_SAFE_NO_PAD.encode(b"v1\nacme\n10");
        assert_eq!(
            StateSigner::new(&key).verify(
                Some(&format!("{payload}.{signature}")),
                Provider::Instagram,
                0
            ),
            Err(StateError::BadSignature)
        );
    }

    #[test]
    fn return_links_up_to_the_limit_verify_and_longer_ones_are_refused_at_issue() {
        let s = signer();
        let longest_tenant = TenantId::parse("t".repeat(64)).unwrap();
        let link = |len: usize| {
            let base = "https://app.example/";
            ReturnTarget::Url(format!("{base}{}", "a".repeat(len - base.len())))
        };
        let (issued, encoded) = s
            .issue(
                longest_tenant.clone(),
                Provider::Facebook,
                link(MAX_RETURN_LINK_LEN),
                i64::MIN,
                i64::MAX - STATE_LIFETIME_SECONDS,
            )
            .expect("a return link at the limit is carried");
        assert_eq!(
            s.verify(Some(&encoded), Provider::Facebook, i64::MIN),
            Ok(issued),
            "a state of {} characters",
            encoded.len()
        );
        assert_eq!(
            s.issue(
                longest_tenant,
                Provider::Facebook,
                link(MAX_RETURN_LINK_LEN + 1),
                0,
                0
            ),
            Err(ReturnLinkTooLong)
        );
        // Escaping can make a link within the limit too long to encode: refused too.
        let escaped = ReturnTarget::Url("\u{1}".repeat(MAX_RETURN_LINK_LEN));
        assert_eq!(
            s.issue(tenant(), Provider::Instagram, escaped, 0, 0),
            Err(ReturnLinkTooLong)
        );
    }

    #[test]
    fn nonces_differ_between_flows() {
        let s = signer();
        let (a, _) = s
            .issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 0)
            .unwrap();
        let (b, _) = s
            .issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 0)
            .unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.nonce.len(), 22);
    }
}
