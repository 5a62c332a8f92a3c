//! Injected faults and the usage headers.

mod common;

use common::{Sim, err, header_json};
use meta_sim::SimConfig;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Arms the fault `fault` (kind, match and count as `/_sim/faults` takes them).
async fn inject(sim: &Sim, fault: Value) {
    sim.admin("/_sim/faults", fault).await;
}

#[tokio::test]
async fn throttle_fault_hits_exactly_count_matching_calls() {
    let (sim, _, token) = Sim::shop().await;
    inject(
        &sim,
        json!({"kind": "throttle", "count": 2, "path_contains": "/me"}),
    )
    .await;
    for _ in 0..2 {
        let res = sim
            .http
            .get(sim.ig("/me"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers");
        let usage = header_json(&res, "x-app-usage");
        assert!(
            usage["call_count"].as_u64().is_some_and(|c| c >= 100),
            "throttled answers report 100 %"
        );
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(err(&body).0, 4);
        assert_eq!(body["error"]["is_transient"], true);
    }
    assert_eq!(sim.ig_get("/me", &token).await.0, 200);
}

#[tokio::test]
async fn transient_server_error_and_custom_faults() {
    let (sim, _, token) = Sim::shop().await;
    inject(&sim, json!({"kind": "transient"})).await;
    inject(&sim, json!({"kind": "server_error"})).await;
    inject(
        &sim,
        json!({"kind": "error", "code": 190, "subcode": 460, "path_contains": "/messages"}),
    )
    .await;
    let (status, body) = sim.ig_get("/me", &token).await;
    assert_eq!(
        (
            status,
            err(&body).0,
            body["error"]["is_transient"].as_bool()
        ),
        (503, 2, Some(true))
    );
    let (status, body) = sim.ig_get("/me", &token).await;
    assert_eq!((status, err(&body).0), (500, 1));
    // The /messages fault waits for a matching call.
    assert_eq!(sim.ig_get("/me", &token).await.0, 200);
    let (status, body) = sim.ig_post_json("/me/messages", &token, json!({})).await;
    assert_eq!((status, err(&body)), (400, (190, Some(460))));
    assert_eq!(sim.admin_get("/_sim/faults").await, json!([]));
}

#[tokio::test]
async fn slow_fault_delays_then_answers_normally() {
    let (sim, _, token) = Sim::shop().await;
    inject(&sim, json!({"kind": "slow", "delay_ms": 300})).await;
    let started = Instant::now();
    let (status, _) = sim.ig_get("/me", &token).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn lost_answer_runs_the_call_then_answers_a_transient_502() {
    let (sim, account, token) = Sim::shop().await;
    sim.admin(
        "/_sim/inbound",
        json!({"account_id": account, "customer_id": "111", "text": "Open today?"}),
    )
    .await;
    inject(
        &sim,
        json!({"kind": "lost_answer", "path_contains": "/messages", "method": "POST"}),
    )
    .await;
    let send = || {
        sim.http
            .post(sim.ig("/me/messages"))
            .bearer_auth(&token)
            .json(&json!({"recipient": {"id": "111"}, "message": {"text": "Yes"}}))
            .send()
    };
    let lost = send().await.expect("answers");
    assert_eq!(lost.status(), 502);
    let usage = header_json(&lost, "x-business-use-case-usage");
    assert!(
        usage.get(account.as_str()).is_some(),
        "the call is still accounted to the account: {usage}"
    );
    let body: Value = lost.json().await.expect("JSON");
    assert_eq!(err(&body), (2, None));
    assert_eq!(body["error"]["is_transient"], true);
    assert_eq!(
        sim.admin_get("/_sim/messages")
            .await
            .as_array()
            .map(Vec::len),
        Some(1),
        "the message went out although its answer was lost"
    );

    let answered = send().await.expect("answers");
    assert_eq!(answered.status(), 200, "the fault fires once");
    let statuses: Vec<u64> = sim
        .admin_get("/_sim/requests")
        .await
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/me/messages"))
        })
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, [502, 200], "the log shows what the client saw");
}

#[tokio::test]
async fn usage_headers_grow_with_calls_and_follow_overrides() {
    let (sim, account, token) = Sim::shop_with(SimConfig {
        app_calls_per_hour: 100,
        account_calls_per_hour: 50,
        ..SimConfig::default()
    })
    .await;
    let call = || sim.http.get(sim.ig("/me")).bearer_auth(&token).send();
    let first = call().await.expect("answers");
    let app1 = header_json(&first, "x-app-usage")["call_count"]
        .as_u64()
        .expect("pct");
    let buc = header_json(&first, "x-business-use-case-usage");
    let entry = &buc[account.as_str()][0];
    assert_eq!(entry["type"], "instagram");
    for key in [
        "call_count",
        "total_cputime",
        "total_time",
        "estimated_time_to_regain_access",
    ] {
        assert!(entry[key].is_number(), "{key} in {buc}");
    }
    for _ in 0..9 {
        call().await.expect("answers");
    }
    let later = call().await.expect("answers");
    let app2 = header_json(&later, "x-app-usage")["call_count"]
        .as_u64()
        .expect("pct");
    assert!(
        app2 >= app1 + 10,
        "11 calls of a 100/h budget: {app1} -> {app2}"
    );
    let acct = header_json(&later, "x-business-use-case-usage")[account.as_str()][0]["call_count"]
        .as_u64()
        .expect("pct");
    assert!(acct >= 20, "11 calls of a 50/h budget: {acct}");

    sim.admin(
        "/_sim/usage",
        json!({"call_count": 95, "total_time": 40, "total_cputime": 30}),
    )
    .await;
    let res = call().await.expect("answers");
    assert_eq!(res.status(), 200);
    assert_eq!(
        header_json(&res, "x-app-usage"),
        json!({"call_count": 95, "total_cputime": 30, "total_time": 40})
    );
    sim.admin("/_sim/usage", json!({"call_count": 100})).await;
    let (status, body) = sim.ig_get("/me", &token).await;
    assert_eq!((status, err(&body).0), (400, 4), "at 100 % Meta throttles");
    let res = sim
        .http
        .delete(sim.url("/_sim/usage"))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 200);

    sim.advance(3600).await;
    let fresh = call().await.expect("answers");
    assert_eq!(fresh.status(), 200);
    assert!(
        header_json(&fresh, "x-app-usage")["call_count"]
            .as_u64()
            .expect("pct")
            <= 1,
        "usage is a rolling hour"
    );
}

#[tokio::test]
async fn account_usage_override_throttles_only_that_account() {
    let sim = Sim::start().await;
    let (a, token_a) = sim.ig_account("a").await;
    let (_, token_b) = sim.ig_account("b").await;
    sim.admin("/_sim/usage", json!({"account_id": a, "call_count": 100}))
        .await;
    let (status, body) = sim.ig_get("/me", &token_a).await;
    assert_eq!((status, err(&body).0), (400, 80_002));
    assert_eq!(sim.ig_get("/me", &token_b).await.0, 200);
}

#[tokio::test]
async fn request_log_records_calls_without_query_strings() {
    let (sim, _, token) = Sim::shop().await;
    sim.http
        .get(sim.ig(&format!("/me?access_token={token}")))
        .send()
        .await
        .expect("answers");
    let log = sim.admin_get("/_sim/requests").await;
    let text = log.to_string();
    assert!(text.contains("/graph.instagram.com/v26.0/me"));
    assert!(!text.contains(&token), "tokens never reach the log");
}

#[tokio::test]
async fn an_injected_throttle_reports_the_accounts_usage_and_when_access_returns() {
    let (sim, id, token) = Sim::shop().await;
    let media = sim.seed_media(&id).await;
    let comment = sim
        .admin(
            "/_sim/comments",
            json!({"media_id": media, "text": "hello", "from_username": "fan"}),
        )
        .await["id"]
        .as_str()
        .expect("comment id")
        .to_owned();
    // The call names the account (`me`), a comment of its media, and the account id.
    for (path, method) in [
        ("/me/messages".to_owned(), "POST"),
        (format!("/{comment}?hide=true"), "POST"),
        (format!("/{id}"), "GET"),
    ] {
        inject(&sim, json!({"kind": "throttle", "code": 80002, "count": 1})).await;
        let request = match method {
            "POST" => sim.http.post(sim.ig(&path)).json(&json!({})),
            _ => sim.http.get(sim.ig(&path)),
        };
        let res = request.bearer_auth(&token).send().await.expect("answers");
        let header = res
            .headers()
            .get("x-business-use-case-usage")
            .unwrap_or_else(|| panic!("{path}: a throttled answer carries the BUC header"));
        let usage: Value = serde_json::from_str(header.to_str().expect("ascii")).expect("json");
        let entry = &usage[id.as_str()][0];
        assert_eq!(entry["call_count"], 100, "{path}: {usage}");
        assert!(
            entry["estimated_time_to_regain_access"]
                .as_i64()
                .is_some_and(|m| m >= 1),
            "{path}: {usage}"
        );
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(err(&body).0, 80002);
    }
}
