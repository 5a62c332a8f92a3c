//! Invokes functions through the Lambda invoke API that `cargo lambda watch` serves:
//! `POST /2015-03-31/functions/<binary>/invocations` with the event as the body.
//!
//! The outcome distinguishes a result from a function error (the handler returned an
//! error, or the function failed to start) and from the function not answering at all
//! (cargo-lambda gone, or the timeout passed), because the SQS wiring and the router
//! react to them differently.

use std::future::Future;
use std::time::Duration;

use relay_local_aws::lambda::Invoke;
pub use relay_local_aws::lambda::Invoked;
use serde_json::Value;

/// Time a cold start may add to the function's own timeout: cargo checks the build and
/// starts the binary, which reads its configuration and secrets.
pub const COLD_START_ALLOWANCE: Duration = Duration::from_secs(30);

/// The invoke API of one `cargo lambda watch`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Lambda {
    http: reqwest::Client,
    base: String,
}

impl Lambda {
    pub fn new(port: u16) -> Lambda {
        Lambda {
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("a plain HTTP client always builds"),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Invokes `binary` with `event` and waits at most `timeout`.
    pub async fn invoke(&self, binary: &str, event: &[u8], timeout: Duration) -> Invoked {
        let url = format!("{}/2015-03-31/functions/{binary}/invocations", self.base);
        let response = match self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(event.to_vec())
            .timeout(timeout)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Invoked::NoAnswer(format!("no answer within {} s", timeout.as_secs()));
            }
            Err(e) => return Invoked::NoAnswer(format!("invoke failed: {}", error_chain(&e))),
        };
        let status = response.status();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(e) => return Invoked::NoAnswer(format!("answer broken off: {}", error_chain(&e))),
        };
        classify(status.as_u16(), function_error, body)
    }

    /// Whether the invoke API accepts connections (a request would make cargo-lambda log
    /// an error about its default function, so only the socket is tried).
    pub async fn is_up(&self) -> bool {
        let address = self.base.trim_start_matches("http://");
        tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(address),
        )
        .await
        .is_ok_and(|connected| connected.is_ok())
    }
}

/// The emulated event sources (the router, the SQS pollers) invoke through
/// cargo-lambda, with a cold start allowed on top of the function's own timeout.
impl Invoke for Lambda {
    fn invoke(
        &self,
        function: &str,
        event: &[u8],
        timeout: Duration,
    ) -> impl Future<Output = Invoked> + Send {
        Lambda::invoke(self, function, event, timeout + COLD_START_ALLOWANCE)
    }
}

/// Sorts an answer of the invoke API. cargo-lambda answers a handler error with 500 and
/// a failed start (an init error) with 200 and the error document, so the document's
/// shape counts as well as the status.
pub fn classify(status: u16, function_error: bool, body: Vec<u8>) -> Invoked {
    let text = || String::from_utf8_lossy(&body).into_owned();
    if !(200..300).contains(&status) || function_error {
        return Invoked::FunctionError(summary(&body).unwrap_or_else(text));
    }
    if let Some(summary) = summary(&body) {
        return Invoked::FunctionError(summary);
    }
    Invoked::Result(body)
}

/// `errorType: errorMessage` of a Lambda error document, or None for anything else.
fn summary(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let kind = object.get("errorType")?.as_str()?;
    let message = object
        .get("errorMessage")
        .and_then(Value::as_str)
        .unwrap_or("");
    // A result that merely has these two fields and more is still a result.
    let only_error_fields = object.keys().all(|k| {
        matches!(
            k.as_str(),
            "errorType" | "errorMessage" | "stackTrace" | "requestId"
        )
    });
    only_error_fields.then(|| format!("{kind}: {message}"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_errors_and_init_errors_are_told_apart() {
        assert_eq!(
            classify(200, false, br#"{"batchItemFailures":[]}"#.to_vec()),
            Invoked::Result(br#"{"batchItemFailures":[]}"#.to_vec())
        );
        assert_eq!(
            classify(
                500,
                false,
                br#"{"errorType":"&str","errorMessage":"boom"}"#.to_vec()
            ),
            Invoked::FunctionError("&str: boom".into())
        );
        // cargo-lambda's answer to a function that failed to start.
        assert_eq!(
            classify(
                200,
                false,
                br#"{"errorType":"ConfigError","errorMessage":"RELAY_MAIN_TABLE is not set"}"#
                    .to_vec()
            ),
            Invoked::FunctionError("ConfigError: RELAY_MAIN_TABLE is not set".into())
        );
        assert!(matches!(
            classify(200, true, b"oops".to_vec()),
            Invoked::FunctionError(_)
        ));
        // A handler result that happens to carry an errorType field among others.
        let result = br#"{"errorType":"x","errorMessage":"y","statusCode":200}"#.to_vec();
        assert_eq!(
            classify(200, false, result.clone()),
            Invoked::Result(result)
        );
    }
}
