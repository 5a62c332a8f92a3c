//! Cold start, peak memory and size of every function, against a hello-world Lambda.
//!
//!   cargo build --release -p relay-bench --bins && cargo build --release --bins -p <functions...>
//!   cargo run --release -p relay-bench --bin coldstart -- [--runs 15] [--bin-dir target/release]
//!
//! A cold start is measured as Lambda sees it: from exec to the function's first request
//! to the Runtime API (`GET /2018-06-01/runtime/invocation/next`), which it makes once it
//! has read its configuration and built its clients. Each run starts every binary once,
//! in a rotating order, so the machine's noise falls on all of them alike; the figures
//! are medians, and each is also given as a ratio to the hello-world binary's median
//! measured in the same runs. Peak RSS is the process's maximum resident set at that
//! moment (`wait4`'s ru_maxrss); size is the binary's size on disk (the release profile
//! strips symbols). Everything stays on 127.0.0.1: the AWS endpoint the functions are
//! given refuses connections, and no function calls AWS before its first event.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

/// The functions template.yaml deploys, by binary name.
const FUNCTIONS: [&str; 10] = [
    "webhook",
    "ingest",
    "ai-reply",
    "moderation",
    "oauth",
    "token-refresh",
    "authorizer",
    "api",
    "publish",
    "sync",
];

#[derive(Parser)]
#[command(
    about = "Cold start, peak RSS and size of Relay's functions against a hello-world Lambda"
)]
struct Args {
    /// Where the release binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where the hello-world baseline is (defaults to --bin-dir).
    #[arg(long)]
    baseline_dir: Option<PathBuf>,
    /// Starts of each binary.
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Only these functions (comma-separated binary names).
    #[arg(long, value_delimiter = ',')]
    functions: Vec<String>,
}

/// The environment a function reads at cold start: template.yaml's Globals with local
/// values, the secrets as environment variables (no Secrets Manager ARN), and what
/// lambda_runtime expects Lambda to set.
fn environment(name: &str, runtime_api: &str) -> Vec<(String, String)> {
    let queue = |q: &str| format!("http://127.0.0.1:9/000000000000/{q}");
    let vars = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "coldstart".into()),
        ("AWS_SECRET_ACCESS_KEY", "coldstart".into()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("RELAY_MAIN_TABLE", "relay-main".into()),
        ("RELAY_AUDIT_TABLE", "relay-audit".into()),
        ("RELAY_ARCHIVE_TABLE", "relay-archive".into()),
        ("RELAY_TOKEN_KEY_ID", "alias/relay-tokens".into()),
        ("RELAY_EVENT_BUS", "relay".into()),
        ("RELAY_GRAPH_VERSION", "v23.0".into()),
        ("RELAY_INBOUND_QUEUE_URL", queue("inbound")),
        ("RELAY_REPLIES_QUEUE_URL", queue("replies")),
        ("RELAY_MODERATION_QUEUE_URL", queue("moderation")),
        ("RELAY_PUBLISH_QUEUE_URL", queue("publish")),
        ("RELAY_SYNC_QUEUE_URL", queue("sync")),
        ("RELAY_MEDIA_BUCKET", "relay-media".into()),
        ("RELAY_PUBLIC_BASE_URL", "http://127.0.0.1:9".into()),
        ("RELAY_IG_APP_ID", "100".into()),
        ("RELAY_FB_APP_ID", "200".into()),
        ("META_APP_SECRETS", "coldstart-app-secret".into()),
        ("META_VERIFY_TOKEN", "coldstart-verify-token".into()),
        (
            "OAUTH_STATE_KEY",
            "coldstart-state-key-of-at-least-32-characters".into(),
        ),
        ("RUST_LOG", "warn".into()),
    ];
    vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One start: time to the first Runtime API request, and the peak RSS then (KiB).
#[allow(unsafe_code)] // libc process control
fn start_once(binary: &Path, name: &str) -> Result<(Duration, u64), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let runtime_api = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(environment(name, &runtime_api))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let first_request = wait_for_request(&listener, Duration::from_secs(20));
    let elapsed = started.elapsed();
    // SAFETY: kill and wait4 on the child this function spawned and still owns.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
        libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
    }
    match first_request {
        Ok(()) => Ok((elapsed, usage.ru_maxrss as u64)),
        Err(why) => {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            Err(format!("{name}: {why}; its stderr: {}", stderr.trim()))
        }
    }
}

/// Wait for one connection that asks for the next invocation.
#[allow(unsafe_code)] // libc process control
fn wait_for_request(listener: &TcpListener, timeout: Duration) -> Result<(), String> {
    let mut poll = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the listener's open descriptor.
    let ready = unsafe { libc::poll(&mut poll, 1, timeout.as_millis() as i32) };
    if ready <= 0 {
        return Err(format!("no Runtime API request within {timeout:?}"));
    }
    let (mut stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    if !line.starts_with("GET /2018-06-01/runtime/invocation/next") {
        return Err(format!(
            "unexpected first request: {}",
            line.lines().next().unwrap_or("")
        ));
    }
    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Figures {
    name: String,
    starts_ms: Vec<f64>,
    rss_kib: Vec<f64>,
    size: u64,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let names: Vec<String> = if args.functions.is_empty() {
        FUNCTIONS.iter().map(|s| s.to_string()).collect()
    } else {
        args.functions.clone()
    };
    let baseline_dir = args
        .baseline_dir
        .clone()
        .unwrap_or_else(|| args.bin_dir.clone());
    let mut binaries: Vec<(String, PathBuf)> =
        vec![("hello-lambda".into(), baseline_dir.join("hello-lambda"))];
    binaries.extend(names.iter().map(|n| (n.clone(), args.bin_dir.join(n))));
    let mut figures: Vec<Figures> = Vec::new();
    for (name, path) in &binaries {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e} (build it with --release first)", path.display()))?
            .len();
        figures.push(Figures {
            name: name.clone(),
            starts_ms: Vec::new(),
            rss_kib: Vec::new(),
            size,
        });
    }
    for run in 0..args.runs {
        // Rotate the order, so no binary always starts right after the same one.
        for k in 0..binaries.len() {
            let i = (k + run) % binaries.len();
            let (name, path) = &binaries[i];
            let (elapsed, rss) = start_once(path, name)?;
            figures[i].starts_ms.push(elapsed.as_secs_f64() * 1000.0);
            figures[i].rss_kib.push(rss as f64);
        }
    }
    let floor = median(&mut figures[0].starts_ms.clone());
    println!(
        "cold start: exec to first Runtime API request, median of {} starts each (min..max); baseline hello-lambda {floor:.2} ms",
        args.runs
    );
    println!("| function | cold start ms | x hello | min..max ms | peak RSS MiB | size MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    for f in &mut figures {
        let (min, max) = f
            .starts_ms
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let start = median(&mut f.starts_ms);
        let rss = median(&mut f.rss_kib) / 1024.0;
        println!(
            "| {} | {start:.2} | {:.2} | {min:.2}..{max:.2} | {rss:.1} | {:.2} |",
            f.name,
            start / floor,
            f.size as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}
