//! Starting and stopping: the library handle and the `meta-sim` binary.

use meta_sim::{MetaSim, SimConfig};
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn shutdown_stops_the_server_and_reset_clears_state() {
    let sim = MetaSim::start(SimConfig::default()).await.expect("starts");
    let base = sim.base_url().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    let http = reqwest::Client::new();
    http.post(format!("{base}/_sim/ig-users"))
        .json(&serde_json::json!({"username": "shop"}))
        .send()
        .await
        .expect("answers");
    http.post(format!("{base}/_sim/reset"))
        .send()
        .await
        .expect("answers");
    let users: serde_json::Value = http
        .get(format!("{base}/_sim/ig-users"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(users, serde_json::json!([]));
    sim.shutdown().await;
    assert!(
        http.get(format!("{base}/_sim/clock")).send().await.is_err(),
        "server stopped"
    );
}

#[tokio::test]
async fn two_simulators_run_side_by_side() {
    let a = MetaSim::start(SimConfig::default()).await.expect("starts");
    let b = MetaSim::start(SimConfig::default()).await.expect("starts");
    assert_ne!(a.base_url(), b.base_url());
}

#[test]
fn binary_prints_its_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meta-sim"))
        .args(["--port", "0"])
        .env("META_SIM_IG_APP_ID", "4242")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reads the ready line");
    let base = line
        .trim()
        .strip_prefix("meta-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("{base}/_sim/config"))
            .await
            .expect("answers")
            .json()
            .await
            .expect("json")
    });
    child.kill().expect("stops the child it started");
    let _ = child.wait();
    assert_eq!(config["config"]["ig_app_id"], "4242", "env overrides apply");
}
