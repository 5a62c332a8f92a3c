//! The function's own settings, from the environment.

use relay::accounts as env;
use relay::config::{ConfigError, Vars};
use relay::onboarding::PublicBaseUrl;

/// The function's own settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `RELAY_PUBLIC_BASE_URL`: where this function is reachable; links and redirect
    /// URIs (which must be registered with both Meta apps) are built from it.
    pub public_base: PublicBaseUrl,
    /// `RELAY_ALLOWED_ORIGIN`: the tenant app's origin. Popup results are posted only to
    /// it, and `return_to` links must point at it. Unset: popups and return links are
    /// refused.
    pub allowed_origin: Option<String>,
    /// `RELAY_FB_LOGIN_CONFIG_ID`: a Facebook Login for Business configuration to use
    /// instead of the scope list.
    pub facebook_config_id: Option<String>,
    /// `RELAY_ONBOARDING_LINK_DAYS` (default 7): validity of links the operator command
    /// issues.
    pub link_days: u32,
}

impl Settings {
    pub const ALLOWED_ORIGIN: &'static str = "RELAY_ALLOWED_ORIGIN";
    pub const FB_CONFIG_ID: &'static str = "RELAY_FB_LOGIN_CONFIG_ID";
    pub const LINK_DAYS: &'static str = "RELAY_ONBOARDING_LINK_DAYS";

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let public_base = env::public_base_url(vars);
        if public_base.is_none() && vars.optional(env::PUBLIC_BASE_URL).is_none() {
            vars.required(env::PUBLIC_BASE_URL);
        }
        let allowed_origin = vars.optional(Self::ALLOWED_ORIGIN).and_then(|raw| {
            let origin = parse_origin(&raw);
            if origin.is_none() {
                vars.invalid(
                    Self::ALLOWED_ORIGIN,
                    "expected an origin like https://app.example.com (scheme, host, optional port; no path)",
                );
            }
            origin
        });
        let facebook_config_id = vars.optional(Self::FB_CONFIG_ID);
        if facebook_config_id
            .as_deref()
            .is_some_and(|id| !id.bytes().all(|b| b.is_ascii_digit()))
        {
            vars.invalid(Self::FB_CONFIG_ID, "expected the numeric configuration id");
        }
        let link_days: u32 = vars.parsed(Self::LINK_DAYS, 7);
        if link_days == 0 || link_days > 30 {
            vars.invalid(Self::LINK_DAYS, "must be 1 to 30 days");
        }
        vars.finish()?;
        Ok(Self {
            public_base: public_base.expect("a missing or invalid base URL was reported above"),
            allowed_origin,
            facebook_config_id,
            link_days,
        })
    }
}

/// An origin exactly as browsers serialise it, or None.
pub fn parse_origin(raw: &str) -> Option<String> {
    let url = reqwest::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    (origin == raw.trim().trim_end_matches('/')).then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn settings_need_a_public_base_url() {
        let err = Settings::from_vars(&vars(&[])).unwrap_err().to_string();
        assert!(err.contains("RELAY_PUBLIC_BASE_URL is not set"), "{err}");
        let err = Settings::from_vars(&vars(&[("RELAY_PUBLIC_BASE_URL", "ftp://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RELAY_PUBLIC_BASE_URL is invalid"), "{err}");
    }

    #[test]
    fn the_allowed_origin_must_be_an_origin() {
        let ok = Settings::from_vars(&vars(&[
            ("RELAY_PUBLIC_BASE_URL", "https://relay.example/prod"),
            ("RELAY_ALLOWED_ORIGIN", "https://app.example.com"),
        ]))
        .unwrap();
        assert_eq!(
            ok.allowed_origin.as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(ok.link_days, 7);
        for bad in ["https://app.example.com/path", "*", "app.example.com"] {
            let err = Settings::from_vars(&vars(&[
                ("RELAY_PUBLIC_BASE_URL", "https://relay.example"),
                ("RELAY_ALLOWED_ORIGIN", bad),
            ]))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("RELAY_ALLOWED_ORIGIN is invalid"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn origins_are_normalised_like_browsers_do() {
        assert_eq!(
            parse_origin("http://127.0.0.1:4000").as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(
            parse_origin("https://a.example:443").as_deref(),
            None,
            "a default port is not how the browser reports it"
        );
        assert_eq!(
            parse_origin("https://a.example/").as_deref(),
            Some("https://a.example")
        );
    }
}
