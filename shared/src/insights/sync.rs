//! The sync commands: `sweep` (the hourly schedule: every connected account whose
//! profile or insights are due, the longest waiting first, a few at a time) and
//! `refresh` (one account, now: a person asked, or a read found the cache stale).
//!
//! An account's pass fetches its profile when the snapshot is an hour old and, once a
//! day, its insights: each of the last 30 days not yet final, then each media of the
//! last 30 days and every media a Relay post published. Every record is stored the
//! moment it is fetched, so a pass that stops early (Meta's usage headers reached 90 %,
//! a throttle, the run's time budget) is resumed by the next run without fetching again
//! what is fresh. A metric Meta refuses is dropped from the request, reported, and not
//! asked again for that account and kind.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::metrics::{ACCOUNT_METRICS, MediaKind};
use super::records::{
    self, AccountDay, MediaInsights, Metrics, Snapshot, SyncState, WINDOW_DAYS, day_start_ms,
    day_text, is_fresh,
};
use crate::accounts::{GraphHandle as Handle, Tokens};
use crate::clock::Clock;
use crate::config::Vars;
use crate::ids::{AccountId, MediaId, PostId, TenantId};
use crate::jobs::{JobQueue, SyncJob};
use crate::meta::{
    DEFAULT_BACK_OFF_THRESHOLD, GraphClient, GraphError, Insight, InsightsRange, InstagramAccount,
    PageLimits, Response, refused_metric,
};
use crate::publishing::{PostContent, PostStatus};
use crate::store::accounts::{Account, AccountStatus, Channel};
use crate::store::{Listing, Store, StoreError, keys};

/// Who the audit trail names for what the sync does.
pub const ACTOR: &str = "system:sync";

const DAY_MS: i64 = 86_400_000;

/// Tunables.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Accounts synced at once.
    pub concurrency: usize,
    /// A usage figure at or above this percentage stops the account's pass (or, for
    /// the app's usage, the sweep).
    pub back_off_at: f64,
    /// No account pass starts after this much of a run (below the function timeout).
    pub budget: Duration,
    /// An account paused by Meta's usage without a time to regain access waits this long.
    pub pause: Duration,
    /// At most one on-demand refresh per account in this window.
    pub refresh_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            back_off_at: DEFAULT_BACK_OFF_THRESHOLD,
            budget: Duration::from_secs(240),
            pause: Duration::from_secs(15 * 60),
            refresh_every: Duration::from_secs(5 * 60),
        }
    }
}

impl Settings {
    /// From the environment (the sync function and the API read the same variables).
    pub fn from_vars(vars: &Vars) -> Self {
        let d = Self::default();
        let concurrency: usize = vars.parsed("RELAY_SYNC_CONCURRENCY", d.concurrency);
        if concurrency == 0 || concurrency > 32 {
            vars.invalid("RELAY_SYNC_CONCURRENCY", "must be 1 to 32");
        }
        let refresh_every = vars.seconds("RELAY_SYNC_REFRESH_SECONDS", d.refresh_every);
        if refresh_every.is_zero() {
            vars.invalid("RELAY_SYNC_REFRESH_SECONDS", "must be at least 1 second");
        }
        Self {
            concurrency,
            budget: vars.seconds("RELAY_SYNC_BUDGET_SECONDS", d.budget),
            refresh_every,
            ..d
        }
    }
}

/// What one account's pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    pub profile: bool,
    pub days: usize,
    pub media: usize,
    /// `kind:metric` pairs Meta refused during the pass.
    pub refused_metrics: Vec<String>,
    /// The insights pass ran to its end.
    pub complete: bool,
    /// Why the pass stopped early or did not run, in words.
    pub stopped: Option<String>,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Connected accounts seen.
    pub accounts: usize,
    /// Accounts with something due, and passes run.
    pub due: usize,
    pub synced: usize,
    pub profiles: usize,
    pub days: usize,
    pub media: usize,
    /// Paused by Meta's usage (skipped this run).
    pub paused: usize,
    /// Due but not started (the app's usage or the time budget): first next run.
    pub left_for_next_run: usize,
    /// Passes that stopped before their end.
    pub stopped: usize,
    /// Why the sweep stopped starting passes, if it did.
    pub stopped_early: Option<String>,
    pub refused_metrics: Vec<String>,
}

/// An on-demand refresh request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRequest {
    Queued,
    /// One was queued in this window already.
    TooSoon {
        retry_after: Duration,
    },
}

/// Why a run or a request could not happen at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not queue the refresh: {0}")]
    Queue(#[from] crate::jobs::JobError),
}

/// Why a pass stops.
enum Halt {
    /// Meta asked to slow down for this account.
    Account {
        until: i64,
        why: String,
    },
    /// The app as a whole is near its limit: the sweep stops too.
    App(String),
    Reconnect(String),
    Failed(String),
}

/// What the sync needs.
pub struct Syncer {
    pub store: Store,
    pub tokens: Tokens,
    pub graph: GraphClient,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Meta's media timestamp (`2026-01-31T12:00:00+0000`) in ms.
fn graph_time_ms(text: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(text, format)
        .ok()
        .map(|t| t.unix_timestamp() * 1000)
}

fn values(insights: Vec<Insight>) -> Metrics {
    insights
        .into_iter()
        .filter_map(|i| i.total.map(|v| (i.name, v)))
        .collect()
}

/// The insights kind of what a post published (Page posts have none here).
fn kind_of_post(content: &PostContent) -> Option<MediaKind> {
    match content {
        PostContent::Image { .. } => Some(MediaKind::Image),
        PostContent::Reel { .. } => Some(MediaKind::Reel),
        PostContent::Carousel { .. } => Some(MediaKind::Carousel),
        PostContent::Story { .. } => Some(MediaKind::Story),
        _ => None,
    }
}

/// A media a pass reads.
struct Target {
    id: MediaId,
    kind: MediaKind,
    published_at: Option<i64>,
    permalink: Option<String>,
    post_id: Option<PostId>,
}

impl Syncer {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    // ------------------------------------------------------------------ sweep

    /// Every connected account with something due, the longest waiting first.
    pub async fn sweep(&self) -> Result<SweepReport, SyncError> {
        let started = Instant::now();
        let now = self.now();
        let mut report = SweepReport::default();
        let mut due: Vec<(Account, SyncState)> = Vec::new();
        let mut tenants = Listing::default();
        loop {
            let page = self.store.list_tenants(&tenants).await?;
            for tenant in page.items {
                let mut listing = Listing::default();
                loop {
                    let accounts = self
                        .store
                        .list_accounts(&tenant.tenant_id, &listing)
                        .await?;
                    for account in accounts.items {
                        if account.status != AccountStatus::Connected {
                            continue;
                        }
                        report.accounts += 1;
                        let state = self
                            .store
                            .get_sync_state(&account.tenant_id, &account.account_id)
                            .await?
                            .unwrap_or_default();
                        if state.paused(now) {
                            report.paused += 1;
                        } else if state.profile_due(now)
                            || (account.channel == Channel::Instagram && state.insights_due(now))
                        {
                            due.push((account, state));
                        }
                    }
                    match accounts.next {
                        Some(next) => listing.cursor = Some(next),
                        None => break,
                    }
                }
            }
            match page.next {
                Some(next) => tenants.cursor = Some(next),
                None => break,
            }
        }
        due.sort_by_key(|(_, state)| state.waited_since());
        report.due = due.len();
        let halted = AtomicBool::new(false);
        let halted = &halted;
        let outcomes: Vec<Option<AccountReport>> = futures::stream::iter(due)
            .map(|(account, state)| async move {
                if halted.load(Ordering::SeqCst) || started.elapsed() >= self.settings.budget {
                    return None;
                }
                Some(self.pass(&account, state, false, halted).await)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut refused = BTreeSet::new();
        for outcome in outcomes {
            let Some(pass) = outcome else {
                report.left_for_next_run += 1;
                continue;
            };
            report.synced += 1;
            report.profiles += usize::from(pass.profile);
            report.days += pass.days;
            report.media += pass.media;
            report.stopped += usize::from(pass.stopped.is_some());
            refused.extend(pass.refused_metrics);
        }
        report.refused_metrics = refused.into_iter().collect();
        if halted.load(Ordering::SeqCst) {
            report.stopped_early =
                Some("Meta's app-wide usage reached the back-off threshold".into());
        } else if report.left_for_next_run > 0 {
            report.stopped_early = Some("the run's time budget was spent".into());
        }
        info!(
            accounts = report.accounts,
            due = report.due,
            synced = report.synced,
            days = report.days,
            media = report.media,
            paused = report.paused,
            left_for_next_run = report.left_for_next_run,
            refused = report.refused_metrics.len(),
            "sync sweep finished"
        );
        Ok(report)
    }

    // ------------------------------------------------------------------ refresh

    /// Ask for an account's refresh now: at most one per account per
    /// [`Settings::refresh_every`]; queued for the sync function.
    pub async fn request_refresh(
        store: &Store,
        queue: &JobQueue,
        settings: &Settings,
        tenant: &TenantId,
        account: &AccountId,
        now: i64,
    ) -> Result<RefreshRequest, SyncError> {
        let every = ms(settings.refresh_every).max(1);
        let window = now.div_euclid(every);
        let ends = (window + 1) * every;
        let what = format!("insights-refresh#{account}#{window}");
        if !store
            .claim_once(&keys::claim(tenant, &what), ends / 1000 + 60)
            .await?
        {
            let left = u64::try_from(ends - now).unwrap_or(0);
            return Ok(RefreshRequest::TooSoon {
                retry_after: Duration::from_millis(left).max(Duration::from_secs(1)),
            });
        }
        let job = SyncJob {
            tenant_id: tenant.clone(),
            account_id: account.clone(),
        };
        if let Err(e) = queue.send(&job, 0).await {
            // Nothing was queued: the window's right is given back.
            store.release_action(tenant, &what).await?;
            return Err(e.into());
        }
        Ok(RefreshRequest::Queued)
    }

    /// One queued refresh: the account's profile and every insight not final, now.
    pub async fn refresh(&self, job: &SyncJob) -> Result<AccountReport, SyncError> {
        let Some(account) = self
            .store
            .get_account(&job.tenant_id, &job.account_id)
            .await?
        else {
            return Ok(AccountReport {
                stopped: Some("the account is no longer connected to Relay".into()),
                ..AccountReport::default()
            });
        };
        let state = self
            .store
            .get_sync_state(&job.tenant_id, &job.account_id)
            .await?
            .unwrap_or_default();
        if state.paused(self.now()) {
            return Ok(AccountReport {
                stopped: Some("Meta asked to slow down for this account; try later".into()),
                ..AccountReport::default()
            });
        }
        Ok(self
            .pass(&account, state, true, &AtomicBool::new(false))
            .await)
    }

    // ------------------------------------------------------------------ one account

    async fn pass(
        &self,
        account: &Account,
        mut state: SyncState,
        force: bool,
        halted: &AtomicBool,
    ) -> AccountReport {
        let now = self.now();
        state.attempted_at = Some(now);
        state.stopped = None;
        let mut report = AccountReport::default();
        let result = self.run_pass(account, &mut state, force, &mut report).await;
        if let Err(halt) = result {
            let why = match halt {
                Halt::Account { until, why } => {
                    state.paused_until = Some(until);
                    why
                }
                Halt::App(why) => {
                    halted.store(true, Ordering::SeqCst);
                    why
                }
                Halt::Reconnect(reason) => {
                    self.tokens.mark_needs_reconnect(account, &reason).await;
                    format!("the account needs reconnecting: {reason}")
                }
                Halt::Failed(why) => why,
            };
            warn!(
                tenant_id = %account.tenant_id,
                account_id = %account.account_id,
                reason = %why,
                "sync pass stopped early; the next run continues"
            );
            report.stopped = Some(why.clone());
            state.stopped = Some(why);
        }
        if let Err(e) = self
            .store
            .put_sync_state(&account.tenant_id, &account.account_id, &state)
            .await
        {
            warn!(error = %e, account_id = %account.account_id, "sync state not stored");
        }
        report
    }

    async fn run_pass(
        &self,
        account: &Account,
        state: &mut SyncState,
        force: bool,
        report: &mut AccountReport,
    ) -> Result<(), Halt> {
        let now = self.now();
        let handle = self.handle_of(account).await?;
        if force || state.profile_due(now) {
            let profile = match &handle {
                Handle::Instagram(ig) => self
                    .graph
                    .instagram_profile(ig)
                    .await
                    .map(|r| r.value.into()),
                Handle::Page(page) => self.graph.page_profile(page).await.map(|r| r.value.into()),
            }
            .map_err(|e| self.halt_of(&account.account_id, e))?;
            let snapshot = Snapshot {
                tenant_id: account.tenant_id.clone(),
                account_id: account.account_id.clone(),
                channel: account.channel,
                profile,
                fetched_at: now,
            };
            self.store.put_snapshot(&snapshot).await.map_err(failed)?;
            state.profile_at = Some(now);
            report.profile = true;
            self.check_usage(&account.account_id)?;
        }
        let Handle::Instagram(ig) = handle else {
            return Ok(());
        };
        if !(force || state.insights_due(now)) {
            return Ok(());
        }
        let outcome = self.insights(account, &ig, state, force, report).await;
        report.refused_metrics.sort();
        report.refused_metrics.dedup();
        outcome?;
        report.complete = true;
        state.insights_at = Some(now);
        Ok(())
    }

    async fn insights(
        &self,
        account: &Account,
        ig: &InstagramAccount,
        state: &mut SyncState,
        force: bool,
        report: &mut AccountReport,
    ) -> Result<(), Halt> {
        let now = self.now();
        let (tenant, id) = (&account.tenant_id, &account.account_id);
        // Days: each of the window not yet final (and not fresh, unless forced).
        let days = records::window_days(now);
        let from = day_text(days[0]);
        let to = day_text(days[days.len() - 1]);
        let stored = self
            .store
            .account_days_by_date(tenant, id, &from, &to)
            .await
            .map_err(failed)?;
        for day in days {
            let text = day_text(day);
            if let Some(known) = stored.get(&text)
                && (known.is_settled() || (!force && !known.is_due(now)))
            {
                continue;
            }
            let since = day_start_ms(day);
            let range = InsightsRange {
                since: OffsetDateTime::from_unix_timestamp(since / 1000)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                until: OffsetDateTime::from_unix_timestamp((since + DAY_MS) / 1000)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            };
            let metrics = self
                .read_metrics(
                    id,
                    "account",
                    ACCOUNT_METRICS.to_vec(),
                    |m| m.as_str(),
                    state,
                    report,
                    |asked| async move { self.graph.account_insights(ig, &asked, range).await },
                )
                .await?;
            let record = AccountDay {
                tenant_id: tenant.clone(),
                account_id: id.clone(),
                day: text,
                metrics,
                fetched_at: self.now(),
            };
            self.store.put_account_day(&record).await.map_err(failed)?;
            report.days += 1;
            self.check_usage(id)?;
        }
        // Media: the window's, and every one a Relay post published.
        let targets = self.targets(account, ig, now).await?;
        let known = self
            .store
            .media_insights_by_id(tenant, id)
            .await
            .map_err(failed)?;
        for target in targets {
            let previous = known.get(&target.id);
            if previous.is_some_and(|m| m.is_final(now))
                || (!force
                    && previous
                        .is_some_and(|m| is_fresh(m.fetched_at, records::INSIGHTS_TTL_MS, now)))
            {
                continue;
            }
            let media = target.id.clone();
            let metrics = self
                .read_metrics(
                    id,
                    target.kind.as_str(),
                    target.kind.metrics().to_vec(),
                    |m| m.as_str(),
                    state,
                    report,
                    |asked| {
                        let media = media.clone();
                        async move { self.graph.media_insights(ig, &media, &asked).await }
                    },
                )
                .await?;
            // Meta stops serving some figures (a story's after 24 h): an empty answer
            // never replaces figures Relay already has.
            if metrics.is_empty()
                && let Some(kept) = previous.filter(|p| !p.metrics.is_empty())
            {
                let mut kept = kept.clone();
                kept.post_id = kept.post_id.or(target.post_id);
                self.store.put_media_insights(&kept).await.map_err(failed)?;
                self.check_usage(id)?;
                continue;
            }
            let record = MediaInsights {
                tenant_id: tenant.clone(),
                account_id: id.clone(),
                media_id: target.id,
                kind: target.kind,
                published_at: target
                    .published_at
                    .or(previous.and_then(|p| p.published_at)),
                permalink: target
                    .permalink
                    .or(previous.and_then(|p| p.permalink.clone())),
                post_id: target.post_id.or(previous.and_then(|p| p.post_id.clone())),
                metrics,
                fetched_at: self.now(),
            };
            self.store
                .put_media_insights(&record)
                .await
                .map_err(failed)?;
            report.media += 1;
            self.check_usage(id)?;
        }
        Ok(())
    }

    /// Ask Meta for `metrics`, dropping any it refuses (recorded as `kind:metric` in the
    /// state, so it is not asked again for this account and kind).
    #[allow(clippy::too_many_arguments)]
    async fn read_metrics<M, F, Fut>(
        &self,
        account: &AccountId,
        kind: &str,
        mut metrics: Vec<M>,
        name: fn(&M) -> &'static str,
        state: &mut SyncState,
        report: &mut AccountReport,
        call: F,
    ) -> Result<Metrics, Halt>
    where
        M: Clone,
        F: Fn(Vec<M>) -> Fut,
        Fut: Future<Output = Result<Response<Vec<Insight>>, GraphError>>,
    {
        let tag = |m: &str| format!("{kind}:{m}");
        metrics.retain(|m| !state.refused_metrics.contains(&tag(name(m))));
        loop {
            if metrics.is_empty() {
                return Ok(Metrics::new());
            }
            match call(metrics.clone()).await {
                Ok(response) => return Ok(values(response.value)),
                Err(error) => {
                    let asked: Vec<&'static str> = metrics.iter().map(name).collect();
                    let Some(refused) = refused_metric(&error, &asked) else {
                        return Err(self.halt_of(account, error));
                    };
                    warn!(%account, kind, metric = refused, "Meta refused a metric; dropped");
                    metrics.retain(|m| name(m) != refused);
                    let tagged = tag(refused);
                    report.refused_metrics.push(tagged.clone());
                    if !state.refused_metrics.contains(&tagged) {
                        state.refused_metrics.push(tagged);
                    }
                    self.check_usage(account)?;
                }
            }
        }
    }

    /// The media a pass reads: Meta's listing of the window, and Relay's published posts.
    async fn targets(
        &self,
        account: &Account,
        ig: &InstagramAccount,
        now: i64,
    ) -> Result<Vec<Target>, Halt> {
        let since = OffsetDateTime::from_unix_timestamp((now - WINDOW_DAYS * DAY_MS) / 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let limits = PageLimits {
            max_pages: 20,
            max_items: 1000,
            page_size: Some(50),
        };
        let listed = self
            .graph
            .account_media(ig, since, limits)
            .await
            .map_err(|e| self.halt_of(&account.account_id, e))?
            .value;
        self.check_usage(&account.account_id)?;
        let mut targets: Vec<Target> = listed
            .items
            .into_iter()
            .map(|m| Target {
                kind: MediaKind::of(&m),
                published_at: m.timestamp.as_deref().and_then(graph_time_ms),
                permalink: m.permalink,
                id: m.id,
                post_id: None,
            })
            .collect();
        let mut listing = Listing {
            limit: 100,
            ..Listing::default()
        };
        loop {
            let page = self
                .store
                .list_posts(&account.tenant_id, 0, now, &listing)
                .await
                .map_err(failed)?;
            for post in page.items {
                if post.account_id != account.account_id || post.status != PostStatus::Published {
                    continue;
                }
                let (Some(media), Some(kind)) =
                    (&post.progress.media_id, kind_of_post(&post.content))
                else {
                    continue;
                };
                let Ok(media) = MediaId::parse(media.clone()) else {
                    continue;
                };
                match targets.iter_mut().find(|t| t.id == media) {
                    Some(listed) => listed.post_id = Some(post.post_id.clone()),
                    None => targets.push(Target {
                        id: media,
                        kind,
                        published_at: post.published_at,
                        permalink: post.progress.permalink.clone(),
                        post_id: Some(post.post_id.clone()),
                    }),
                }
            }
            match page.next {
                Some(next) => listing.cursor = Some(next),
                None => break,
            }
        }
        Ok(targets)
    }

    /// The account's Graph handle, or why the pass cannot run.
    async fn handle_of(&self, account: &Account) -> Result<Handle, Halt> {
        self.tokens.graph_handle(account).await.map_err(|e| {
            Halt::Failed(if e.needs_reconnect() {
                format!("the account cannot be read: {e}")
            } else {
                format!("the token could not be read: {e}")
            })
        })
    }

    /// Stop before the next call when Meta's usage headers say so.
    fn check_usage(&self, account: &AccountId) -> Result<(), Halt> {
        let threshold = self.settings.back_off_at;
        if let Some(app) = self.graph.last_app_usage() {
            let max = app.call_count.max(app.total_cputime).max(app.total_time);
            if max >= threshold {
                return Err(Halt::App(format!(
                    "Meta's app-wide usage is at {max:.0} %; the next run continues"
                )));
            }
        }
        let Some(usage) = self.graph.last_usage(account) else {
            return Ok(());
        };
        if usage.should_back_off(threshold) {
            let wait = usage.regain_access_after().unwrap_or(self.settings.pause);
            return Err(Halt::Account {
                until: self.now() + ms(wait),
                why: format!(
                    "Meta's usage for this account is at {:.0} %; paused for {} s",
                    usage.max_percent().unwrap_or(0.0),
                    wait.as_secs()
                ),
            });
        }
        Ok(())
    }

    fn halt_of(&self, account: &AccountId, error: GraphError) -> Halt {
        if error.needs_reconnect() {
            return Halt::Reconnect(error.to_string());
        }
        if let GraphError::Throttled { code, retry_after } = &error {
            if *code == Some(4) {
                return Halt::App(format!("Meta throttled the app: {error}"));
            }
            let wait = if retry_after.is_zero() {
                self.settings.pause
            } else {
                *retry_after
            };
            return Halt::Account {
                until: self.now() + ms(wait),
                why: format!("Meta throttled this account: {error}"),
            };
        }
        if let Err(halt) = self.check_usage(account) {
            return halt;
        }
        Halt::Failed(format!("Meta refused: {error}"))
    }
}

fn failed(e: StoreError) -> Halt {
    Halt::Failed(format!("the store failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn meta_timestamps_read_with_their_offset() {
        assert_eq!(
            graph_time_ms("2026-01-31T12:00:00+0000"),
            Some(1_769_860_800_000)
        );
        assert_eq!(
            graph_time_ms("2026-01-31T13:00:00+0100"),
            Some(1_769_860_800_000)
        );
        assert_eq!(graph_time_ms("yesterday"), None);
    }

    #[test]
    fn only_values_meta_gave_are_kept() {
        let insights = vec![
            Insight {
                name: "reach".into(),
                period: None,
                total: Some(12),
                values: vec![],
            },
            Insight {
                name: "navigation".into(),
                period: None,
                total: None,
                values: vec![],
            },
        ];
        let metrics = values(insights);
        assert_eq!(metrics.get("reach"), Some(&12));
        assert!(!metrics.contains_key("navigation"), "no data is not a zero");
    }

    #[test]
    fn settings_are_bounded() {
        let vars = |k: &str, v: &str| Vars::from_map(HashMap::from([(k.to_owned(), v.to_owned())]));
        let s = Settings::from_vars(&vars("RELAY_SYNC_CONCURRENCY", "2"));
        assert_eq!(s.concurrency, 2);
        let bad = vars("RELAY_SYNC_CONCURRENCY", "0");
        Settings::from_vars(&bad);
        assert!(bad.finish().is_err());
        let bad = vars("RELAY_SYNC_REFRESH_SECONDS", "0");
        Settings::from_vars(&bad);
        assert!(bad.finish().is_err());
    }
}
