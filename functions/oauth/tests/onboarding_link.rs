//! The operator command, run as an operator would, against moto (run through
//! infra/scripts/test.sh, which starts moto and sets AWS_ENDPOINT_URL).

use std::process::Command;

use relay::audit::AuditTrail;
use relay::clock::{Clock, SystemClock};
use relay::ids::TenantId;
use relay::onboarding::{OnboardingLinks, PublicBaseUrl};
use relay::secret::Secret;
use relay::store::Store;
use relay_tests::TestAws;

const STATE_KEY: &str = "onboarding-link-test-state-key-0123456789";
const BASE: &str = "https://relay.example.com/prod";

fn command(aws: &TestAws, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onboarding-link"))
        .args(args)
        .envs(aws.env_vars())
        .env("OAUTH_STATE_KEY", STATE_KEY)
        .env("META_APP_SECRETS", "app-secret")
        .env("META_VERIFY_TOKEN", "verify-token")
        .env("RELAY_PUBLIC_BASE_URL", BASE)
        .env_remove("RELAY_SECRETS_ARN")
        .output()
        .expect("the command runs")
}

#[tokio::test]
async fn the_command_creates_the_tenant_and_prints_a_working_link() {
    let aws = TestAws::provision().await;
    let out = command(
        &aws,
        &[
            "--tenant",
            "acme-shop",
            "--name",
            "Acme Shop",
            "--days",
            "3",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("created tenant acme-shop"), "{stderr}");
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let token = url
        .strip_prefix(&format!("{BASE}/onboard?link="))
        .unwrap_or_else(|| panic!("not an onboarding link: {url}"));
    let links = OnboardingLinks::new(&Secret::new(STATE_KEY), PublicBaseUrl::parse(BASE).unwrap());
    let grant = links
        .verify(token, SystemClock.now_secs())
        .expect("the printed link works");
    let tenant = TenantId::parse("acme-shop").unwrap();
    assert_eq!(grant.tenant, tenant);
    let days = (grant.expires_at - SystemClock.now_secs()) as f64 / 86_400.0;
    assert!((2.99..=3.0).contains(&days), "valid for {days} days");

    let store = Store::new(aws.dynamodb(), aws.tables.main.clone());
    assert_eq!(
        store.get_tenant(&tenant).await.unwrap().unwrap().name,
        "Acme Shop"
    );
    let audit = AuditTrail::new(aws.dynamodb(), aws.tables.audit.clone());
    let records = audit.records(&tenant).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].action, "onboarding_link.issued");

    // An existing tenant needs no name and keeps its own.
    let again = command(&aws, &["--tenant", "acme-shop", "--name", "Other"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("name was left unchanged"));
    assert_eq!(
        store.get_tenant(&tenant).await.unwrap().unwrap().name,
        "Acme Shop"
    );

    // A new tenant without a name is refused, and nothing is created.
    let nameless = command(&aws, &["--tenant", "globex"]);
    assert!(!nameless.status.success());
    assert!(String::from_utf8_lossy(&nameless.stderr).contains("--name"));
    assert!(
        store
            .get_tenant(&TenantId::parse("globex").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}
