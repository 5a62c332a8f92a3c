//! Meta's deauthorize and data-deletion callbacks, and the deletion status page.
//!
//! Both callbacks arrive as a form POST with `signed_request`, verified with the app
//! secret of the app the path names (Instagram and Facebook apps have their own).
//! Only accounts that user connected through that app are touched.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use relay::accounts::{Account, AccountStatus};
use relay::audit::AuditEntry;
use relay::ids::TenantId;
use relay::onboarding::html::{self, DeletionCounts, DeletionView, ProblemView};
use relay::onboarding::{
    DeletionCodes, DeletionStatus, Provider, SignedRequest, SignedRequestError,
    verify_signed_request,
};
use relay::store::StoreError;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::{Oauth, json, page, paths};

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

fn form_field(request: &Request, name: &str) -> Option<String> {
    let body: &[u8] = request.body().as_ref();
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

impl Oauth {
    fn app_secret(&self, provider: Provider) -> &relay::secret::Secret {
        match provider {
            Provider::Instagram => &self.instagram_app_secret,
            Provider::Facebook => &self.facebook_app_secret,
        }
    }

    fn verify_callback(
        &self,
        request: &Request,
        provider: Provider,
    ) -> Result<SignedRequest, SignedRequestError> {
        let field = form_field(request, "signed_request");
        verify_signed_request(field.as_deref(), Some(self.app_secret(provider))).inspect_err(
            |error| {
                self.metrics.count("SignedRequestsRejected", 1);
                warn!(provider = %provider, %error, "signed_request refused");
            },
        )
    }

    /// The answer to a refused signed_request.
    fn refused(error: &SignedRequestError) -> Response<Body> {
        let status = match error {
            SignedRequestError::Missing | SignedRequestError::Malformed => StatusCode::BAD_REQUEST,
            SignedRequestError::BadSignature | SignedRequestError::UnsupportedAlgorithm => {
                StatusCode::FORBIDDEN
            }
            SignedRequestError::NoSecret => StatusCode::INTERNAL_SERVER_ERROR,
        };
        json(status, &serde_json::json!({"error": error.to_string()}))
    }

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

    async fn audit(&self, tenant: &TenantId, entry: AuditEntry) {
        let action = entry.action.clone();
        if let Err(e) = self.audit.append(tenant, entry).await {
            warn!(tenant_id = %tenant, %action, error = %e, "audit record not written");
        }
    }

    /// `POST /oauth/deauthorize/{provider}`: the user removed the app. Their accounts
    /// are disconnected and their tokens destroyed; data stays until a deletion request.
    pub(crate) async fn deauthorize(
        &self,
        request: &Request,
        provider: Provider,
    ) -> Response<Body> {
        let signed = match self.verify_callback(request, provider) {
            Ok(signed) => signed,
            Err(error) => return Self::refused(&error),
        };
        let accounts = match self.accounts_of(&signed.user_id, provider).await {
            Ok(accounts) => accounts,
            Err(e) => {
                warn!(error = %e, "accounts of the deauthorizing user not read");
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"error": "try again"}),
                );
            }
        };
        let now = self.clock.now_secs();
        for mut account in accounts {
            let had_token = account.token_sealed.is_some();
            account.status = AccountStatus::Disconnected;
            account.token_sealed = None;
            account.token_issued_at = None;
            account.token_expires_at = None;
            account.updated_at = now;
            if let Err(e) = self.store.update_account(&account).await {
                warn!(tenant_id = %account.tenant_id, account_id = %account.account_id, error = %e, "account not disconnected");
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"error": "try again"}),
                );
            }
            self.audit(
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
        json(StatusCode::OK, &serde_json::json!({"success": true}))
    }

    async fn get_deletion(&self, code: &str) -> Result<Option<DeletionRecord>, StoreError> {
        self.store.get_deletion_request(code).await
    }

    async fn put_deletion(&self, record: &DeletionRecord) -> Result<(), StoreError> {
        self.store
            .put_deletion_request(&record.confirmation_code, record)
            .await
    }

    fn status_url(&self, code: &str) -> String {
        self.settings
            .public_base
            .join_query(paths::DELETION_STATUS, &[("code", code)])
    }

    /// `POST /oauth/data-deletion/{provider}`: erase the user's data and answer
    /// `{url, confirmation_code}`. A resent request has the same code and resumes; a
    /// failure answers 503 so Meta sends it again.
    pub(crate) async fn data_deletion(
        &self,
        request: &Request,
        provider: Provider,
    ) -> Response<Body> {
        let signed = match self.verify_callback(request, provider) {
            Ok(signed) => signed,
            Err(error) => return Self::refused(&error),
        };
        let now = self.clock.now_secs();
        let code = self.deletion_codes.code_for(
            provider,
            &signed.user_id,
            signed.issued_at.unwrap_or_default(),
        );
        let answer = serde_json::json!({"url": self.status_url(&code), "confirmation_code": code});
        let unavailable = |e: &StoreError| {
            warn!(error = %e, "data deletion could not proceed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "the deletion could not finish; send the request again"}),
            )
        };
        let existing = match self.get_deletion(&code).await {
            Ok(existing) => existing,
            Err(e) => return unavailable(&e),
        };
        if existing
            .as_ref()
            .is_some_and(|r| r.status == DeletionStatus::Completed)
        {
            return json(StatusCode::OK, &answer);
        }
        let mut record = DeletionRecord {
            confirmation_code: code.clone(),
            provider,
            status: DeletionStatus::InProgress,
            requested_at: existing.as_ref().map_or(now, |r| r.requested_at),
            completed_at: None,
            counts: existing.map(|r| r.counts).unwrap_or_default(),
        };
        if let Err(e) = self.put_deletion(&record).await {
            return unavailable(&e);
        }
        self.metrics.count("DeletionRequests", 1);
        let result = async {
            for account in self.accounts_of(&signed.user_id, provider).await? {
                let erased = self.store.erase_account(&account).await?;
                record.counts.add(&erased);
                self.audit(
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
                if let Err(e) = self.put_deletion(&record).await {
                    return unavailable(&e);
                }
                json(StatusCode::OK, &answer)
            }
            Err(e) => {
                record.status = DeletionStatus::Failed;
                let _ = self.put_deletion(&record).await;
                unavailable(&e)
            }
        }
    }

    /// `GET /oauth/data-deletion/status?code=`: the request's status page.
    pub(crate) async fn deletion_status(&self, request: &Request) -> Response<Body> {
        let query = request.query_string_parameters();
        let code = query.first("code").unwrap_or_default();
        let record = if DeletionCodes::is_well_formed(code) {
            match self.get_deletion(code).await {
                Ok(record) => record,
                Err(e) => {
                    warn!(error = %e, "deletion request not read");
                    return crate::plain(StatusCode::SERVICE_UNAVAILABLE, "please try again");
                }
            }
        } else {
            None
        };
        match record {
            Some(record) => page(StatusCode::OK, |nonce| {
                html::deletion_status_page(
                    &DeletionView {
                        confirmation_code: &record.confirmation_code,
                        status: record.status,
                        requested_at: record.requested_at,
                        completed_at: record.completed_at,
                        counts: record.counts,
                    },
                    nonce,
                )
            }),
            None => page(StatusCode::NOT_FOUND, |nonce| {
                html::problem_page(
                    &ProblemView {
                        title: "No deletion request has this code",
                        message: "Check the confirmation code you were given. Codes are 20 letters and digits.",
                        retry_url: None,
                        popup: None,
                    },
                    nonce,
                )
            }),
        }
    }
}
