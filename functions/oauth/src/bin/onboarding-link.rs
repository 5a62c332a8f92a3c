//! Operator command: print a signed onboarding link for a tenant, creating the tenant
//! record (with its display name) when it does not exist yet.
//!
//! ```text
//! onboarding-link --tenant acme-shop [--name "Acme Shop"] [--days 7]
//! ```
//!
//! Reads the same environment as the function (tables, secrets, RELAY_PUBLIC_BASE_URL).

use std::process::ExitCode;

use relay::accounts::Tenant;
use relay::accounts::public_base_url;
use relay::audit::{AuditEntry, AuditTrail};
use relay::clock::{Clock, SystemClock};
use relay::config::{Config, Secrets, Vars};
use relay::ids::TenantId;
use relay::onboarding::{OnboardingLinks, is_reserved_tenant};
use relay::store::Store;

const USAGE: &str =
    "usage: onboarding-link --tenant <tenant-id> [--name <display name>] [--days <1-30>]";

struct Args {
    tenant: TenantId,
    name: Option<String>,
    days: Option<u32>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut tenant, mut name, mut days) = (None, None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--tenant" => {
                let raw = value()?;
                let id = TenantId::parse(raw).map_err(|e| format!("--tenant: {e}"))?;
                if is_reserved_tenant(&id) {
                    return Err("--tenant: ids starting with '-' are reserved".into());
                }
                tenant = Some(id);
            }
            "--name" => {
                let raw = value()?;
                let trimmed = raw.trim();
                if trimmed.is_empty() || trimmed.chars().count() > 100 {
                    return Err("--name must be 1 to 100 characters".into());
                }
                name = Some(trimmed.to_owned());
            }
            "--days" => {
                let n: u32 = value()?
                    .parse()
                    .map_err(|_| "--days must be a number".to_owned())?;
                if !(1..=30).contains(&n) {
                    return Err("--days must be 1 to 30".into());
                }
                days = Some(n);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        tenant: tenant.ok_or(format!("--tenant is required\n{USAGE}"))?,
        name,
        days,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args = parse_args(std::env::args().skip(1))?;
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk)
        .await
        .map_err(|e| e.to_string())?;
    let vars = Vars::from_process();
    let base = public_base_url(&vars);
    let default_days: u32 = vars.parsed("RELAY_ONBOARDING_LINK_DAYS", 7);
    vars.finish().map_err(|e| e.to_string())?;
    let base = base.ok_or("RELAY_PUBLIC_BASE_URL is not set")?;

    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.main_table.clone(),
    );
    let now = SystemClock.now_secs();
    match store
        .get_tenant(&args.tenant)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(existing) => {
            if args.name.as_deref().is_some_and(|n| n != existing.name) {
                eprintln!(
                    "note: tenant {} exists with another name; the name was left unchanged",
                    args.tenant
                );
            }
        }
        None => {
            let name = args
                .name
                .clone()
                .ok_or("the tenant does not exist yet: give its display name with --name")?;
            store
                .put_tenant(&Tenant {
                    tenant_id: args.tenant.clone(),
                    name,
                    created_at: now,
                })
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("created tenant {}", args.tenant);
        }
    }
    let days = args.days.unwrap_or(default_days);
    let link = OnboardingLinks::new(&secrets.oauth_state_key, base)
        .issue(&args.tenant, now + i64::from(days) * 86_400);
    AuditTrail::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.audit_table.clone(),
    )
    .append(
        &args.tenant,
        AuditEntry::new("operator:onboarding-link", "onboarding_link.issued")
            .details(serde_json::json!({"expires_at": link.expires_at})),
    )
    .await
    .map_err(|e| e.to_string())?;
    eprintln!(
        "valid until {}",
        relay::onboarding::html::human_time(link.expires_at)
    );
    println!("{}", link.url);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments_are_checked() {
        let a = args(&["--tenant", "acme", "--name", " Acme Shop ", "--days", "3"]).unwrap();
        assert_eq!(a.tenant.as_str(), "acme");
        assert_eq!(a.name.as_deref(), Some("Acme Shop"));
        assert_eq!(a.days, Some(3));
        assert!(args(&[]).is_err());
        assert!(args(&["--tenant", "Acme!"]).is_err());
        assert!(args(&["--tenant", "-security"]).is_err());
        assert!(args(&["--tenant", "acme", "--days", "90"]).is_err());
        assert!(args(&["--tenant", "acme", "--bogus"]).is_err());
        assert!(args(&["--tenant"]).is_err());
    }
}
