//! A redelivery storm against the running local stack (`relay-stack up`): connects
//! `--tenants` tenants with `--accounts` Instagram accounts each through the real
//! onboarding (operator API, onboarding page, the simulator's dialog), has the simulator
//! build `--events` webhook events (DMs, echoes, reactions and comments, each signed as
//! Meta signs it), sends each once, or two or three times for `--repeated` percent of
//! them, shuffled, at `--concurrency` connections, waits until every queue is empty,
//! and checks, exactly:
//!
//! - every DM and echo is stored once, every reaction is on its message, every comment
//!   is stored and moderated;
//! - every AI job and every moderation job was queued once (the ingest function's
//!   `AiJobsQueued` and `ModerationJobsQueued` metrics in the stack's log);
//! - every DM has one reply outcome, and every message the AI sent reached the
//!   simulator once (each of its ids on exactly one outcome).
//!
//! It reports the counts, webhook deliveries per second (and per vCPU of this machine),
//! the CPU time Relay's function processes and moto used for the run (so events per
//! CPU-second of Relay itself, apart from the emulator it runs on), and exits 1 when any
//! check fails.
//!
//! ```text
//! infra/scripts/stack.sh up --detach
//! cargo run --release -p relay-stack --bin storm -- [--events 10000] [--concurrency 50]
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bench::{Stack, percentile};
use clap::Parser;
use futures::StreamExt;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use relay::ids::{AccountId, CommentId, CustomerId, TenantId};
use relay::store::{Listing, Store};
use serde_json::{Value, json};

mod bench;
#[path = "../browse.rs"]
mod browse;

/// What to send.
#[derive(Debug, Parser)]
struct Args {
    /// Distinct webhook events.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// Tenants to connect.
    #[arg(long, default_value_t = 5)]
    tenants: usize,
    /// Instagram accounts per tenant.
    #[arg(long, default_value_t = 4)]
    accounts: usize,
    /// Customers writing to each account.
    #[arg(long, default_value_t = 10)]
    customers: usize,
    /// Concurrent connections to the webhook.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Percent of the events delivered two or three times.
    #[arg(long, default_value_t = 10)]
    repeated: u32,
    /// Seed of the mix and the shuffle.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The kinds of event to send, of dm, echo, reaction and comment (weighted 4:2:2:2).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "dm,echo,reaction,comment"
    )]
    kinds: Vec<String>,
    /// Faults during the storm: the simulator's Send API answers 5xx, throttles,
    /// transient errors and slow answers; DynamoDB throttles; a process of each SQS
    /// function is killed mid-batch; moto stops answering for a few seconds.
    #[arg(long)]
    faults: bool,
    /// Seconds to wait for the queues to drain.
    #[arg(long, default_value_t = 900)]
    wait: u64,
}

/// One connected account.
struct Account {
    tenant: TenantId,
    id: AccountId,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Kind {
    Dm,
    Echo,
    Reaction,
    Comment,
}

/// One event as the simulator built and signed it.
struct Built {
    kind: Kind,
    account: usize,
    customer: String,
    /// The mid of a DM or echo, the reacted-to mid of a reaction, or the comment's id.
    id: String,
    body: String,
    signature: String,
}

fn fail(what: &str) -> impl Fn(String) -> String + '_ {
    move |reason| format!("{what}: {reason}")
}

async fn json_of(response: reqwest::Response, what: &str) -> Result<Value, String> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{what} answered {status}: {body}"));
    }
    Ok(body)
}

/// Tenants and accounts, connected as a business connects them.
async fn connect(stack: &Stack, args: &Args, run: &str) -> Result<Vec<Account>, String> {
    let (info, api, http) = (&stack.info, &stack.api, &stack.http);
    let sim = sim_url(info);
    let operator = info["demo"]["operator_key"]
        .as_str()
        .ok_or("stack.json holds no operator key")?;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let mut accounts = Vec::new();
    for t in 0..args.tenants {
        let tenant = format!("storm-{run}-{t}");
        let post = |path: String, body: Value| {
            http.post(format!("{api}{path}"))
                .bearer_auth(operator)
                .json(&body)
                .send()
        };
        let sent = post(
            "/tenants".into(),
            json!({"tenant_id": tenant, "name": format!("Storm shop {t}")}),
        )
        .await
        .map_err(|e| e.to_string())?;
        json_of(sent, "POST /v1/tenants").await?;
        let sent = post(
            format!("/tenants/{tenant}/keys"),
            json!({"name": "storm owner", "role": "owner"}),
        )
        .await
        .map_err(|e| e.to_string())?;
        let key = json_of(sent, "POST /v1/tenants/{t}/keys").await?["key"]
            .as_str()
            .ok_or("the new key was not shown")?
            .to_owned();
        let sent = post(format!("/tenants/{tenant}/onboarding-links"), json!({}))
            .await
            .map_err(|e| e.to_string())?;
        let link = json_of(sent, "POST /v1/tenants/{t}/onboarding-links").await?["url"]
            .as_str()
            .ok_or("no onboarding link")?
            .to_owned();
        for a in 0..args.accounts {
            let made = http
                .post(format!("{sim}/_sim/ig-users"))
                .json(&json!({"username": format!("storm.{run}.{t}.{a}"), "name": format!("Storm {t}.{a}")}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let user = json_of(made, "POST /_sim/ig-users").await?;
            let id = user["user_id"].as_str().ok_or("no user id")?.to_owned();
            browse::connect(&browser, &link, &sim, "connect-instagram")
                .await
                .map_err(fail("connect an account"))?;
            let patched = http
                .patch(format!("{api}/accounts/{id}/settings"))
                .bearer_auth(&key)
                .json(&json!({"ai": {"mode": "auto", "debounce_seconds": 0}}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            json_of(patched, "PATCH the account's AI settings").await?;
            accounts.push(Account {
                tenant: TenantId::parse(&tenant).map_err(|e| e.to_string())?,
                id: AccountId::parse(&id).map_err(|e| e.to_string())?,
            });
        }
    }
    Ok(accounts)
}

fn sim_url(info: &Value) -> String {
    info["meta_simulator_url"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

/// Accepts whatever the simulator delivers to it: the simulator builds and signs the
/// events here, and the storm sends them to Relay.
async fn sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/", listener.local_addr().expect("an address"));
    let app = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The events: 40% DMs, 20% echoes, 20% reactions to an earlier DM, 20% comments.
async fn build(
    stack: &Stack,
    args: &Args,
    accounts: &[Account],
    rng: &mut impl Rng,
) -> Result<Vec<Built>, String> {
    let sim = sim_url(&stack.info);
    let sink = sink().await;
    let mut dms: Vec<Vec<(String, String)>> = vec![Vec::new(); accounts.len()];
    let mut built = Vec::with_capacity(args.events);
    let weighted: Vec<Kind> = [
        (Kind::Dm, "dm", 4),
        (Kind::Echo, "echo", 2),
        (Kind::Reaction, "reaction", 2),
        (Kind::Comment, "comment", 2),
    ]
    .into_iter()
    .filter(|(_, name, _)| args.kinds.iter().any(|k| k == name))
    .flat_map(|(kind, _, weight)| std::iter::repeat_n(kind, weight))
    .collect();
    if weighted.is_empty() {
        return Err("--kinds names none of dm, echo, reaction, comment".into());
    }
    for i in 0..args.events {
        let a = i % accounts.len();
        let customer = format!(
            "59{:014}",
            a * 1000 + rng.gen_range(0..args.customers.max(1))
        );
        let mut kind = weighted[rng.gen_range(0..weighted.len())];
        if kind == Kind::Reaction && dms[a].is_empty() {
            kind = Kind::Dm;
        }
        let account = accounts[a].id.as_str();
        let (spec, customer) = match kind {
            Kind::Dm => (
                json!({"kind": "dm", "account_id": account, "customer_id": customer, "text": format!("Do you have item {i} in stock?")}),
                customer,
            ),
            Kind::Echo => (
                json!({"kind": "echo", "account_id": account, "customer_id": customer, "text": format!("Thanks, we will check item {i}.")}),
                customer,
            ),
            Kind::Reaction => {
                let (mid, author) = dms[a][rng.gen_range(0..dms[a].len())].clone();
                (
                    json!({"kind": "reaction", "account_id": account, "customer_id": author, "mid": mid}),
                    author,
                )
            }
            Kind::Comment => (
                json!({"kind": "comment", "account_id": account, "customer_id": customer, "text": format!("Lovely colours on number {i}"), "from_username": format!("fan{i}")}),
                customer,
            ),
        };
        let mut spec = spec;
        spec["deliver_to"] = json!(sink);
        let sent = stack
            .http
            .post(format!("{sim}/_sim/webhooks/send"))
            .json(&spec)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let out = json_of(sent, "POST /_sim/webhooks/send").await?;
        let delivery = &out["deliveries"][0];
        let body = delivery["raw_body"]
            .as_str()
            .ok_or("no raw body")?
            .to_owned();
        let signature = delivery["signature"]
            .as_str()
            .ok_or("no signature")?
            .to_owned();
        let entry = &delivery["body"]["entry"][0];
        let id = match kind {
            Kind::Dm | Kind::Echo => entry["messaging"][0]["message"]["mid"].as_str(),
            Kind::Reaction => entry["messaging"][0]["reaction"]["mid"].as_str(),
            Kind::Comment => entry["changes"][0]["value"]["id"].as_str(),
        }
        .ok_or_else(|| format!("the simulator's {kind:?} carried no id: {entry}"))?
        .to_owned();
        if kind == Kind::Dm {
            dms[a].push((id.clone(), customer.clone()));
        }
        built.push(Built {
            kind,
            account: a,
            customer,
            id,
            body,
            signature,
        });
    }
    Ok(built)
}

/// What sending found.
#[derive(Default)]
struct Sent {
    deliveries: usize,
    retried: usize,
    statuses: BTreeMap<u16, usize>,
    refused: usize,
    seconds: f64,
    /// Each accepted delivery's answer time, ms, ascending.
    answer_ms: Vec<f64>,
}

/// Every event once, or two or three times for `repeated`% of them, shuffled; a delivery
/// that is not answered 2xx is retried (as Meta retries) up to five times.
async fn storm(stack: &Stack, args: &Args, built: &[Built], rng: &mut impl Rng) -> Sent {
    let webhook = stack.info["webhook_url"]
        .as_str()
        .expect("webhook_url")
        .to_owned();
    let mut order = Vec::with_capacity(built.len() * 11 / 10);
    for (i, _) in built.iter().enumerate() {
        let copies = if rng.gen_range(0..100) < args.repeated {
            rng.gen_range(2..=3)
        } else {
            1
        };
        order.extend(std::iter::repeat_n(i, copies));
    }
    order.shuffle(rng);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let faults = args.faults.then(|| {
        tokio::spawn(inject_faults(
            stack.info.clone(),
            stack.http.clone(),
            done.clone(),
            order.len(),
        ))
    });
    let started = Instant::now();
    let results: Vec<(Vec<u16>, bool, f64)> = futures::stream::iter(order.iter().map(|&i| {
        let (http, webhook, event, done) = (&http, &webhook, &built[i], &done);
        async move {
            let _counted = Done(done);
            let mut statuses = Vec::new();
            for attempt in 0..6u64 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                let asked = Instant::now();
                let answer = http
                    .post(webhook)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", &event.signature)
                    .body(event.body.clone())
                    .send()
                    .await;
                let status = answer.map(|r| r.status().as_u16()).unwrap_or(0);
                statuses.push(status);
                if (200..300).contains(&status) {
                    return (statuses, true, asked.elapsed().as_secs_f64() * 1000.0);
                }
            }
            (statuses, false, 0.0)
        }
    }))
    .buffer_unordered(args.concurrency.max(1))
    .collect()
    .await;
    if let Some(faults) = faults {
        let _ = faults.await;
    }
    let mut sent = Sent {
        deliveries: order.len(),
        seconds: started.elapsed().as_secs_f64(),
        ..Sent::default()
    };
    for (statuses, ok, ms) in results {
        if ok {
            sent.answer_ms.push(ms);
        }
        sent.retried += statuses.len() - 1;
        sent.refused += usize::from(!ok);
        for status in statuses {
            *sent.statuses.entry(status).or_default() += 1;
        }
    }
    sent.answer_ms.sort_by(f64::total_cmp);
    sent
}

/// Counts a delivery as done when it is dropped (answered or given up).
struct Done<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The faults of `--faults`, each once the storm is that far through its deliveries.
async fn inject_faults(
    info: Value,
    http: reqwest::Client,
    done: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    total: usize,
) {
    let at = |share: f64| {
        let done = done.clone();
        async move {
            while (done.load(std::sync::atomic::Ordering::Relaxed) as f64) < total as f64 * share {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let say = |what: &str| println!("  fault: {what}");
    let sim = sim_url(&info);
    at(0.2).await;
    for (kind, extra) in [
        ("server_error", json!({})),
        ("throttle", json!({})),
        ("transient", json!({})),
        ("slow", json!({"delay_ms": 2000})),
    ] {
        let mut fault =
            json!({"kind": kind, "count": 5, "path_contains": "/messages", "method": "POST"});
        if let (Some(f), Some(e)) = (fault.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        let _ = http
            .post(format!("{sim}/_sim/faults"))
            .json(&fault)
            .send()
            .await;
    }
    say(
        "the Send API answers the next 5 sends each with a 500, a throttle, a transient error and a 2 s delay",
    );
    at(0.3).await;
    let aws = info["aws_endpoint_url"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let _ = http
        .post(format!("{aws}/_relay/faults"))
        .json(&json!({"dynamodb_throttle": 40}))
        .send()
        .await;
    say("DynamoDB throttles the next 40 calls");
    at(0.45).await;
    let killed = kill_functions(&["ingest", "ai-reply", "moderation"]);
    say(&format!(
        "killed {killed} function processes (ingest, ai-reply, moderation) mid-batch"
    ));
    at(0.6).await;
    if let Some(pid) = info["processes"]["moto"]
        .as_u64()
        .and_then(|p| i32::try_from(p).ok())
    {
        signal(pid, libc::SIGSTOP);
        say("moto (DynamoDB and SQS) stops answering for 4 s");
        tokio::time::sleep(Duration::from_secs(4)).await;
        signal(pid, libc::SIGCONT);
        say("moto answers again");
    }
}

#[allow(unsafe_code)] // kill(2)
fn signal(pid: i32, signal: i32) {
    // SAFETY: kill has no memory preconditions; a gone pid is an error we ignore.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// SIGKILLs one running process of each named function binary; how many it killed.
fn kill_functions(names: &[&str]) -> usize {
    let mut killed = 0;
    let mut left: HashSet<&str> = names.iter().copied().collect();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let exe = std::fs::read_link(entry.path().join("exe")).ok();
        let name = exe
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name
            && left.remove(name.as_str())
        {
            signal(pid, libc::SIGKILL);
            killed += 1;
        }
    }
    killed
}

/// Waits until every queue but the DLQs is empty (visible, in flight and delayed) twice
/// in a row; the DLQs' depths.
async fn drained(
    stack: &Stack,
    sqs: &aws_sdk_sqs::Client,
    limit: Duration,
) -> BTreeMap<String, i64> {
    let queues: BTreeMap<String, String> = stack.info["queues"]
        .as_object()
        .map(|q| {
            q.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let depth = |url: String| async move {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .ok()?;
        let attrs = attrs.attributes()?;
        use aws_sdk_sqs::types::QueueAttributeName as N;
        let n = |name: N| {
            attrs
                .get(&name)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Some(
            n(N::ApproximateNumberOfMessages)
                + n(N::ApproximateNumberOfMessagesNotVisible)
                + n(N::ApproximateNumberOfMessagesDelayed),
        )
    };
    let started = Instant::now();
    let mut quiet = 0;
    loop {
        let mut busy = 0;
        let mut dlqs = BTreeMap::new();
        for (name, url) in &queues {
            let n = depth(url.clone()).await.unwrap_or(1);
            if name.contains("dlq") {
                dlqs.insert(name.clone(), n);
            } else {
                busy += n;
            }
        }
        quiet = if busy == 0 { quiet + 1 } else { 0 };
        if quiet >= 2 || started.elapsed() > limit {
            if quiet < 2 {
                println!(
                    "queues still hold {busy} messages after {} s",
                    limit.as_secs()
                );
            }
            return dlqs;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// The sums of the named metrics in the stack's log after byte `from`.
fn metrics(log: &str, names: &[&str]) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, f64> = names.iter().map(|n| ((*n).to_owned(), 0.0)).collect();
    for line in log.lines().filter(|l| l.contains(" metrics ")) {
        for pair in line.split_whitespace() {
            if let Some((name, value)) = pair.split_once('=')
                && let Some(sum) = sums.get_mut(name)
            {
                *sum += value.parse::<f64>().unwrap_or(0.0);
            }
        }
    }
    sums
}

fn log_path() -> std::path::PathBuf {
    let dir = std::env::var("RELAY_STACK_DIR").unwrap_or_else(|_| ".local".into());
    bench::root().join(dir).join("stack.log")
}

/// CPU seconds used so far by the stack's function processes (by binary name, as the
/// template names them) and by moto, read from /proc (Linux).
#[allow(unsafe_code)] // sysconf, for the clock tick /proc counts in
fn cpu_seconds(functions: &HashSet<String>) -> (BTreeMap<String, f64>, f64) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut per_function = BTreeMap::new();
    let mut moto = 0.0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (per_function, moto);
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis: utime and stime are 12th
        // and 13th there (14th and 15th of the line).
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let used = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let seconds = (used(11) + used(12)) / ticks;
        let exe = std::fs::read_link(dir.join("exe")).ok();
        let name = exe
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.filter(|n| functions.contains(n)) {
            *per_function.entry(name).or_insert(0.0) += seconds;
        } else if std::fs::read(dir.join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("moto_server"))
        {
            moto += seconds;
        }
    }
    (per_function, moto)
}

/// The AWS calls the stack's moto answered so far, by service and action (the launcher
/// counts them).
async fn aws_calls(stack: &Stack) -> BTreeMap<String, u64> {
    let url = format!(
        "{}/_relay/calls",
        stack.info["aws_endpoint_url"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
    );
    match stack.http.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    }
}

/// A check's line; false when it failed.
fn check(what: &str, got: usize, want: usize) -> bool {
    let ok = got == want;
    println!(
        "  {}  {what}: {got} (want {want})",
        if ok { "ok  " } else { "FAIL" }
    );
    ok
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let stack = Stack::running();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let sdk = relay_local_aws::local_aws::sdk_config_for(
        stack.info["aws_endpoint_url"]
            .as_str()
            .expect("aws_endpoint_url"),
    )
    .await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        stack.info["tables"]["main"]
            .as_str()
            .expect("the main table")
            .to_owned(),
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    let started = Instant::now();
    let accounts = match connect(&stack, &args, &run).await {
        Ok(accounts) => accounts,
        Err(e) => {
            eprintln!("storm: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "connected {} accounts of {} tenants in {:.1} s",
        accounts.len(),
        args.tenants,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let built = match build(&stack, &args, &accounts, &mut rng).await {
        Ok(built) => built,
        Err(e) => {
            eprintln!("storm: {e}");
            std::process::exit(2);
        }
    };
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    for event in &built {
        *kinds.entry(event.kind).or_default() += 1;
    }
    println!(
        "built {} events {kinds:?} in {:.1} s",
        built.len(),
        started.elapsed().as_secs_f64()
    );

    let log_from = std::fs::metadata(log_path()).map(|m| m.len()).unwrap_or(0);
    let functions: HashSet<String> = stack.info["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["binary"].as_str().map(str::to_owned))
        .collect();
    let (cpu_before, moto_before) = cpu_seconds(&functions);
    let calls_before = aws_calls(&stack).await;
    let sent = storm(&stack, &args, &built, &mut rng).await;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "sent {} deliveries of {} events at {} connections in {:.1} s: {:.0} deliveries/s, {:.0} per vCPU ({cpus} vCPUs); statuses {:?}; {} retried, {} never accepted",
        sent.deliveries,
        built.len(),
        args.concurrency,
        sent.seconds,
        sent.deliveries as f64 / sent.seconds,
        sent.deliveries as f64 / sent.seconds / cpus as f64,
        sent.statuses,
        sent.retried,
        sent.refused,
    );
    if !sent.answer_ms.is_empty() {
        println!(
            "webhook answer time  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            percentile(&sent.answer_ms, 0.5),
            percentile(&sent.answer_ms, 0.99),
            sent.answer_ms[sent.answer_ms.len() - 1]
        );
    }
    let started = Instant::now();
    let dlqs = drained(&stack, &sqs, Duration::from_secs(args.wait)).await;
    println!(
        "queues drained {:.1} s after the last delivery (from the first: {:.1} s); DLQs {dlqs:?}",
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() + sent.seconds
    );

    let (cpu_after, moto_after) = cpu_seconds(&functions);
    let calls = aws_calls(&stack).await;
    let mut by_service: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_action: Vec<(String, u64)> = Vec::new();
    for (target, after) in &calls {
        let made = after - calls_before.get(target).copied().unwrap_or(0);
        // The storm's own queue-depth polls are not Relay's.
        if made == 0 || target.ends_with("GetQueueAttributes") {
            continue;
        }
        let service = match target.split('.').next().unwrap_or_default() {
            t if t.starts_with("DynamoDB") => "DynamoDB",
            "AmazonSQS" => "SQS",
            "TrentService" => "KMS",
            "AWSEvents" => "EventBridge",
            other => other,
        };
        *by_service.entry(service).or_default() += made;
        by_action.push((target.clone(), made));
    }
    let events = built.len() as f64;
    println!(
        "AWS calls per event: {}",
        by_service
            .iter()
            .map(|(s, n)| format!("{s} {:.2}", *n as f64 / events))
            .collect::<Vec<_>>()
            .join(", ")
    );
    by_action.sort_by_key(|(_, made)| std::cmp::Reverse(*made));
    for (target, made) in &by_action {
        println!("  {:>8.3} per event  {target}", *made as f64 / events);
    }
    let used: BTreeMap<&String, f64> = cpu_after
        .iter()
        .map(|(f, after)| (f, after - cpu_before.get(f).copied().unwrap_or(0.0)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    let relay_cpu: f64 = used.values().sum();
    println!(
        "CPU: Relay's functions {relay_cpu:.1} s ({}), moto {:.1} s; {:.0} events per CPU-second of Relay (all functions, build of the stack)",
        used.iter()
            .map(|(f, s)| format!("{f} {s:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        moto_after - moto_before,
        built.len() as f64 / relay_cpu.max(f64::EPSILON),
    );
    let ok = verify(&stack, &store, &accounts, &built, log_from).await;
    let dlq_total: i64 = dlqs.values().sum();
    let ok = check(
        "storm accounts the demo tenant's key can list",
        foreign_accounts(&stack, &accounts).await,
        0,
    ) && ok;
    let ok = check("messages in the DLQs", dlq_total as usize, 0) && ok;
    let ok = check("deliveries never accepted", sent.refused, 0) && ok;
    if !ok {
        std::process::exit(1);
    }
}

/// How many of the storm's accounts another tenant's key (the demo tenant's) lists.
async fn foreign_accounts(stack: &Stack, accounts: &[Account]) -> usize {
    let listed: Value = match stack
        .http
        .get(format!("{}/accounts", stack.api))
        .bearer_auth(&stack.key)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let ids: HashSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| ids.contains(a["account_id"].as_str().unwrap_or_default()))
        .count()
}

/// The exact checks; false when any failed.
async fn verify(
    stack: &Stack,
    store: &Store,
    accounts: &[Account],
    built: &[Built],
    log_from: u64,
) -> bool {
    let mut conversations: BTreeMap<(usize, String), Vec<&Built>> = BTreeMap::new();
    for event in built {
        conversations
            .entry((event.account, event.customer.clone()))
            .or_default()
            .push(event);
    }
    let (mut stored_once, mut stored_twice, mut reactions_on) = (0, 0, 0);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut outcome_count = 0;
    let mut sent_mids: HashMap<(usize, String), usize> = HashMap::new();
    for ((a, customer), events) in &conversations {
        let account = &accounts[*a];
        let customer_id = CustomerId::parse(customer).expect("digits");
        let listing = Listing {
            limit: 1000,
            ..Listing::default()
        };
        let messages = store
            .list_messages(&account.tenant, &account.id, &customer_id, &listing)
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for m in &messages {
            *seen.entry(m.mid.as_str()).or_default() += 1;
        }
        for event in events {
            match event.kind {
                Kind::Dm | Kind::Echo => match seen.get(event.id.as_str()) {
                    Some(1) => stored_once += 1,
                    Some(_) => stored_twice += 1,
                    None => {}
                },
                Kind::Reaction => {
                    reactions_on += usize::from(messages.iter().any(|m| {
                        m.mid.as_str() == event.id && m.reactions.contains_key("customer")
                    }));
                }
                Kind::Comment => {}
            }
        }
        let replies = store
            .list_reply_outcomes(&account.tenant, &account.id, &customer_id, &listing)
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        for outcome in &replies {
            outcome_count += 1;
            let status = match &outcome.reason {
                Some(reason) => format!("{} ({reason})", outcome.status.as_str()),
                None => outcome.status.as_str().to_owned(),
            };
            *outcomes.entry(status).or_default() += 1;
            for mid in &outcome.sent_mids {
                *sent_mids.entry((*a, mid.clone())).or_default() += 1;
            }
        }
    }
    let mut comments_moderated = 0;
    for event in built.iter().filter(|e| e.kind == Kind::Comment) {
        let account = &accounts[event.account];
        let id = CommentId::parse(&event.id).expect("the simulator's comment ids are valid");
        if let Ok(Some(c)) = store.get_comment(&account.tenant, &account.id, &id).await
            && c.moderated_at.is_some()
        {
            comments_moderated += 1;
        }
    }
    // What reached the simulator's Send API for the storm's customers.
    let sim = sim_url(&stack.info);
    let mut at_meta = 0;
    let mut at_meta_unmatched = 0;
    let customers: HashSet<(usize, &str)> = conversations
        .keys()
        .map(|(a, c)| (*a, c.as_str()))
        .collect();
    for (a, account) in accounts.iter().enumerate() {
        let messages: Value = match stack
            .http
            .get(format!(
                "{sim}/_sim/messages?account_id={}",
                account.id.as_str()
            ))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        for m in messages.as_array().into_iter().flatten() {
            let to = m["recipient"]["id"].as_str().unwrap_or_default();
            if !customers.contains(&(a, to)) || m["text"].is_null() {
                continue;
            }
            at_meta += 1;
            let id = m["id"].as_str().unwrap_or_default().to_owned();
            if sent_mids.get(&(a, id)) != Some(&1) {
                at_meta_unmatched += 1;
            }
        }
    }

    let log = std::fs::read(log_path())
        .map(|bytes| String::from_utf8_lossy(&bytes[log_from as usize..]).into_owned())
        .unwrap_or_default();
    let queued = metrics(&log, &["AiJobsQueued", "ModerationJobsQueued"]);
    let count = |kind: Kind| built.iter().filter(|e| e.kind == kind).count();
    let (dms, echoes, reactions, comments) = (
        count(Kind::Dm),
        count(Kind::Echo),
        count(Kind::Reaction),
        count(Kind::Comment),
    );
    println!("reply outcomes {outcomes:?}");
    let mut ok = true;
    ok &= check(
        "DMs and echoes stored exactly once",
        stored_once,
        dms + echoes,
    );
    ok &= check("DMs and echoes stored more than once", stored_twice, 0);
    ok &= check("reactions on their message", reactions_on, reactions);
    ok &= check(
        "comments stored and moderated",
        comments_moderated,
        comments,
    );
    ok &= check(
        "AI jobs queued (AiJobsQueued)",
        queued["AiJobsQueued"] as usize,
        dms,
    );
    ok &= check(
        "moderation jobs queued (ModerationJobsQueued)",
        queued["ModerationJobsQueued"] as usize,
        comments,
    );
    ok &= check("reply outcomes, one per DM", outcome_count, dms);
    ok &= check(
        "messages at Meta's Send API not on exactly one outcome",
        at_meta_unmatched,
        0,
    );
    println!("  messages the AI sent to the storm's customers: {at_meta}");
    ok
}
