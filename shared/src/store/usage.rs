//! What a tenant uses, for the installation's operators: counters per UTC day, added to
//! without a read (`ADD`), and when each account's last webhook arrived.
//!
//! Counters count what was stored for the first time, so a redelivered webhook is not
//! counted twice. They are kept 400 days.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, keys, n};
use crate::ids::{AccountId, TenantId};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// Customers' messages stored.
    MessagesReceived,
    /// The business's messages stored (sent by Relay, by a person or from the app).
    MessagesSent,
    /// Comments stored.
    CommentsReceived,
    /// Management API calls by the tenant's keys (refused ones included).
    ApiCalls,
}

impl Counter {
    pub const ALL: [Counter; 4] = [
        Counter::MessagesReceived,
        Counter::MessagesSent,
        Counter::CommentsReceived,
        Counter::ApiCalls,
    ];

    pub fn attribute(self) -> &'static str {
        match self {
            Counter::MessagesReceived => "messages_received",
            Counter::MessagesSent => "messages_sent",
            Counter::CommentsReceived => "comments_received",
            Counter::ApiCalls => "api_calls",
        }
    }
}

/// Sums of each counter over some days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub messages_received: u64,
    pub messages_sent: u64,
    pub comments_received: u64,
    pub api_calls: u64,
}

impl Usage {
    fn add(&mut self, other: &Usage) {
        self.messages_received += other.messages_received;
        self.messages_sent += other.messages_sent;
        self.comments_received += other.comments_received;
        self.api_calls += other.api_calls;
    }
}

/// The UTC day of an instant, as the counters' sort key wants it.
pub fn utc_day(epoch_ms: i64) -> String {
    let day = time::OffsetDateTime::from_unix_timestamp(epoch_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

const KEEP_SECONDS: i64 = 400 * 86_400;

impl Store {
    /// Add to a tenant's counters of the day `now_ms` falls in. Zero counts are skipped;
    /// nothing at all to add writes nothing.
    pub async fn count_usage(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        counts: &BTreeMap<Counter, u64>,
    ) -> Result<(), StoreError> {
        let counts: Vec<_> = counts.iter().filter(|(_, n)| **n > 0).collect();
        if counts.is_empty() {
            return Ok(());
        }
        let adds: Vec<String> = (0..counts.len()).map(|i| format!("#c{i} :c{i}")).collect();
        let mut update = self
            .update(
                &keys::usage(tenant, &utc_day(now_ms)),
                format!("SET #ttl = :ttl ADD {}", adds.join(", ")),
            )
            .name("#ttl", "ttl")
            .value(":ttl", n(now_ms / 1000 + KEEP_SECONDS));
        for (i, (counter, count)) in counts.iter().enumerate() {
            update = update
                .name(format!("#c{i}"), counter.attribute())
                .value(format!(":c{i}"), n(count));
        }
        update.apply().await
    }

    /// A tenant's usage summed over the UTC days from `since_ms`'s day to today's.
    pub async fn usage_since(
        &self,
        tenant: &TenantId,
        since_ms: i64,
        now_ms: i64,
    ) -> Result<Usage, StoreError> {
        let range = super::SortRange::Between(
            keys::usage(tenant, &utc_day(since_ms)).sk,
            keys::usage(tenant, &utc_day(now_ms)).sk,
        );
        let mut total = Usage::default();
        for day in self
            .query_all::<Usage>(None, &keys::tenant_pk(tenant), &range, 400)
            .await?
        {
            total.add(&day);
        }
        Ok(total)
    }

    /// Note that a webhook for the account arrived at `at_ms`; an earlier time never
    /// replaces a later one (deliveries are handled out of order).
    pub async fn note_webhook_seen(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.update(&keys::webhook_seen(tenant, account), "SET seen_at = :at")
            .condition("attribute_not_exists(seen_at) OR seen_at < :at")
            .value(":at", n(at_ms))
            .apply_if()
            .await?;
        Ok(())
    }

    /// When the account's last webhook arrived (epoch ms); None before the first.
    pub async fn webhook_seen(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<i64>, StoreError> {
        #[derive(Deserialize)]
        struct Seen {
            seen_at: i64,
        }
        let seen: Option<Seen> = self.get(&keys::webhook_seen(tenant, account)).await?;
        Ok(seen.map(|s| s.seen_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        // 2026-03-29T00:59:59.999Z and a millisecond later, across the hour Europe moves.
        assert_eq!(utc_day(1_774_745_999_999), "2026-03-29");
        assert_eq!(utc_day(1_774_742_400_000 - 1), "2026-03-28");
        assert_eq!(utc_day(1_798_761_599_999), "2026-12-31");
        assert_eq!(utc_day(1_798_761_600_000), "2027-01-01");
    }

    #[test]
    fn usage_days_sort_as_time() {
        let t = TenantId::parse("acme").unwrap();
        let a = keys::usage(&t, &utc_day(1_798_761_599_999)).sk;
        let b = keys::usage(&t, &utc_day(1_798_761_600_000)).sk;
        assert!(a < b);
    }
}
