//! What the benches share: the running local stack they measure (its `stack.json`, the
//! management API's base, the demo tenant's key) and how they summarise samples.

use std::path::PathBuf;

use serde_json::Value;

/// The repository: `RELAY_ROOT`, else two levels above this crate.
pub fn root() -> PathBuf {
    std::env::var("RELAY_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .expect("infra/stack lies two levels below the repository")
                .to_owned()
        })
}

/// The value at `p` (0 to 1) of ascending samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The stack `relay-stack up` started, as its `stack.json` describes it.
pub struct Stack {
    pub info: Value,
    /// The management API's base, `.../v1`.
    pub api: String,
    /// The demo tenant's API key.
    pub key: String,
    pub http: reqwest::Client,
}

impl Stack {
    /// The running stack (`RELAY_STACK_DIR`, `.local` by default); panics when none runs.
    pub fn running() -> Self {
        let dir = std::env::var("RELAY_STACK_DIR").unwrap_or_else(|_| ".local".into());
        let path = root().join(&dir).join("stack.json");
        let info: Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (start the stack first)", path.display())),
        )
        .expect("stack.json is JSON");
        let api = format!(
            "{}/v1",
            info["api_url"]
                .as_str()
                .expect("api_url")
                .trim_end_matches('/')
        );
        let key = info["demo"]["api_key"]
            .as_str()
            .expect("the demo tenant's key")
            .to_owned();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        Self {
            info,
            api,
            key,
            http,
        }
    }
}
