//! A person onboarding in a real browser: headless Chromium (Debian's package), driven by
//! tests/browser/onboard.mjs (playwright-core), opens the onboarding link, clicks
//! Connect with Instagram, clicks Allow on the simulator's dialog and sees the success
//! page listing the account; then the same in a popup whose result reaches the opener by
//! postMessage. Screenshots of every page are kept in target/artifacts/browser/.
//!
//! Needs /usr/bin/chromium (or `RELAY_CHROMIUM`), node and tests/browser/node_modules:
//! `infra/scripts/browser-deps.sh` installs them. Without them the test says so and
//! skips.

mod onboarding_world;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use onboarding_world::World;
use relay::store::accounts::AccountStatus;
use serde_json::Value;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("artifacts").join("browser")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_dependency() -> Option<String> {
    let chromium = std::env::var("RELAY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} not found"));
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        return Some("tests/browser/node_modules is missing".into());
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed".into());
    }
    None
}

#[tokio::test]
async fn a_person_connects_instagram_in_a_real_browser() {
    if let Some(reason) = missing_dependency() {
        println!(
            "SKIPPED a_person_connects_instagram_in_a_real_browser: {reason}; \
             run infra/scripts/browser-deps.sh to install Chromium and playwright-core"
        );
        return;
    }
    let world = World::start().await;
    world.instagram_user("acme.browser").await;
    let link = world.onboarding_link("acme", "Acme Agency").await;
    let artifacts = artifacts_dir();

    let child = tokio::process::Command::new("node")
        .arg("onboard.mjs")
        .current_dir(browser_dir())
        .env("ONBOARDING_URL", &link)
        .env("EXPECT_ACCOUNT", "@acme.browser")
        .env("ARTIFACTS_DIR", &artifacts)
        .env(
            "CHROMIUM",
            std::env::var("RELAY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    // The servers run on this test's runtime, so the browser is awaited, not blocked on.
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the browser run finishes within two minutes")
        .expect("the browser run's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!("no report from the browser run\nstdout: {stdout}\nstderr: {stderr}")
        });
    assert!(
        output.status.success() && report["ok"] == true,
        "the person could not connect in the browser: {report:#}\nstderr: {stderr}"
    );

    let titles: Vec<&str> = report["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles[0], "Connect your accounts to Acme Agency");
    assert_eq!(titles[2], "Connected to Acme Agency");
    assert_eq!(
        report["keyboardReachesConnect"], true,
        "Connect is not reachable by keyboard"
    );
    // Relay's pages must run clean (a CSP violation would show here); the simulator's
    // dialog is not Relay's concern.
    let own_errors: Vec<&Value> = report["consoleErrors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["url"]
                .as_str()
                .is_some_and(|u| u.starts_with(&world.server.url))
        })
        .collect();
    assert!(
        own_errors.is_empty(),
        "Relay's pages logged errors: {own_errors:#?}"
    );
    let message = &report["popupMessage"];
    assert_eq!(message["origin"], world.server.url.as_str());
    assert_eq!(
        message["data"]["accounts"][0]["display_name"],
        "@acme.browser"
    );
    for name in [
        "01-onboarding.png",
        "02-meta-dialog.png",
        "03-success.png",
        "04-opener-after-popup.png",
    ] {
        let shot = artifacts.join(name);
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1_000, "no screenshot {}", shot.display());
    }

    let accounts = world.accounts("acme").await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].status, AccountStatus::Connected);
    assert_eq!(accounts[0].username.as_deref(), Some("acme.browser"));
    println!("screenshots in {}", artifacts.display());
}
