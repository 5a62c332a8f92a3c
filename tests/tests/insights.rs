//! The profile and insights sync on moto and the Meta simulator: the hourly sweep and
//! on-demand refreshes fill a cache of profile snapshots, account days and media
//! insights, each with its fetch time. The tests read what a business would rely on:
//! figures are read once per TTL and never again once final, a metric Meta stopped
//! serving is dropped without failing the sync, Meta's usage limits pause an account
//! (or the whole sweep) and the next run resumes where it stopped, and data Meta does
//! not have yet is stored as "no data", never as a zero. Relay's clock is the
//! simulator's, so advancing it moves both.

mod ai_support;
mod common;

use std::collections::HashMap;
use std::sync::Arc;

use ai_support::{Ai, sim_post};
use aws_lambda_events::event::sqs::SqsEvent;
use common::Pipeline;
use relay::accounts::Tokens;
use relay::events::EventBus;
use relay::ids::{AccountId, MediaId, TenantId};
use relay::insights::records::{AccountDay, MediaInsights, Profile, SyncState};
use relay::insights::records::{day_text, window_days};
use relay::insights::sync::{ACTOR, AccountReport, Settings, SweepReport};
use relay::insights::{MediaKind, RefreshRequest, Syncer};
use relay::jobs::{JobQueue, SyncJob};
use relay::meta::GraphClient;
use relay::store::Listing;
use relay::store::accounts::Tenant;
use relay_tests::pipeline::{Dispatcher, Drained};
use relay_tests::sim_clock::SimClock;
use serde_json::{Value, json};

const DAY_S: i64 = 86_400;
const HOUR_S: i64 = 3_600;

struct World {
    p: Pipeline,
    clock: Arc<SimClock>,
    syncer: Syncer,
    tenant: TenantId,
    account: AccountId,
}

impl World {
    async fn start() -> Self {
        Self::with(Settings::default()).await
    }

    async fn with(settings: Settings) -> Self {
        let p = Pipeline::start().await;
        let clock = SimClock::connect(p.sim.base_url()).await;
        let tenant = common::tenant("bloom");
        add_tenant(&p, &tenant, "Bloom Florist").await;
        let account = AccountId::parse(Ai::connect(&p, &tenant, "bloom_florist").await)
            .expect("a numeric account id");
        let graph = GraphClient::new(relay_tests::sim::meta_config(&p.sim))
            .expect("the Graph client builds");
        let tokens = Tokens::new(
            p.store.clone(),
            relay::crypto::EnvelopeCipher::new(p.aws.kms(), p.aws.token_key_id.clone()),
            graph.clone(),
            p.audit.clone(),
            EventBus::new(p.aws.eventbridge(), p.aws.event_bus.clone()),
            ACTOR,
        )
        .with_clock(clock.clone());
        let syncer = Syncer {
            store: p.store.clone(),
            tokens,
            graph,
            clock: clock.clone(),
            settings,
        };
        Self {
            p,
            clock,
            syncer,
            tenant,
            account,
        }
    }

    /// Another tenant, with its own Instagram account.
    async fn second_tenant(&self, id: &str, username: &str) -> (TenantId, AccountId) {
        let tenant = common::tenant(id);
        add_tenant(&self.p, &tenant, username).await;
        let account = AccountId::parse(Ai::connect(&self.p, &tenant, username).await)
            .expect("a numeric account id");
        (tenant, account)
    }

    async fn sweep(&self) -> SweepReport {
        self.syncer.sweep().await.expect("the sweep runs")
    }

    fn job(&self) -> SyncJob {
        SyncJob {
            tenant_id: self.tenant.clone(),
            account_id: self.account.clone(),
        }
    }

    /// `POST /_sim/config`.
    async fn meta_config(&self, change: Value) {
        sim_post(&self.p, "/_sim/config", change).await;
    }

    /// A media of the account at Meta, published `age_s` seconds ago.
    async fn seed(&self, account: &AccountId, shape: Value, age_s: i64) -> MediaId {
        let mut body = shape;
        body["account_id"] = json!(account.as_str());
        body["published_at"] = json!(self.clock.now_ms() / 1000 - age_s);
        let created = sim_post(&self.p, "/_sim/media", body).await;
        MediaId::parse(created["id"].as_str().expect("a media id")).expect("a media id")
    }

    /// Every call Relay made to Meta, oldest first.
    async fn meta_calls(&self) -> Vec<Value> {
        self.p
            .http
            .get(format!("{}/_sim/requests", self.p.sim.base_url()))
            .send()
            .await
            .expect("the simulator answers")
            .json::<Value>()
            .await
            .expect("a JSON list")
            .as_array()
            .cloned()
            .expect("a list of calls")
    }

    async fn state_of(&self, tenant: &TenantId, account: &AccountId) -> Option<SyncState> {
        self.p
            .store
            .get_sync_state(tenant, account)
            .await
            .expect("the sync state reads")
    }

    async fn state(&self) -> SyncState {
        self.state_of(&self.tenant, &self.account)
            .await
            .expect("a pass stored the account's sync state")
    }

    /// Every stored day of an account, by `YYYY-MM-DD`.
    async fn days_of(&self, tenant: &TenantId, account: &AccountId) -> HashMap<String, AccountDay> {
        let mut all = HashMap::new();
        let mut listing = Listing {
            limit: 100,
            ..Listing::default()
        };
        loop {
            let page = self
                .p
                .store
                .account_days(tenant, account, "2000-01-01", "2999-12-31", &listing)
                .await
                .expect("the days list");
            all.extend(page.items.into_iter().map(|d| (d.day.clone(), d)));
            match page.next {
                Some(next) => listing.cursor = Some(next),
                None => return all,
            }
        }
    }

    async fn days(&self) -> HashMap<String, AccountDay> {
        self.days_of(&self.tenant, &self.account).await
    }

    /// The days of the window a pass at the simulator's now covers, oldest first.
    fn window(&self) -> Vec<String> {
        window_days(self.clock.now_ms())
            .into_iter()
            .map(day_text)
            .collect()
    }

    async fn media(&self, media: &MediaId) -> Option<MediaInsights> {
        self.p
            .store
            .get_media_insights(&self.tenant, media)
            .await
            .expect("the media insights read")
    }

    /// The sync function over the sync queue, until the queue is empty.
    async fn work(&self) -> Drained {
        let syncer = &self.syncer;
        self.sync_queue()
            .drain(10, |event: SqsEvent| async move {
                relay::lambda::sqs_batch(&sync::Sync::new(syncer), &event).await
            })
            .await
    }

    fn sync_queue(&self) -> Dispatcher {
        Dispatcher::new(self.p.aws.sqs(), self.p.aws.queues.sync.clone())
    }
}

async fn add_tenant(p: &Pipeline, tenant: &TenantId, name: &str) {
    p.store
        .put_tenant(&Tenant {
            tenant_id: tenant.clone(),
            name: name.into(),
            created_at: 0,
        })
        .await
        .expect("the tenant is stored");
}

/// Calls for one account's insights (`/<IG_ID>/insights`, not a media's).
fn account_insight_calls<'a>(calls: &'a [Value], account: &AccountId) -> Vec<&'a Value> {
    let suffix = format!("/{account}/insights");
    calls
        .iter()
        .filter(|c| c["path"].as_str().is_some_and(|p| p.ends_with(&suffix)))
        .collect()
}

fn refused_calls(calls: &[Value]) -> usize {
    calls.iter().filter(|c| c["status"] == 400).count()
}

fn image() -> Value {
    json!({"media_type": "IMAGE"})
}

#[tokio::test]
async fn the_cache_serves_within_its_ttl_and_refreshes_after_it() {
    let w = World::start().await;
    let a = w.account.clone();
    let image = w.seed(&a, image(), 3 * DAY_S).await;
    let reel = w
        .seed(&a, json!({"media_product_type": "REELS"}), 5 * DAY_S)
        .await;
    let story = w
        .seed(&a, json!({"media_product_type": "STORY"}), HOUR_S)
        .await;
    let outside = w
        .seed(&a, json!({"media_type": "CAROUSEL_ALBUM"}), 40 * DAY_S)
        .await;

    let first = w.sweep().await;
    assert_eq!(
        (first.accounts, first.due, first.synced, first.stopped),
        (1, 1, 1, 0),
        "{first:?}"
    );
    assert_eq!(
        (first.profiles, first.days, first.media),
        (1, 30, 3),
        "the profile, the window's 30 days and its 3 media: {first:?}"
    );
    assert_eq!(first.stopped_early, None);

    // The profile is Meta's.
    let users =
        w.p.http
            .get(format!("{}/_sim/ig-users", w.p.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
    let at_meta = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == a.as_str())
        .expect("the simulator knows the account")
        .clone();
    let snapshot =
        w.p.store
            .get_snapshot(&w.tenant, &a)
            .await
            .unwrap()
            .expect("the profile snapshot is stored");
    let Profile::Instagram {
        username,
        followers_count,
        ..
    } = &snapshot.profile
    else {
        panic!("an Instagram profile: {snapshot:?}");
    };
    assert_eq!(username, "bloom_florist");
    assert_eq!(*followers_count, at_meta["followers_count"].as_u64());
    let first_profile_at = snapshot.fetched_at;

    // Every day of the window, with figures.
    let days = w.days().await;
    let window = w.window();
    assert_eq!(days.len(), 30, "{:?}", days.keys());
    for day in &window {
        let stored = days.get(day).unwrap_or_else(|| panic!("{day} is stored"));
        assert!(
            stored.metrics.contains_key("reach") && stored.metrics.contains_key("views"),
            "{day}: {:?}",
            stored.metrics
        );
    }

    // Each media with its kind's metrics; the one outside the window is not read.
    let img = w.media(&image).await.expect("the image's insights");
    assert_eq!(img.kind, MediaKind::Image);
    assert!(img.metrics.get("views").is_some_and(|v| *v > 0), "{img:?}");
    assert!(img.metrics.contains_key("likes"), "{img:?}");
    assert!(
        !img.metrics.contains_key("ig_reels_avg_watch_time"),
        "{img:?}"
    );
    let published = img.published_at.expect("the publishing time is kept") / 1000;
    assert!(
        (published - (w.clock.now_ms() / 1000 - 3 * DAY_S)).abs() < 60,
        "{img:?}"
    );
    assert!(img.permalink.is_some(), "{img:?}");
    let r = w.media(&reel).await.expect("the reel's insights");
    assert_eq!(r.kind, MediaKind::Reel);
    assert!(r.metrics.contains_key("ig_reels_avg_watch_time"), "{r:?}");
    let s = w.media(&story).await.expect("the story's insights");
    assert_eq!(s.kind, MediaKind::Story);
    assert!(s.metrics.contains_key("replies"), "{s:?}");
    assert!(w.media(&outside).await.is_none(), "outside the window");
    let state = w.state().await;
    assert!(state.profile_at.is_some() && state.insights_at.is_some());
    assert_eq!(state.stopped, None);

    // Within the TTLs: nothing is due and Meta is not called.
    let calls = w.meta_calls().await.len();
    let again = w.sweep().await;
    assert_eq!((again.accounts, again.due, again.synced), (1, 0, 0));
    assert_eq!(
        w.meta_calls().await.len(),
        calls,
        "no Meta call while the cache is fresh"
    );

    // An hour later only the profile is due.
    w.clock.advance(61 * 60).await;
    let calls = w.meta_calls().await.len();
    let hourly = w.sweep().await;
    assert_eq!(
        (hourly.due, hourly.profiles, hourly.days, hourly.media),
        (1, 1, 0, 0),
        "{hourly:?}"
    );
    let new_calls = w.meta_calls().await[calls..].to_vec();
    assert_eq!(new_calls.len(), 1, "the profile alone: {new_calls:?}");
    let snapshot =
        w.p.store
            .get_snapshot(&w.tenant, &a)
            .await
            .unwrap()
            .unwrap();
    assert!(snapshot.fetched_at > first_profile_at);

    // A day later the insights are read again, but not the days whose figures were
    // final when they were read.
    w.clock.advance(24 * HOUR_S as u64).await;
    let before = w.days().await;
    let window = w.window();
    let expected: Vec<&String> = window
        .iter()
        .filter(|d| before.get(*d).is_none_or(|stored| !stored.is_settled()))
        .collect();
    assert!(
        expected.len() < 30,
        "most days were final when read: {expected:?}"
    );
    let calls = w.meta_calls().await.len();
    let daily = w.sweep().await;
    assert_eq!(daily.profiles, 1, "{daily:?}");
    assert_eq!(daily.days, expected.len(), "{daily:?} vs {expected:?}");
    // The image and the reel; the story's figures were final a day after it went up.
    assert_eq!(daily.media, 2, "{daily:?}");
    let new_calls = w.meta_calls().await[calls..].to_vec();
    assert_eq!(
        account_insight_calls(&new_calls, &a).len(),
        expected.len(),
        "one account insights call per day not final"
    );
    let after = w.days().await;
    for day in &window {
        let (old, new) = (before.get(day), &after[day]);
        match old {
            Some(old) if old.is_settled() => {
                assert_eq!(new.fetched_at, old.fetched_at, "{day} was final")
            }
            _ => assert!(
                old.is_none_or(|old| new.fetched_at > old.fetched_at),
                "{day} is read again"
            ),
        }
    }
}

#[tokio::test]
async fn a_metric_meta_refuses_is_dropped_and_reported_not_fatal() {
    let w = World::start().await;
    w.meta_config(json!({"retired_metrics": ["shares"]})).await;
    let image = w.seed(&w.account, image(), 2 * DAY_S).await;

    let report = w.sweep().await;
    assert_eq!(report.stopped, 0, "{report:?}");
    assert_eq!((report.days, report.media), (30, 1), "{report:?}");
    for refused in ["image:shares", "account:shares"] {
        assert!(
            report.refused_metrics.iter().any(|m| m == refused),
            "{refused} reported: {report:?}"
        );
    }
    let calls = w.meta_calls().await;
    assert_eq!(
        refused_calls(&calls),
        2,
        "Meta refuses once per kind, not once per day: {calls:?}"
    );
    let state = w.state().await;
    assert!(
        state.refused_metrics.contains(&"image:shares".to_owned())
            && state.refused_metrics.contains(&"account:shares".to_owned()),
        "{state:?}"
    );
    assert_eq!(state.stopped, None);

    // The other metrics are stored; the refused one is absent, not zero.
    let days = w.days().await;
    assert_eq!(days.len(), 30);
    for (day, stored) in &days {
        assert!(!stored.metrics.contains_key("shares"), "{day}");
        assert!(stored.metrics.contains_key("views"), "{day}");
    }
    let media = w.media(&image).await.expect("the image's insights");
    assert!(!media.metrics.contains_key("shares"), "{media:?}");
    assert!(media.metrics.contains_key("views"), "{media:?}");

    // A forced refresh does not ask for it again: Meta refuses nothing.
    let before = w.meta_calls().await.len();
    let refreshed: AccountReport = w.syncer.refresh(&w.job()).await.expect("the refresh runs");
    assert!(refreshed.complete, "{refreshed:?}");
    assert_eq!(refreshed.stopped, None);
    assert!(
        refreshed.refused_metrics.is_empty(),
        "not asked again: {refreshed:?}"
    );
    assert!(refreshed.days > 0 && refreshed.media == 1, "{refreshed:?}");
    let new_calls = w.meta_calls().await[before..].to_vec();
    assert!(!new_calls.is_empty());
    assert_eq!(refused_calls(&new_calls), 0, "{new_calls:?}");
}

#[tokio::test]
async fn throttling_stops_the_pass_and_the_next_run_resumes() {
    let w = World::start().await;
    // Each call spends 5 % of the account's hourly budget.
    w.meta_config(json!({"account_calls_per_hour": 20})).await;

    let report = w.sweep().await;
    assert_eq!((report.synced, report.stopped), (1, 1), "{report:?}");
    assert!(report.days > 0 && report.days < 30, "{report:?}");
    let state = w.state().await;
    let now = w.clock.now_ms();
    let paused_until = state.paused_until.expect("the account is paused");
    assert!(paused_until > now, "{state:?}");
    assert!(
        state
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("usage")),
        "{state:?}"
    );
    assert_eq!(state.insights_at, None, "the insights pass is not complete");
    assert!(
        refused_calls(&w.meta_calls().await) == 0,
        "Relay stopped before Meta throttled"
    );
    let stored = w.days().await;
    assert_eq!(stored.len(), report.days);

    // While paused, the account is left alone.
    let calls = w.meta_calls().await.len();
    let paused = w.sweep().await;
    assert_eq!((paused.paused, paused.due, paused.synced), (1, 0, 0));
    assert_eq!(w.meta_calls().await.len(), calls);

    // Meta's limit lifts and the pause ends: the next run finishes the pass without
    // reading again what it stored.
    w.meta_config(json!({"account_calls_per_hour": 5000})).await;
    let lifted =
        w.p.http
            .delete(format!("{}/_sim/usage", w.p.sim.base_url()))
            .send()
            .await
            .unwrap();
    assert!(lifted.status().is_success());
    let wait_s = (paused_until - now) / 1000 + 60;
    w.clock.advance(wait_s as u64).await;
    let window = w.window();
    let missing = window.iter().filter(|d| !stored.contains_key(*d)).count();
    let resumed = w.sweep().await;
    assert_eq!(
        (resumed.due, resumed.synced, resumed.stopped),
        (1, 1, 0),
        "{resumed:?}"
    );
    assert_eq!(
        resumed.days, missing,
        "only the days not stored: {resumed:?}"
    );
    let state = w.state().await;
    assert!(state.insights_at.is_some(), "complete: {state:?}");
    assert_eq!(state.stopped, None);
    let days = w.days().await;
    for day in &window {
        let now_stored = days.get(day).unwrap_or_else(|| panic!("{day} is stored"));
        if let Some(before) = stored.get(day) {
            assert_eq!(
                now_stored.fetched_at, before.fetched_at,
                "{day} not read again"
            );
        }
    }
}

#[tokio::test]
async fn app_wide_usage_stops_the_sweep_and_leaves_the_rest_for_the_next_run() {
    let w = World::with(Settings {
        concurrency: 1,
        ..Settings::default()
    })
    .await;
    let (fern, fern_account) = w.second_tenant("fern", "fern_garden").await;
    let accounts = [
        (w.tenant.clone(), w.account.clone()),
        (fern.clone(), fern_account.clone()),
    ];
    // Each call spends 1/30 of the app's hourly budget: one pass reaches 90 %.
    w.meta_config(json!({"app_calls_per_hour": 30})).await;

    let report = w.sweep().await;
    assert_eq!((report.accounts, report.due), (2, 2), "{report:?}");
    assert!(
        report
            .stopped_early
            .as_deref()
            .is_some_and(|s| s.contains("app-wide")),
        "{report:?}"
    );
    assert!(report.left_for_next_run + report.stopped >= 1, "{report:?}");
    assert_eq!(
        (report.synced, report.stopped, report.left_for_next_run),
        (1, 1, 1),
        "one pass stopped, the other not started: {report:?}"
    );
    assert_eq!(
        refused_calls(&w.meta_calls().await),
        0,
        "stopped before Meta throttled the app"
    );
    let mut ran = None;
    let mut left = None;
    for (tenant, account) in &accounts {
        match w.state_of(tenant, account).await {
            Some(state) => {
                assert!(state.stopped.is_some(), "{state:?}");
                assert_eq!(state.paused_until, None, "the account itself is not paused");
                ran = Some((tenant.clone(), account.clone()));
            }
            None => left = Some((tenant.clone(), account.clone())),
        }
    }
    let (ran, left) = (ran.expect("one pass ran"), left.expect("one was left"));
    assert!(w.days_of(&left.0, &left.1).await.is_empty());
    assert!(w.days_of(&ran.0, &ran.1).await.len() < 30);

    // The limit lifts: the account left waiting goes first, and both complete.
    w.meta_config(json!({"app_calls_per_hour": 5000})).await;
    w.p.http
        .delete(format!("{}/_sim/usage", w.p.sim.base_url()))
        .send()
        .await
        .unwrap();
    let calls = w.meta_calls().await.len();
    let next = w.sweep().await;
    assert_eq!(
        (next.due, next.synced, next.stopped, next.left_for_next_run),
        (2, 2, 0, 0),
        "{next:?}"
    );
    assert_eq!(next.stopped_early, None);
    let new_calls = w.meta_calls().await[calls..].to_vec();
    let owners: Vec<&AccountId> = new_calls
        .iter()
        .filter_map(|c| {
            let path = c["path"].as_str()?;
            [&left.1, &ran.1]
                .into_iter()
                .find(|a| path.ends_with(&format!("/{a}/insights")))
        })
        .collect();
    let first_of_ran = owners
        .iter()
        .position(|a| **a == ran.1)
        .expect("the stopped pass resumes");
    let last_of_left = owners
        .iter()
        .rposition(|a| **a == left.1)
        .expect("the waiting account is served");
    assert!(
        last_of_left < first_of_ran,
        "the account that waited longest is served first: {owners:?}"
    );
    for (tenant, account) in &accounts {
        let state = w.state_of(tenant, account).await.unwrap();
        assert!(state.insights_at.is_some(), "{account}: {state:?}");
        assert_eq!(w.days_of(tenant, account).await.len(), 30, "{account}");
    }
}

#[tokio::test]
async fn missing_data_is_no_data_yet_never_zero() {
    let w = World::start().await;
    w.meta_config(json!({"insights_lag_secs": 3 * DAY_S})).await;
    let young = w.seed(&w.account, image(), DAY_S).await;
    let older = w.seed(&w.account, image(), 5 * DAY_S).await;

    let report = w.sweep().await;
    assert_eq!((report.days, report.media, report.stopped), (30, 2, 0));
    let days = w.days().await;
    let window = w.window();
    let (past, recent) = window.split_at(window.len() - 3);
    for day in recent {
        let stored = &days[day];
        assert!(
            stored.metrics.is_empty(),
            "{day} has no figures yet, and no zeros: {:?}",
            stored.metrics
        );
    }
    for day in past {
        assert!(
            days[day].metrics.get("reach").is_some_and(|v| *v > 0),
            "{day}: {:?}",
            days[day].metrics
        );
    }
    let y = w.media(&young).await.expect("the young media is stored");
    assert!(y.metrics.is_empty(), "no data yet, not zeros: {y:?}");
    let o = w.media(&older).await.expect("the older media is stored");
    assert!(o.metrics.get("views").is_some_and(|v| *v > 0), "{o:?}");

    // "No data yet" is read again once Meta has the figures.
    w.meta_config(json!({"insights_lag_secs": 0})).await;
    w.clock.advance(25 * HOUR_S as u64).await;
    let next = w.sweep().await;
    assert_eq!(next.stopped, 0, "{next:?}");
    let before = days;
    let days = w.days().await;
    let unsettled: Vec<&String> = recent.iter().filter(|d| !before[*d].is_settled()).collect();
    assert!(!unsettled.is_empty(), "the latest days were read early");
    for day in unsettled {
        assert!(
            days[day].fetched_at > before[day].fetched_at && !days[day].metrics.is_empty(),
            "{day} has its figures now: {:?}",
            days[day]
        );
    }
    for day in w.window().iter().rev().take(2) {
        assert!(!days[day].metrics.is_empty(), "{day}: {:?}", days[day]);
    }
    let y = w.media(&young).await.unwrap();
    assert!(y.metrics.get("views").is_some_and(|v| *v > 0), "{y:?}");
}

#[tokio::test]
async fn a_queued_refresh_runs_through_the_sync_queue_once_per_window() {
    let w = World::start().await;
    let settings = w.syncer.settings;
    let queue = JobQueue::new(w.p.aws.sqs(), w.p.aws.queues.sync.clone());
    let ask = |now: i64| {
        let (store, queue, tenant, account) = (&w.p.store, &queue, &w.tenant, &w.account);
        async move {
            Syncer::request_refresh(store, queue, &settings, tenant, account, now)
                .await
                .expect("the request is answered")
        }
    };
    let now = w.clock.now_ms();
    assert_eq!(ask(now).await, RefreshRequest::Queued);
    match ask(now + 1).await {
        RefreshRequest::TooSoon { retry_after } => {
            assert!(!retry_after.is_zero());
            assert!(retry_after <= settings.refresh_every);
        }
        other => panic!("a second request in the window is refused: {other:?}"),
    }
    assert_eq!(w.p.queue_bodies(&w.p.aws.queues.sync).await.len(), 1);

    let drained = w.work().await;
    assert_eq!((drained.delivered, drained.failed), (1, 0), "{drained:?}");
    let snapshot =
        w.p.store
            .get_snapshot(&w.tenant, &w.account)
            .await
            .unwrap()
            .expect("the refresh stored the profile");
    assert_eq!(snapshot.account_id, w.account);
    assert_eq!(w.days().await.len(), 30);
    let state = w.state().await;
    assert!(state.profile_at.is_some() && state.insights_at.is_some());

    // The schedule's event runs the sweep, which finds the fresh cache.
    let scheduled: Value = serde_json::from_str(
        &std::fs::read_to_string(common::events_dir().join("sync/scheduled.json"))
            .expect("the schedule's sample event"),
    )
    .unwrap();
    let answer = relay::lambda::queue_or_schedule(&sync::Sync::new(&w.syncer), scheduled)
        .await
        .expect("the sweep runs");
    assert!(
        answer.get("batchItemFailures").is_none(),
        "the schedule runs the sweep: {answer}"
    );
    assert_eq!(
        (answer["accounts"].as_u64(), answer["due"].as_u64()),
        (Some(1), Some(0)),
        "{answer}"
    );

    // The next window takes a new request.
    w.clock.advance(settings.refresh_every.as_secs() + 1).await;
    assert_eq!(ask(w.clock.now_ms()).await, RefreshRequest::Queued);
    assert_eq!(w.work().await.failed, 0);

    // A message that is not a refresh is acknowledged, not redelivered.
    w.p.aws
        .sqs()
        .send_message()
        .queue_url(&w.p.aws.queues.sync)
        .message_body(r#"{"tenant_id": 7}"#)
        .send()
        .await
        .expect("SendMessage");
    let drained = w.work().await;
    assert_eq!((drained.delivered, drained.failed), (1, 0), "{drained:?}");
    assert!(w.p.queue_bodies(&w.p.aws.queues.sync).await.is_empty());
}

/// Connects a Facebook Page (with its Page token) to the world's tenant; its id and
/// token.
async fn connect_page(w: &World) -> (AccountId, String) {
    let created = sim_post(
        &w.p,
        "/_sim/fb-users",
        json!({"name": "Bloom Owner", "pages": [{"name": "Bloom Florist"}]}),
    )
    .await;
    let user = created["user_id"].as_str().unwrap().to_owned();
    let page = created["pages"][0]["id"].as_str().unwrap().to_owned();
    let minted = sim_post(
        &w.p,
        "/_sim/tokens",
        json!({"user_id": user, "kind": "page", "page_id": page}),
    )
    .await;
    let raw = minted["access_token"].as_str().unwrap().to_owned();
    let token = relay::secret::AccessToken::new(raw.clone());
    let id = AccountId::parse(&page).unwrap();
    let sealed = relay::crypto::EnvelopeCipher::new(w.p.aws.kms(), w.p.aws.token_key_id.clone())
        .seal_token(
            &token,
            &relay::crypto::EncryptionContext::new(
                w.tenant.clone(),
                id.clone(),
                relay::crypto::Purpose::AccessToken,
            ),
        )
        .await
        .unwrap();
    let now = w.clock.now_ms() / 1000;
    w.p.store
        .put_account(&relay::store::accounts::Account {
            tenant_id: w.tenant.clone(),
            account_id: id.clone(),
            channel: relay::store::accounts::Channel::Page,
            login: relay::store::accounts::LoginKind::FacebookLogin,
            username: None,
            name: Some("Bloom Florist".into()),
            meta_user_id: None,
            linked_instagram_id: None,
            status: relay::store::accounts::AccountStatus::Connected,
            token_sealed: Some(sealed),
            token_issued_at: Some(now),
            token_expires_at: None,
            connected_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    (id, raw)
}

#[tokio::test]
async fn a_page_gets_its_profile_snapshot() {
    let w = World::start().await;
    let (page, token) = connect_page(&w).await;

    let report = w.sweep().await;
    assert_eq!(
        (
            report.accounts,
            report.synced,
            report.profiles,
            report.stopped
        ),
        (2, 2, 2, 0),
        "{report:?}"
    );
    assert_eq!(report.days, 30, "only the Instagram account has insights");
    let snapshot =
        w.p.store
            .get_snapshot(&w.tenant, &page)
            .await
            .unwrap()
            .expect("the Page's snapshot is stored");
    let at_meta: Value =
        w.p.http
            .get(format!(
                "{}/graph.facebook.com/v26.0/{page}?fields=fan_count,followers_count",
                w.p.sim.base_url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    match &snapshot.profile {
        Profile::Page {
            name,
            fan_count,
            followers_count,
            link,
            ..
        } => {
            assert_eq!(name, "Bloom Florist");
            assert_eq!(*fan_count, at_meta["fan_count"].as_u64(), "{at_meta}");
            assert!(fan_count.is_some());
            assert_eq!(*followers_count, at_meta["followers_count"].as_u64());
            assert!(link.as_deref().is_some_and(|l| l.ends_with(page.as_str())));
        }
        other => panic!("a Page profile: {other:?}"),
    }
    assert!(
        w.days_of(&w.tenant, &page).await.is_empty(),
        "a Page has no Instagram insights"
    );

    // A Page with no insights to read is not due every run.
    let again = w.sweep().await;
    assert_eq!((again.accounts, again.due), (2, 0), "{again:?}");
    w.clock.advance(61 * 60).await;
    let hourly = w.sweep().await;
    assert_eq!((hourly.due, hourly.profiles), (2, 2), "{hourly:?}");
}

#[tokio::test]
async fn a_story_keeps_its_figures_once_meta_stops_serving_them() {
    let w = World::start().await;
    let story = w
        .seed(&w.account, json!({"media_product_type": "STORY"}), HOUR_S)
        .await;
    w.sweep().await;
    let first = w.media(&story).await.expect("the story's insights");
    assert!(first.metrics.contains_key("views"), "{first:?}");

    // Meta serves a story's insights for 24 hours only.
    w.clock.advance(25 * HOUR_S as u64).await;
    let report = w.sweep().await;
    assert_eq!(report.stopped, 0, "{report:?}");
    let later = w.media(&story).await.expect("the story's insights");
    assert_eq!(
        later.metrics, first.metrics,
        "the last figures Meta gave are kept, not replaced by \"no data\""
    );
}
