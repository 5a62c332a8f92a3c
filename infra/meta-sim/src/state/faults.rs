//! Injected faults: the next N matching calls fail the way Meta fails.
//!
//! Guarantees: a fault fires for exactly `count` matching calls, in the order faults
//! were added, and never for the simulator's own admin API. Every kind but `slow` and
//! `lost_answer` answers instead of the call, which then never happens; `slow` and
//! `lost_answer` run the call with all its effects.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Rate limiting (default code 4, "Application request limit reached").
    Throttle,
    /// A transient error (default code 2, `is_transient: true`).
    Transient,
    /// A server error (default HTTP 500, code 1).
    ServerError,
    /// Delays the answer by `delay_ms`, then answers normally.
    Slow,
    /// Any error: `code`, `subcode`, `status` and `message` as given.
    Error,
    /// The call succeeds but its answer never reaches the client: the simulator runs
    /// the call fully (a `media_publish` really publishes), then answers the way a
    /// client sees Meta's edge lose the answer of a call that went through: HTTP 502
    /// with code 2, `is_transient: true` (`status`, `code` and `message` override).
    LostAnswer,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub subcode: Option<i64>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Only calls with this HTTP method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub is_transient: Option<bool>,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn matches(&self, path: &str, method: &str) -> bool {
        self.count > 0
            && self
                .path_contains
                .as_deref()
                .is_none_or(|needle| path.contains(needle))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// Takes one use of the first fault matching the call, dropping used-up faults.
pub fn take_fault(faults: &mut Vec<Fault>, path: &str, method: &str) -> Option<Fault> {
    let idx = faults.iter().position(|f| f.matches(path, method))?;
    let fault = faults[idx].clone();
    faults[idx].count -= 1;
    if faults[idx].count == 0 {
        faults.remove(idx);
    }
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(count: u32, path: Option<&str>) -> Fault {
        Fault {
            kind: FaultKind::Throttle,
            count,
            code: None,
            subcode: None,
            status: None,
            delay_ms: None,
            path_contains: path.map(str::to_owned),
            method: None,
            message: None,
            is_transient: None,
        }
    }

    #[test]
    fn fires_exactly_count_times_for_matching_paths() {
        let mut faults = vec![fault(2, Some("/messages"))];
        assert!(take_fault(&mut faults, "/graph.instagram.com/v26.0/me", "GET").is_none());
        let send = "/graph.instagram.com/v26.0/me/messages";
        let fired: Vec<bool> = (0..3)
            .map(|_| take_fault(&mut faults, send, "POST").is_some())
            .collect();
        assert_eq!(fired, [true, true, false]);
        assert!(faults.is_empty());
    }

    #[test]
    fn lost_answer_is_named_in_snake_case_and_defaults_to_one_call() {
        let f: Fault = serde_json::from_value(serde_json::json!({
            "kind": "lost_answer",
            "path_contains": "/media_publish",
            "method": "POST",
        }))
        .expect("parses");
        assert_eq!((f.kind, f.count), (FaultKind::LostAnswer, 1));
        assert!(f.matches("/graph.instagram.com/v26.0/178/media_publish", "POST"));
        assert!(!f.matches("/graph.instagram.com/v26.0/178/media", "POST"));
    }

    #[test]
    fn earlier_faults_fire_first_and_method_filters() {
        let mut faults = vec![fault(1, None), fault(1, None)];
        faults[0].kind = FaultKind::Slow;
        faults[1].method = Some("post".into());
        assert_eq!(
            take_fault(&mut faults, "/x", "GET").map(|f| f.kind),
            Some(FaultKind::Slow)
        );
        assert!(take_fault(&mut faults, "/x", "GET").is_none());
        assert!(take_fault(&mut faults, "/x", "POST").is_some());
    }
}
