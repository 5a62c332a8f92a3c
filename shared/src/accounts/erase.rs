//! Meta's deauthorize and data-deletion callbacks as commands, once their signed_request
//! has been verified.
//!
//! - [`Erasure::deauthorize`]: the user removed the app. Their accounts are disconnected
//!   and their tokens destroyed; their data stays until a deletion request.
//! - [`Erasure::delete_data`]: the user asked for their data to be deleted. Their
//!   accounts, tokens, contacts, conversations, messages and comments are erased
//!   (`Store::erase_account`), under a confirmation code derived from the request, so a
//!   resent request has the same code and resumes the same deletion.
//!
//! Only accounts that user connected through the app that called are touched. Every
//! account changed is audited in its own tenant.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::ports::AuditLog;
use super::record::Account;
use crate::audit::{AuditEntry, AuditTrail};
use crate::clock::Clock;
use crate::onboarding::html::DeletionCounts;
use crate::onboarding::{DeletionCodes, DeletionStatus, Provider, SignedRequest};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// A data-deletion request, keyed by its confirmation code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRecord {
    pub confirmation_code: String,
    pub provider: Provider,
    pub status: DeletionStatus,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    pub counts: DeletionCounts,
}

/// The erasure commands and what they need.
pub struct Erasure {
    pub store: Store,
    pub audit: AuditTrail,
    pub codes: DeletionCodes,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
}

impl Erasure {
    /// The accounts `user_id` connected through `provider`'s app, in any tenant.
    async fn accounts_of(
        &self,
        user_id: &str,
        provider: Provider,
    ) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .store
            .accounts_of_meta_user(user_id)
            .await?
            .into_iter()
            .filter(|a| a.login == provider.login_kind())
            .collect())
    }

    /// The user removed `provider`'s app: disconnect their accounts and destroy their
    /// tokens. A failure stops at the account it happened to; Meta's retry finishes.
    pub async fn deauthorize(&self, provider: Provider, user_id: &str) -> Result<(), StoreError> {
        let accounts = self.accounts_of(user_id, provider).await.inspect_err(|e| {
            warn!(error = %e, "accounts of the deauthorizing user not read");
        })?;
        let now = self.clock.now_secs();
        for mut account in accounts {
            let had_token = account.token_sealed.is_some();
            account.disconnect(now);
            if let Err(e) = self.store.update_account(&account).await {
                warn!(tenant_id = %account.tenant_id, account_id = %account.account_id, error = %e, "account not disconnected");
                return Err(e);
            }
            self.audit
                .record(
                    &account.tenant_id,
                    AuditEntry::new("meta:deauthorize", "account.deauthorized")
                        .target(format!("account:{}", account.account_id))
                        .details(serde_json::json!({
                            "provider": provider.as_str(),
                            "token_destroyed": had_token,
                        })),
                )
                .await;
            info!(tenant_id = %account.tenant_id, account_id = %account.account_id, "account deauthorized");
            self.metrics.count("AccountsDeauthorized", 1);
        }
        Ok(())
    }

    /// The confirmation code Meta is given for `signed`'s deletion request.
    pub fn confirmation_code(&self, provider: Provider, signed: &SignedRequest) -> String {
        self.codes.code_for(
            provider,
            &signed.user_id,
            signed.issued_at.unwrap_or_default(),
        )
    }

    /// Erase the data of the user `signed` names (their accounts through `provider`'s
    /// app); the request's confirmation code when it is done. A request already completed
    /// is not run again; a failure is recorded and Meta's resent request resumes it.
    pub async fn delete_data(
        &self,
        provider: Provider,
        signed: &SignedRequest,
    ) -> Result<String, StoreError> {
        let now = self.clock.now_secs();
        let code = self.confirmation_code(provider, signed);
        let existing = self.request(&code).await?;
        if existing
            .as_ref()
            .is_some_and(|r| r.status == DeletionStatus::Completed)
        {
            return Ok(code);
        }
        let mut record = DeletionRecord {
            confirmation_code: code.clone(),
            provider,
            status: DeletionStatus::InProgress,
            requested_at: existing.as_ref().map_or(now, |r| r.requested_at),
            completed_at: None,
            counts: existing.map(|r| r.counts).unwrap_or_default(),
        };
        self.put(&record).await?;
        self.metrics.count("DeletionRequests", 1);
        let result = async {
            for account in self.accounts_of(&signed.user_id, provider).await? {
                let erased = self.store.erase_account(&account).await?;
                record.counts.add(&erased);
                self.audit
                    .record(
                        &account.tenant_id,
                        AuditEntry::new("meta:data-deletion", "account.data_deleted")
                            .target(format!("account:{}", account.account_id))
                            .details(serde_json::json!({
                                "provider": provider.as_str(),
                                "confirmation_code": code,
                                "contacts": erased.contacts,
                                "conversations": erased.conversations,
                                "messages": erased.messages,
                                "comments": erased.comments,
                                "other_items": erased.other_items,
                            })),
                    )
                    .await;
                info!(tenant_id = %account.tenant_id, account_id = %account.account_id, "account data deleted");
            }
            Ok::<_, StoreError>(())
        }
        .await;
        match result {
            Ok(()) => {
                record.status = DeletionStatus::Completed;
                record.completed_at = Some(self.clock.now_secs());
                self.put(&record).await?;
                Ok(code)
            }
            Err(e) => {
                record.status = DeletionStatus::Failed;
                let _ = self.put(&record).await;
                Err(e)
            }
        }
    }

    /// A deletion request by its confirmation code (for its status page).
    pub async fn request(&self, code: &str) -> Result<Option<DeletionRecord>, StoreError> {
        self.store.get_deletion_request(code).await
    }

    async fn put(&self, record: &DeletionRecord) -> Result<(), StoreError> {
        self.store
            .put_deletion_request(&record.confirmation_code, record)
            .await
    }
}
