//! Graph client throughput against the Meta simulator on loopback: a profile read (GET,
//! retry-capable path) and a DM send (POST with a JSON body). Measures the client's own
//! cost plus one local HTTP round trip; bounded to a few seconds.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meta_sim::{MetaSim, SimConfig};
use relay::ids::{AccountId, CustomerId};
use relay::meta::{GraphClient, InstagramAccount};
use relay::secret::AccessToken;
use serde_json::{Value, json};

struct Setup {
    _sim: MetaSim,
    client: GraphClient,
    account: InstagramAccount,
    customer: CustomerId,
}

async fn admin(base: &str, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .expect("simulator reachable")
        .json()
        .await
        .expect("admin JSON")
}

async fn setup() -> Setup {
    let sim = MetaSim::start(SimConfig {
        // The bench makes tens of thousands of calls; keep the simulated limits out of it.
        app_calls_per_hour: u32::MAX,
        account_calls_per_hour: u32::MAX,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let base = sim.base_url().to_string();
    let client = GraphClient::new(relay_tests::sim::meta_config(&sim)).expect("client builds");
    let user = admin(&base, "/_sim/ig-users", json!({"username": "bench.shop"})).await;
    let id = user["user_id"].as_str().expect("user id").to_owned();
    let token = admin(
        &base,
        "/_sim/tokens",
        json!({"user_id": id, "kind": "ig_long"}),
    )
    .await;
    let customer = CustomerId::parse("9001000000000099").expect("numeric id");
    admin(
        &base,
        "/_sim/inbound",
        json!({"account_id": id, "customer_id": customer.as_str(), "text": "hi"}),
    )
    .await;
    Setup {
        _sim: sim,
        client,
        account: InstagramAccount::instagram_login(
            AccountId::parse(id).expect("numeric id"),
            AccessToken::new(token["access_token"].as_str().expect("token")),
        ),
        customer,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime builds");
    let s = rt.block_on(setup());

    let mut group = c.benchmark_group("meta_client");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("instagram_profile", |b| {
        b.iter(|| {
            rt.block_on(s.client.instagram_profile(&s.account))
                .expect("profile")
        })
    });
    group.bench_function("send_text", |b| {
        b.iter(|| {
            rt.block_on(
                s.client
                    .send_text(&s.account, &s.customer, "Thanks, on its way!"),
            )
            .expect("send")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
