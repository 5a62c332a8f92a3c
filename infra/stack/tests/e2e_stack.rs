//! End-to-end: the real stack (moto, the Meta simulator, every function of
//! template.yaml under `cargo lambda watch`, the router, the SQS pollers) started with
//! `relay-stack up` on free ports in a temporary state directory, driven over HTTP the
//! way Meta and a tenant would, then stopped with `relay-stack down`.
//!
//! Readiness and outcomes are awaited by bounded polling (stack.json appearing, rows in
//! moto, messages at the simulator); nothing waits a fixed time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay::ids::{AccountId, CustomerId, TenantId};
use relay::store::{Listing, Store};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_relay-stack");

/// A `relay-stack up` child with its output collected line by line.
struct Stack {
    child: Child,
    dir: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    /// Index of the first line not yet looked at by `wait_for_line`.
    seen: usize,
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "relay-stack-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// The environment of a test stack: free ports, its own state directory, no rebuilds
/// on code changes, quick retries.
fn stack_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("RELAY_STACK_DIR", dir.display().to_string()),
        ("RELAY_STACK_API_PORT", "0".into()),
        ("RELAY_STACK_SIM_PORT", "0".into()),
        ("RELAY_STACK_MOTO_PORT", "0".into()),
        ("RELAY_STACK_LAMBDA_PORT", "0".into()),
        ("RELAY_STACK_RELOAD", "0".into()),
        ("RELAY_STACK_RETRY_SECONDS", "1".into()),
        ("RELAY_ROOT", root().display().to_string()),
    ]
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("infra/stack lies two levels below the repository")
        .to_owned()
}

impl Stack {
    fn start(name: &str, extra: &[(&str, &str)]) -> Stack {
        let dir = temp_dir(name);
        let mut command = Command::new(BIN);
        command
            .arg("up")
            .envs(stack_env(&dir))
            .envs(extra.iter().map(|(k, v)| (*k, *v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("relay-stack starts");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        for stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    lines.lock().expect("lines lock").push(line);
                }
            });
        }
        Stack {
            child,
            dir,
            lines,
            seen: 0,
        }
    }

    fn output(&self) -> String {
        self.lines.lock().expect("lines lock").join("\n")
    }

    /// Waits for stack.json (the stack writes it once everything is up).
    fn wait_ready(&mut self, limit: Duration) -> Value {
        let path = self.dir.join("stack.json");
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Ok(info) = serde_json::from_str::<Value>(&text) {
                    return info;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "relay-stack up exited ({status}) before it was ready:\n{}",
                    self.output()
                );
            }
            assert!(
                started.elapsed() < limit,
                "relay-stack was not ready within {} s",
                limit.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a new output line containing every one of `parts`; returns it.
    fn wait_for_line(&mut self, parts: &[&str], limit: Duration) -> Option<String> {
        let started = Instant::now();
        while started.elapsed() < limit {
            {
                let lines = self.lines.lock().expect("lines lock");
                while self.seen < lines.len() {
                    let line = &lines[self.seen];
                    self.seen += 1;
                    if parts.iter().all(|p| line.contains(p)) {
                        return Some(line.clone());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }

    fn skip_output_so_far(&mut self) {
        self.seen = self.lines.lock().expect("lines lock").len();
    }

    fn count_lines(&self, text: &str) -> usize {
        self.lines
            .lock()
            .expect("lines lock")
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    fn down(&mut self) -> std::process::Output {
        let out = Command::new(BIN)
            .arg("down")
            .envs(stack_env(&self.dir))
            .output()
            .expect("relay-stack down runs");
        let status = self.child.wait().expect("relay-stack up ends");
        assert!(
            status.success(),
            "relay-stack up ended with {status}:\n{}",
            self.output()
        );
        out
    }
}

impl Drop for Stack {
    #[allow(unsafe_code)] // libc process control
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The test failed midway: stop the stack as Ctrl-C would.
            // SAFETY: kill has no memory effects.
            unsafe {
                libc::kill(i32::try_from(self.child.id()).unwrap_or(0), libc::SIGINT);
            }
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[allow(unsafe_code)] // libc process control
fn alive(pid: u64) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(i32::try_from(pid).unwrap_or(0), 0) == 0 }
}

fn port_free(url: &str) -> bool {
    let address = url.trim_start_matches("http://");
    std::net::TcpListener::bind(address).is_ok()
}

async fn poll<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "{what} (waited {} s)",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct World {
    http: reqwest::Client,
    info: Value,
    store: Store,
    sqs: aws_sdk_sqs::Client,
    tenant: TenantId,
    account: AccountId,
}

impl World {
    fn s(&self, pointer: &str) -> String {
        self.info
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("stack.json has {pointer}"))
            .to_owned()
    }

    async fn sim(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.s("/meta_simulator_url")))
            .json(&body)
            .send()
            .await
            .expect("the simulator answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("simulator JSON")
    }

    /// The simulator signs and delivers DMs of `customer` in ONE webhook POST; returns
    /// their message ids.
    async fn dms(&self, customer: &str, texts: &[String]) -> Vec<String> {
        let events: Vec<Value> = texts
            .iter()
            .map(|text| {
                json!({"kind": "dm", "account_id": self.account.as_str(), "customer_id": customer, "text": text})
            })
            .collect();
        let out = self
            .sim("/_sim/webhooks/send", json!({"batch": events}))
            .await;
        let delivery = &out["deliveries"][0];
        assert_eq!(
            delivery["ok"], true,
            "the webhook accepted the delivery: {delivery}"
        );
        let body: Value = match &delivery["body"] {
            Value::String(text) => serde_json::from_str(text).expect("JSON body"),
            other => other.clone(),
        };
        body["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                e["messaging"][0]["message"]["mid"]
                    .as_str()
                    .expect("a mid")
                    .to_owned()
            })
            .collect()
    }

    async fn stored_mids(&self, customer: &CustomerId) -> Vec<String> {
        let mut mids = Vec::new();
        let mut listing = Listing {
            limit: 100,
            ..Listing::default()
        };
        loop {
            let page = self
                .store
                .list_messages(&self.tenant, &self.account, customer, &listing)
                .await
                .expect("messages are listed");
            mids.extend(page.items.into_iter().map(|m| m.mid.as_str().to_owned()));
            match page.next {
                Some(next) => listing.cursor = Some(next),
                None => return mids,
            }
        }
    }

    async fn replies_to(&self, customer: &str) -> Vec<String> {
        let messages: Value = self
            .http
            .get(format!(
                "{}/_sim/messages?account_id={}",
                self.s("/meta_simulator_url"),
                self.account.as_str()
            ))
            .send()
            .await
            .expect("the simulator answers")
            .json()
            .await
            .expect("JSON");
        messages
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["recipient"]["id"] == json!(customer))
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect()
    }

    async fn queue_depth(&self, name: &str) -> (u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(self.s(&format!("/queues/{name}")))
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes");
        let get = |a: A| {
            out.attributes()
                .and_then(|m| m.get(&a))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (
            get(A::ApproximateNumberOfMessages) + get(A::ApproximateNumberOfMessagesDelayed),
            get(A::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

fn customer() -> String {
    format!("8{:015}", uuid::Uuid::new_v4().as_u128() % 10u128.pow(15))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(unsafe_code)] // libc process control
async fn the_local_stack_runs_the_product_end_to_end() {
    let wall = Instant::now();
    let mut stack = Stack::start("e2e", &[]);
    // The first run on a machine builds the simulator and every function.
    let info = stack.wait_ready(Duration::from_secs(20 * 60));
    eprintln!(
        "E2E: stack ready after {:.1} s (the stack reports {} s)",
        wall.elapsed().as_secs_f64(),
        info["startup_seconds"]
    );
    let functions: Vec<String> = info["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .map(|f| f["binary"].as_str().expect("binary").to_owned())
        .collect();
    for binary in ["webhook", "ingest", "oauth"] {
        assert!(
            functions.iter().any(|f| f == binary),
            "template.yaml wires {binary}"
        );
    }

    let sdk = relay_local_aws::local_aws::sdk_config_for(
        info["aws_endpoint_url"].as_str().expect("moto URL"),
    )
    .await;
    let demo = &info["demo"];
    let world = World {
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        store: Store::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            info["tables"]["main"].as_str().expect("main table"),
        ),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        tenant: TenantId::parse(demo["tenant_id"].as_str().expect("tenant")).expect("tenant id"),
        account: AccountId::parse(
            demo["instagram_account_id"]
                .as_str()
                .expect("the demo tenant connected an Instagram account through OAuth"),
        )
        .expect("account id"),
        info: info.clone(),
    };

    // Meta's subscription handshake through the router, with the configured token.
    let challenge = world
        .http
        .get(world.s("/webhook_url"))
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", &world.s("/verify_token")),
            ("hub.challenge", "1158201444"),
        ])
        .send()
        .await
        .expect("the router answers");
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.text().await.unwrap(), "1158201444");
    let refused = world
        .http
        .get(world.s("/webhook_url"))
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "wrong"),
            ("hub.challenge", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // Onboarding went through the real OAuth flow: the account is connected, its token
    // sealed, and the simulator saw the code exchange.
    let accounts = world
        .store
        .list_accounts(&world.tenant, &Listing::default())
        .await
        .expect("accounts");
    let account = accounts
        .items
        .iter()
        .find(|a| a.account_id == world.account)
        .expect("the demo account is stored");
    assert_eq!(
        account.status,
        relay::store::accounts::AccountStatus::Connected
    );
    assert!(account.token_sealed.is_some(), "its token is stored sealed");
    // The tenant's Facebook Page came through Facebook Login the same way.
    let page_id = world.s("/demo/page_id");
    let page = accounts
        .items
        .iter()
        .find(|a| a.account_id.as_str() == page_id)
        .expect("the demo Page is stored");
    assert_eq!(page.channel, relay::store::accounts::Channel::Page);
    assert!(
        page.token_sealed.is_some(),
        "the Page token is stored sealed"
    );
    let requests: Value = world
        .http
        .get(format!("{}/_sim/requests", world.s("/meta_simulator_url")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        requests.as_array().unwrap().iter().any(|r| r["path"]
            .as_str()
            .is_some_and(|p| p.contains("oauth/access_token"))),
        "the code was exchanged at the simulator"
    );
    let page = world
        .http
        .get(world.s("/onboarding_url"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("connect-instagram"));

    // A DM through the simulator's webhook emitter is stored; the AI answers it.
    let alice = customer();
    let alice_id = CustomerId::parse(&alice).unwrap();
    let mid = world
        .dms(&alice, &["Hi! What are your opening hours?".to_owned()])
        .await
        .remove(0);
    poll(Duration::from_secs(30), "the DM was stored", || async {
        world
            .stored_mids(&alice_id)
            .await
            .contains(&mid)
            .then_some(())
    })
    .await;
    if functions.iter().any(|f| f == "ai-reply") {
        let reply = poll(
            Duration::from_secs(60),
            "the AI reply reached the simulator",
            || async { world.replies_to(&alice).await.first().cloned() },
        )
        .await;
        assert!(
            reply.contains("9:00"),
            "the reply is grounded in the opening-hours entry: {reply:?}"
        );
    } else {
        eprintln!("E2E: template.yaml wires no ai-reply function yet; the AI reply is not checked");
    }

    // SQS -> function wiring: kill cargo lambda watch while ingest holds a batch; after
    // the restart every message is stored exactly once and nothing is left behind.
    let bob = customer();
    let bob_id = CustomerId::parse(&bob).unwrap();
    let mut sent: Vec<String> = Vec::new();
    let mut killed_mid_batch = false;
    for attempt in 1..=3 {
        // Only what the stack says from now on counts.
        stack.skip_output_so_far();
        let texts: Vec<String> = (0..25)
            .map(|i| format!("order question {attempt}-{i}"))
            .collect();
        sent.extend(world.dms(&bob, &texts).await);
        let Some(_) = stack.wait_for_line(
            &["[sqs]", "InboundQueue -> ingest: invoking with a batch of"],
            Duration::from_secs(30),
        ) else {
            panic!("ingest was never invoked:\n{}", stack.output());
        };
        let readies = stack.count_lines("cargo lambda watch ready");
        let current: Value = serde_json::from_str(
            &std::fs::read_to_string(stack.dir.join("stack.json")).expect("stack.json"),
        )
        .expect("JSON");
        let lambda = current["processes"]["lambda"]
            .as_u64()
            .expect("the lambda pid");
        // SAFETY: kill has no memory effects; the negative pid is its process group.
        unsafe {
            libc::kill(-i32::try_from(lambda).expect("pid fits"), libc::SIGKILL);
        }
        let outcome = stack
            .wait_for_line(
                &["[sqs]", "InboundQueue -> ingest"],
                Duration::from_secs(60),
            )
            .expect("the batch ended one way or the other");
        poll(
            Duration::from_secs(60),
            "cargo lambda watch was restarted",
            || {
                let restarted = stack.count_lines("cargo lambda watch ready") > readies;
                async move { restarted.then_some(()) }
            },
        )
        .await;
        if outcome.contains("failed") {
            eprintln!("E2E: killed mid-batch on attempt {attempt}: {outcome}");
            killed_mid_batch = true;
            break;
        }
        eprintln!("E2E: the batch finished before the kill ({outcome}); again");
    }
    assert!(
        killed_mid_batch,
        "a batch was in flight when the function was killed"
    );
    let stored = poll(
        Duration::from_secs(90),
        "every DM was stored after the restart",
        || async {
            let stored = world.stored_mids(&bob_id).await;
            sent.iter().all(|m| stored.contains(m)).then_some(stored)
        },
    )
    .await;
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for m in &stored {
        *counts.entry(m).or_default() += 1;
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "no message is stored twice"
    );
    assert_eq!(
        stored.len(),
        sent.len(),
        "exactly the sent messages are stored"
    );
    poll(
        Duration::from_secs(30),
        "the inbound queue drained",
        || async { (world.queue_depth("inbound").await == (0, 0)).then_some(()) },
    )
    .await;
    assert_eq!(
        world.queue_depth("inbound_dlq").await,
        (0, 0),
        "nothing went to the DLQ"
    );

    // The demo command walks the journeys (echo pause, comment tag) against this stack.
    let demo_run = tokio::task::spawn_blocking({
        let env = stack_env(&stack.dir);
        move || {
            Command::new(BIN)
                .arg("demo")
                .envs(env)
                .output()
                .expect("relay-stack demo runs")
        }
    })
    .await
    .unwrap();
    let demo_out = String::from_utf8_lossy(&demo_run.stdout);
    eprintln!("{demo_out}");
    assert!(
        demo_run.status.success(),
        "relay-stack demo:\n{demo_out}\n{}",
        String::from_utf8_lossy(&demo_run.stderr)
    );
    assert!(demo_out.contains(" 0 failed"), "{demo_out}");
    // Moderation ran as wired: the spam comment is hidden at the simulator (Meta), the
    // customer's question is not, and it has the person's answer.
    let comments: Value = world
        .http
        .get(world.s("/meta_simulator_url") + "/_sim/comments")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hidden: Vec<bool> = comments
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hidden"].as_bool().unwrap())
        .collect();
    assert_eq!(hidden, vec![true, false], "{comments}");
    // The person's answer went queue -> moderation -> Meta: one reply under the question.
    let replies: Vec<usize> = comments
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["replies"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(replies, vec![0, 1], "{comments}");
    assert!(demo_out.contains("tagged [spam, link]"), "{demo_out}");
    assert!(
        demo_out.contains("the simulator received exactly the edited text"),
        "{demo_out}"
    );

    // The management API against its own spec, as served by the stack: schemathesis
    // (bounded: 10 examples an operation, 15 requests a second) finds no 5xx and no
    // response outside the spec, for the demo owner's routes and the operators'.
    let spec = format!("{}/v1/openapi.json", world.s("/api_url"));
    for (key, tags) in [
        ("/demo/api_key", ["--exclude-tag", "operator"]),
        ("/demo/operator_key", ["--include-tag", "operator"]),
    ] {
        // Its example database and crash cache go to the stack's temporary directory.
        let run = Command::new(root().join(".venv/bin/schemathesis"))
            .current_dir(&stack.dir)
            .args(["run", &spec, "-H", &format!("Authorization: Bearer {}", world.s(key))])
            .args(tags)
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                "10",
                "--rate-limit",
                "15/s",
                "--seed",
                "1",
                "--no-color",
            ])
            .output()
            .expect("schemathesis runs (infra/scripts/test.sh installs it into .venv)");
        let out = String::from_utf8_lossy(&run.stdout);
        let summary: Vec<&str> = out.lines().filter(|l| l.contains(" generated, ")).collect();
        eprintln!("E2E: schemathesis {tags:?}: {summary:?}");
        assert!(
            run.status.success(),
            "schemathesis found responses outside the spec ({tags:?}):\n{out}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }

    // `down` stops everything and frees every port.
    let processes: Vec<u64> = serde_json::from_str::<Value>(
        &std::fs::read_to_string(stack.dir.join("stack.json")).unwrap(),
    )
    .unwrap()["processes"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .collect();
    let down = stack.down();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    for pid in processes {
        assert!(!alive(pid), "process {pid} was stopped");
    }
    for url in [
        "/api_url",
        "/meta_simulator_url",
        "/aws_endpoint_url",
        "/lambda_invoke_url",
    ] {
        assert!(port_free(&world.s(url)), "{url} is free again");
    }
    assert!(
        !stack.dir.join("stack.json").exists(),
        "stack.json is removed"
    );
    eprintln!("E2E: whole run {:.1} s", wall.elapsed().as_secs_f64());
}

#[test]
fn a_taken_port_is_named_and_nothing_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = temp_dir("port");
    let out = Command::new(BIN)
        .arg("up")
        .envs(stack_env(&dir))
        .env("RELAY_STACK_SIM_PORT", &port)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    assert!(stderr.contains("RELAY_STACK_SIM_PORT"), "{stderr}");
    assert!(!dir.join("stack.json").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_missing_tool_is_named_with_how_to_get_it() {
    let dir = temp_dir("tool");
    let out = Command::new(BIN)
        .arg("up")
        .envs(stack_env(&dir))
        .env("RELAY_STACK_CARGO_LAMBDA", dir.join("no-such-cargo-lambda"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cargo-lambda not found"), "{stderr}");
    assert!(stderr.contains("infra/scripts/stack.sh"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_part_failing_late_stops_everything_started_before_it() {
    let dir = temp_dir("late");
    // A cargo-lambda that dies at once: moto and the simulator are up by then.
    let fake = dir.join("cargo-lambda");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'cargo-lambda: cannot start (test)' >&2\nexit 7\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(BIN)
        .arg("up")
        .arg("--no-demo")
        .envs(stack_env(&dir))
        .env("RELAY_STACK_CARGO_LAMBDA", &fake)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cargo-lambda exited before it was ready"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot start (test)"),
        "its output is shown: {stderr}"
    );
    // What had started was stopped: moto and the simulator are gone, their ports free.
    let stopped: Vec<u64> = stdout
        .lines()
        .filter_map(|l| l.split("(pid ").nth(1)?.trim_end_matches(')').parse().ok())
        .collect();
    assert!(
        stopped.len() >= 2,
        "moto and meta-sim were stopped:\n{stdout}"
    );
    for pid in stopped {
        assert!(!alive(pid), "pid {pid} is gone");
    }
    let moto = stdout
        .lines()
        .find_map(|l| {
            l.split("moto ready at ")
                .nth(1)?
                .split(':')
                .nth(2)?
                .parse::<u16>()
                .ok()
        })
        .expect("moto had started");
    assert!(
        port_free(&format!("127.0.0.1:{moto}")),
        "moto's port is free again"
    );
    assert!(!dir.join("stack.json").exists());
    assert!(!dir.join("stack.pid").exists());
    let _ = std::fs::remove_dir_all(dir);
}
