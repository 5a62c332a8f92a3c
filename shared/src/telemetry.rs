//! Logs and metrics.
//!
//! Logs are JSON lines (one per event, with the current span's fields: request id,
//! tenant id, account id) so CloudWatch Logs Insights can query them. The rule for what
//! may be logged: ids of Relay objects and Meta objects the business owns (tenant,
//! account, media, comment, message ids), counts, durations and reasons. Never message
//! text, names, usernames, tokens, secrets or customer ids: customers are logged as
//! `CustomerId`'s fingerprint, secrets are `Secret`s that print `[redacted]`. Tests in
//! every function capture the logs of real runs ([`capture`]) and assert the rule.
//!
//! Metrics use CloudWatch Embedded Metric Format: a JSON line on stdout that CloudWatch
//! turns into metrics without any API call.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Install the JSON subscriber for a Lambda function (call once, in `main`).
pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // The AWS SDK logs whole requests and items (message text, customer ids) at
        // TRACE and DEBUG: keep it at INFO whatever level the function runs at.
        .add_directive(sdk_cap("aws_smithy_runtime"))
        .add_directive(sdk_cap("aws_smithy_runtime_api"))
        .add_directive(sdk_cap("aws_sdk_dynamodb"))
        .add_directive(sdk_cap("hyper_util"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time() // Lambda stamps every line already.
        .init();
}

fn sdk_cap(target: &str) -> tracing_subscriber::filter::Directive {
    format!("{target}=info")
        .parse()
        .expect("a target=level directive always parses")
}

/// Counters a handler bumps while it works; [`Metrics::flush`] writes them as one EMF
/// line. Cheap to clone; clones share counts.
#[derive(Clone, Debug)]
pub struct Metrics {
    namespace: &'static str,
    function: &'static str,
    counts: Arc<Mutex<BTreeMap<&'static str, f64>>>,
}

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        Self {
            namespace: "Relay",
            function,
            counts: Arc::default(),
        }
    }

    pub fn count(&self, name: &'static str, n: u64) {
        *self
            .counts
            .lock()
            .expect("metrics lock is never poisoned")
            .entry(name)
            .or_default() += n as f64;
    }

    /// The current value of a counter (tests and the local stack read it).
    pub fn get(&self, name: &str) -> u64 {
        self.counts
            .lock()
            .expect("metrics lock is never poisoned")
            .get(name)
            .copied()
            .unwrap_or_default() as u64
    }

    /// The EMF document for the counters so far, and reset them.
    pub fn take_emf(&self) -> Option<serde_json::Value> {
        let counts = std::mem::take(&mut *self.counts.lock().expect("metrics lock"));
        if counts.is_empty() {
            return None;
        }
        let millis = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let metrics: Vec<_> = counts
            .keys()
            .map(|name| serde_json::json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": millis as i64,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["function"]],
                    "Metrics": metrics,
                }]
            },
            "function": self.function,
        });
        for (name, value) in counts {
            doc[name] = serde_json::json!(value);
        }
        Some(doc)
    }

    /// Write the counters as one EMF line on stdout and reset them.
    pub fn flush(&self) {
        if let Some(doc) = self.take_emf() {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{doc}");
        }
    }
}

/// Log lines captured in memory, for tests that check what reaches the logs.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer lock")).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer lock")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Capture every log line (all levels, JSON as in production) on this thread until the
/// guard drops. Use with a current-thread runtime so spawned tasks log here too.
pub fn capture() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(logs.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CustomerId, TenantId};
    use crate::secret::AccessToken;

    #[test]
    fn spans_carry_ids_but_not_customers_or_tokens() {
        let (logs, _guard) = capture();
        let tenant = TenantId::parse("acme").unwrap();
        let customer = CustomerId::parse("5566778899").unwrap();
        let token = AccessToken::new("IGAAtoken123");
        let span = tracing::info_span!("handle", tenant_id = %tenant, customer = %customer);
        let _entered = span.enter();
        tracing::info!(token = ?token, "sent reply");
        let text = logs.text();
        assert!(text.contains("acme"), "tenant id should be logged: {text}");
        assert!(text.contains(&customer.fingerprint()));
        assert!(!text.contains("5566778899"), "customer id leaked: {text}");
        assert!(!text.contains("IGAAtoken123"), "token leaked: {text}");
    }

    #[test]
    fn metrics_render_as_emf() {
        let m = Metrics::new("webhook");
        m.count("WebhooksAccepted", 2);
        m.count("WebhooksAccepted", 1);
        m.count("WebhooksRejected", 1);
        assert_eq!(m.get("WebhooksAccepted"), 3);
        let doc = m.take_emf().unwrap();
        assert_eq!(doc["WebhooksAccepted"], 3.0);
        assert_eq!(doc["function"], "webhook");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert!(m.take_emf().is_none(), "counters reset after a flush");
    }
}
