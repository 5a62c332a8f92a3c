//! Configuration, read once per cold start.
//!
//! Plain settings come from environment variables (set by template.yaml in the cloud and
//! by the local stack on a workstation). Secrets come from one AWS Secrets Manager secret
//! (a JSON object) when `RELAY_SECRETS_ARN` is set, otherwise from environment variables.
//! Every problem names the variable and what is wrong with it, and all problems are
//! reported together so a misconfigured function fails its cold start with one clear
//! message instead of one error per deploy.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::secret::Secret;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("{var} is not set")]
    Missing { var: String },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: String, reason: String },
}

/// Everything that was wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration is invalid: {}", list(.0))]
pub struct ConfigError(pub Vec<ConfigProblem>);

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A source of variables: the process environment, or a map in tests.
pub struct Vars {
    lookup: Lookup,
    problems: std::sync::Mutex<Vec<ConfigProblem>>,
}

impl Vars {
    pub fn from_process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self::from_fn(move |name| map.get(name).cloned())
    }

    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Box::new(lookup),
            problems: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|v| !v.trim().is_empty())
    }

    fn note(&self, problem: ConfigProblem) {
        self.problems
            .lock()
            .expect("config problem list is never poisoned: no code panics while holding it")
            .push(problem);
    }

    /// A required variable; a missing one is recorded and an empty string returned so that
    /// reading can go on and every problem is reported at once by [`Vars::finish`].
    pub fn required(&self, var: &str) -> String {
        self.get(var).unwrap_or_else(|| {
            self.note(ConfigProblem::Missing { var: var.into() });
            String::new()
        })
    }

    pub fn optional(&self, var: &str) -> Option<String> {
        self.get(var)
    }

    /// A variable parsed into `T`, with a default when unset.
    pub fn parsed<T>(&self, var: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => default,
            Some(raw) => raw.trim().parse().unwrap_or_else(|e: T::Err| {
                self.note(ConfigProblem::Invalid {
                    var: var.into(),
                    reason: e.to_string(),
                });
                default
            }),
        }
    }

    /// A duration given in whole seconds.
    pub fn seconds(&self, var: &str, default: Duration) -> Duration {
        Duration::from_secs(self.parsed(var, default.as_secs()))
    }

    /// Record a problem found by a caller's own check.
    pub fn invalid(&self, var: &str, reason: impl Into<String>) {
        self.note(ConfigProblem::Invalid {
            var: var.into(),
            reason: reason.into(),
        });
    }

    /// Ok when nothing was wrong, else every problem found.
    pub fn finish(&self) -> Result<(), ConfigError> {
        let problems = std::mem::take(
            &mut *self
                .problems
                .lock()
                .expect("config problem list is never poisoned"),
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }
}

/// The settings every function shares: where its data, keys and events live.
#[derive(Debug, Clone)]
pub struct Config {
    pub main_table: String,
    pub audit_table: String,
    pub archive_table: String,
    pub token_key_id: String,
    pub event_bus: String,
    pub graph_version: String,
    pub queues: QueueUrls,
    /// When set, secrets are read from this Secrets Manager secret.
    pub secrets_arn: Option<String>,
}

/// Queue URLs; a function reads only the ones it sends to.
#[derive(Debug, Clone, Default)]
pub struct QueueUrls {
    pub inbound: Option<String>,
    pub replies: Option<String>,
    pub moderation: Option<String>,
    pub publish: Option<String>,
    /// On-demand profile and insights refreshes (the API queues, sync consumes).
    pub sync: Option<String>,
}

impl Config {
    pub const MAIN_TABLE: &'static str = "RELAY_MAIN_TABLE";
    pub const AUDIT_TABLE: &'static str = "RELAY_AUDIT_TABLE";
    pub const ARCHIVE_TABLE: &'static str = "RELAY_ARCHIVE_TABLE";
    pub const TOKEN_KEY_ID: &'static str = "RELAY_TOKEN_KEY_ID";
    pub const EVENT_BUS: &'static str = "RELAY_EVENT_BUS";
    pub const GRAPH_VERSION: &'static str = "RELAY_GRAPH_VERSION";
    pub const SECRETS_ARN: &'static str = "RELAY_SECRETS_ARN";

    /// Read from the process environment (once, at cold start).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_process())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let graph_version = vars
            .optional(Self::GRAPH_VERSION)
            .unwrap_or_else(|| "v26.0".into());
        if !is_graph_version(&graph_version) {
            vars.invalid(Self::GRAPH_VERSION, "expected a version like v26.0");
        }
        let config = Self {
            main_table: vars.required(Self::MAIN_TABLE),
            audit_table: vars.required(Self::AUDIT_TABLE),
            archive_table: vars.required(Self::ARCHIVE_TABLE),
            token_key_id: vars.required(Self::TOKEN_KEY_ID),
            event_bus: vars.required(Self::EVENT_BUS),
            graph_version,
            queues: QueueUrls {
                inbound: url_var(vars, "RELAY_INBOUND_QUEUE_URL"),
                replies: url_var(vars, "RELAY_REPLIES_QUEUE_URL"),
                moderation: url_var(vars, "RELAY_MODERATION_QUEUE_URL"),
                publish: url_var(vars, "RELAY_PUBLISH_QUEUE_URL"),
                sync: url_var(vars, "RELAY_SYNC_QUEUE_URL"),
            },
            secrets_arn: vars.optional(Self::SECRETS_ARN),
        };
        vars.finish()?;
        Ok(config)
    }
}

fn url_var(vars: &Vars, var: &str) -> Option<String> {
    let value = vars.optional(var)?;
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        vars.invalid(var, "expected an http(s) URL");
    }
    Some(value)
}

fn is_graph_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(major), Some(minor), None)
            if !major.is_empty() && !minor.is_empty()
            && major.chars().chain(minor.chars()).all(|c| c.is_ascii_digit())
    )
}

/// The product's secrets. `Debug` prints no value (each field is a [`Secret`]).
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Every app secret a webhook may be signed with (Instagram Login and Facebook Login
    /// apps can differ); the first one is the app's own.
    pub meta_app_secrets: Vec<Secret>,
    pub meta_verify_token: Secret,
    /// Signs OAuth state and onboarding links.
    pub oauth_state_key: Secret,
    pub llm_api_key: Option<Secret>,
}

/// Why secrets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not read secret {arn} from Secrets Manager: {reason}")]
    Fetch { arn: String, reason: String },
    #[error("secret {arn} is not a JSON object of strings")]
    Shape { arn: String },
}

impl Secrets {
    pub const APP_SECRETS: &'static str = "META_APP_SECRETS";
    pub const VERIFY_TOKEN: &'static str = "META_VERIFY_TOKEN";
    pub const STATE_KEY: &'static str = "OAUTH_STATE_KEY";
    pub const LLM_KEY: &'static str = "LLM_API_KEY";

    /// Secrets Manager when `arn` is given (the cloud), environment variables otherwise.
    pub async fn load(
        arn: Option<&str>,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, SecretsError> {
        match arn {
            None => Ok(Self::from_vars(&Vars::from_process())?),
            Some(arn) => {
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                let out = client
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| SecretsError::Fetch {
                        arn: arn.into(),
                        reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                    })?;
                let json = out.secret_string().unwrap_or_default();
                let map: HashMap<String, String> = serde_json::from_str(json)
                    .map_err(|_| SecretsError::Shape { arn: arn.into() })?;
                Ok(Self::from_vars(&Vars::from_map(map))?)
            }
        }
    }

    /// Reads `META_APP_SECRETS` (comma-separated), `META_VERIFY_TOKEN`, `OAUTH_STATE_KEY`
    /// (at least 32 characters) and optionally `LLM_API_KEY`; the same names are the keys
    /// of the Secrets Manager JSON.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let meta_app_secrets: Vec<Secret> = vars
            .required(Self::APP_SECRETS)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Secret::from)
            .collect();
        let state_key = vars.required(Self::STATE_KEY);
        if !state_key.is_empty() && state_key.len() < 32 {
            vars.invalid(Self::STATE_KEY, "must be at least 32 characters");
        }
        let secrets = Self {
            meta_app_secrets,
            meta_verify_token: Secret::new(vars.required(Self::VERIFY_TOKEN)),
            oauth_state_key: Secret::new(state_key),
            llm_api_key: vars.optional(Self::LLM_KEY).map(Secret::new),
        };
        vars.finish()?;
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            ("RELAY_MAIN_TABLE", "main"),
            ("RELAY_AUDIT_TABLE", "audit"),
            ("RELAY_ARCHIVE_TABLE", "archive"),
            ("RELAY_TOKEN_KEY_ID", "alias/relay"),
            ("RELAY_EVENT_BUS", "relay"),
        ]
    }

    #[test]
    fn complete_config_loads_with_defaults() {
        let c = Config::from_vars(&vars(&complete())).expect("complete config");
        assert_eq!(c.main_table, "main");
        assert_eq!(c.graph_version, "v26.0");
        assert!(c.queues.inbound.is_none());
    }

    #[test]
    fn missing_variable_is_named() {
        let mut pairs = complete();
        pairs.retain(|(k, _)| *k != "RELAY_TOKEN_KEY_ID");
        let err = Config::from_vars(&vars(&pairs)).unwrap_err();
        assert_eq!(
            err.0,
            vec![ConfigProblem::Missing {
                var: "RELAY_TOKEN_KEY_ID".into()
            }]
        );
        assert!(err.to_string().contains("RELAY_TOKEN_KEY_ID is not set"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut pairs = complete();
        pairs.retain(|(k, _)| *k != "RELAY_MAIN_TABLE" && *k != "RELAY_EVENT_BUS");
        pairs.push(("RELAY_GRAPH_VERSION", "26"));
        pairs.push(("RELAY_INBOUND_QUEUE_URL", "inbound"));
        let msg = Config::from_vars(&vars(&pairs)).unwrap_err().to_string();
        for needle in [
            "RELAY_MAIN_TABLE is not set",
            "RELAY_EVENT_BUS is not set",
            "RELAY_GRAPH_VERSION is invalid",
            "RELAY_INBOUND_QUEUE_URL is invalid",
        ] {
            assert!(msg.contains(needle), "{needle} missing from: {msg}");
        }
    }

    #[test]
    fn blank_counts_as_missing() {
        let mut pairs = complete();
        pairs.push(("RELAY_MAIN_TABLE", "   "));
        pairs.retain(|(k, v)| !(*k == "RELAY_MAIN_TABLE" && *v == "main"));
        assert!(Config::from_vars(&vars(&pairs)).is_err());
    }

    #[test]
    fn malformed_number_is_named() {
        let v = vars(&[("RELAY_DEBOUNCE_SECONDS", "eight")]);
        let got = v.seconds("RELAY_DEBOUNCE_SECONDS", Duration::from_secs(8));
        assert_eq!(got, Duration::from_secs(8));
        let err = v.finish().unwrap_err().to_string();
        assert!(err.contains("RELAY_DEBOUNCE_SECONDS is invalid"), "{err}");
    }

    #[test]
    fn secrets_load_and_never_print() {
        let s = Secrets::from_vars(&vars(&[
            ("META_APP_SECRETS", "ig-secret-1, fb-secret-2"),
            ("META_VERIFY_TOKEN", "verify-me"),
            ("OAUTH_STATE_KEY", "0123456789abcdef0123456789abcdef"),
        ]))
        .expect("secrets");
        assert_eq!(s.meta_app_secrets.len(), 2);
        assert_eq!(s.meta_app_secrets[1].expose(), "fb-secret-2");
        let printed = format!("{s:?}");
        for leaked in [
            "ig-secret-1",
            "fb-secret-2",
            "verify-me",
            "0123456789abcdef",
        ] {
            assert!(!printed.contains(leaked), "{leaked} printed: {printed}");
        }
    }

    #[test]
    fn short_state_key_is_rejected_by_name() {
        let err = Secrets::from_vars(&vars(&[
            ("META_APP_SECRETS", "x"),
            ("META_VERIFY_TOKEN", "v"),
            ("OAUTH_STATE_KEY", "short"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("OAUTH_STATE_KEY is invalid"));
    }
}
