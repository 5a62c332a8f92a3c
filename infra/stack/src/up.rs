//! `relay-stack up`: starts every part in order, wires them as template.yaml says, seeds
//! the demo tenant, writes `stack.json`, then supervises until Ctrl-C (or `down`).
//!
//! Order: checks (tools, ports, template) -> build -> moto + the template's resources
//! -> Meta simulator -> router -> `cargo lambda watch` (functions warmed) -> SQS
//! pollers and schedules -> demo tenant -> `stack.json`. A failure at any step stops
//! everything started so far and names what failed. While running, a `cargo lambda
//! watch` that dies is restarted (it holds no state); moto or the simulator dying ends
//! the stack, since their data is gone with them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use relay_local_aws::http_api::{self, HttpApi, Routes};
use relay_local_aws::local_aws::REGION;
use relay_local_aws::sqs_source::EventSourceMapping;
use relay_local_aws::template::{FunctionSpec, Trigger};
use relay_local_aws::{LocalAws, Template};
use tokio::sync::{mpsc, watch};

use crate::invoke::{Invoked, Lambda};
use crate::logs::Logs;
use crate::procs::{Children, Exited};
use crate::settings::{FB_APP_ID, IG_APP_ID, PortSpec, Settings};
use crate::state::{self, FunctionInfo, Pids, StackInfo};
use crate::{cron, seed, sqs};

/// Prefix of every local resource name (and the value of `AWS::StackName`).
pub const RESOURCE_PREFIX: &str = "relay";

/// Why the stack did not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error("{tool} not found at {path}. {hint}")]
    ToolMissing {
        tool: &'static str,
        path: String,
        hint: &'static str,
    },
    #[error(
        "port {port} on 127.0.0.1 is already in use; it is configured for {what}. Stop what uses it, or choose another port with {var}=<port> (0 picks a free one)"
    )]
    PortTaken {
        port: u16,
        var: &'static str,
        what: &'static str,
    },
    #[error("a stack is already running (pid {0}); `relay-stack down` stops it")]
    AlreadyRunning(u32),
    #[error("template.yaml: {0}")]
    Template(#[from] relay_local_aws::template::TemplateError),
    #[error("creating the template's resources on moto: {0}")]
    Provision(#[from] relay_local_aws::ProvisionError),
    #[error("{part} {problem}{}", tail(.log))]
    Part {
        part: &'static str,
        problem: String,
        log: Vec<String>,
    },
    #[error("{0}")]
    Spawn(#[from] crate::procs::SpawnError),
    #[error("{0}")]
    State(#[from] state::StateError),
    #[error(
        "functions {first} and {second} both set {var} with different values; the local stack runs every function in one cargo lambda watch with one environment"
    )]
    EnvConflict {
        var: String,
        first: String,
        second: String,
    },
    #[error("the build failed (cargo build exited with {0})")]
    Build(String),
    #[error("demo tenant: {0}")]
    Seed(#[from] seed::SeedError),
    #[error("{0}")]
    Other(String),
}

fn tail(log: &[String]) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; its last output:\n  {}", log.join("\n  "))
    }
}

/// Options of `up`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpOptions {
    /// Do not seed the demo tenant.
    pub no_demo: bool,
}

/// What a started stack holds while it runs.
struct Running {
    children: Children,
    exits: mpsc::UnboundedReceiver<Exited>,
    stop_tasks: watch::Sender<bool>,
    lambda_pid: Option<u32>,
    lambda_start: Option<LambdaStart>,
    info: Option<StackInfo>,
}

#[derive(Clone)]
struct LambdaStart {
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    port: u16,
}

/// Starts the stack and supervises it until Ctrl-C, SIGTERM, or a part failing.
pub async fn up(settings: Settings, options: UpOptions) -> Result<(), UpError> {
    let started = Instant::now();
    let logs = Logs::default();
    check_not_running(&settings)?;
    check_tools(&settings)?;
    let template = Template::load(&settings.template)?;
    let functions = template.functions()?;
    let ports = resolve_ports(&settings)?;

    let (children, exits) = Children::new(logs.clone());
    let (stop_tasks, _) = watch::channel(false);
    let mut running = Running {
        children,
        exits,
        stop_tasks,
        lambda_pid: None,
        lambda_start: None,
        info: None,
    };
    let result = start(
        &settings,
        options,
        &template,
        &functions,
        ports,
        &logs,
        &mut running,
        started,
    )
    .await;
    match result {
        Err(error) => {
            logs.line("stack", &format!("start-up failed: {error}"));
            shutdown(&settings, &mut running, &logs).await;
            Err(error)
        }
        Ok(()) => {
            let outcome = supervise(&settings, &mut running, &logs).await;
            shutdown(&settings, &mut running, &logs).await;
            outcome
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    api: u16,
    sim: u16,
    moto: u16,
    lambda: u16,
}

fn check_not_running(settings: &Settings) -> Result<(), UpError> {
    if let Some(pids) = state::read_json::<Pids>(&settings.pid_file())? {
        if crate::procs::alive(pids.supervisor) && pids.supervisor != std::process::id() {
            return Err(UpError::AlreadyRunning(pids.supervisor));
        }
        // A supervisor that died without cleaning up: stop what it left.
        for pid in pids.children.values() {
            crate::procs::signal_group(*pid, libc::SIGKILL);
        }
        let _ = std::fs::remove_file(settings.pid_file());
        let _ = std::fs::remove_file(settings.stack_json());
    }
    Ok(())
}

fn check_tools(settings: &Settings) -> Result<(), UpError> {
    let tools = &settings.tools;
    let hint = "infra/scripts/stack.sh installs it into .venv (pip install from infra/scripts/requirements.txt)";
    for (tool, path) in [
        ("moto_server", &tools.moto_server),
        ("cargo-lambda", &tools.cargo_lambda),
    ] {
        if !is_executable(path) {
            return Err(UpError::ToolMissing {
                tool,
                path: path.display().to_string(),
                hint,
            });
        }
    }
    if find_in_path(&tools.cargo).is_none() {
        return Err(UpError::ToolMissing {
            tool: "cargo",
            path: tools.cargo.display().to_string(),
            hint: "install Rust with rustup (https://rustup.rs)",
        });
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_in_path(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return is_executable(program).then(|| program.to_owned());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    })
}

/// Checks that every configured port is free and picks free ones for those set to 0.
fn resolve_ports(settings: &Settings) -> Result<Ports, UpError> {
    let mut chosen = Vec::new();
    for (spec, port) in settings.ports() {
        chosen.push(resolve_port(spec, port)?);
    }
    Ok(Ports {
        moto: chosen[0],
        sim: chosen[1],
        api: chosen[2],
        lambda: chosen[3],
    })
}

fn resolve_port(spec: PortSpec, port: u16) -> Result<u16, UpError> {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => Ok(listener.local_addr().map(|a| a.port()).unwrap_or(port)),
        Err(_) => Err(UpError::PortTaken {
            port,
            var: spec.var,
            what: spec.what,
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn start(
    settings: &Settings,
    options: UpOptions,
    template: &Template,
    functions: &[FunctionSpec],
    ports: Ports,
    logs: &Logs,
    running: &mut Running,
    started: Instant,
) -> Result<(), UpError> {
    std::fs::create_dir_all(&settings.state_dir).map_err(|e| {
        UpError::Other(format!(
            "cannot create {}: {e}",
            settings.state_dir.display()
        ))
    })?;
    let oauth = functions.iter().find(|f| f.binary == "oauth");
    build(
        settings,
        functions,
        oauth.is_some(),
        logs,
        &running.children,
        &mut running.exits,
    )
    .await?;
    write_pids(settings, &running.children)?;

    // ------------------------------------------------------------ moto + resources
    let moto_url = format!("http://127.0.0.1:{}", ports.moto);
    let moto_pid = running.children.spawn(
        "moto",
        &settings.tools.moto_server,
        &[
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            ports.moto.to_string(),
        ],
        &BTreeMap::new(),
        &settings.root,
    )?;
    write_pids(settings, &running.children)?;
    wait_http(
        "moto",
        &format!("{moto_url}/moto-api/"),
        moto_pid,
        Duration::from_secs(60),
        running,
        logs,
    )
    .await?;
    let sdk = relay_local_aws::local_aws::sdk_config_for(&moto_url).await;
    let mut aws = LocalAws::provision(sdk.clone(), RESOURCE_PREFIX, template).await?;
    let secrets_arn = if template.parameters().any(|p| p.name == "SecretsArn") {
        let secret = serde_json::json!({
            "META_APP_SECRETS": settings.app_secret,
            "META_VERIFY_TOKEN": settings.verify_token,
            "OAUTH_STATE_KEY": settings.state_key,
        });
        Some(aws.put_secret("SecretsArn", &secret.to_string()).await?)
    } else {
        None
    };
    logs.line(
        "stack",
        &format!(
            "moto ready at {moto_url}: {} resources of template.yaml created",
            aws.resources().count()
        ),
    );

    // ------------------------------------------------------------ simulator
    let sim_url = format!("http://127.0.0.1:{}", ports.sim);
    let api_url = format!("http://127.0.0.1:{}", ports.api);
    let webhook_url = format!("{api_url}/webhooks/meta");
    let sim_env: BTreeMap<String, String> = [
        ("META_SIM_IG_APP_ID", IG_APP_ID),
        ("META_SIM_FB_APP_ID", FB_APP_ID),
        ("META_SIM_IG_APP_SECRET", settings.app_secret.as_str()),
        ("META_SIM_FB_APP_SECRET", settings.app_secret.as_str()),
        ("META_SIM_WEBHOOK_SECRET", settings.app_secret.as_str()),
        ("META_SIM_WEBHOOK_URL", webhook_url.as_str()),
        ("META_SIM_APP_NAME", "Relay (local)"),
        // Like Meta: every message the account sends comes back as an echo webhook.
        ("META_SIM_ECHO_SENT_MESSAGES", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sim_pid = running.children.spawn(
        "meta-sim",
        &settings.tools.target_bin.join("meta-sim"),
        &["--port".into(), ports.sim.to_string()],
        &sim_env,
        &settings.root,
    )?;
    write_pids(settings, &running.children)?;
    wait_http(
        "meta-sim",
        &format!("{sim_url}/_sim/config"),
        sim_pid,
        Duration::from_secs(30),
        running,
        logs,
    )
    .await?;

    // ------------------------------------------------------------ router
    let lambda = Lambda::new(ports.lambda);
    let routes = Routes::from_functions(functions);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", ports.api))
        .await
        .map_err(|_| UpError::PortTaken {
            port: ports.api,
            var: crate::settings::API_PORT.var,
            what: crate::settings::API_PORT.what,
        })?;
    let router_log = logs.clone();
    let router = Arc::new(HttpApi::new(
        routes.clone(),
        lambda.clone(),
        Arc::new(move |line: &str| router_log.line("router", line)),
    ));
    let mut stop = running.stop_tasks.subscribe();
    let router_logs = logs.clone();
    tokio::spawn(async move {
        tokio::select! {
            result = http_api::serve(listener, router) => {
                if let Err(e) = result {
                    router_logs.line("router", &format!("stopped: {e}"));
                }
            }
            _ = stop.changed() => {}
        }
    });
    for route in routes.iter() {
        logs.line(
            "router",
            &format!("{api_url} {} -> {}", route.route_key, route.function),
        );
    }

    // ------------------------------------------------------------ functions
    let mut env = function_environment(&aws, functions)?;
    let local: [(&str, String); 9] = [
        ("AWS_ENDPOINT_URL", moto_url.clone()),
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("RELAY_META_BASE_URL", sim_url.clone()),
        ("RELAY_IG_APP_ID", IG_APP_ID.into()),
        ("RELAY_FB_APP_ID", FB_APP_ID.into()),
        ("RELAY_PUBLIC_BASE_URL", api_url.clone()),
    ];
    env.extend(local.into_iter().map(|(k, v)| (k.to_owned(), v)));
    env.extend(settings.passthrough.clone());
    let mut args: Vec<String> = [
        "lambda",
        "watch",
        "--invoke-address",
        "127.0.0.1",
        "--invoke-port",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    args.push(ports.lambda.to_string());
    args.extend(["--concurrency".to_owned(), settings.concurrency.to_string()]);
    if !settings.reload {
        args.push("--ignore-changes".into());
    }
    let lambda_start = LambdaStart {
        program: settings.tools.cargo_lambda.clone(),
        args,
        env: env.clone(),
        port: ports.lambda,
    };
    start_lambda(settings, running, &lambda_start, logs).await?;
    running.lambda_start = Some(lambda_start);
    warm_up(functions, &lambda, logs).await;

    // ------------------------------------------------------------ event wiring
    let sqs_client = aws_sdk_sqs::Client::new(&sdk);
    let mut jobs = 0;
    for f in functions {
        for event in &f.events {
            match &event.trigger {
                Trigger::Sqs(mapping) if mapping.enabled => {
                    let (Some(url), Some(arn)) =
                        (aws.queue_url(&mapping.queue), aws.queue_arn(&mapping.queue))
                    else {
                        unreachable!("the template reader checked that the queue exists")
                    };
                    let mapping = sqs::Mapping {
                        queue_logical_id: mapping.queue.clone(),
                        binary: f.binary.clone(),
                        function_timeout: Duration::from_secs(u64::from(f.timeout_seconds)),
                        source: EventSourceMapping::of(
                            mapping,
                            url,
                            arn,
                            Duration::from_secs(u64::from(settings.retry_seconds)),
                        ),
                    };
                    tokio::spawn(sqs::run(
                        mapping,
                        sqs_client.clone(),
                        lambda.clone(),
                        logs.clone(),
                        running.stop_tasks.subscribe(),
                    ));
                    jobs += 1;
                }
                Trigger::Schedule(spec) if spec.enabled => {
                    let job = cron::Job {
                        name: format!("{}.{}", f.logical_id, event.name),
                        binary: f.binary.clone(),
                        spec: spec.clone(),
                        function_timeout: Duration::from_secs(u64::from(f.timeout_seconds)),
                    };
                    tokio::spawn(cron::run(
                        job,
                        RESOURCE_PREFIX.into(),
                        lambda.clone(),
                        logs.clone(),
                        running.stop_tasks.subscribe(),
                    ));
                    jobs += 1;
                }
                Trigger::Sqs(_) | Trigger::Schedule(_) => {
                    logs.line(
                        "stack",
                        &format!(
                            "{}.{} is disabled in template.yaml",
                            f.logical_id, event.name
                        ),
                    );
                }
                Trigger::Http(_) => {}
            }
        }
    }
    logs.line(
        "stack",
        &format!("{jobs} event source mappings and schedules running"),
    );

    // ------------------------------------------------------------ demo tenant
    let mut gaps = Vec::new();
    for (binary, why) in [
        ("oauth", "onboarding and the OAuth callbacks"),
        ("ai-reply", "AI replies to DMs"),
    ] {
        if !functions.iter().any(|f| f.binary == binary) {
            gaps.push(format!(
                "template.yaml wires no {binary} function yet: no {why}"
            ));
        }
    }
    let main_table = aws.table("MainTable").map(str::to_owned);
    let mut demo = None;
    let mut onboarding_url = None;
    if !options.no_demo {
        let Some(main_table) = main_table.clone() else {
            return Err(UpError::Other("template.yaml declares no MainTable".into()));
        };
        let link_env = oauth.map(|_| {
            let mut env = env.clone();
            // The operator command runs outside Lambda, with the same configuration.
            env.remove("AWS_LAMBDA_FUNCTION_NAME");
            env
        });
        let link_program = settings.tools.target_bin.join("onboarding-link");
        let seeded = seed::Seed {
            store: relay::store::Store::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                main_table.clone(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            main_table,
            sim_url: &sim_url,
            onboarding_link: link_env.as_ref().map(|env| (link_program.as_path(), env)),
            logs: logs.clone(),
        }
        .run()
        .await?;
        gaps.extend(seeded.gaps);
        onboarding_url = seeded.onboarding_url;
        demo = Some(seeded.demo);
    }

    // ------------------------------------------------------------ stack.json
    let routed = |path: &str, method: &str| {
        routes
            .find(method, path)
            .filter(|(route, _)| route.function == "oauth")
            .map(|_| format!("{api_url}{path}"))
    };
    let info = StackInfo {
        webhook_url: webhook_url.clone(),
        api_url: api_url.clone(),
        onboarding_url,
        oauth_callback_url: routed("/oauth/callback/instagram", "GET"),
        deauthorize_url: routed("/oauth/deauthorize/instagram", "POST"),
        data_deletion_url: routed("/oauth/data-deletion/instagram", "POST"),
        meta_simulator_url: sim_url.clone(),
        aws_endpoint_url: moto_url.clone(),
        lambda_invoke_url: lambda.base_url().to_owned(),
        region: REGION.into(),
        tables: aws
            .resources()
            .filter_map(|(id, _)| Some((state::short_name(id), aws.table(id)?.to_owned())))
            .collect(),
        queues: aws
            .resources()
            .filter_map(|(id, _)| Some((state::short_name(id), aws.queue_url(id)?.to_owned())))
            .collect(),
        event_bus: aws.event_bus_name("EventBus").map(str::to_owned),
        token_key_id: aws.key_id("TokenKey").map(str::to_owned),
        secrets_arn,
        app_secret: settings.app_secret.clone(),
        verify_token: settings.verify_token.clone(),
        ig_app_id: IG_APP_ID.into(),
        fb_app_id: FB_APP_ID.into(),
        demo,
        functions: functions
            .iter()
            .map(|f| FunctionInfo {
                logical_id: f.logical_id.clone(),
                binary: f.binary.clone(),
                triggers: f.events.iter().map(|e| describe(&e.trigger)).collect(),
            })
            .collect(),
        gaps,
        supervisor_pid: std::process::id(),
        processes: running.children.pids(),
        started_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        startup_seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    };
    state::write_json(&settings.stack_json(), &info)?;
    write_pids(settings, &running.children)?;
    print_banner(&info, settings);
    running.info = Some(info);
    Ok(())
}

fn describe(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Http(route) => route.route_key(),
        Trigger::Sqs(m) => format!(
            "SQS {} (batch {}{})",
            m.queue,
            m.batch_size,
            if m.report_batch_item_failures {
                ", ReportBatchItemFailures"
            } else {
                ""
            }
        ),
        Trigger::Schedule(s) => format!("schedule {}", s.expression),
    }
}

/// Builds what the stack runs: the simulator, the operator command, and every function
/// binary the way `cargo lambda watch` runs it (`cargo run --bin <name>`, one at a time,
/// so it finds them up to date instead of compiling on the first request).
async fn build(
    settings: &Settings,
    functions: &[FunctionSpec],
    with_link: bool,
    logs: &Logs,
    children: &Children,
    exits: &mut mpsc::UnboundedReceiver<Exited>,
) -> Result<(), UpError> {
    let mut bins: Vec<&str> = vec!["meta-sim"];
    if with_link {
        bins.push("onboarding-link");
    }
    let started = Instant::now();
    let mut builds: Vec<Vec<String>> = vec![
        bins.iter()
            .flat_map(|b| ["--bin".to_owned(), (*b).to_owned()])
            .collect(),
    ];
    builds.extend(
        functions
            .iter()
            .map(|f| vec!["--bin".to_owned(), f.binary.clone()]),
    );
    for bin_args in builds {
        let mut args = vec!["build".to_owned(), "--quiet".to_owned()];
        args.extend(bin_args);
        let pid = children.spawn(
            "build",
            &settings.tools.cargo,
            &args,
            &BTreeMap::new(),
            &settings.root,
        )?;
        loop {
            let exited = exits
                .recv()
                .await
                .expect("the children channel lives as long as the stack");
            if exited.pid != pid {
                continue;
            }
            match exited.status {
                Some(status) if status.success() => break,
                status => {
                    return Err(UpError::Build(
                        status.map_or("no status".into(), |s| s.to_string()),
                    ));
                }
            }
        }
    }
    logs.line(
        "stack",
        &format!(
            "built meta-sim and {} functions in {:.1} s",
            functions.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// Globals and every function's own variables, resolved against the local resources.
/// One `cargo lambda watch` runs all functions with one environment, so a variable two
/// functions set differently is refused rather than silently given one value.
fn function_environment(
    aws: &LocalAws,
    functions: &[FunctionSpec],
) -> Result<BTreeMap<String, String>, UpError> {
    let mut env = aws.env_vars()?;
    let mut owner: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in functions {
        let own = aws.function_env_vars(f)?;
        for name in f.environment.keys() {
            let Some(value) = own.get(name) else { continue };
            if let Some((first, existing)) = owner.get(name) {
                if existing != value {
                    return Err(UpError::EnvConflict {
                        var: name.clone(),
                        first: first.clone(),
                        second: f.logical_id.clone(),
                    });
                }
            }
            owner.insert(name.clone(), (f.logical_id.clone(), value.clone()));
            env.insert(name.clone(), value.clone());
        }
    }
    Ok(env)
}

async fn start_lambda(
    settings: &Settings,
    running: &mut Running,
    start: &LambdaStart,
    logs: &Logs,
) -> Result<(), UpError> {
    let pid = running.children.spawn(
        "lambda",
        &start.program,
        &start.args,
        &start.env,
        &settings.root,
    )?;
    running.lambda_pid = Some(pid);
    write_pids(settings, &running.children)?;
    let lambda = Lambda::new(start.port);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if lambda.is_up().await {
            logs.line(
                "stack",
                &format!("cargo lambda watch ready at {}", lambda.base_url()),
            );
            return Ok(());
        }
        if let Ok(exited) = running.exits.try_recv() {
            if exited.pid == pid {
                return Err(UpError::Part {
                    part: "cargo-lambda",
                    problem: format!(
                        "exited before it was ready ({})",
                        exited.status.map_or("no status".into(), |s| s.to_string())
                    ),
                    log: logs.recent("lambda"),
                });
            }
            return Err(UpError::Part {
                part: exited.part,
                problem: "exited while the stack was starting".into(),
                log: logs.recent(exited.part),
            });
        }
        if Instant::now() > deadline {
            return Err(UpError::Part {
                part: "cargo-lambda",
                problem: "did not answer within 60 s".into(),
                log: logs.recent("lambda"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts every HTTP and SQS function with an invocation that does nothing (an OPTIONS
/// request, an empty batch), so a function that cannot start is reported now and the
/// first real request finds it warm. Scheduled-only functions are not run early: a run
/// of them is real work.
async fn warm_up(functions: &[FunctionSpec], lambda: &Lambda, logs: &Logs) {
    let tasks = functions.iter().filter_map(|f| {
        let event = f.events.iter().find_map(|e| match &e.trigger {
            Trigger::Http(route) => {
                let path = if route.path == "$default" {
                    "/".to_owned()
                } else {
                    route.path.replace(['{', '}', '+'], "")
                };
                Some(serde_json::json!({
                    "version": "2.0",
                    "routeKey": route.route_key(),
                    "rawPath": path,
                    "rawQueryString": "",
                    "headers": {"user-agent": "relay-stack warm-up"},
                    "requestContext": {
                        "accountId": relay_local_aws::local_aws::ACCOUNT_ID,
                        "apiId": "local",
                        "domainName": "127.0.0.1",
                        "http": {"method": "OPTIONS", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "relay-stack warm-up"},
                        "requestId": uuid::Uuid::new_v4().to_string(),
                        "routeKey": route.route_key(),
                        "stage": "$default",
                        "timeEpoch": 0
                    },
                    "isBase64Encoded": false
                }))
            }
            Trigger::Sqs(_) => Some(serde_json::json!({"Records": []})),
            Trigger::Schedule(_) => None,
        })?;
        let lambda = lambda.clone();
        let logs = logs.clone();
        let binary = f.binary.clone();
        let timeout = Duration::from_secs(u64::from(f.timeout_seconds)) + crate::invoke::COLD_START_ALLOWANCE;
        Some(async move {
            let started = Instant::now();
            let body = serde_json::to_vec(&event).expect("JSON serialises");
            match lambda.invoke(&binary, &body, timeout).await {
                Invoked::Result(_) => logs.line(
                    "stack",
                    &format!("function {binary} started ({} ms)", started.elapsed().as_millis()),
                ),
                Invoked::FunctionError(e) => {
                    logs.line("stack", &format!("function {binary} FAILED to start: {e}"));
                }
                Invoked::NoAnswer(e) => {
                    logs.line("stack", &format!("function {binary} did not start: {e}"));
                }
            }
        })
    });
    futures::future::join_all(tasks).await;
}

/// Polls `url` until it answers, the part exits, or `limit` passes.
async fn wait_http(
    part: &'static str,
    url: &str,
    pid: u32,
    limit: Duration,
    running: &mut Running,
    logs: &Logs,
) -> Result<(), UpError> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a plain HTTP client always builds");
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if let Ok(exited) = running.exits.try_recv() {
            let what = if exited.pid == pid {
                format!(
                    "exited before it was ready ({})",
                    exited.status.map_or("no status".into(), |s| s.to_string())
                )
            } else {
                format!("was starting when [{}] exited", exited.part)
            };
            return Err(UpError::Part {
                part,
                problem: what,
                log: logs.recent(if exited.pid == pid { part } else { exited.part }),
            });
        }
        if Instant::now() > deadline {
            return Err(UpError::Part {
                part,
                problem: format!("did not answer {url} within {} s", limit.as_secs()),
                log: logs.recent(part),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write_pids(settings: &Settings, children: &Children) -> Result<(), UpError> {
    let pids = Pids {
        supervisor: std::process::id(),
        children: children.pids(),
    };
    state::write_json(&settings.pid_file(), &pids)?;
    Ok(())
}

fn print_banner(info: &StackInfo, settings: &Settings) {
    let mut lines = vec![
        String::new(),
        format!("Relay local stack is up ({:.1} s)", info.startup_seconds),
        format!("  API (API Gateway)   {}", info.api_url),
        format!("  webhook URL         {}", info.webhook_url),
        format!("  verify token        {}", info.verify_token),
        format!("  Meta simulator      {}", info.meta_simulator_url),
        format!("  AWS (moto)          {}", info.aws_endpoint_url),
        format!("  Lambda invoke API   {}", info.lambda_invoke_url),
    ];
    if let Some(url) = &info.onboarding_url {
        lines.push(format!("  onboarding link     {url}"));
    }
    if let Some(url) = &info.oauth_callback_url {
        lines.push(format!("  OAuth callback      {url}"));
    }
    if let Some(demo) = &info.demo {
        lines.push(demo.summary());
    }
    for f in &info.functions {
        lines.push(format!(
            "  function {:<14} {}",
            f.binary,
            f.triggers.join(", ")
        ));
    }
    for gap in &info.gaps {
        lines.push(format!("  not available: {gap}"));
    }
    lines.push(format!(
        "  state               {}",
        settings.stack_json().display()
    ));
    lines.push("Ctrl-C stops everything; `relay-stack demo` walks the main journeys.".into());
    lines.push(String::new());
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// Waits for Ctrl-C, SIGTERM or a part exiting; restarts `cargo lambda watch` when it
/// dies (it holds no state), ends the stack when anything else does.
async fn supervise(settings: &Settings, running: &mut Running, logs: &Logs) -> Result<(), UpError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| UpError::Other(format!("cannot watch for SIGTERM: {e}")))?;
    let mut restarts: Vec<Instant> = Vec::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                logs.line("stack", "Ctrl-C: stopping");
                return Ok(());
            }
            _ = term.recv() => {
                logs.line("stack", "SIGTERM: stopping");
                return Ok(());
            }
            exited = running.exits.recv() => {
                let Some(exited) = exited else { return Ok(()) };
                let status = exited.status.map_or("no status".into(), |s| s.to_string());
                if Some(exited.pid) == running.lambda_pid {
                    restarts.retain(|at| at.elapsed() < Duration::from_secs(60));
                    if restarts.len() >= 5 {
                        return Err(UpError::Part {
                            part: "cargo-lambda",
                            problem: "died 5 times within a minute".into(),
                            log: logs.recent("lambda"),
                        });
                    }
                    restarts.push(Instant::now());
                    logs.line("stack", &format!("cargo lambda watch exited ({status}); restarting it"));
                    let start = running.lambda_start.clone().expect("lambda was started before supervising");
                    // Whatever it had started goes too (a function left running would
                    // keep answering a runtime API that no longer exists).
                    crate::procs::signal_group(exited.pid, libc::SIGKILL);
                    start_lambda(settings, running, &start, logs).await?;
                    if let Some(info) = &mut running.info {
                        info.processes = running.children.pids();
                        state::write_json(&settings.stack_json(), info)?;
                    }
                } else {
                    return Err(UpError::Part {
                        part: exited.part,
                        problem: format!("exited unexpectedly ({status}); the stack stops, as its data is gone"),
                        log: logs.recent(exited.part),
                    });
                }
            }
        }
    }
}

async fn shutdown(settings: &Settings, running: &mut Running, logs: &Logs) {
    let _ = running.stop_tasks.send(true);
    running.children.stop_all().await;
    // Only remove state that is ours: another stack may have been started since.
    if let Ok(Some(pids)) = state::read_json::<Pids>(&settings.pid_file()) {
        if pids.supervisor == std::process::id() {
            let _ = std::fs::remove_file(settings.pid_file());
            let _ = std::fs::remove_file(settings.stack_json());
        }
    }
    logs.line("stack", "stopped");
}
