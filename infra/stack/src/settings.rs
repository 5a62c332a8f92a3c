//! What the stack is configured with: ports, paths of the tools it runs, the local app
//! secrets, and where it keeps its state. Read once from the environment; every bad
//! value is an error naming the variable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::distributions::Alphanumeric;

/// One configurable port: its environment variable, what listens there, its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    pub var: &'static str,
    pub what: &'static str,
    pub default: u16,
}

pub const API_PORT: PortSpec = PortSpec {
    var: "RELAY_STACK_API_PORT",
    what: "the API Gateway router (webhooks, onboarding, API)",
    default: 8080,
};
pub const SIM_PORT: PortSpec = PortSpec {
    var: "RELAY_STACK_SIM_PORT",
    what: "the Meta simulator",
    default: 8099,
};
pub const MOTO_PORT: PortSpec = PortSpec {
    var: "RELAY_STACK_MOTO_PORT",
    what: "the moto server (AWS)",
    default: 5050,
};
pub const LAMBDA_PORT: PortSpec = PortSpec {
    var: "RELAY_STACK_LAMBDA_PORT",
    what: "cargo lambda watch (the Lambda invoke API)",
    default: 9000,
};

/// Defaults for a workstation. They are not secrets: the stack only ever talks to the
/// simulator, which accepts whatever it is started with.
pub const DEFAULT_APP_SECRET: &str = "relay-local-app-secret-0123456789";
pub const DEFAULT_VERIFY_TOKEN: &str = "relay-local-verify-token";
/// The app ids the simulator and the functions agree on.
pub const IG_APP_ID: &str = "1000000000000001";
pub const FB_APP_ID: &str = "2000000000000002";

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var} must be a port number (0 picks a free one), got {value:?}")]
    Port { var: &'static str, value: String },
    #[error("{var} must be a whole number of seconds, got {value:?}")]
    Seconds { var: &'static str, value: String },
    #[error("RELAY_STACK_CONCURRENCY must be a whole number from 1 to 64, not {value:?}")]
    Concurrency { value: String },
    #[error("{var} must be at least 32 characters (it signs OAuth states and links)")]
    StateKey { var: &'static str },
    #[error(
        "cannot find the repository (a directory with Cargo.toml and template.yaml) from {0}; set RELAY_ROOT"
    )]
    NoRoot(PathBuf),
}

/// Paths of the programs the stack runs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub moto_server: PathBuf,
    pub cargo_lambda: PathBuf,
    pub cargo: PathBuf,
    /// Directory of the workspace's built binaries (meta-sim, onboarding-link).
    pub target_bin: PathBuf,
}

/// The stack's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub template: PathBuf,
    pub state_dir: PathBuf,
    /// Requested ports; 0 means "pick a free one".
    pub api_port: u16,
    pub sim_port: u16,
    pub moto_port: u16,
    pub lambda_port: u16,
    pub tools: Tools,
    pub app_secret: String,
    pub verify_token: String,
    pub state_key: String,
    /// Rebuild and restart functions when their code changes.
    pub reload: bool,
    /// Seconds before a failed SQS record is received again (see the sqs module).
    pub retry_seconds: u32,
    /// Instances of each function that may run at once (Lambda scales out the same way;
    /// cargo lambda watch runs one by default).
    pub concurrency: u32,
    /// Variables handed to the functions as they are, when set (LLM settings, log level).
    pub passthrough: BTreeMap<String, String>,
}

/// Variables passed through to the functions when set in the stack's environment.
const PASSTHROUGH: [&str; 6] = [
    "RUST_LOG",
    "RELAY_LLM_BASE_URL",
    "RELAY_LLM_MODEL",
    "RELAY_LLM_TIMEOUT_MS",
    "RELAY_LLM_MAX_TOKENS",
    "RELAY_LLM_MAX_ATTEMPTS",
];

impl Settings {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        cwd: &Path,
    ) -> Result<Settings, SettingsError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let root = match get("RELAY_ROOT") {
            Some(root) => PathBuf::from(root),
            None => find_root(cwd)
                .or_else(|| find_root(Path::new(env!("CARGO_MANIFEST_DIR"))))
                .ok_or_else(|| SettingsError::NoRoot(cwd.to_owned()))?,
        };
        let port = |spec: PortSpec| -> Result<u16, SettingsError> {
            match get(spec.var) {
                None => Ok(spec.default),
                Some(v) => v.trim().parse().map_err(|_| SettingsError::Port {
                    var: spec.var,
                    value: v,
                }),
            }
        };
        let venv_bin = root.join(".venv").join("bin");
        let path_or =
            |name: &str, default: PathBuf| get(name).map(PathBuf::from).unwrap_or(default);
        let target_dir = get("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let tools = Tools {
            // The launcher applies DynamoDB calls one at a time, so conditional writes
            // are atomic as on AWS (plain moto_server does not lock its backend).
            moto_server: path_or(
                "RELAY_STACK_MOTO_SERVER",
                root.join("infra").join("scripts").join("moto-server"),
            ),
            cargo_lambda: path_or("RELAY_STACK_CARGO_LAMBDA", venv_bin.join("cargo-lambda")),
            cargo: path_or("CARGO", PathBuf::from("cargo")),
            target_bin: target_dir.join("debug"),
        };
        let state_key = match get("OAUTH_STATE_KEY") {
            Some(key) if key.len() < 32 => {
                return Err(SettingsError::StateKey {
                    var: "OAUTH_STATE_KEY",
                });
            }
            Some(key) => key,
            // A fresh key per start: the data it protects (states, links) lives in the
            // moto server of this start only.
            None => rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(48)
                .map(char::from)
                .collect(),
        };
        let retry_seconds = match get("RELAY_STACK_RETRY_SECONDS") {
            None => 2,
            Some(v) => v.trim().parse().map_err(|_| SettingsError::Seconds {
                var: "RELAY_STACK_RETRY_SECONDS",
                value: v,
            })?,
        };
        let concurrency = match get("RELAY_STACK_CONCURRENCY") {
            None => 4,
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or(SettingsError::Concurrency { value: v })?,
        };
        let reload = !matches!(
            get("RELAY_STACK_RELOAD").as_deref(),
            Some("0" | "false" | "no" | "off")
        );
        let passthrough = PASSTHROUGH
            .iter()
            .filter_map(|name| Some((name.to_string(), get(name)?)))
            .collect();
        Ok(Settings {
            template: get("RELAY_TEMPLATE")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("template.yaml")),
            state_dir: get("RELAY_STACK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".local")),
            api_port: port(API_PORT)?,
            sim_port: port(SIM_PORT)?,
            moto_port: port(MOTO_PORT)?,
            lambda_port: port(LAMBDA_PORT)?,
            tools,
            app_secret: get("META_APP_SECRET").unwrap_or_else(|| DEFAULT_APP_SECRET.into()),
            verify_token: get("META_VERIFY_TOKEN").unwrap_or_else(|| DEFAULT_VERIFY_TOKEN.into()),
            state_key,
            reload,
            retry_seconds,
            concurrency,
            passthrough,
            root,
        })
    }

    pub fn from_env() -> Result<Settings, SettingsError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Settings::from_lookup(|name| std::env::var(name).ok(), &cwd)
    }

    /// `<state>/stack.json`: what scripts and tests read.
    pub fn stack_json(&self) -> PathBuf {
        self.state_dir.join("stack.json")
    }

    /// `<state>/stack.pid`: the running supervisor and its children, for `down`.
    pub fn pid_file(&self) -> PathBuf {
        self.state_dir.join("stack.pid")
    }

    /// `<state>/stack.log`: the log stream of a stack started with `--detach`.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("stack.log")
    }

    /// The requested ports with what they are for.
    pub fn ports(&self) -> [(PortSpec, u16); 4] {
        [
            (MOTO_PORT, self.moto_port),
            (SIM_PORT, self.sim_port),
            (API_PORT, self.api_port),
            (LAMBDA_PORT, self.lambda_port),
        ]
    }
}

/// The first ancestor of `start` holding both Cargo.toml and template.yaml.
fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("template.yaml").is_file())
        .map(Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned(), Path::new("/nonexistent"))
    }

    #[test]
    fn defaults_and_overrides() {
        let s = settings(&[("RELAY_ROOT", "/repo")]).unwrap();
        assert_eq!(
            (s.api_port, s.sim_port, s.moto_port, s.lambda_port),
            (8080, 8099, 5050, 9000)
        );
        assert_eq!(s.state_dir, PathBuf::from("/repo/.local"));
        assert_eq!(
            s.tools.cargo_lambda,
            PathBuf::from("/repo/.venv/bin/cargo-lambda")
        );
        assert_eq!(s.app_secret, DEFAULT_APP_SECRET);
        assert!(s.state_key.len() >= 32);
        assert!(s.reload);
        assert_eq!(s.concurrency, 4);

        let s = settings(&[
            ("RELAY_ROOT", "/repo"),
            ("RELAY_STACK_API_PORT", "0"),
            ("RELAY_STACK_DIR", "/tmp/x"),
            ("META_APP_SECRET", "abc"),
            ("META_VERIFY_TOKEN", "tok"),
            ("RELAY_STACK_RELOAD", "0"),
            ("RELAY_STACK_CONCURRENCY", "1"),
            ("RUST_LOG", "debug"),
        ])
        .unwrap();
        assert_eq!(s.api_port, 0);
        assert_eq!(s.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(
            (s.app_secret.as_str(), s.verify_token.as_str()),
            ("abc", "tok")
        );
        assert!(!s.reload);
        assert_eq!(s.concurrency, 1);
        assert_eq!(
            s.passthrough.get("RUST_LOG").map(String::as_str),
            Some("debug")
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = settings(&[("RELAY_ROOT", "/r"), ("RELAY_STACK_SIM_PORT", "80a")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RELAY_STACK_SIM_PORT"), "{err}");
        let err = settings(&[("RELAY_ROOT", "/r"), ("OAUTH_STATE_KEY", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OAUTH_STATE_KEY"), "{err}");
        let err = settings(&[("RELAY_ROOT", "/r"), ("RELAY_STACK_CONCURRENCY", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RELAY_STACK_CONCURRENCY"), "{err}");
    }
}
