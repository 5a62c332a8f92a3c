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
/// Far more than a real state needs; refuses junk before any decoding.
const MAX_ENCODED_LEN: usize = 2048;

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
    /// encoded form for the dialog URL.
    pub fn issue(
        &self,
        tenant: TenantId,
        provider: Provider,
        return_to: ReturnTarget,
        link_expires_at: i64,
        now: i64,
    ) -> (OAuthState, String) {
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
        (state, encoded)
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
        let (issued, encoded) = s.issue(
            tenant(),
            Provider::Instagram,
            ReturnTarget::Popup,
            5_000,
            1_000,
        );
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
        let (_, encoded) = s.issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 1_000);
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
        let (_, encoded) = s.issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 1_000);
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
    fn nonces_differ_between_flows() {
        let s = signer();
        let (a, _) = s.issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 0);
        let (b, _) = s.issue(tenant(), Provider::Instagram, ReturnTarget::Page, 0, 0);
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.nonce.len(), 22);
    }
}
