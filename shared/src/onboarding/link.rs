//! Onboarding links: `{public base}/onboard?link=<tenant>.<expires>.<signature>`.
//!
//! A link names its tenant and expiry in the clear and is signed over both, so it needs
//! no storage, cannot be altered to another tenant or a later expiry, and stops working
//! by itself. Whoever holds a valid link may connect accounts to that tenant: that is
//! the point of sending it to a client, and why links expire.

use reqwest::Url;

use super::keyed::Keyed;
use crate::ids::TenantId;
use crate::secret::Secret;

/// Why a link (or the base URL links are built on) is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the onboarding link is malformed")]
    Malformed,
    #[error("the onboarding link's signature is invalid")]
    BadSignature,
    #[error("the onboarding link expired")]
    Expired { tenant: TenantId },
    #[error("the public base URL is invalid: {0}")]
    BaseUrl(&'static str),
}

/// The public HTTPS address of the oauth function (an API Gateway stage or a custom
/// domain, possibly with a path), from which every link and redirect_uri is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBaseUrl {
    /// Without a trailing slash.
    base: String,
    origin: String,
    path: String,
}

impl PublicBaseUrl {
    pub fn parse(raw: &str) -> Result<Self, LinkError> {
        let url = Url::parse(raw.trim()).map_err(|_| LinkError::BaseUrl("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(LinkError::BaseUrl("must be http or https"));
        }
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(LinkError::BaseUrl("must be an absolute URL with a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(LinkError::BaseUrl("must not carry a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(LinkError::BaseUrl("must not carry credentials"));
        }
        let origin = url.origin().ascii_serialization();
        let path = url.path().trim_end_matches('/').to_owned();
        Ok(Self {
            base: format!("{origin}{path}"),
            origin,
            path,
        })
    }

    /// `scheme://host[:port]`, what a browser reports as this site's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The path prefix below the origin (empty, or like `/prod`).
    pub fn path_prefix(&self) -> &str {
        &self.path
    }

    /// The absolute URL of `path` (which starts with `/`) below the base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` with `query` pairs, form-encoded.
    pub fn join_query(&self, path: &str, query: &[(&str, &str)]) -> String {
        let encoded = serde_urlencoded::to_string(query).expect("string pairs always form-encode");
        if encoded.is_empty() {
            self.join(path)
        } else {
            format!("{}?{encoded}", self.join(path))
        }
    }
}

/// A link just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLink {
    /// The value of the `link` query parameter.
    pub token: String,
    /// The full address to send to the client.
    pub url: String,
    pub expires_at: i64,
}

/// What a valid link grants: connecting accounts to `tenant` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGrant {
    pub tenant: TenantId,
    pub expires_at: i64,
}

/// Issues and checks onboarding links.
#[derive(Debug, Clone)]
pub struct OnboardingLinks {
    key: Keyed,
    base: PublicBaseUrl,
}

/// Where the hosted onboarding page lives, below the public base URL.
pub const ONBOARDING_PATH: &str = "/onboard";

impl OnboardingLinks {
    pub fn new(state_key: &Secret, base: PublicBaseUrl) -> Self {
        Self {
            key: Keyed::derive(state_key, "onboarding-link/v1"),
            base,
        }
    }

    pub fn base(&self) -> &PublicBaseUrl {
        &self.base
    }

    fn message(tenant: &TenantId, expires_at: i64) -> String {
        format!("v1\n{tenant}\n{expires_at}")
    }

    /// A link for `tenant` that works until `expires_at` (epoch seconds). The same tenant
    /// and expiry always give the same link.
    pub fn issue(&self, tenant: &TenantId, expires_at: i64) -> IssuedLink {
        let signature = self
            .key
            .sign_b64(Self::message(tenant, expires_at).as_bytes());
        let token = format!("{tenant}.{expires_at}.{signature}");
        IssuedLink {
            url: self.page_url(&token),
            token,
            expires_at,
        }
    }

    /// The hosted onboarding page for a link token.
    pub fn page_url(&self, token: &str) -> String {
        self.base.join_query(ONBOARDING_PATH, &[("link", token)])
    }

    /// The grant of a link token, if its signature holds and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<LinkGrant, LinkError> {
        if token.len() > 256 {
            return Err(LinkError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(tenant), Some(expires), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let tenant = TenantId::parse(tenant).map_err(|_| LinkError::Malformed)?;
        if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LinkError::Malformed);
        }
        let expires_at: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        // The signature covers the canonical message, so "0042" cannot stand for "42".
        if expires_at.to_string() != expires {
            return Err(LinkError::Malformed);
        }
        if !self
            .key
            .verify_b64(Self::message(&tenant, expires_at).as_bytes(), signature)
        {
            return Err(LinkError::BadSignature);
        }
        if now >= expires_at {
            return Err(LinkError::Expired { tenant });
        }
        Ok(LinkGrant { tenant, expires_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn links() -> OnboardingLinks {
        OnboardingLinks::new(
            &Secret::new("0123456789abcdef0123456789abcdef"),
            PublicBaseUrl::parse("https://relay.example/prod/").unwrap(),
        )
    }

    fn tenant(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn a_link_works_until_it_expires() {
        let l = links();
        let issued = l.issue(&tenant("acme"), 1_000);
        assert!(
            issued
                .url
                .starts_with("https://relay.example/prod/onboard?link=acme.1000."),
            "{}",
            issued.url
        );
        let grant = l.verify(&issued.token, 999).expect("valid before expiry");
        assert_eq!(grant.tenant, tenant("acme"));
        assert_eq!(
            l.verify(&issued.token, 1_000),
            Err(LinkError::Expired {
                tenant: tenant("acme")
            })
        );
    }

    #[test]
    fn a_link_cannot_be_moved_to_another_tenant_or_extended() {
        let l = links();
        let issued = l.issue(&tenant("acme"), 1_000);
        let sig = issued.token.rsplit('.').next().unwrap();
        assert_eq!(
            l.verify(&format!("globex.1000.{sig}"), 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            l.verify(&format!("acme.99999.{sig}"), 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            l.verify(&format!("acme.01000.{sig}"), 0),
            Err(LinkError::Malformed)
        );
        let other_key = OnboardingLinks::new(
            &Secret::new("another-key-another-key-another-key"),
            PublicBaseUrl::parse("https://relay.example").unwrap(),
        );
        assert_eq!(
            other_key.verify(&issued.token, 0),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn malformed_links_are_refused() {
        let l = links();
        for bad in [
            "",
            "acme",
            "acme.1",
            "acme.1.x.y",
            "ACME.1.x",
            "acme.-1.x",
            "acme..x",
        ] {
            assert_eq!(l.verify(bad, 0), Err(LinkError::Malformed), "{bad}");
        }
    }

    #[test]
    fn base_urls_are_checked() {
        let b = PublicBaseUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(b.origin(), "http://127.0.0.1:8080");
        assert_eq!(b.path_prefix(), "");
        assert_eq!(b.join("/oauth/start"), "http://127.0.0.1:8080/oauth/start");
        let p = PublicBaseUrl::parse("https://x.example/stage/").unwrap();
        assert_eq!(p.path_prefix(), "/stage");
        assert_eq!(
            p.join_query("/a", &[("q", "a b&c")]),
            "https://x.example/stage/a?q=a+b%26c"
        );
        for bad in [
            "ftp://x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
            "not a url",
            "https://user:pw@x.example",
        ] {
            assert!(PublicBaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_tampering_with_a_token_is_refused(pos in 0usize..80, byte in 0u8..128) {
            let l = links();
            let issued = l.issue(&tenant("acme-shop"), 2_000_000_000);
            let mut bytes = issued.token.clone().into_bytes();
            let pos = pos % bytes.len();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            if let Ok(tampered) = String::from_utf8(bytes) {
                prop_assert!(l.verify(&tampered, 0).is_err());
            }
        }
    }
}
