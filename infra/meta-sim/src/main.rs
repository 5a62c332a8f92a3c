//! `meta-sim`: runs the Meta simulator as a process for local stacks and end-to-end
//! tests. Listens on 127.0.0.1 (`--port N`, `META_SIM_PORT`, default a free port),
//! prints `meta-sim listening on http://127.0.0.1:PORT` once ready, stops on Ctrl-C.
//!
//! Environment overrides: META_SIM_IG_APP_ID, META_SIM_IG_APP_SECRET,
//! META_SIM_FB_APP_ID, META_SIM_FB_APP_SECRET, META_SIM_APP_NAME, META_SIM_WEBHOOK_URL,
//! META_SIM_WEBHOOK_SECRET, META_SIM_CONTAINER_POLLS, META_SIM_PUBLISH_QUOTA,
//! META_SIM_WEBHOOK_RETRIES, META_SIM_ECHO_SENT_MESSAGES, META_SIM_PUBLIC_MEDIA_HOSTS
//! (comma-separated), META_SIM_INSIGHTS_LAG_SECS, META_SIM_RETIRED_METRICS
//! (comma-separated).

use meta_sim::{MetaSim, SimConfig};
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    #[error("{name} must be a number, got `{value}`")]
    NotANumber { name: String, value: String },
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("unknown argument `{0}` (usage: meta-sim [--port N])")]
    UnknownArgument(String),
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, CliError> {
    value.parse().map_err(|_| CliError::NotANumber {
        name: name.to_owned(),
        value: value.to_owned(),
    })
}

fn config_from_env(mut c: SimConfig) -> Result<SimConfig, CliError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(v) = var("META_SIM_IG_APP_ID") {
        c.ig_app_id = v;
    }
    if let Some(v) = var("META_SIM_IG_APP_SECRET") {
        c.ig_app_secret = v;
    }
    if let Some(v) = var("META_SIM_FB_APP_ID") {
        c.fb_app_id = v;
    }
    if let Some(v) = var("META_SIM_FB_APP_SECRET") {
        c.fb_app_secret = v;
    }
    if let Some(v) = var("META_SIM_APP_NAME") {
        c.app_name = v;
    }
    if let Some(v) = var("META_SIM_WEBHOOK_URL") {
        c.webhook_url = Some(v);
    }
    if let Some(v) = var("META_SIM_WEBHOOK_SECRET") {
        c.webhook_secret = v;
    }
    if let Some(v) = var("META_SIM_CONTAINER_POLLS") {
        c.container_polls_until_finished = number("META_SIM_CONTAINER_POLLS", &v)?;
    }
    if let Some(v) = var("META_SIM_PUBLISH_QUOTA") {
        c.publish_quota_total = number("META_SIM_PUBLISH_QUOTA", &v)?;
    }
    if let Some(v) = var("META_SIM_WEBHOOK_RETRIES") {
        c.webhook_retry_attempts = number("META_SIM_WEBHOOK_RETRIES", &v)?;
    }
    if let Some(v) = var("META_SIM_ECHO_SENT_MESSAGES") {
        c.echo_sent_messages = v == "1" || v.eq_ignore_ascii_case("true");
    }
    if let Some(v) = var("META_SIM_PUBLIC_MEDIA_HOSTS") {
        c.public_media_hosts = v
            .split(',')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
    }
    if let Some(v) = var("META_SIM_INSIGHTS_LAG_SECS") {
        c.insights_lag_secs = number("META_SIM_INSIGHTS_LAG_SECS", &v)?;
        if c.insights_lag_secs < 0 {
            return Err(CliError::Invalid {
                name: "META_SIM_INSIGHTS_LAG_SECS",
                reason: "must be >= 0".into(),
            });
        }
    }
    if let Some(v) = var("META_SIM_RETIRED_METRICS") {
        c.retired_metrics = meta_sim::config::metric_list(
            v.split(',').filter(|m| !m.trim().is_empty()),
        )
        .map_err(|reason| CliError::Invalid {
            name: "META_SIM_RETIRED_METRICS",
            reason,
        })?;
    }
    Ok(c)
}

fn port_from_args() -> Result<u16, CliError> {
    let mut port = match std::env::var("META_SIM_PORT") {
        Ok(v) if !v.is_empty() => number("META_SIM_PORT", &v)?,
        _ => 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let v = args.next().ok_or(CliError::MissingValue("--port"))?;
                port = number("--port", &v)?;
            }
            other => match other.strip_prefix("--port=") {
                Some(v) => port = number("--port", v)?,
                None => return Err(CliError::UnknownArgument(other.to_owned())),
            },
        }
    }
    Ok(port)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let (port, config) =
        match port_from_args().and_then(|p| Ok((p, config_from_env(SimConfig::default())?))) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("meta-sim: {e}");
                return ExitCode::from(2);
            }
        };
    let sim = match MetaSim::start_on(config, SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("meta-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("meta-sim listening on {}", sim.base_url());
    let _ = std::io::stdout().flush();
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("meta-sim: cannot wait for Ctrl-C: {e}");
    }
    sim.shutdown().await;
    ExitCode::SUCCESS
}
