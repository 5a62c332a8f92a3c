//! What ingestion tells the operators: usage counters and each account's last webhook.
//!
//! Both are for the operators' overview, not for the inbox: a failed write is logged and
//! never makes a delivery fail (its messages are stored already). Usage is tallied in
//! memory and written once per batch, per tenant; the last webhook time is written at most
//! once a minute per account and instance.

use std::future::Future;
use std::pin::Pin;

use super::ports::{Routes, Usage};
use super::{Ingestion, Ports};
use crate::ids::TenantId;
use crate::store::accounts::Route;
use crate::store::usage::Counter;

/// How stale an account's "last webhook seen" may get.
const SEEN_EVERY_MS: i64 = 60_000;

impl<P: Ports> Ingestion<P> {
    pub(super) fn tally(&self, tenant: &TenantId, counter: Counter) {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        *tally
            .entry(tenant.clone())
            .or_default()
            .entry(counter)
            .or_default() += 1;
    }

    /// Write the usage counted since the last call (once after every batch).
    pub async fn write_tally(&self) {
        let tally = std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()));
        for (tenant, counts) in tally {
            let now = self.clock.now_ms();
            // Boxed: unboxed, this future nests deeper than rustc's default recursion
            // limit allows for laying out a Lambda runtime future that holds it.
            let counted: Pin<Box<dyn Future<Output = _> + Send + '_>> =
                Box::pin(self.store.count_usage(&tenant, now, &counts));
            if let Err(error) = counted.await {
                tracing::warn!(%error, tenant_id = %tenant, "usage not counted");
            }
        }
    }

    /// Note when the account's webhooks were last seen (`at`: when the queue took the
    /// delivery).
    pub(super) async fn note_seen(&self, route: &Route, at: i64) {
        let account = &route.account_id;
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen
                .get(account)
                .is_some_and(|last| at - last < SEEN_EVERY_MS)
            {
                return;
            }
            seen.insert(account.clone(), at);
        }
        let noted = self
            .store
            .note_webhook_seen(&route.tenant_id, account, at)
            .await;
        if let Err(error) = noted {
            tracing::warn!(%error, "last webhook time not noted");
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(account);
        }
    }
}
