//! Operator command: make an API key and print it (shown this once; only its hash is
//! stored).
//!
//! ```text
//! api-key operator --name "Ops laptop"
//! api-key tenant --tenant acme-shop --role owner --name "Owner"
//! ```
//!
//! Reads the same environment as the function (`RELAY_MAIN_TABLE`, `RELAY_AUDIT_TABLE`,
//! AWS credentials and endpoint).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use relay::access::{Grant, Role, mint_key};
use relay::audit::{AuditEntry, AuditTrail};
use relay::clock::{Clock, SystemClock};
use relay::config::Config;
use relay::ids::TenantId;
use relay::store::Store;

#[derive(Parser)]
#[command(about = "Make a Relay API key (printed once; only its hash is stored)")]
struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Subcommand)]
enum Kind {
    /// A key for the installation's operators: tenants, onboarding links, health.
    Operator {
        #[arg(long)]
        name: String,
    },
    /// A key of a tenant's team.
    Tenant {
        #[arg(long, value_parser = parse_tenant)]
        tenant: TenantId,
        #[arg(long, value_parser = parse_role, default_value = "owner")]
        role: Role,
        #[arg(long)]
        name: String,
    },
}

fn parse_tenant(raw: &str) -> Result<TenantId, String> {
    TenantId::parse(raw).map_err(|e| e.to_string())
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| "use viewer, agent, manager, admin or owner".to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("api-key: {e}");
            return ExitCode::from(2);
        }
    };
    let sdk = aws_config::load_from_env().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.main_table);
    let audit = AuditTrail::new(aws_sdk_dynamodb::Client::new(&sdk), &config.audit_table);
    let (grant, name) = match args.kind {
        Kind::Operator { name } => (Grant::Operator, name),
        Kind::Tenant { tenant, role, name } => {
            match store.get_tenant(&tenant).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    eprintln!("api-key: no tenant {tenant}");
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!("api-key: {e}");
                    return ExitCode::FAILURE;
                }
            }
            (
                Grant::Tenant {
                    tenant_id: tenant,
                    role,
                    accounts: Vec::new(),
                },
                name,
            )
        }
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        eprintln!("api-key: --name must be 1 to 100 characters");
        return ExitCode::from(2);
    }
    let minted = mint_key(grant, name, "operator:cli", SystemClock.now_ms());
    if let Err(e) = store.put_api_key(&minted.hash, &minted.record).await {
        eprintln!("api-key: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(tenant) = minted.record.tenant() {
        let entry = AuditEntry::new("operator:cli", "key.created")
            .target(format!("key:{}", minted.record.key_id));
        if let Err(e) = audit.append(tenant, entry).await {
            eprintln!("api-key: the key was made but not audited: {e}");
        }
    }
    eprintln!("key {} ({}); shown this once:", minted.record.key_id, name);
    println!("{}", minted.plaintext.expose());
    ExitCode::SUCCESS
}
