//! `relay-stack`: Relay on a workstation. The moto server plays AWS (with everything
//! template.yaml declares), the Meta simulator plays Meta, `cargo lambda watch` runs
//! every function, and this program plays API Gateway, the SQS event source mappings
//! and the schedules, all on 127.0.0.1 and all read from template.yaml.
//!
//! ```text
//! relay-stack up [--detach] [--no-demo]   start (foreground: Ctrl-C stops everything)
//! relay-stack down                        stop a stack started with --detach
//! relay-stack status                      what is running and where
//! relay-stack demo                        walk the main journeys against the stack
//! relay-stack redrive                     move every DLQ's records back to their queue
//! ```
//!
//! Exit codes: 0 done, 1 failed, 2 refused to start (a port taken, a tool missing, a
//! bad setting), 3 no stack running.

mod browse;
mod cron;
mod demo;
mod invoke;
mod logs;
mod procs;
mod redrive;
mod seed;
mod settings;
mod sqs;
mod state;
mod up;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use settings::Settings;
use state::{Pids, StackInfo};

/// Relay on a workstation: moto as AWS, the Meta simulator, every function under
/// cargo-lambda, wired as template.yaml says.
#[derive(Debug, Parser)]
#[command(name = "relay-stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Start the stack (in the foreground, Ctrl-C stops everything).
    Up {
        /// Run in the background and return once it is ready.
        #[arg(short, long)]
        detach: bool,
        /// Do not seed the demo tenant.
        #[arg(long)]
        no_demo: bool,
    },
    /// Stop a stack started with --detach.
    Down,
    /// What is running and where.
    Status,
    /// Walk the main journeys against the running stack.
    Demo,
    /// Move every dead-letter queue's records back into the queue it serves.
    Redrive,
}

fn main() -> ExitCode {
    // clap prints help (exit 0) or what is wrong with the command line (exit 2, a
    // refusal to start).
    let command = Cli::parse().command;
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("relay-stack: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(async move {
        match command {
            Command::Up {
                detach: true,
                no_demo,
            } => detach(&settings, no_demo).await,
            Command::Up {
                detach: false,
                no_demo,
            } => match up::up(settings, up::UpOptions { no_demo }).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("relay-stack: {e}");
                    ExitCode::from(refusal_code(&e))
                }
            },
            Command::Down => down(&settings).await,
            Command::Status => status(&settings),
            Command::Demo => match read_info(&settings) {
                Some(info) => {
                    let report = demo::run(&info).await;
                    if report.failed == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                None => ExitCode::from(3),
            },
            Command::Redrive => match read_info(&settings) {
                Some(info) => {
                    let sdk =
                        relay_local_aws::local_aws::sdk_config_for(&info.aws_endpoint_url).await;
                    match redrive::redrive(&aws_sdk_sqs::Client::new(&sdk), &info.queues).await {
                        Ok(moved) => {
                            for (dlq, count) in moved {
                                println!("{dlq}: {count} records moved back");
                            }
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("relay-stack: {e}");
                            ExitCode::FAILURE
                        }
                    }
                }
                None => ExitCode::from(3),
            },
        }
    })
}

/// 2 for what the user can fix before starting (ports, tools, settings), 1 otherwise.
fn refusal_code(e: &up::UpError) -> u8 {
    match e {
        up::UpError::PortTaken { .. }
        | up::UpError::ToolMissing { .. }
        | up::UpError::AlreadyRunning(_)
        | up::UpError::EnvConflict { .. }
        | up::UpError::Template(_) => 2,
        _ => 1,
    }
}

fn read_info(settings: &Settings) -> Option<StackInfo> {
    match state::read_json::<StackInfo>(&settings.stack_json()) {
        Ok(Some(info)) if procs::alive(info.supervisor_pid) => Some(info),
        Ok(_) => {
            eprintln!(
                "relay-stack: no stack is running ({} is missing or stale); start one with `relay-stack up`",
                settings.stack_json().display()
            );
            None
        }
        Err(e) => {
            eprintln!("relay-stack: {e}");
            None
        }
    }
}

/// Starts `relay-stack up` in the background (its own session, output to the log file)
/// and returns once it is ready, or with its log when it failed.
async fn detach(settings: &Settings, no_demo: bool) -> ExitCode {
    use std::os::unix::process::CommandExt;
    if let Err(e) = std::fs::create_dir_all(&settings.state_dir) {
        eprintln!(
            "relay-stack: cannot create {}: {e}",
            settings.state_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let log_path = settings.log_file();
    let log = match std::fs::File::create(&log_path) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("relay-stack: cannot write {}: {e}", log_path.display());
            return ExitCode::FAILURE;
        }
    };
    let exe = std::env::current_exe().expect("the running program has a path");
    let mut command = std::process::Command::new(exe);
    command.arg("up");
    if no_demo {
        command.arg("--no-demo");
    }
    command
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("a log file handle clones"))
        .stderr(log)
        // Its own session: Ctrl-C in this terminal does not reach it.
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("relay-stack: cannot start the background stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    println!(
        "starting the stack in the background; log: {}",
        log_path.display()
    );
    loop {
        if let Ok(Some(info)) = state::read_json::<StackInfo>(&settings.stack_json()) {
            if info.supervisor_pid == child.id() {
                print_status(&info, settings);
                println!(
                    "`relay-stack down` stops it; `tail -f {}` follows its log.",
                    log_path.display()
                );
                return ExitCode::SUCCESS;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            eprintln!("relay-stack: the background stack exited ({status})");
            return ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1));
        }
        if started.elapsed() > Duration::from_secs(30 * 60) {
            eprintln!(
                "relay-stack: the stack was not ready after 30 minutes; see {}",
                log_path.display()
            );
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stops the stack named by the pid file: SIGTERM to the supervisor (which stops its
/// parts), then, if it is gone or does not finish in time, every recorded part.
#[allow(unsafe_code)] // libc process control
async fn down(settings: &Settings) -> ExitCode {
    let pids = match state::read_json::<Pids>(&settings.pid_file()) {
        Ok(Some(pids)) => pids,
        Ok(None) => {
            println!("no stack is running (no {})", settings.pid_file().display());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("relay-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    if procs::alive(pids.supervisor) {
        println!("stopping the stack (pid {})", pids.supervisor);
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(i32::try_from(pids.supervisor).unwrap_or(0), libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while procs::alive(pids.supervisor) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (part, pid) in &pids.children {
        if procs::alive(*pid) {
            println!("stopping [{part}] (pid {pid}), left behind");
            procs::signal_group(*pid, libc::SIGKILL);
        }
    }
    if procs::alive(pids.supervisor) {
        procs::signal_group(pids.supervisor, libc::SIGKILL);
        // SAFETY: as above.
        unsafe {
            libc::kill(i32::try_from(pids.supervisor).unwrap_or(0), libc::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(settings.pid_file());
    let _ = std::fs::remove_file(settings.stack_json());
    println!("stopped");
    ExitCode::SUCCESS
}

fn status(settings: &Settings) -> ExitCode {
    match read_info(settings) {
        Some(info) => {
            print_status(&info, settings);
            ExitCode::SUCCESS
        }
        None => ExitCode::from(3),
    }
}

fn print_status(info: &StackInfo, settings: &Settings) {
    println!(
        "Relay local stack (pid {}, started {}, up in {:.1} s)",
        info.supervisor_pid, info.started_at, info.startup_seconds
    );
    println!("  API (API Gateway)   {}", info.api_url);
    println!("  webhook URL         {}", info.webhook_url);
    println!("  Meta simulator      {}", info.meta_simulator_url);
    println!("  AWS (moto)          {}", info.aws_endpoint_url);
    if let Some(url) = &info.onboarding_url {
        println!("  onboarding link     {url}");
    }
    if let Some(demo) = &info.demo {
        println!("{}", demo.summary());
    }
    for (part, pid) in &info.processes {
        let state = if procs::alive(*pid) {
            "running"
        } else {
            "gone"
        };
        println!("  [{part}] pid {pid} {state}");
    }
    for gap in &info.gaps {
        println!("  not available: {gap}");
    }
    println!("  state               {}", settings.stack_json().display());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command `list` (without the program name) asks for.
    fn parse(list: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once(&"relay-stack").chain(list)).map(|cli| cli.command)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn commands_and_flags() {
        assert_eq!(
            parse(&["up"]).unwrap(),
            Command::Up {
                detach: false,
                no_demo: false
            }
        );
        assert_eq!(
            parse(&["up", "--detach", "--no-demo"]).unwrap(),
            Command::Up {
                detach: true,
                no_demo: true
            }
        );
        assert_eq!(parse(&["down"]).unwrap(), Command::Down);
        assert_eq!(parse(&["demo"]).unwrap(), Command::Demo);
        assert_eq!(parse(&["redrive"]).unwrap(), Command::Redrive);
        assert!(parse(&["up", "--bogus"]).is_err());
        assert!(parse(&["down", "--detach"]).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(&["start"]).is_err());
    }
}
