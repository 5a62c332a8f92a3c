//! Measures the management API on the running local stack (`relay-stack up`):
//!
//! - latency of list calls through the router, the authorizer and the api function
//!   (`GET /v1/conversations`, `GET /v1/accounts`): p50 / p99 / max over `--calls`, paced at
//!   `--rate` calls a second (below the tenant's rate limit);
//! - cold start of the `api` and `authorizer` binaries (built as the template builds
//!   them: `cargo build --release`): the time from exec to the function's first request
//!   to the Lambda runtime API, against a stub runtime API on 127.0.0.1, as the median
//!   of `--starts` runs.
//!
//! ```text
//! cargo run --release -p relay-stack --bin api-bench -- [--calls 300] [--rate 15] [--starts 15]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench::{Stack, percentile, root};
use clap::Parser;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod bench;

/// What to measure.
#[derive(Debug, Parser)]
struct Args {
    /// Latency samples per route.
    #[arg(long, default_value_t = 300)]
    calls: usize,
    /// Calls a second (below the tenant's rate limit, 20/s in the template).
    #[arg(long, default_value_t = 15)]
    rate: usize,
    /// Cold starts measured per binary (the median is reported).
    #[arg(long, default_value_t = 15)]
    starts: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let calls = args.calls;
    // Below the tenant's rate limit (20/s in the template), so every call is served.
    let rate = args.rate.max(1);
    let starts = args.starts;
    let stack = Stack::running();
    let (info, api, key, http) = (&stack.info, &stack.api, &stack.key, &stack.http);
    println!(
        "management API list calls through the local router ({calls} calls each at {rate}/s, after 5 warm-up calls)"
    );
    for route in ["/conversations?limit=50", "/accounts"] {
        for _ in 0..5 {
            let _ = http
                .get(format!("{api}{route}"))
                .bearer_auth(key)
                .send()
                .await;
        }
        let mut ms = Vec::with_capacity(calls);
        let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        for _ in 0..calls {
            pace.tick().await;
            let started = Instant::now();
            let response = http
                .get(format!("{api}{route}"))
                .bearer_auth(key)
                .send()
                .await
                .expect("the router answers");
            assert_eq!(response.status(), 200, "GET /v1{route}");
            let _ = response.bytes().await;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "  GET /v1{route:<26} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms[ms.len() - 1]
        );
    }

    if starts == 0 {
        return;
    }
    let env = function_env(info);
    println!(
        "\ncold start: exec -> first request to the runtime API ({starts} starts each, release build)"
    );
    for binary in ["authorizer", "api"] {
        let exe = std::env::var("RELAY_BENCH_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("target/release"))
            .join(binary);
        if !exe.exists() {
            println!("  {binary:<11} not built: cargo build --release -p {binary}");
            continue;
        }
        let mut ms = Vec::with_capacity(starts);
        for _ in 0..starts {
            ms.push(cold_start(&exe, &env).await);
        }
        ms.sort_by(f64::total_cmp);
        let size = std::fs::metadata(&exe).map(|m| m.len()).unwrap_or(0);
        println!(
            "  {binary:<11} median {:>6.1} ms   min {:>6.1} ms   max {:>6.1} ms   binary {:.1} MiB",
            percentile(&ms, 0.5),
            ms[0],
            ms[ms.len() - 1],
            size as f64 / 1_048_576.0
        );
    }
}

/// What a function of the stack is given (tables, key, bus, queues, secrets, Meta).
fn function_env(info: &Value) -> BTreeMap<String, String> {
    let s = |p: &str| {
        info.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    BTreeMap::from([
        ("RELAY_MAIN_TABLE".into(), s("/tables/main")),
        ("RELAY_AUDIT_TABLE".into(), s("/tables/audit")),
        ("RELAY_ARCHIVE_TABLE".into(), s("/tables/archive")),
        ("RELAY_TOKEN_KEY_ID".into(), s("/token_key_id")),
        ("RELAY_EVENT_BUS".into(), s("/event_bus")),
        ("RELAY_MODERATION_QUEUE_URL".into(), s("/queues/moderation")),
        ("RELAY_PUBLIC_BASE_URL".into(), s("/api_url")),
        ("RELAY_IG_APP_ID".into(), s("/ig_app_id")),
        ("RELAY_FB_APP_ID".into(), s("/fb_app_id")),
        ("RELAY_META_BASE_URL".into(), s("/meta_simulator_url")),
        ("META_APP_SECRETS".into(), s("/app_secret")),
        ("META_VERIFY_TOKEN".into(), s("/verify_token")),
        (
            "OAUTH_STATE_KEY".into(),
            "bench-state-key-of-at-least-32-characters".into(),
        ),
        ("AWS_ENDPOINT_URL".into(), s("/aws_endpoint_url")),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "1".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "bench".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), "bench".into()),
        ("RUST_LOG".into(), "warn".into()),
    ])
}

/// Milliseconds from exec to the binary's first request to a stub runtime API.
async fn cold_start(exe: &std::path::Path, env: &BTreeMap<String, String>) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("an address");
    let started = Instant::now();
    let mut child = Command::new(exe)
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the function starts");
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        let (mut socket, _) = listener.accept().await.expect("a connection");
        let mut buf = [0u8; 1024];
        let n = socket.read(&mut buf).await.unwrap_or(0);
        let elapsed = started.elapsed();
        let _ = socket.shutdown().await;
        (elapsed, String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let (elapsed, request) =
        first.expect("the function asked the runtime API for work within 10 s");
    assert!(
        request.contains("/runtime/invocation/next"),
        "the first request is for the next invocation: {request}"
    );
    elapsed.as_secs_f64() * 1000.0
}
