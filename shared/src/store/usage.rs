//! What a tenant uses, for the installation's operators: counters per UTC day, added to
//! without a read (`ADD`), and when each account's last webhook arrived.
//!
//! Counters count what was stored for the first time, so a redelivered webhook is not
//! counted twice. They are kept 400 days.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, keys};
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
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(Self::key_attrs(&keys::usage(
                tenant,
                &utc_day(now_ms),
            ))))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((now_ms / 1000 + KEEP_SECONDS).to_string()),
            );
        let mut adds = Vec::with_capacity(counts.len());
        for (i, (counter, n)) in counts.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#c{i}"), counter.attribute())
                .expression_attribute_values(format!(":c{i}"), AttributeValue::N(n.to_string()));
            adds.push(format!("#c{i} :c{i}"));
        }
        update
            .update_expression(format!("SET #ttl = :ttl ADD {}", adds.join(", ")))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
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
        let mut listing = super::Listing {
            limit: 400,
            ..Default::default()
        };
        loop {
            let page = self
                .query::<Usage>(None, &keys::tenant_pk(tenant), &range, &listing)
                .await?;
            for day in &page.items {
                total.add(day);
            }
            match page.next {
                Some(next) => listing.cursor = Some(next),
                None => return Ok(total),
            }
        }
    }

    /// Note that a webhook for the account arrived at `at_ms`; an earlier time never
    /// replaces a later one (deliveries are handled out of order).
    pub async fn note_webhook_seen(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(Self::key_attrs(&keys::webhook_seen(tenant, account))))
            .update_expression("SET seen_at = :at")
            .condition_expression("attribute_not_exists(seen_at) OR seen_at < :at")
            .expression_attribute_values(":at", AttributeValue::N(at_ms.to_string()))
            .send()
            .await;
        super::conditional(result, "UpdateItem")?;
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
