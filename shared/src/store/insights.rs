//! Profile snapshots, account insights by day, media insights and each account's sync
//! state, all under the account's partition (erasing the account erases them). Days sort
//! as `YYYY-MM-DD`, so a range of days is one Query; media insights are listed by
//! publishing time (gsi2) and found by media id (gsi1).

use std::collections::BTreeMap;

use super::{Index, IndexKeys, Listing, Page, SortRange, Store, StoreError, keys};
use crate::ids::{AccountId, MediaId, TenantId};
use crate::insights::records::{AccountDay, MediaInsights, Snapshot, SyncState, day_of, day_text};

/// Insights and snapshots are kept a little over a year (a year's CSV works), then
/// DynamoDB's TTL removes them.
const KEEP_SECONDS: i64 = 400 * 86_400;

fn kept_from(ms: i64) -> IndexKeys {
    IndexKeys {
        ttl: Some(ms / 1000 + KEEP_SECONDS),
        ..IndexKeys::default()
    }
}

/// The account's partition and the range of its days from `from` to `to` (both included).
fn days(tenant: &TenantId, account: &AccountId, from: &str, to: &str) -> (String, SortRange) {
    let range = SortRange::Between(
        format!("{}{from}", keys::INSIGHTS_DAY_PREFIX),
        format!("{}{to}", keys::INSIGHTS_DAY_PREFIX),
    );
    (keys::insights_day(tenant, account, from).pk, range)
}

/// Media insights published in `[from_ms, to_ms]`, in the by-time index.
fn published_between(from_ms: i64, to_ms: i64) -> SortRange {
    SortRange::Between(
        keys::time_sk(from_ms),
        format!("{}#~", keys::time_sk(to_ms)),
    )
}

impl Store {
    /// Store the account's latest profile, and keep it as that day's snapshot.
    pub async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let (tenant, account) = (&snapshot.tenant_id, &snapshot.account_id);
        self.put(
            &keys::profile(tenant, account),
            &IndexKeys::default(),
            snapshot,
        )
        .await?;
        let day = day_text(day_of(snapshot.fetched_at));
        self.put(
            &keys::profile_day(tenant, account, &day),
            &kept_from(snapshot.fetched_at),
            snapshot,
        )
        .await
    }

    pub async fn get_snapshot(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.get(&keys::profile(tenant, account)).await
    }

    pub async fn put_account_day(&self, day: &AccountDay) -> Result<(), StoreError> {
        let key = keys::insights_day(&day.tenant_id, &day.account_id, &day.day);
        self.put(&key, &kept_from(day.fetched_at), day).await
    }

    /// The account's stored days from `from` to `to` (`YYYY-MM-DD`, both included), oldest
    /// first.
    pub async fn account_days(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        from: &str,
        to: &str,
        listing: &Listing,
    ) -> Result<Page<AccountDay>, StoreError> {
        let (partition, range) = days(tenant, account, from, to);
        self.query(None, &partition, &range, listing).await
    }

    /// Every stored day from `from` to `to` (both included), by date, all pages read.
    pub async fn account_days_by_date(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        from: &str,
        to: &str,
    ) -> Result<BTreeMap<String, AccountDay>, StoreError> {
        let (partition, range) = days(tenant, account, from, to);
        let all: Vec<AccountDay> = self.query_all(None, &partition, &range, 400).await?;
        Ok(all.into_iter().map(|d| (d.day.clone(), d)).collect())
    }

    /// Every media insights record of the account, by media id, all pages read.
    pub async fn media_insights_by_id(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<BTreeMap<MediaId, MediaInsights>, StoreError> {
        let all: Vec<MediaInsights> = self
            .query_all(
                Some(Index::Gsi2),
                &keys::media_insights_by_time(tenant, account),
                &published_between(0, i64::MAX / 2),
                200,
            )
            .await?;
        Ok(all.into_iter().map(|m| (m.media_id.clone(), m)).collect())
    }

    pub async fn put_media_insights(&self, media: &MediaInsights) -> Result<(), StoreError> {
        let (tenant, account) = (&media.tenant_id, &media.account_id);
        let mut index = kept_from(media.fetched_at);
        index.gsi1 = Some((
            keys::media_insights_by_id(tenant, &media.media_id),
            "MEDIA".into(),
        ));
        index.gsi2 = Some((
            keys::media_insights_by_time(tenant, account),
            format!(
                "{}#{}",
                keys::time_sk(media.published_at.unwrap_or(0)),
                media.media_id
            ),
        ));
        self.put(
            &keys::media_insights(tenant, account, &media.media_id),
            &index,
            media,
        )
        .await
    }

    /// A media's insights within the tenant, whichever of its accounts published it.
    pub async fn get_media_insights(
        &self,
        tenant: &TenantId,
        media: &MediaId,
    ) -> Result<Option<MediaInsights>, StoreError> {
        let page: Page<MediaInsights> = self
            .query(
                Some(Index::Gsi1),
                &keys::media_insights_by_id(tenant, media),
                &SortRange::All,
                &Listing::first(1),
            )
            .await?;
        Ok(page.items.into_iter().next())
    }

    /// The account's media insights published in `[from_ms, to_ms]`, oldest first.
    pub async fn list_media_insights(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        from_ms: i64,
        to_ms: i64,
        listing: &Listing,
    ) -> Result<Page<MediaInsights>, StoreError> {
        self.query(
            Some(Index::Gsi2),
            &keys::media_insights_by_time(tenant, account),
            &published_between(from_ms, to_ms),
            listing,
        )
        .await
    }

    pub async fn get_sync_state(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<SyncState>, StoreError> {
        self.get(&keys::sync_state(tenant, account)).await
    }

    /// Store where the account's sync stands (the last pass to finish wins: every
    /// figure it wrote is as fresh as any other pass's).
    pub async fn put_sync_state(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        state: &SyncState,
    ) -> Result<(), StoreError> {
        self.put(
            &keys::sync_state(tenant, account),
            &IndexKeys::default(),
            state,
        )
        .await
    }
}
