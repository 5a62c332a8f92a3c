//! Rate-limit usage as Meta reports it in `X-App-Usage` and
//! `X-Business-Use-Case-Usage`.
//!
//! Guarantees: percentages are computed over a rolling hour of simulated time, grow
//! with every call, and are replaced by admin-set values while an override is active.

use super::Clock;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::VecDeque;

/// Meta's usage window.
pub const USAGE_WINDOW_SECS: i64 = 3600;

#[derive(Clone, Debug)]
struct Call {
    at_ms: i64,
    app_id: String,
    account_id: Option<String>,
}

/// Calls made in the last hour.
#[derive(Clone, Debug, Default)]
pub struct UsageLog {
    calls: VecDeque<Call>,
}

impl UsageLog {
    pub fn record(&mut self, now: Clock, app_id: &str, account_id: Option<&str>) {
        self.prune(now);
        self.calls.push_back(Call {
            at_ms: now.ms(),
            app_id: app_id.to_owned(),
            account_id: account_id.map(str::to_owned),
        });
    }

    fn prune(&mut self, now: Clock) {
        while self
            .calls
            .front()
            .is_some_and(|c| now.secs_since(c.at_ms) >= USAGE_WINDOW_SECS)
        {
            self.calls.pop_front();
        }
    }

    fn live(&self, now: Clock) -> impl Iterator<Item = &Call> {
        self.calls
            .iter()
            .filter(move |c| now.secs_since(c.at_ms) < USAGE_WINDOW_SECS)
    }

    pub fn app_calls(&self, app_id: &str, now: Clock) -> u32 {
        count(self.live(now).filter(|c| c.app_id == app_id))
    }

    pub fn account_calls(&self, account_id: &str, now: Clock) -> u32 {
        count(
            self.live(now)
                .filter(|c| c.account_id.as_deref() == Some(account_id)),
        )
    }

    /// Minutes until the oldest call of the account leaves the window.
    pub fn minutes_until_account_call_expires(&self, account_id: &str, now: Clock) -> i64 {
        self.live(now)
            .find(|c| c.account_id.as_deref() == Some(account_id))
            .map(|c| {
                let remaining = USAGE_WINDOW_SECS - now.secs_since(c.at_ms);
                (remaining + 59) / 60
            })
            .unwrap_or(0)
    }
}

fn count<'a>(it: impl Iterator<Item = &'a Call>) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

/// Percentages set through `POST /_sim/usage`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageOverride {
    #[serde(default)]
    pub call_count: u32,
    #[serde(default)]
    pub total_time: u32,
    #[serde(default)]
    pub total_cputime: u32,
}

/// The three percentages of one usage report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub call_count: u32,
    pub total_cputime: u32,
    pub total_time: u32,
}

impl Usage {
    /// From a number of calls against an hourly budget: CPU and wall time grow more
    /// slowly than the call count, as they do for light Graph calls.
    pub fn from_calls(calls: u32, budget_per_hour: u32) -> Self {
        let budget = u64::from(budget_per_hour.max(1));
        let pct = |weight: u64| {
            u32::try_from(u64::from(calls) * 100 * weight / (budget * 4)).unwrap_or(u32::MAX)
        };
        Self {
            call_count: pct(4),
            total_cputime: pct(1),
            total_time: pct(2),
        }
    }

    pub fn from_override(o: UsageOverride) -> Self {
        Self {
            call_count: o.call_count,
            total_cputime: o.total_cputime,
            total_time: o.total_time,
        }
    }

    pub fn max(self) -> u32 {
        self.call_count.max(self.total_cputime).max(self.total_time)
    }

    /// At least 100 % in every dimension (what a throttled answer reports).
    pub fn saturated(self) -> Self {
        Self {
            call_count: self.call_count.max(100),
            total_cputime: self.total_cputime.max(100),
            total_time: self.total_time.max(100),
        }
    }

    /// The `X-App-Usage` header value.
    pub fn app_header(self) -> Value {
        json!({
            "call_count": self.call_count,
            "total_cputime": self.total_cputime,
            "total_time": self.total_time,
        })
    }

    /// One `X-Business-Use-Case-Usage` header value for `account_id`.
    pub fn buc_header(self, account_id: &str, kind: &str, regain_minutes: i64) -> Value {
        json!({
            account_id: [{
                "type": kind,
                "call_count": self.call_count,
                "total_cputime": self.total_cputime,
                "total_time": self.total_time,
                "estimated_time_to_regain_access": regain_minutes,
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;

    #[test]
    fn calls_count_over_a_rolling_hour() {
        let mut log = UsageLog::default();
        log.record(Clock::at_secs(T0), "app", Some("acct"));
        log.record(Clock::at_secs(T0 + 1800), "app", None);
        assert_eq!(log.app_calls("app", Clock::at_secs(T0 + 1800)), 2);
        assert_eq!(log.account_calls("acct", Clock::at_secs(T0 + 1800)), 1);
        assert_eq!(log.app_calls("app", Clock::at_secs(T0 + 3600)), 1);
        assert_eq!(log.account_calls("acct", Clock::at_secs(T0 + 3600)), 0);
        assert_eq!(log.app_calls("other", Clock::at_secs(T0 + 1800)), 0);
    }

    #[test]
    fn percentages_grow_with_calls() {
        assert_eq!(Usage::from_calls(0, 200).call_count, 0);
        let u = Usage::from_calls(50, 200);
        assert_eq!(u.call_count, 25);
        assert!(u.total_time < u.call_count && u.total_cputime < u.total_time);
        assert_eq!(Usage::from_calls(200, 200).call_count, 100);
    }

    #[test]
    fn regain_time_counts_down_to_the_oldest_call_leaving() {
        let mut log = UsageLog::default();
        log.record(Clock::at_secs(T0), "app", Some("acct"));
        assert_eq!(
            log.minutes_until_account_call_expires("acct", Clock::at_secs(T0 + 600)),
            50
        );
    }
}
