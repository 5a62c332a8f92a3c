//! The files a running stack leaves in its state directory: `stack.json` (what scripts
//! and tests read: URLs, resource names, secrets of the local apps, the demo tenant) and
//! `stack.pid` (the supervisor and its children, so `down` can stop them even if the
//! supervisor died). Both are written atomically (temp file + rename).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The demo tenant the stack onboards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Demo {
    pub tenant_id: String,
    /// An owner key of the demo tenant.
    pub api_key: String,
    /// An operator key of the local installation.
    #[serde(default)]
    pub operator_key: Option<String>,
    pub instagram_account_id: Option<String>,
    pub page_id: Option<String>,
    /// The simulator's Instagram user (the account's owner) and its username.
    pub instagram_username: Option<String>,
}

impl Demo {
    /// One line for people: the tenant and what it has connected.
    pub fn summary(&self) -> String {
        format!(
            "  demo tenant         {} (Instagram account {}, Facebook Page {}, API key in stack.json)",
            self.tenant_id,
            self.instagram_account_id
                .as_deref()
                .unwrap_or("not connected"),
            self.page_id.as_deref().unwrap_or("not connected")
        )
    }
}

/// A function of the template as the stack runs it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionInfo {
    pub logical_id: String,
    pub binary: String,
    /// Route keys, queue mappings and schedules, as text.
    pub triggers: Vec<String>,
}

/// `stack.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackInfo {
    pub webhook_url: String,
    pub api_url: String,
    pub onboarding_url: Option<String>,
    pub oauth_callback_url: Option<String>,
    pub deauthorize_url: Option<String>,
    pub data_deletion_url: Option<String>,
    pub meta_simulator_url: String,
    pub aws_endpoint_url: String,
    pub lambda_invoke_url: String,
    pub region: String,
    /// Short names (`main`, `audit`, `archive`, ...) -> table names.
    pub tables: BTreeMap<String, String>,
    /// Short names (`inbound`, `inbound_dlq`, ...) -> queue URLs.
    pub queues: BTreeMap<String, String>,
    pub event_bus: Option<String>,
    pub token_key_id: Option<String>,
    pub secrets_arn: Option<String>,
    pub app_secret: String,
    pub verify_token: String,
    pub ig_app_id: String,
    pub fb_app_id: String,
    pub demo: Option<Demo>,
    pub functions: Vec<FunctionInfo>,
    /// What the stack could not set up, each with the reason.
    pub gaps: Vec<String>,
    pub supervisor_pid: u32,
    /// Pid (and process group) of each running part.
    pub processes: BTreeMap<String, u32>,
    pub started_at: String,
    pub startup_seconds: f64,
}

/// `stack.pid`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Pids {
    pub supervisor: u32,
    pub children: BTreeMap<String, u32>,
}

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not what relay-stack writes: {reason}")]
    Shape { path: String, reason: String },
}

/// Writes `value` as pretty JSON to `path` atomically, readable by the owner only (it
/// holds the local app secret and the demo API key).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |source| StateError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let temp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(value).expect("state serialises");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.write_all(b"\n").map_err(fail)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(fail)
}

/// Reads a state file; `Ok(None)` when it does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StateError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Shape {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The short name of a resource in `stack.json`: `MainTable` -> `main`,
/// `InboundDLQ` -> `inbound_dlq`, `RepliesQueue` -> `replies`.
pub fn short_name(logical_id: &str) -> String {
    let (stem, suffix) = if let Some(stem) = logical_id.strip_suffix("DLQ") {
        (stem, "_dlq")
    } else if let Some(stem) = logical_id.strip_suffix("Queue") {
        (stem, "")
    } else if let Some(stem) = logical_id.strip_suffix("Table") {
        (stem, "")
    } else {
        (logical_id, "")
    };
    let mut out = String::new();
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out.push_str(suffix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_name("MainTable"), "main");
        assert_eq!(short_name("InboundDLQ"), "inbound_dlq");
        assert_eq!(short_name("RepliesQueue"), "replies");
        assert_eq!(short_name("ScheduledPostsTable"), "scheduled_posts");
    }

    #[test]
    fn files_round_trip_and_missing_is_none() {
        let dir = std::env::temp_dir().join(format!("relay-stack-state-{}", uuid::Uuid::new_v4()));
        let path = dir.join("stack.pid");
        assert_eq!(read_json::<Pids>(&path).unwrap(), None);
        let pids = Pids {
            supervisor: 42,
            children: [("moto".to_owned(), 43)].into(),
        };
        write_json(&path, &pids).unwrap();
        assert_eq!(read_json::<Pids>(&path).unwrap(), Some(pids));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only the owner reads the state");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
