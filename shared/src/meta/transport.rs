//! How one Graph call is sent: authentication, usage headers, error mapping, retries,
//! tracing, and following `paging.next`.
//!
//! Retries happen here and only here, and only for calls marked [`Retry::Idempotent`]
//! that failed with [`GraphError::Transient`]. A URL is never logged or put in an error:
//! OAuth URLs carry secrets, and Meta's `paging.next` links carry the access token.

use std::future::Future;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, field};

use super::error::GraphError;
use super::usage::{DEFAULT_BACK_OFF_THRESHOLD, Usage};
use super::{GraphClient, Response};
use crate::ids::AccountId;
use crate::secret::AccessToken;

/// How the call proves who it is.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// `Authorization: Bearer`, accepted by every graph.instagram.com / graph.facebook.com
    /// Graph call.
    Bearer(&'a AccessToken),
    /// The credentials are already in the query or form (the OAuth exchange endpoints
    /// require that), or the call needs none.
    InRequest,
}

#[derive(Clone)]
pub(crate) enum Body {
    Empty,
    /// `application/x-www-form-urlencoded`; values may be secrets, so never logged.
    Form(Vec<(&'static str, String)>),
    Json(serde_json::Value),
}

/// Whether repeating the call after a transient failure is harmless.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Retry {
    /// Reads, status polls and set-to-a-value writes (hide, subscribe): repeating them
    /// leaves the same state.
    Idempotent,
    /// Sends, replies, container creation, publishing: a lost response does not mean the
    /// call failed, so repeating could duplicate the effect. Sent exactly once.
    Once,
}

#[derive(Clone)]
pub(crate) struct Call<'a> {
    /// Stable name for spans and logs (`send_message`, `list_comments`, ...).
    pub name: &'static str,
    pub account: Option<&'a AccountId>,
    pub method: Method,
    pub url: Url,
    pub auth: Auth<'a>,
    pub body: Body,
    pub retry: Retry,
}

impl<'a> Call<'a> {
    pub fn get(name: &'static str, url: Url, auth: Auth<'a>) -> Self {
        Self {
            name,
            account: None,
            method: Method::GET,
            url,
            auth,
            body: Body::Empty,
            retry: Retry::Idempotent,
        }
    }

    pub fn post(name: &'static str, url: Url, auth: Auth<'a>, retry: Retry) -> Self {
        Self {
            name,
            account: None,
            method: Method::POST,
            url,
            auth,
            body: Body::Empty,
            retry,
        }
    }

    pub fn delete(name: &'static str, url: Url, auth: Auth<'a>, retry: Retry) -> Self {
        Self {
            name,
            account: None,
            method: Method::DELETE,
            url,
            auth,
            body: Body::Empty,
            retry,
        }
    }

    pub fn for_account(mut self, account: &'a AccountId) -> Self {
        self.account = Some(account);
        self
    }

    pub fn form(mut self, pairs: Vec<(&'static str, String)>) -> Self {
        self.body = Body::Form(pairs);
        self
    }

    pub fn json(mut self, value: serde_json::Value) -> Self {
        self.body = Body::Json(value);
        self
    }
}

/// Appends path segments below a base URL (which may itself carry a path prefix, as the
/// simulator's do). Segments are percent-encoded, so an id can never add a path level.
pub(crate) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    {
        // Base URLs are checked to be http(s) with a path when configured.
        let mut path = url
            .path_segments_mut()
            .expect("configured base URLs are http(s) URLs that can hold a path");
        path.pop_if_empty();
        for segment in segments {
            path.push(segment);
        }
    }
    url
}

/// Appends query parameters.
pub(crate) fn with_query(mut url: Url, pairs: &[(&str, &str)]) -> Url {
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    url
}

/// Limits for following `paging.next`, so a huge comment section cannot turn one call
/// into thousands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimits {
    pub max_pages: u32,
    pub max_items: usize,
    /// Items per page (`limit`); Meta's default when `None`.
    pub page_size: Option<u32>,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self {
            max_pages: 10,
            max_items: 500,
            page_size: None,
        }
    }
}

/// Items gathered over one or more pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub pages_read: u32,
    /// False when a limit stopped the walk while Meta had more.
    pub complete: bool,
}

#[derive(Deserialize)]
struct PageBody<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<String>,
}

/// Meta's `{"success": true}` acknowledgement.
#[derive(Deserialize)]
pub(crate) struct Success {
    success: bool,
}

impl Success {
    pub fn check(self, context: &'static str) -> Result<(), GraphError> {
        if self.success {
            Ok(())
        } else {
            Err(GraphError::Decode {
                context,
                detail: "Meta answered success: false".into(),
            })
        }
    }
}

impl GraphClient {
    /// Sends a call (retrying idempotent calls on transient failures) and decodes `T`.
    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<Response<T>, GraphError> {
        let span = tracing::info_span!(
            "meta_call",
            call = call.name,
            account_id = field::Empty,
            attempts = field::Empty,
        );
        if let Some(account) = call.account {
            span.record("account_id", field::display(account));
        }
        let policy = self.inner.config.retry;
        let max_attempts = match call.retry {
            Retry::Idempotent => policy.max_attempts.max(1),
            Retry::Once => 1,
        };
        async {
            let mut attempt = 1;
            loop {
                match self.attempt::<T>(call).await {
                    Ok(response) => {
                        tracing::Span::current().record("attempts", attempt);
                        tracing::debug!(
                            usage_max_percent = response.usage.max_percent(),
                            "Meta call succeeded"
                        );
                        return Ok(response);
                    }
                    Err(err) if err.is_transient() && attempt < max_attempts => {
                        let delay = policy.delay(attempt);
                        tracing::warn!(
                            attempt,
                            error = %err,
                            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            "transient Meta failure on an idempotent call; retrying"
                        );
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    Err(err) => {
                        tracing::Span::current().record("attempts", attempt);
                        tracing::warn!(
                            error = %err,
                            needs_reconnect = err.needs_reconnect(),
                            retryable = err.is_retryable(),
                            "Meta call failed"
                        );
                        return Err(err);
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<Response<T>, GraphError> {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone());
        if let Auth::Bearer(token) = call.auth {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    GraphError::InvalidInput {
                        reason: "the access token holds characters not allowed in a header".into(),
                    }
                })?;
            // Keeps the token out of any Debug output of the request's headers.
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        request = match &call.body {
            Body::Empty => request,
            Body::Form(pairs) => {
                let encoded =
                    serde_urlencoded::to_string(pairs).map_err(|_| GraphError::InvalidInput {
                        reason: "form parameters could not be encoded".into(),
                    })?;
                request
                    .header(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/x-www-form-urlencoded"),
                    )
                    .body(encoded)
            }
            Body::Json(value) => request.json(value),
        };

        let response = request
            .send()
            .await
            .map_err(|e| GraphError::from_transport(&e))?;
        let status = response.status().as_u16();
        let usage = Usage::from_headers(response.headers());
        self.remember_usage(call.account, &usage);
        let body = response
            .bytes()
            .await
            .map_err(|e| GraphError::from_transport(&e))?;

        if !(200..300).contains(&status) {
            return Err(GraphError::from_response(
                status,
                &body,
                &usage,
                self.inner.config.throttle_fallback,
            ));
        }
        match serde_json::from_slice::<T>(&body) {
            Ok(value) => Ok(Response { value, usage }),
            Err(err) => {
                // Meta occasionally reports an error with a 200; prefer its meaning.
                match GraphError::from_response(
                    500,
                    &body,
                    &usage,
                    self.inner.config.throttle_fallback,
                ) {
                    GraphError::Decode { .. } | GraphError::Transient { .. } => {
                        Err(GraphError::decode(call.name, &err))
                    }
                    meta_error => Err(meta_error),
                }
            }
        }
    }

    fn remember_usage(&self, account: Option<&AccountId>, usage: &Usage) {
        if usage.is_empty() {
            return;
        }
        if usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD) {
            tracing::warn!(
                usage_max_percent = usage.max_percent(),
                regain_access_after_s = usage.regain_access_after().map(|d| d.as_secs()),
                "Meta usage at the back-off threshold"
            );
        }
        let mut state = self
            .inner
            .usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(app) = usage.app {
            state.app = Some(app);
        }
        if let Some(account) = account {
            state.accounts.insert(account.clone(), usage.clone());
        }
    }

    /// Follows `paging.next` from a first GET, within `limits`. Each page is its own
    /// idempotent call (retried on transient failures). `base` is the host the first call
    /// went to: a `next` link elsewhere is refused, so the bearer token never leaves it.
    pub(crate) async fn execute_paged<T: DeserializeOwned>(
        &self,
        first: Call<'_>,
        base: &Url,
        limits: PageLimits,
    ) -> Result<Response<Paged<T>>, GraphError> {
        let mut call = first;
        if let Some(size) = limits.page_size {
            // Meta's `next` links repeat `limit`, so it is only set on the first call.
            call.url = with_query(call.url, &[("limit", &size.max(1).to_string())]);
        }
        let mut items = Vec::new();
        let mut pages_read = 0;
        loop {
            let page = self.execute::<PageBody<T>>(&call).await?;
            pages_read += 1;
            let remaining = limits.max_items.saturating_sub(items.len());
            let fetched = page.value.data.len();
            items.extend(page.value.data.into_iter().take(remaining));
            let next = page.value.paging.and_then(|p| p.next);
            let more = next.is_some() || fetched > remaining;
            if !more {
                return Ok(Response {
                    value: Paged {
                        items,
                        pages_read,
                        complete: true,
                    },
                    usage: page.usage,
                });
            }
            if pages_read >= limits.max_pages || items.len() >= limits.max_items {
                return Ok(Response {
                    value: Paged {
                        items,
                        pages_read,
                        complete: false,
                    },
                    usage: page.usage,
                });
            }
            let next = next.expect("`more` without an item overflow means a next link exists");
            call.url = next_page_url(&next, base)?;
        }
    }

    /// Runs a non-idempotent call with an explicit reconciliation: after a transient
    /// failure the call may or may not have taken effect at Meta, so `reconcile` looks
    /// (e.g. reads a container's status) and says whether it did. The call is repeated
    /// only when `reconcile` proves it did not, at most `max_attempts` times in total;
    /// if reconciliation itself fails, the original error is returned.
    pub async fn with_reconciliation<T, Op, OpFut, Check, CheckFut>(
        &self,
        mut operation: Op,
        mut reconcile: Check,
    ) -> Result<T, GraphError>
    where
        Op: FnMut() -> OpFut,
        OpFut: Future<Output = Result<T, GraphError>>,
        Check: FnMut() -> CheckFut,
        CheckFut: Future<Output = Result<Reconciled<T>, GraphError>>,
    {
        let policy = self.inner.config.retry;
        let mut attempt = 1;
        loop {
            let err = match operation().await {
                Ok(value) => return Ok(value),
                Err(err) if err.is_transient() && attempt < policy.max_attempts => err,
                Err(err) => return Err(err),
            };
            tokio::time::sleep(policy.delay(attempt)).await;
            match reconcile().await {
                Ok(Reconciled::AlreadyDone(value)) => {
                    tracing::info!(attempt, "reconciliation found the call already took effect");
                    return Ok(value);
                }
                Ok(Reconciled::Failed(definite)) => return Err(definite),
                Ok(Reconciled::NotDone) => {
                    tracing::warn!(
                        attempt,
                        error = %err,
                        "reconciliation proved the call did not take effect; repeating it"
                    );
                    attempt += 1;
                }
                Err(check_err) => {
                    tracing::warn!(error = %check_err, "reconciliation failed; not repeating the call");
                    return Err(err);
                }
            }
        }
    }
}

/// What a reconciliation learned about a call whose outcome was unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Reconciled<T> {
    /// The effect is there: stop, and use this value as the call's result.
    AlreadyDone(T),
    /// The effect is certainly absent: repeating the call cannot duplicate it.
    NotDone,
    /// The call can no longer succeed (e.g. the container failed): stop with this error.
    Failed(GraphError),
}

fn next_page_url(next: &str, base: &Url) -> Result<Url, GraphError> {
    let refuse = || GraphError::Decode {
        context: "paging.next",
        detail: "the next page link does not point at the Graph host".into(),
    };
    let url = Url::parse(next).map_err(|_| refuse())?;
    let same_origin = url.origin() == base.origin();
    let prefix = base.path().trim_end_matches('/');
    let under_prefix = url.path().starts_with(&format!("{prefix}/"));
    if same_origin && under_prefix {
        Ok(url)
    } else {
        Err(refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_prefixes_and_encodes_segments() {
        let base = Url::parse("http://127.0.0.1:9/graph.instagram.com").expect("static URL");
        assert_eq!(
            join(&base, &["v26.0", "me", "messages"]).as_str(),
            "http://127.0.0.1:9/graph.instagram.com/v26.0/me/messages"
        );
        let prod = Url::parse("https://graph.instagram.com").expect("static URL");
        assert_eq!(
            join(&prod, &["v26.0", "a/b"]).as_str(),
            "https://graph.instagram.com/v26.0/a%2Fb"
        );
    }

    #[test]
    fn next_links_must_stay_on_the_graph_host() {
        let base = Url::parse("http://127.0.0.1:9/graph.instagram.com").expect("static URL");
        assert!(
            next_page_url(
                "http://127.0.0.1:9/graph.instagram.com/v26.0/1/comments?after=x",
                &base
            )
            .is_ok()
        );
        for bad in [
            "http://evil.example/graph.instagram.com/v26.0/1/comments",
            "http://127.0.0.1:10/graph.instagram.com/v26.0/1/comments",
            "http://127.0.0.1:9/graph.facebook.com/v26.0/1/comments",
            "http://127.0.0.1:9/graph.instagram.comx/v26.0",
            "not a url",
        ] {
            assert!(next_page_url(bad, &base).is_err(), "{bad} accepted");
        }
        let prod = Url::parse("https://graph.instagram.com").expect("static URL");
        assert!(next_page_url("https://graph.instagram.com/v26.0/1/comments", &prod).is_ok());
        assert!(next_page_url("http://graph.instagram.com/v26.0/1/comments", &prod).is_err());
    }
}
