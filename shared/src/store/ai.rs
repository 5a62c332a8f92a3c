//! Persistence of the AI: settings per account, the tenant's knowledge entries, drafts
//! waiting for a person, the outcome of every reply job, and products linked to
//! conversations.
//!
//! Settings and knowledge are validated before they are written. Drafts are created at
//! most once per inbound message (a conditional put), and listed per conversation and,
//! while pending, per account through a sparse index, so resolving a draft removes it
//! from the pending list in the same write. Every key begins with the tenant.

use super::inbox::Recorded;
use super::keys;
use super::{Index, IndexKeys, Listing, Page, SortRange, Store, StoreError, encoded, n, s};
use crate::ai::knowledge::{EntryId, KnowledgeEntry, KnowledgeError};
use crate::ai::records::{Draft, DraftKey, DraftStatus, ProductLink, ReplyOutcome};
use crate::ai::settings::{AiSettings, SettingsError};
use crate::ids::{AccountId, CustomerId, TenantId};
use crate::inbox::AiMode;

/// Why an AI write was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AiStoreError {
    #[error("AI settings are invalid: {0}")]
    InvalidSettings(#[from] SettingsError),
    #[error("knowledge entry is invalid: {0}")]
    InvalidEntry(#[from] KnowledgeError),
    #[error("a knowledge entry of tenant {owner} cannot be stored for tenant {tenant}")]
    WrongTenant { owner: TenantId, tenant: TenantId },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Knowledge entries read for one reply at most (BM25 runs over them in memory).
pub const MAX_KNOWLEDGE_PER_TENANT: usize = 5000;

impl Store {
    // ------------------------------------------------------------------ settings

    /// The account's AI settings; None when never set (the AI is then off).
    pub async fn get_ai_settings(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<AiSettings>, StoreError> {
        self.get(&keys::ai_settings(tenant, account)).await
    }

    pub async fn put_ai_settings(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        settings: &AiSettings,
    ) -> Result<(), AiStoreError> {
        settings.validate()?;
        self.put(
            &keys::ai_settings(tenant, account),
            &IndexKeys::default(),
            settings,
        )
        .await?;
        Ok(())
    }

    /// Override (or, with None, stop overriding) the AI mode of one conversation.
    pub async fn set_conversation_ai_mode(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        mode: Option<AiMode>,
    ) -> Result<(), StoreError> {
        let key = keys::conversation(tenant, account, customer);
        let update = match mode {
            Some(mode) => self
                .update(&key, "SET ai_mode = :m")
                .value(":m", encoded("ai mode", &mode)?),
            None => self.update(&key, "REMOVE ai_mode"),
        };
        if update.condition("attribute_exists(pk)").apply_if().await? {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                what: "conversation (it does not exist)",
            })
        }
    }

    // ------------------------------------------------------------------ knowledge

    /// Store (or replace) a knowledge entry of `tenant`.
    pub async fn put_knowledge(
        &self,
        tenant: &TenantId,
        entry: &KnowledgeEntry,
    ) -> Result<(), AiStoreError> {
        if &entry.tenant_id != tenant {
            return Err(AiStoreError::WrongTenant {
                owner: entry.tenant_id.clone(),
                tenant: tenant.clone(),
            });
        }
        entry.validate()?;
        self.put(
            &keys::knowledge(tenant, entry.entry_id.as_str()),
            &IndexKeys::default(),
            entry,
        )
        .await?;
        Ok(())
    }

    pub async fn get_knowledge(
        &self,
        tenant: &TenantId,
        entry: &EntryId,
    ) -> Result<Option<KnowledgeEntry>, StoreError> {
        self.get(&keys::knowledge(tenant, entry.as_str())).await
    }

    pub async fn delete_knowledge(
        &self,
        tenant: &TenantId,
        entry: &EntryId,
    ) -> Result<(), StoreError> {
        self.delete(&keys::knowledge(tenant, entry.as_str())).await
    }

    /// One page of the tenant's knowledge entries, by id.
    pub async fn list_knowledge(
        &self,
        tenant: &TenantId,
        listing: &Listing,
    ) -> Result<Page<KnowledgeEntry>, StoreError> {
        self.query(
            None,
            &keys::tenant_pk(tenant),
            &SortRange::Prefix(keys::KNOWLEDGE_PREFIX.into()),
            listing,
        )
        .await
    }

    /// Every knowledge entry of the tenant, up to `max`.
    pub async fn all_knowledge(
        &self,
        tenant: &TenantId,
        max: usize,
    ) -> Result<Vec<KnowledgeEntry>, StoreError> {
        let mut all = Vec::new();
        let mut listing = Listing::first(1000);
        loop {
            let page = self.list_knowledge(tenant, &listing).await?;
            all.extend(page.items);
            match page.next {
                Some(next) if all.len() < max => listing.cursor = Some(next),
                _ => break,
            }
        }
        all.truncate(max);
        Ok(all)
    }

    // ------------------------------------------------------------------ drafts

    /// Store a draft once per inbound message; `Duplicate` when it exists already.
    pub async fn put_draft(&self, draft: &Draft) -> Result<Recorded, StoreError> {
        let key = keys::ai_draft(
            &draft.tenant_id,
            &draft.account_id,
            &draft.customer_id,
            draft.draft_id.inbound_at,
            draft.draft_id.inbound_mid.as_str(),
        );
        let index = IndexKeys {
            gsi1: (draft.status == DraftStatus::Pending).then(|| {
                (
                    keys::ai_drafts_pending(&draft.tenant_id, &draft.account_id),
                    format!(
                        "{}#{}",
                        keys::time_sk(draft.created_at),
                        draft.customer_id.as_str()
                    ),
                )
            }),
            ..IndexKeys::default()
        };
        self.record_once(&key, &index, draft, "draft").await
    }

    pub async fn get_draft(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        draft: &DraftKey,
    ) -> Result<Option<Draft>, StoreError> {
        self.get(&keys::ai_draft(
            tenant,
            account,
            customer,
            draft.inbound_at,
            draft.inbound_mid.as_str(),
        ))
        .await
    }

    /// A conversation's drafts, newest first.
    pub async fn list_drafts(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        listing: &Listing,
    ) -> Result<Page<Draft>, StoreError> {
        self.query(
            None,
            &keys::conversation_messages_pk(tenant, account, customer),
            &SortRange::Prefix(keys::AI_DRAFT_PREFIX.into()),
            &listing.descending(),
        )
        .await
    }

    /// An account's drafts waiting for a person, newest first.
    pub async fn list_pending_drafts(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        listing: &Listing,
    ) -> Result<Page<Draft>, StoreError> {
        self.query(
            Some(Index::Gsi1),
            &keys::ai_drafts_pending(tenant, account),
            &SortRange::All,
            &listing.descending(),
        )
        .await
    }

    /// A person approved, edited or discarded a pending draft. False when the draft does
    /// not exist or was resolved already (two people cannot both resolve it).
    #[allow(clippy::too_many_arguments)]
    pub async fn resolve_draft(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        draft: &DraftKey,
        status: DraftStatus,
        by: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        if status == DraftStatus::Pending {
            return Ok(false);
        }
        let key = keys::ai_draft(
            tenant,
            account,
            customer,
            draft.inbound_at,
            draft.inbound_mid.as_str(),
        );
        self.update(
            &key,
            "SET #status = :s, resolved_at = :at, resolved_by = :by REMOVE gsi1pk, gsi1sk",
        )
        .condition("attribute_exists(pk) AND #status = :pending")
        .name("#status", "status")
        .value(":s", encoded("draft status", &status)?)
        .value(":pending", encoded("draft status", &DraftStatus::Pending)?)
        .value(":at", n(at))
        .value(":by", s(by))
        .apply_if()
        .await
    }

    // ------------------------------------------------------------------ outcomes

    pub async fn get_reply_outcome(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        inbound_at: i64,
        inbound_mid: &str,
    ) -> Result<Option<ReplyOutcome>, StoreError> {
        self.get(&keys::ai_outcome(
            tenant,
            account,
            customer,
            inbound_at,
            inbound_mid,
        ))
        .await
    }

    /// Record (or update) a job's outcome; it expires at `ttl_epoch_seconds`.
    pub async fn put_reply_outcome(
        &self,
        outcome: &ReplyOutcome,
        ttl_epoch_seconds: i64,
    ) -> Result<(), StoreError> {
        let key = keys::ai_outcome(
            &outcome.tenant_id,
            &outcome.account_id,
            &outcome.customer_id,
            outcome.inbound_at,
            outcome.inbound_mid.as_str(),
        );
        let index = IndexKeys {
            ttl: Some(ttl_epoch_seconds),
            ..IndexKeys::default()
        };
        self.put(&key, &index, outcome).await
    }

    /// A conversation's reply outcomes, newest first.
    pub async fn list_reply_outcomes(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        listing: &Listing,
    ) -> Result<Page<ReplyOutcome>, StoreError> {
        self.query(
            None,
            &keys::conversation_messages_pk(tenant, account, customer),
            &SortRange::Prefix(keys::AI_OUTCOME_PREFIX.into()),
            &listing.descending(),
        )
        .await
    }

    // ------------------------------------------------------------------ products

    /// Link a product to a conversation; the first mention is kept, the last one moves
    /// forward.
    pub async fn link_product(&self, link: &ProductLink) -> Result<(), StoreError> {
        let key = keys::conversation_product(
            &link.tenant_id,
            &link.account_id,
            &link.customer_id,
            link.entry_id.as_str(),
        );
        self.update(
            &key,
            "SET tenant_id = :t, account_id = :a, customer_id = :c, entry_id = :e, \
             first_mid = if_not_exists(first_mid, :mid), \
             first_at = if_not_exists(first_at, :first), last_at = :last",
        )
        .value(":t", s(link.tenant_id.as_str()))
        .value(":a", s(link.account_id.as_str()))
        .value(":c", s(link.customer_id.as_str()))
        .value(":e", s(link.entry_id.as_str()))
        .value(":mid", s(&link.first_mid))
        .value(":first", n(link.first_at))
        .value(":last", n(link.last_at))
        .apply()
        .await
    }

    /// The products a conversation mentioned, by entry id.
    pub async fn list_conversation_products(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Vec<ProductLink>, StoreError> {
        let page: Page<ProductLink> = self
            .query(
                None,
                &keys::conversation_messages_pk(tenant, account, customer),
                &SortRange::Prefix(keys::CONVERSATION_PRODUCT_PREFIX.into()),
                &Listing::first(1000),
            )
            .await?;
        Ok(page.items)
    }
}
