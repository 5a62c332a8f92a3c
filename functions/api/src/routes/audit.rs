//! The tenant's audit trail: records in chain (time) order, and the chain check.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Params;
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};
use crate::views::{AuditPage, AuditRecordView, BreakView, VerificationView};

/// Which records to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditRange {
    /// Records at or after this time (epoch ms).
    pub from: Option<i64>,
    /// Records before this time (epoch ms).
    pub to: Option<i64>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 200; 50 when not given.
    pub limit: Option<u32>,
}

/// Reads at most this many pages of records to fill one page of the listing.
const MAX_READS: usize = 10;

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditRange),
    responses((status = 200, body = AuditPage), (status = 422, body = crate::problem::Problem)))]
pub async fn list(
    State(app): State<Arc<App>>,
    member: Member,
    Params(range): Params<AuditRange>,
) -> ApiResult<Json<AuditPage>> {
    let limit = super::Paging {
        cursor: None,
        limit: range.limit,
    }
    .limit()? as usize;
    let mut after: u64 = match &range.cursor {
        None => 0,
        Some(c) => c
            .strip_prefix("seq-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Problem::invalid_field("cursor", "not a cursor of this listing"))?,
    };
    let (from, to) = (range.from.unwrap_or(i64::MIN), range.to.unwrap_or(i64::MAX));
    if from > to {
        return Err(Problem::invalid_field("from", "must not be after `to`"));
    }
    let mut items = Vec::new();
    let mut next = None;
    'reads: for _ in 0..MAX_READS {
        let records = app
            .audit
            .records_after(&member.tenant, after, limit as i32)
            .await
            .map_err(|e| Problem::internal("audit", &e))?;
        let exhausted = records.len() < limit;
        for record in &records {
            // The chain is in time order: past `to`, nothing later can match.
            if record.at >= to {
                return Ok(Json(page(items, None)));
            }
            after = record.seq;
            if record.at >= from {
                items.push(AuditRecordView::of(record));
                if items.len() == limit {
                    next = Some(after);
                    break 'reads;
                }
            }
        }
        if exhausted {
            next = None;
            break;
        }
        // The page is not full yet: go on reading, or let the client go on from here.
        next = Some(after);
    }
    Ok(Json(page(items, next.map(|seq| format!("seq-{seq}")))))
}

fn page(items: Vec<AuditRecordView>, next_cursor: Option<String>) -> AuditPage {
    AuditPage { items, next_cursor }
}

#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerificationView)))]
pub async fn verify(
    State(app): State<Arc<App>>,
    member: Member,
) -> ApiResult<Json<VerificationView>> {
    let v = app
        .audit
        .verify(&member.tenant)
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    Ok(Json(VerificationView {
        intact: v.is_intact(),
        records: v.records_checked,
        first_break: v.first_break.map(|b| BreakView {
            seq: b.seq,
            kind: serde_json::to_value(&b.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }),
    }))
}
