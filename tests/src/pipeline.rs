//! Drives handlers the way AWS would, for integration tests, through the one emulator of
//! the Lambda event sources that the local stack runs as well (`relay_local_aws`):
//! handlers are called in process, with the events AWS would send, as JSON.
//!
//! [`WebhookServer`] is API Gateway's HTTP API on 127.0.0.1 with one `$default` route to
//! a lambda_http handler: each request becomes a payload format 2.0 event, which
//! lambda_http parses exactly as in Lambda, and the handler's response goes back as
//! API Gateway sends it. [`Dispatcher`] plays the SQS event source mapping of a queue:
//! batches of up to 10 go to a batch handler, what succeeded is deleted, the reported
//! failures (by Lambda's rules) are made visible again at once for redelivery.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use relay_local_aws::http_api::{self, HttpApi, Routes};
use relay_local_aws::sqs_source::{self, EventSourceMapping};
use relay_local_aws::{Invoke, Invoked};
use tokio::net::TcpListener;

pub use relay_local_aws::sqs_source::Drained;

/// A handler for one API Gateway request.
pub type HttpHandler = Arc<
    dyn Fn(
            lambda_http::Request,
        ) -> futures::future::BoxFuture<'static, lambda_http::Response<lambda_http::Body>>
        + Send
        + Sync,
>;

/// An HTTP front for a lambda_http handler on 127.0.0.1.
pub struct WebhookServer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookServer {
    /// Serve `handler` on a free port; `url` is the base URL (`http://127.0.0.1:port`).
    pub async fn start(handler: HttpHandler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let api = Arc::new(HttpApi::new(
            Routes::catch_all("handler"),
            InProcess(handler),
            Arc::new(|_: &str| {}),
        ));
        let task = tokio::spawn(async move {
            let _ = http_api::serve(listener, api).await;
        });
        Self { url, task }
    }
}

/// A lambda_http handler called in process, behind the emulated API Gateway. It runs
/// to completion: the integration timeout is the test's own business.
struct InProcess(HttpHandler);

impl Invoke for InProcess {
    fn invoke(
        &self,
        _function: &str,
        event: &[u8],
        _timeout: Duration,
    ) -> impl Future<Output = Invoked> + Send {
        let handler = self.0.clone();
        let event = String::from_utf8_lossy(event).into_owned();
        async move {
            let request = match lambda_http::request::from_str(&event) {
                Ok(request) => request,
                Err(e) => return Invoked::FunctionError(format!("bad event: {e}")),
            };
            let response = v2_response(handler(request).await);
            Invoked::Result(serde_json::to_vec(&response).expect("a response serialises"))
        }
    }
}

/// A lambda_http response as the function returns it for payload format 2.0: cookies
/// apart, binary bodies base64-encoded.
fn v2_response(response: lambda_http::Response<lambda_http::Body>) -> ApiGatewayV2httpResponse {
    let (mut parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.cookies = parts
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    parts.headers.remove("set-cookie");
    out.headers = parts.headers;
    out.is_base64_encoded = matches!(body, lambda_http::Body::Binary(_));
    out.body = match body {
        lambda_http::Body::Empty => None,
        body => Some(body),
    };
    out
}

/// Plays the SQS event source mapping for one queue.
pub struct Dispatcher {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl Dispatcher {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            sqs,
            queue_url: queue_url.into(),
        }
    }

    /// Receive and hand over batches until the queue is empty or `max_rounds` batches were
    /// handled. Failed messages are made visible again at once (instead of after the
    /// visibility timeout), so redelivery is observable without waiting.
    pub async fn drain<F, Fut>(&self, max_rounds: usize, handler: F) -> Drained
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        let handler = &handler;
        EventSourceMapping::draining(&self.queue_url)
            .drain(&self.sqs, max_rounds, |event| async move {
                let event: SqsEvent = serde_json::from_slice(&event)
                    .expect("the emulated event source sends events aws_lambda_events reads");
                let response = handler(event).await;
                Invoked::Result(serde_json::to_vec(&response).expect("a batch response serialises"))
            })
            .await
            .expect("the local queue answers")
    }

    /// Every message body now visible on the queue. The messages stay on the queue: they
    /// are hidden while being read and made visible again at the end.
    pub async fn peek_bodies(&self) -> Vec<String> {
        sqs_source::peek_bodies(&self.sqs, &self.queue_url)
            .await
            .expect("the local queue answers")
    }
}
