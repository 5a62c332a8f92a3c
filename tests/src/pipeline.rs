//! Drives the webhook and ingest handlers the way AWS would, for integration tests.
//!
//! [`WebhookServer`] listens on 127.0.0.1 and turns each HTTP request into an API Gateway
//! HTTP API (v2) event, body base64-encoded, which lambda_http parses exactly as in Lambda;
//! the webhook handler answers it. [`Dispatcher`] plays the SQS event source mapping:
//! it receives messages in batches of up to 10, hands them to a batch handler, deletes
//! what succeeded and makes the reported failures visible again for redelivery.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let event = apigw_v2_event(&request);
                    let response = match lambda_http::request::from_str(&event) {
                        Ok(req) => handler(req).await,
                        Err(e) => lambda_http::Response::builder()
                            .status(400)
                            .body(lambda_http::Body::Text(format!("bad event: {e}")))
                            .expect("valid response"),
                    };
                    let body: &[u8] = response.body().as_ref();
                    // The handler's own headers go out as API Gateway sends them (a
                    // redirect's Location, a page's Content-Type and CSP), with the
                    // framing this server controls.
                    let mut head = format!("HTTP/1.1 {} X\r\n", response.status().as_u16());
                    for (name, value) in response.headers() {
                        if matches!(
                            name.as_str(),
                            "content-length" | "connection" | "transfer-encoding"
                        ) {
                            continue;
                        }
                        if let Ok(value) = value.to_str() {
                            head.push_str(&format!("{name}: {value}\r\n"));
                        }
                    }
                    if !response.headers().contains_key("content-type") {
                        head.push_str("content-type: text/plain\r\n");
                    }
                    head.push_str(&format!(
                        "content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    ));
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, task }
    }
}

/// A raw HTTP/1.1 request as read from the socket.
pub struct RawRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<RawRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let method = start.next()?.to_owned();
    let target = start.next()?.to_owned();
    let (path, query) = target
        .split_once('?')
        .map_or((target.clone(), String::new()), |(p, q)| {
            (p.to_owned(), q.to_owned())
        });
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(RawRequest {
        method,
        path,
        query,
        headers,
        body,
    })
}

/// The API Gateway HTTP API (payload 2.0) event for a request, body base64-encoded.
pub fn apigw_v2_event(request: &RawRequest) -> String {
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in url_pairs(&request.query) {
        query
            .entry(k)
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert(v);
    }
    let headers: HashMap<&str, &str> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{} {}", request.method, request.path),
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "queryStringParameters": if query.is_empty() { serde_json::Value::Null } else { serde_json::json!(query) },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "relay-tests"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": format!("{} {}", request.method, request.path),
            "stage": "$default",
            "time": "21/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": B64.encode(&request.body),
        "isBase64Encoded": true
    })
    .to_string()
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}

/// Plays the SQS event source mapping for one queue.
pub struct Dispatcher {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub batches: usize,
    pub delivered: usize,
    pub failed: usize,
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
        let mut drained = Drained::default();
        for _ in 0..max_rounds {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("ReceiveMessage on the local queue");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut event = SqsEvent::default();
            let mut handles = HashMap::new();
            for m in &messages {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id.clone();
                record.receipt_handle = m.receipt_handle.clone();
                record.body = m.body.clone();
                record.attributes = m
                    .attributes
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect();
                handles.insert(
                    m.message_id.clone().unwrap_or_default(),
                    m.receipt_handle.clone().unwrap_or_default(),
                );
                event.records.push(record);
            }
            let response = handler(event).await;
            let failed: std::collections::HashSet<_> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
                .collect();
            drained.batches += 1;
            for (id, handle) in handles {
                if failed.contains(&id) {
                    drained.failed += 1;
                    self.sqs
                        .change_message_visibility()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .expect("ChangeMessageVisibility on the local queue");
                } else {
                    drained.delivered += 1;
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("DeleteMessage on the local queue");
                }
            }
        }
        drained
    }

    /// Every message body now visible on the queue. The messages stay on the queue: they
    /// are hidden while being read and made visible again at the end.
    pub async fn peek_bodies(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..100 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .send()
                .await
                .expect("ReceiveMessage on the local queue");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                bodies.push(m.body.unwrap_or_default());
                handles.push(m.receipt_handle.unwrap_or_default());
            }
        }
        for handle in handles {
            self.sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .expect("ChangeMessageVisibility on the local queue");
        }
        bodies
    }
}
