//! Is this request really from Meta? The `X-Hub-Signature-256` check for deliveries and the
//! `hub.*` verification handshake for subscriptions.
//!
//! Guarantees: the HMAC is computed over the raw body bytes exactly as received (Meta signs
//! its escaped-unicode form, so re-serialised JSON would never match); digests and verify
//! tokens are compared in constant time; an empty configured secret never verifies anything.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The request header Meta puts the body signature in (HTTP header names are
/// case-insensitive; API Gateway hands them over in lower case).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

const SIGNATURE_PREFIX: &str = "sha256=";
const DIGEST_HEX_LEN: usize = 64;

/// Why a delivery's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is malformed: {0}")]
    Malformed(MalformedSignature),
    #[error("the X-Hub-Signature-256 header does not match the body under any app secret")]
    Mismatch,
    /// A deployment problem, not the caller's: answer 5xx so Meta retries once it is fixed.
    #[error("no app secret is configured, so no webhook can be verified")]
    NoSecret,
}

/// How a signature header departs from `sha256=<64 lowercase hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedSignature {
    #[error("it does not start with \"sha256=\"")]
    MissingPrefix,
    #[error("the digest is {0} bytes long instead of 64 hex digits")]
    WrongLength(usize),
    #[error("the digest is not lowercase hexadecimal")]
    NotLowercaseHex,
}

/// Checks `X-Hub-Signature-256` against the raw request body.
///
/// `secrets` lists every app secret that may sign deliveries to this endpoint: an Instagram
/// Login app and a Facebook Login app have different secrets, and which one Meta uses for
/// Instagram Login webhooks is not settled, so any listed secret is accepted. Empty secrets
/// are skipped (a blank configuration value must not turn into a known HMAC key).
pub fn verify_signature(
    raw_body: &[u8],
    header: Option<&str>,
    secrets: &[Secret],
) -> Result<(), SignatureError> {
    let mut usable = secrets.iter().filter(|s| !s.is_empty()).peekable();
    if usable.peek().is_none() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let claimed = parse_header(header).map_err(SignatureError::Malformed)?;
    for secret in usable {
        let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(raw_body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&claimed).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` value Meta would send for `raw_body` signed with `secret`
/// (`sha256=<hex>`). Used by the Meta simulator and by tests.
pub fn sign(raw_body: &[u8], secret: &Secret) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(raw_body);
    format!(
        "{SIGNATURE_PREFIX}{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn parse_header(header: &str) -> Result<[u8; 32], MalformedSignature> {
    // Surrounding whitespace is not part of an HTTP field value (RFC 9110, 5.5).
    let digest = header
        .trim_matches(|c| c == ' ' || c == '\t')
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(MalformedSignature::MissingPrefix)?
        .as_bytes();
    if digest.len() != DIGEST_HEX_LEN {
        return Err(MalformedSignature::WrongLength(digest.len()));
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digest.chunks_exact(2)) {
        let (hi, lo) = (lower_hex(pair[0]), lower_hex(pair[1]));
        *byte = (hi.ok_or(MalformedSignature::NotLowercaseHex)? << 4)
            | lo.ok_or(MalformedSignature::NotLowercaseHex)?;
    }
    Ok(out)
}

fn lower_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The longest `hub.challenge` echoed back. Meta sends a short integer; anything long is not
/// Meta and is not worth reflecting.
pub const MAX_CHALLENGE_LEN: usize = 64;

/// Why a subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`)
/// was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("query parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("hub.mode is not \"subscribe\"")]
    WrongMode,
    #[error("hub.verify_token does not match the configured verify token")]
    TokenMismatch,
    #[error(
        "hub.challenge is not a short token (1 to {MAX_CHALLENGE_LEN} letters, digits, '-', '_' or '.')"
    )]
    BadChallenge,
    /// A deployment problem: with an empty configured token anyone could subscribe.
    #[error("no verify token is configured")]
    NoVerifyToken,
}

/// Answers Meta's verification handshake: `mode` must be `subscribe` and `verify_token` must
/// equal the configured token (compared in constant time); the challenge is returned to be
/// echoed as the plain-text 200 body. Only a short token of `[A-Za-z0-9._-]` is echoed, so
/// the endpoint can never reflect markup or other attacker-chosen content.
pub fn verify_subscription(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    configured: &Secret,
) -> Result<String, HandshakeError> {
    if configured.is_empty() {
        return Err(HandshakeError::NoVerifyToken);
    }
    let mode = mode.ok_or(HandshakeError::MissingParameter("hub.mode"))?;
    let token = verify_token.ok_or(HandshakeError::MissingParameter("hub.verify_token"))?;
    let challenge = challenge.ok_or(HandshakeError::MissingParameter("hub.challenge"))?;
    if mode != "subscribe" {
        return Err(HandshakeError::WrongMode);
    }
    // Comparing digests keeps the time independent of where, and whether in length, the
    // presented token differs from the configured one.
    let presented = Sha256::digest(token.as_bytes());
    let expected = Sha256::digest(configured.expose().as_bytes());
    if !bool::from(presented.ct_eq(&expected)) {
        return Err(HandshakeError::TokenMismatch);
    }
    let printable_token = !challenge.is_empty()
        && challenge.len() <= MAX_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !printable_token {
        return Err(HandshakeError::BadChallenge);
    }
    Ok(challenge.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::fixtures;
    use proptest::prelude::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    #[test]
    fn a_body_signed_by_meta_is_accepted() {
        let body = fixtures::IG_MESSAGE_TEXT.as_bytes();
        let app = secret("ig-app-secret");
        let header = sign(body, &app);
        assert!(header.starts_with("sha256="));
        assert_eq!(verify_signature(body, Some(&header), &[app]), Ok(()));
    }

    #[test]
    fn known_vector_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = sign(b"what do ya want for nothing?", &secret("Jefe"));
        assert_eq!(
            header,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            verify_signature(
                b"what do ya want for nothing?",
                Some(&header),
                &[secret("Jefe")]
            ),
            Ok(())
        );
    }

    #[test]
    fn either_app_secret_may_sign() {
        let body = fixtures::IG_COMMENT_FACEBOOK_LOGIN.as_bytes();
        let secrets = [
            secret("instagram-login-secret"),
            secret("facebook-login-secret"),
        ];
        for s in &secrets {
            let header = sign(body, s);
            assert_eq!(verify_signature(body, Some(&header), &secrets), Ok(()));
        }
        let stranger = sign(body, &secret("someone-else"));
        assert_eq!(
            verify_signature(body, Some(&stranger), &secrets),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_raw_escaped_bytes_are_what_is_signed() {
        // Meta signs `\u00e4`; the same JSON re-serialised with a literal "ä" must not verify.
        let raw = fixtures::IG_MESSAGE_UNICODE;
        assert!(raw.contains("\\u00e4"));
        let app = secret("app-secret");
        let header = sign(raw.as_bytes(), &app);
        let reserialised =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(raw).unwrap())
                .unwrap();
        assert_ne!(reserialised, raw);
        assert_eq!(
            verify_signature(
                reserialised.as_bytes(),
                Some(&header),
                std::slice::from_ref(&app)
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(raw.as_bytes(), Some(&header), &[app]),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_is_rejected() {
        let app = secret("app-secret");
        let header = sign(br#"{"object":"instagram","entry":[]}"#, &app);
        assert_eq!(
            verify_signature(
                br#"{"object":"instagram","entry":[{}]}"#,
                Some(&header),
                &[app]
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        let app = [secret("app-secret")];
        let body = b"{}";
        assert_eq!(
            verify_signature(body, None, &app),
            Err(SignatureError::Missing)
        );
        let good = sign(body, &app[0]);
        let digest = good.strip_prefix("sha256=").unwrap();
        let cases = [
            (format!("sha1={digest}"), MalformedSignature::MissingPrefix),
            (digest.to_owned(), MalformedSignature::MissingPrefix),
            (
                format!("sha256={}", &digest[..63]),
                MalformedSignature::WrongLength(63),
            ),
            (
                format!("sha256={digest}00"),
                MalformedSignature::WrongLength(66),
            ),
            (
                format!("sha256={}", digest.to_uppercase()),
                MalformedSignature::NotLowercaseHex,
            ),
            (
                format!("sha256={}zz", &digest[..62]),
                MalformedSignature::NotLowercaseHex,
            ),
            (String::new(), MalformedSignature::MissingPrefix),
        ];
        for (header, why) in cases {
            assert_eq!(
                verify_signature(body, Some(&header), &app),
                Err(SignatureError::Malformed(why)),
                "header {header:?}"
            );
        }
        // Optional whitespace around a field value is not part of it.
        assert_eq!(
            verify_signature(body, Some(&format!(" {good}\t")), &app),
            Ok(())
        );
    }

    #[test]
    fn without_a_usable_secret_nothing_verifies() {
        let body = b"{}";
        let empty = secret("");
        let header = sign(body, &empty);
        assert_eq!(
            verify_signature(body, Some(&header), &[]),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            verify_signature(body, Some(&header), &[empty]),
            Err(SignatureError::NoSecret)
        );
    }

    #[test]
    fn signature_errors_never_print_the_secret() {
        let app = secret("super-secret-value");
        let err =
            verify_signature(b"x", Some("sha256=00"), std::slice::from_ref(&app)).unwrap_err();
        assert!(!err.to_string().contains("super-secret-value"));
        assert!(!format!("{err:?}").contains("super-secret-value"));
    }

    #[test]
    fn handshake_echoes_the_challenge() {
        let configured = secret("verify-me");
        assert_eq!(
            verify_subscription(
                Some("subscribe"),
                Some("verify-me"),
                Some("1158201444"),
                &configured
            ),
            Ok("1158201444".to_owned())
        );
    }

    #[test]
    fn handshake_refusals() {
        let configured = secret("verify-me");
        let check = |m: Option<&str>, t: Option<&str>, c: Option<&str>| {
            verify_subscription(m, t, c, &configured)
        };
        let ok = (Some("subscribe"), Some("verify-me"), Some("42"));
        assert_eq!(
            check(None, ok.1, ok.2),
            Err(HandshakeError::MissingParameter("hub.mode"))
        );
        assert_eq!(
            check(ok.0, None, ok.2),
            Err(HandshakeError::MissingParameter("hub.verify_token"))
        );
        assert_eq!(
            check(ok.0, ok.1, None),
            Err(HandshakeError::MissingParameter("hub.challenge"))
        );
        assert_eq!(
            check(Some("unsubscribe"), ok.1, ok.2),
            Err(HandshakeError::WrongMode)
        );
        for wrong in ["verify-m", "verify-me!", "", "VERIFY-ME"] {
            assert_eq!(
                check(ok.0, Some(wrong), ok.2),
                Err(HandshakeError::TokenMismatch)
            );
        }
        let too_long = "1".repeat(MAX_CHALLENGE_LEN + 1);
        for bad in [
            "",
            "<script>alert(1)</script>",
            "a b",
            "ä",
            too_long.as_str(),
        ] {
            assert_eq!(
                check(ok.0, ok.1, Some(bad)),
                Err(HandshakeError::BadChallenge),
                "challenge {bad:?}"
            );
        }
        assert_eq!(
            verify_subscription(ok.0, Some(""), ok.2, &secret("")),
            Err(HandshakeError::NoVerifyToken)
        );
    }

    proptest! {
        #[test]
        fn any_body_verifies_only_under_its_own_secret(
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            key in "[ -~]{1,64}",
            other in "[ -~]{1,64}",
        ) {
            let key = Secret::new(key);
            let header = sign(&body, &key);
            prop_assert_eq!(verify_signature(&body, Some(&header), std::slice::from_ref(&key)), Ok(()));
            if other != key.expose() {
                prop_assert_eq!(
                    verify_signature(&body, Some(&header), &[Secret::new(other)]),
                    Err(SignatureError::Mismatch)
                );
            }
        }

        #[test]
        fn flipping_any_body_byte_breaks_the_signature(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let key = Secret::new("k");
            let header = sign(&body, &key);
            let mut tampered = body.clone();
            let i = index.index(tampered.len());
            tampered[i] ^= flip;
            prop_assert_eq!(
                verify_signature(&tampered, Some(&header), &[key]),
                Err(SignatureError::Mismatch)
            );
        }
    }
}
