//! Where the Graph client sends its calls, with which app credentials, and how patiently.
//!
//! Every Meta host is a configurable base URL, so the same client talks to Meta or to the
//! local simulator; the Graph version is one value (Meta retires versions on a schedule).

use std::fmt;
use std::time::Duration;

use reqwest::Url;

use super::GraphError;
use crate::secret::Secret;

/// The Graph API version used unless configured otherwise.
pub const DEFAULT_GRAPH_VERSION: &str = "v26.0";

/// A Graph API version segment such as `v26.0`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GraphVersion(String);

impl GraphVersion {
    pub fn parse(value: &str) -> Result<Self, GraphError> {
        let valid = value
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major.len() <= 3
                    && minor.len() <= 2
                    && major.bytes().all(|b| b.is_ascii_digit())
                    && minor.bytes().all(|b| b.is_ascii_digit())
            });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(GraphError::InvalidInput {
                reason: "the Graph version must look like v26.0".into(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for GraphVersion {
    fn default() -> Self {
        Self(DEFAULT_GRAPH_VERSION.to_owned())
    }
}

impl fmt::Display for GraphVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The base URL of every Meta host the client calls, and the Graph version.
#[derive(Clone, Debug)]
pub struct MetaEndpoints {
    pub graph_version: GraphVersion,
    /// `https://graph.instagram.com`: Instagram Login accounts.
    pub instagram_graph: Url,
    /// `https://graph.facebook.com`: Facebook Login, Pages, Messenger.
    pub facebook_graph: Url,
    /// `https://api.instagram.com`: the Instagram Login code exchange.
    pub instagram_api: Url,
    /// `https://www.instagram.com`: the Instagram Login authorization dialog.
    pub instagram_dialog: Url,
    /// `https://www.facebook.com`: the Facebook Login dialog.
    pub facebook_dialog: Url,
}

impl MetaEndpoints {
    /// Meta's real hosts.
    pub fn production() -> Self {
        let fixed = |url: &str| base_url(url).expect("Meta's production URLs are valid base URLs");
        Self {
            graph_version: GraphVersion::default(),
            instagram_graph: fixed("https://graph.instagram.com"),
            facebook_graph: fixed("https://graph.facebook.com"),
            instagram_api: fixed("https://api.instagram.com"),
            instagram_dialog: fixed("https://www.instagram.com"),
            facebook_dialog: fixed("https://www.facebook.com"),
        }
    }

    /// Every host served by one simulator: each real host becomes a path prefix below
    /// `base` (`{base}/graph.instagram.com`, `{base}/api.instagram.com`, ...).
    pub fn simulator(base: &str) -> Result<Self, GraphError> {
        let base = base.trim_end_matches('/');
        let host = |name: &str| base_url(&format!("{base}/{name}"));
        Ok(Self {
            graph_version: GraphVersion::default(),
            instagram_graph: host("graph.instagram.com")?,
            facebook_graph: host("graph.facebook.com")?,
            instagram_api: host("api.instagram.com")?,
            instagram_dialog: host("www.instagram.com")?,
            facebook_dialog: host("www.facebook.com")?,
        })
    }

    /// The same hosts with another Graph version.
    pub fn with_graph_version(mut self, version: &str) -> Result<Self, GraphError> {
        self.graph_version = GraphVersion::parse(version)?;
        Ok(self)
    }
}

/// Parses a base URL: http(s), no query or fragment (paths are appended below it).
pub fn base_url(raw: &str) -> Result<Url, GraphError> {
    let invalid = |why: &str| GraphError::InvalidInput {
        reason: format!("base URL {why}"),
    };
    let url = Url::parse(raw).map_err(|_| invalid("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be http or https"));
    }
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not carry a query or fragment"));
    }
    Ok(url)
}

/// The app's identity towards Meta. Secrets print as `[redacted]`.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    pub instagram_app_id: String,
    pub instagram_app_secret: Secret,
    pub facebook_app_id: String,
    pub facebook_app_secret: Secret,
}

pub use crate::retry::RetryPolicy;

/// Everything the Graph client needs.
#[derive(Clone, Debug)]
pub struct MetaConfig {
    pub endpoints: MetaEndpoints,
    pub credentials: AppCredentials,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (Meta answers most calls in well under a second; media
    /// container creation can take several).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// How long to wait after a throttling error when Meta gave no
    /// `estimated_time_to_regain_access`. App-level limits use a rolling one-hour window;
    /// five minutes lets most of the window slide without stalling work for long.
    pub throttle_fallback: Duration,
}

impl MetaConfig {
    pub fn new(endpoints: MetaEndpoints, credentials: AppCredentials) -> Self {
        Self {
            endpoints,
            credentials,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            throttle_fallback: Duration::from_secs(5 * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_version_is_validated() {
        assert_eq!(GraphVersion::default().as_str(), "v26.0");
        assert!(GraphVersion::parse("v25.0").is_ok());
        for bad in ["26.0", "v26", "v.0", "v26.0/../x", "vx.y", ""] {
            assert!(GraphVersion::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn simulator_endpoints_use_host_prefixes() {
        let e = MetaEndpoints::simulator("http://127.0.0.1:4000/").expect("valid base");
        assert_eq!(
            e.instagram_graph.as_str(),
            "http://127.0.0.1:4000/graph.instagram.com"
        );
        assert_eq!(
            e.facebook_dialog.as_str(),
            "http://127.0.0.1:4000/www.facebook.com"
        );
        assert!(MetaEndpoints::simulator("ftp://x").is_err());
        assert!(MetaEndpoints::simulator("not a url").is_err());
    }
}
