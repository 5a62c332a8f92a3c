//! The append-only, tamper-evident audit trail.
//!
//! Each tenant's records form a hash chain: record `n` stores the SHA-256 of record
//! `n - 1`, and its own hash covers its content and that link. An append reads the
//! chain's tail and puts record `n + 1` only if that position is still free
//! (`attribute_not_exists`): two writers racing for the same position cannot both win, so
//! the chain never forks; the loser re-reads the tail and retries. After its record, the
//! writer moves the tenant's head item (last sequence number and hash) forward; the head
//! only ever moves forward, and lets the verifier notice a deleted tail. Records are only
//! ever put, never updated (the functions' IAM grants PutItem, not UpdateItem or
//! DeleteItem). [`AuditTrail::verify`] walks the chain and reports the first broken link:
//! an edited record, a deleted one, or a head that disagrees with the records.
//!
//! Records hold who did what to which object; never message text, tokens or customer ids
//! (customers appear as fingerprints).

mod chain;

pub use chain::{AuditEntry, AuditRecord, Break, BreakKind, GENESIS_HASH, Verification};

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use rand::Rng;

use crate::ids::TenantId;

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("DynamoDB {operation} failed on the audit table: {reason}")]
    Dynamo {
        operation: &'static str,
        reason: String,
    },
    #[error("audit append for the tenant lost {attempts} races in a row")]
    Contended { attempts: u32 },
    #[error("stored audit record is unreadable: {0}")]
    Decode(String),
}

/// The audit table. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditTrail {
    db: Client,
    table: String,
    max_attempts: u32,
    local_turn: Arc<tokio::sync::Mutex<()>>,
}

fn pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

const HEAD_SK: &str = "HEAD";

fn record_sk(seq: u64) -> String {
    format!("SEQ#{seq:020}")
}

fn dynamo<E: std::error::Error + Send + Sync + 'static>(
    operation: &'static str,
    e: aws_sdk_dynamodb::error::SdkError<E>,
) -> AuditError {
    AuditError::Dynamo {
        operation,
        reason: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl AuditTrail {
    pub fn new(db: Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
            max_attempts: 200,
            local_turn: Arc::default(),
        }
    }

    /// Append an entry to the tenant's chain; returns the stored record.
    pub async fn append(
        &self,
        tenant: &TenantId,
        entry: AuditEntry,
    ) -> Result<AuditRecord, AuditError> {
        // Appends from one process take turns: racing them against each other would only
        // waste conditional writes. Other processes are kept out by the condition.
        let _turn = self.local_turn.lock().await;
        for attempt in 0..self.max_attempts {
            // The head is the tail unless a writer stopped between its two puts, so try it
            // first (one GetItem); after a lost race, read the real tail.
            let (tail_seq, tail_hash) = if attempt == 0 {
                self.head(tenant).await?
            } else {
                self.tail(tenant).await?
            };
            let record = AuditRecord::link(tenant.clone(), tail_seq + 1, tail_hash, &entry);
            match self.put_record(&record).await {
                Ok(true) => {
                    self.advance_head(&record).await?;
                    return Ok(record);
                }
                Ok(false) => {}
                Err(e) => {
                    // Unknown outcome: the record may have been stored. It is ours only if
                    // its entry id is; otherwise the position went to another writer.
                    match self.record_at(tenant, record.seq).await? {
                        Some(stored) if stored.entry_id == record.entry_id => {
                            self.advance_head(&record).await?;
                            return Ok(record);
                        }
                        Some(_) => {}
                        None if attempt + 1 < self.max_attempts => {}
                        None => return Err(e),
                    }
                }
            }
            // Lost the race for this position: back off a little (jittered, growing) so
            // the writers spread out, then retry on the new tail.
            let cap = 2u64.saturating_pow(attempt.min(6)).min(50);
            let wait = rand::thread_rng().gen_range(0..=cap);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        Err(AuditError::Contended {
            attempts: self.max_attempts,
        })
    }

    /// The last record's (sequence number, hash), or (0, genesis) for an empty chain.
    async fn tail(&self, tenant: &TenantId) -> Result<(u64, String), AuditError> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :seq)")
            .expression_attribute_values(":pk", s(pk(tenant)))
            .expression_attribute_values(":seq", s("SEQ#"))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo("Query", e))?;
        match out.items.unwrap_or_default().into_iter().next() {
            None => Ok((0, GENESIS_HASH.to_owned())),
            Some(item) => Ok((num(&item, "seq")?, text(&item, "hash")?)),
        }
    }

    async fn record_at(
        &self,
        tenant: &TenantId,
        seq: u64,
    ) -> Result<Option<AuditRecord>, AuditError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant)))
            .key("sk", s(record_sk(seq)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo("GetItem", e))?;
        out.item.map(|item| decode(tenant, &item)).transpose()
    }

    /// The tenant's chain head: (sequence number, hash) of the last record the head was
    /// moved to, or (0, genesis).
    pub async fn head(&self, tenant: &TenantId) -> Result<(u64, String), AuditError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant)))
            .key("sk", s(HEAD_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo("GetItem", e))?;
        match out.item {
            None => Ok((0, GENESIS_HASH.to_owned())),
            Some(item) => Ok((num(&item, "seq")?, text(&item, "hash")?)),
        }
    }

    /// Put a record at its position if the position is free. Ok(false): taken.
    async fn put_record(&self, record: &AuditRecord) -> Result<bool, AuditError> {
        let mut item = HashMap::from([
            ("pk".to_owned(), s(pk(&record.tenant))),
            ("sk".to_owned(), s(record_sk(record.seq))),
            ("seq".to_owned(), n(record.seq)),
            ("entry_id".to_owned(), s(&record.entry_id)),
            ("at".to_owned(), AttributeValue::N(record.at.to_string())),
            ("actor".to_owned(), s(&record.actor)),
            ("action".to_owned(), s(&record.action)),
            ("details".to_owned(), s(&record.details)),
            ("prev_hash".to_owned(), s(&record.prev_hash)),
            ("hash".to_owned(), s(&record.hash)),
        ]);
        if let Some(target) = &record.target {
            item.insert("target".to_owned(), s(target));
        }
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(dynamo("PutItem", e)),
        }
    }

    /// Move the head to `record` unless it is already at or past it.
    async fn advance_head(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk(&record.tenant)))
            .item("sk", s(HEAD_SK))
            .item("seq", n(record.seq))
            .item("hash", s(&record.hash))
            .condition_expression("attribute_not_exists(pk) OR seq < :seq")
            .expression_attribute_values(":seq", n(record.seq))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(dynamo("PutItem", e)),
        }
    }

    /// Every record of the tenant, in chain order.
    pub async fn records(&self, tenant: &TenantId) -> Result<Vec<AuditRecord>, AuditError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :seq)")
                .expression_attribute_values(":pk", s(pk(tenant)))
                .expression_attribute_values(":seq", s("SEQ#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                records.push(decode(tenant, &item)?);
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(records)
    }

    /// Up to `limit` of the tenant's records after sequence number `after`, in chain
    /// order (one page of a listing).
    pub async fn records_after(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: i32,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(pk(tenant)))
            .expression_attribute_values(":from", s(record_sk(after.saturating_add(1))))
            .expression_attribute_values(":to", s(record_sk(u64::MAX)))
            .limit(limit.clamp(1, 1000))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo("Query", e))?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| decode(tenant, item))
            .collect()
    }

    /// Walk the tenant's chain and report the first broken link, if any.
    pub async fn verify(&self, tenant: &TenantId) -> Result<Verification, AuditError> {
        let records = self.records(tenant).await?;
        let head = self.head(tenant).await?;
        Ok(chain::verify(&records, head))
    }
}

fn decode(
    tenant: &TenantId,
    item: &HashMap<String, AttributeValue>,
) -> Result<AuditRecord, AuditError> {
    Ok(AuditRecord {
        tenant: tenant.clone(),
        seq: num(item, "seq")?,
        entry_id: text(item, "entry_id")?,
        at: num(item, "at")? as i64,
        actor: text(item, "actor")?,
        action: text(item, "action")?,
        target: item.get("target").and_then(|v| v.as_s().ok()).cloned(),
        details: text(item, "details")?,
        prev_hash: text(item, "prev_hash")?,
        hash: text(item, "hash")?,
    })
}

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> Result<u64, AuditError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AuditError::Decode(format!("{name} is missing or not a number")))
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Result<String, AuditError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| AuditError::Decode(format!("{name} is missing")))
}

/// Appending to the audit trail: what a workflow needs from it ([`AuditTrail`] in
/// production).
pub trait Append: Send + Sync {
    /// Append an entry to the tenant's chain; returns the stored record.
    fn append(
        &self,
        tenant: &TenantId,
        entry: AuditEntry,
    ) -> impl Future<Output = Result<AuditRecord, AuditError>> + Send;
}

impl Append for AuditTrail {
    fn append(
        &self,
        tenant: &TenantId,
        entry: AuditEntry,
    ) -> impl Future<Output = Result<AuditRecord, AuditError>> + Send {
        AuditTrail::append(self, tenant, entry)
    }
}

/// An in-memory audit trail for tests: one linked chain per tenant.
#[cfg(any(test, feature = "doubles"))]
#[derive(Debug, Default)]
pub struct MemoryAudit {
    chains: std::sync::Mutex<std::collections::BTreeMap<TenantId, Vec<AuditRecord>>>,
}

#[cfg(any(test, feature = "doubles"))]
impl MemoryAudit {
    /// The tenant's records, oldest first.
    pub fn records(&self, tenant: &TenantId) -> Vec<AuditRecord> {
        let chains = self
            .chains
            .lock()
            .expect("no panic while holding the trail");
        chains.get(tenant).cloned().unwrap_or_default()
    }
}

#[cfg(any(test, feature = "doubles"))]
impl Append for MemoryAudit {
    async fn append(
        &self,
        tenant: &TenantId,
        entry: AuditEntry,
    ) -> Result<AuditRecord, AuditError> {
        let mut chains = self
            .chains
            .lock()
            .expect("no panic while holding the trail");
        let chain = chains.entry(tenant.clone()).or_default();
        let (seq, prev) = chain
            .last()
            .map_or((0, GENESIS_HASH.to_owned()), |r| (r.seq, r.hash.clone()));
        let record = AuditRecord::link(tenant.clone(), seq + 1, prev, &entry);
        chain.push(record.clone());
        Ok(record)
    }
}
