//! Meta's `signed_request` (deauthorize and data-deletion callbacks).
//!
//! Form field `signed_request=<base64url(signature)>.<base64url(payload)>`, both without
//! `=` padding. The signature is HMAC-SHA256 under the app secret of the ENCODED payload
//! string exactly as received; the payload must say `"algorithm": "HMAC-SHA256"`.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::secret::Secret;

/// A real signed_request is a few hundred bytes.
const MAX_LEN: usize = 8 * 1024;

/// Why a signed_request was refused. Never echoes the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    #[error("signed_request is missing")]
    Missing,
    #[error("signed_request is malformed")]
    Malformed,
    #[error("signed_request signature does not match")]
    BadSignature,
    #[error("signed_request uses an unsupported algorithm")]
    UnsupportedAlgorithm,
    #[error("no app secret is configured to verify signed_request")]
    NoSecret,
}

/// A verified request from Meta about one of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped id of the Meta user (digits).
    pub user_id: String,
    pub issued_at: Option<i64>,
    pub expires: Option<i64>,
}

#[derive(Deserialize)]
struct Payload {
    algorithm: Option<String>,
    user_id: Option<Value>,
    issued_at: Option<Value>,
    expires: Option<Value>,
}

/// base64url that takes a segment with or without `=` padding: Meta strips it, and a
/// segment some proxy padded again is still the same bytes.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn decode(segment: &str) -> Result<Vec<u8>, SignedRequestError> {
    URL_SAFE_ANY_PADDING
        .decode(segment)
        .map_err(|_| SignedRequestError::Malformed)
}

fn number(value: Option<Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Verify a signed_request with the app secret of the app it was sent for.
pub fn verify_signed_request(
    raw: Option<&str>,
    app_secret: Option<&Secret>,
) -> Result<SignedRequest, SignedRequestError> {
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or(SignedRequestError::Missing)?;
    let secret = app_secret
        .filter(|s| !s.is_empty())
        .ok_or(SignedRequestError::NoSecret)?;
    if raw.len() > MAX_LEN {
        return Err(SignedRequestError::Malformed);
    }
    let (signature, payload) = raw.split_once('.').ok_or(SignedRequestError::Malformed)?;
    if payload.contains('.') || signature.is_empty() || payload.is_empty() {
        return Err(SignedRequestError::Malformed);
    }
    let signature = decode(signature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    // Meta signs the encoded payload text as sent, not the decoded JSON.
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| SignedRequestError::BadSignature)?;

    let json = decode(payload)?;
    let payload: Payload =
        serde_json::from_slice(&json).map_err(|_| SignedRequestError::Malformed)?;
    if !payload
        .algorithm
        .is_some_and(|a| a.eq_ignore_ascii_case("HMAC-SHA256"))
    {
        return Err(SignedRequestError::UnsupportedAlgorithm);
    }
    let user_id = match payload.user_id {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err(SignedRequestError::Malformed),
    };
    if user_id.is_empty() || user_id.len() > 32 || !user_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignedRequestError::Malformed);
    }
    Ok(SignedRequest {
        user_id,
        issued_at: number(payload.issued_at),
        expires: number(payload.expires),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// Builds a signed_request the way Meta does.
    pub(crate) fn sign(secret: &str, payload_json: &str) -> String {
        let payload = URL_SAFE_NO_PAD.encode(payload_json);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signature}.{payload}")
    }

    const SECRET: &str = "fedcba9876543210fedcba9876543210";

    fn verify(raw: &str) -> Result<SignedRequest, SignedRequestError> {
        verify_signed_request(Some(raw), Some(&Secret::new(SECRET)))
    }

    #[test]
    fn a_valid_request_verifies() {
        let raw = sign(
            SECRET,
            r#"{"algorithm":"HMAC-SHA256","issued_at":1767225600,"user_id":"218471"}"#,
        );
        let request = verify(&raw).expect("valid");
        assert_eq!(request.user_id, "218471");
        assert_eq!(request.issued_at, Some(1_767_225_600));
    }

    #[test]
    fn padding_is_optional() {
        // A 32-byte signature is 43 base64 characters: one `=` short of a padded text.
        let json = r#"{"algorithm":"HMAC-SHA256","user_id":"12","a":1}"#;
        let raw = sign(SECRET, json);
        let (sig, payload) = raw.split_once('.').unwrap();
        assert!(
            !sig.ends_with('=') && sig.len() % 4 != 0,
            "signature lacks padding"
        );
        assert!(verify(&raw).is_ok(), "Meta's unpadded form");
        let padded_sig = format!("{sig}{}", "=".repeat((4 - sig.len() % 4) % 4));
        assert!(verify(&format!("{padded_sig}.{payload}")).is_ok());
    }

    #[test]
    fn tampered_payload_or_signature_is_refused() {
        let raw = sign(SECRET, r#"{"algorithm":"HMAC-SHA256","user_id":"1001"}"#);
        let (sig, _) = raw.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode(r#"{"algorithm":"HMAC-SHA256","user_id":"1002"}"#);
        assert_eq!(
            verify(&format!("{sig}.{other}")),
            Err(SignedRequestError::BadSignature)
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        bytes[0] ^= 1;
        let (_, payload) = raw.split_once('.').unwrap();
        assert_eq!(
            verify(&format!("{}.{payload}", URL_SAFE_NO_PAD.encode(bytes))),
            Err(SignedRequestError::BadSignature)
        );
        assert_eq!(
            verify_signed_request(Some(&raw), Some(&Secret::new("another secret"))),
            Err(SignedRequestError::BadSignature)
        );
    }

    #[test]
    fn other_algorithms_are_refused_even_when_signed() {
        let raw = sign(SECRET, r#"{"algorithm":"HMAC-SHA1","user_id":"1001"}"#);
        assert_eq!(verify(&raw), Err(SignedRequestError::UnsupportedAlgorithm));
        let raw = sign(SECRET, r#"{"user_id":"1001"}"#);
        assert_eq!(verify(&raw), Err(SignedRequestError::UnsupportedAlgorithm));
    }

    #[test]
    fn missing_or_malformed_requests_are_refused() {
        assert_eq!(
            verify_signed_request(None, Some(&Secret::new(SECRET))),
            Err(SignedRequestError::Missing)
        );
        assert_eq!(
            verify_signed_request(Some("a.b"), None),
            Err(SignedRequestError::NoSecret)
        );
        for bad in ["nodot", ".x", "x.", "a.b.c", "!!!.???", "abcde.x"] {
            assert!(verify(bad).is_err(), "{bad}");
        }
        let raw = sign(SECRET, r#"{"algorithm":"HMAC-SHA256","user_id":"12ab"}"#);
        assert_eq!(verify(&raw), Err(SignedRequestError::Malformed));
        let raw = sign(SECRET, "not json");
        assert_eq!(verify(&raw), Err(SignedRequestError::Malformed));
        let numeric = sign(SECRET, r#"{"algorithm":"HMAC-SHA256","user_id":4242}"#);
        assert_eq!(verify(&numeric).unwrap().user_id, "4242");
    }

    #[test]
    fn errors_never_echo_the_request() {
        let raw = sign(SECRET, r#"{"algorithm":"HMAC-SHA1","user_id":"777777"}"#);
        let err = verify(&raw).unwrap_err();
        assert!(!err.to_string().contains("777777"));
        assert!(!format!("{err:?}").contains("777777"));
    }
}
