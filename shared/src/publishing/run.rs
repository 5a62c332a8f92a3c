//! The publishing commands: `dispatch` (every minute: claim the posts coming due and
//! queue each to fire at its second) and `advance` (one queue message: take the post's
//! lease and carry it through the state machine as far as it goes now).
//!
//! Never twice: every write is conditional on the post's revision; the worker acts only
//! while it holds the post's lease; each Meta id is stored before the next call;
//! `media_publish` reads the container's `status_code` first; a first comment or Page
//! post whose answer was lost is not sent again. Waiting (Meta still processing, quota,
//! backoff) re-queues the post with a delay instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tracing::{info, warn};

use super::machine::{self, Limits, OnError, Step};
use super::post::{FixBy, MediaKind, Post, PostContent, PostStatus};
use super::upload::ObjectState;
use crate::accounts::{GraphHandle as Handle, Tokens};
use crate::audit::{AuditEntry, AuditTrail};
use crate::clock::Clock;
use crate::events::{EventBus, PostFailed, PostPublished};
use crate::ids::MediaId;
use crate::jobs::{JobQueue, PublishJob};
use crate::media::{DOWNLOAD_URL_LIFETIME, MediaBucket};
use crate::meta::{
    CarouselItem, ContainerSpec, ContainerState, FacebookPage, GraphClient, GraphError,
    InstagramAccount, PagePost, PublishOutcome, PublishRetry, StoryMedia,
};
use crate::store::{Listing, Store, StoreError, keys};

/// Who the audit trail names for what the publisher does.
pub const ACTOR: &str = "system:publish";

/// Tunables.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How far ahead the dispatcher claims posts (it runs every minute).
    pub lead: Duration,
    /// How long before its time a post's containers are built (at most the lead), so
    /// that Meta's processing is done when the second comes.
    pub prepare: Duration,
    /// How long a worker holds a post alone; longer than the function's timeout.
    pub lease: Duration,
    /// After a claim, how long until the sweep re-queues a post whose message went
    /// missing.
    pub watchdog: Duration,
    pub limits: Limits,
}

impl Settings {
    /// From the environment: the publish function and the API (which claims a post at
    /// once when it is scheduled inside the lead) read the same variables.
    pub fn from_vars(vars: &crate::config::Vars) -> Self {
        let defaults = Self::default();
        let mut settings = Self {
            lead: vars.seconds("RELAY_PUBLISH_LEAD_SECONDS", defaults.lead),
            prepare: vars.seconds("RELAY_PUBLISH_PREPARE_SECONDS", defaults.prepare),
            lease: vars.seconds("RELAY_PUBLISH_LEASE_SECONDS", defaults.lease),
            watchdog: vars.seconds("RELAY_PUBLISH_WATCHDOG_SECONDS", defaults.watchdog),
            limits: defaults.limits,
        };
        let limits = &mut settings.limits;
        limits.poll_every = vars.seconds("RELAY_PUBLISH_POLL_SECONDS", limits.poll_every);
        limits.backoff = vars.seconds("RELAY_PUBLISH_BACKOFF_SECONDS", limits.backoff);
        limits.quota_wait = vars.seconds("RELAY_PUBLISH_QUOTA_WAIT_SECONDS", limits.quota_wait);
        if settings.prepare > settings.lead {
            vars.invalid(
                "RELAY_PUBLISH_PREPARE_SECONDS",
                "must not exceed RELAY_PUBLISH_LEAD_SECONDS (a post is prepared once claimed)",
            );
        }
        if settings.lease < Duration::from_secs(1) {
            vars.invalid("RELAY_PUBLISH_LEASE_SECONDS", "must be at least 1 second");
        }
        settings
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lead: Duration::from_secs(120),
            prepare: Duration::from_secs(120),
            lease: Duration::from_secs(120),
            watchdog: Duration::from_secs(600),
            limits: Limits::default(),
        }
    }
}

/// Why a message must be redelivered.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not queue the post: {0}")]
    Queue(#[from] crate::jobs::JobError),
    #[error("could not read the account's token: {0}")]
    Token(String),
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dispatched {
    /// Posts claimed and queued for their time.
    pub queued: u32,
    /// Claimed posts whose message or worker went missing, queued again.
    pub requeued: u32,
}

/// What handling one message did to its post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advanced {
    Published,
    Failed,
    /// Re-queued to continue after this long (Meta processing, quota, backoff, early).
    Waiting(Duration),
    /// Another worker holds the post; a check is queued for when its lease ends.
    Busy,
    /// Nothing to do: gone, final, cancelled or not yet claimed.
    Nothing,
}

pub struct Publisher {
    pub store: Store,
    pub tokens: Tokens,
    pub graph: GraphClient,
    pub queue: JobQueue,
    pub bus: EventBus,
    pub audit: AuditTrail,
    /// Where uploaded media live: Meta is given a presigned URL of each.
    pub media: MediaBucket,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

/// The step's outcome, inside one run of the worker.
enum Flow {
    Continue,
    Stop(Advanced),
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn delay_seconds(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(900).min(900)
}

impl Publisher {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    // ------------------------------------------------------------------ dispatch

    /// Claim every post due within the lead time (and any overdue or abandoned one) and
    /// queue it with a delay so it fires at its second.
    pub async fn dispatch(&self) -> Result<Dispatched, PublishError> {
        let now = self.now();
        let until = now + ms(self.settings.lead);
        let mut done = Dispatched::default();
        for shard in 0..keys::SHARDS {
            let mut listing = Listing {
                limit: 100,
                ..Default::default()
            };
            loop {
                let page = self.store.due_posts(shard, until, &listing).await?;
                for post in page.items {
                    match claim(
                        &self.store,
                        &self.queue,
                        post,
                        now,
                        self.settings.prepare,
                        self.settings.watchdog,
                    )
                    .await?
                    {
                        Claimed::Queued => done.queued += 1,
                        Claimed::Requeued => done.requeued += 1,
                        Claimed::Skipped => {}
                    }
                }
                match page.next {
                    Some(next) => listing.cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(done)
    }

    // ------------------------------------------------------------------ advance

    /// Carry the job's post as far as it goes now. `worker` names this attempt (unique
    /// per delivery), so that two deliveries of one message are two workers.
    pub async fn advance(&self, job: &PublishJob, worker: &str) -> Result<Advanced, PublishError> {
        let Some(mut post) = self.store.get_post(&job.tenant_id, &job.post_id).await? else {
            return Ok(Advanced::Nothing);
        };
        if post.status.is_final() || post.status == PostStatus::Scheduled {
            return Ok(Advanced::Nothing);
        }
        let now = self.now();
        // A message may come before the post's preparation starts (SQS delays stop at
        // 15 minutes, and a post may have been moved later).
        let prepare_from = post.scheduled_at - ms(self.settings.prepare);
        if prepare_from > now + 1000 {
            let wait = Duration::from_millis((prepare_from - now) as u64);
            self.queue.send(job, delay_seconds(wait)).await?;
            return Ok(Advanced::Waiting(wait));
        }
        if post.lease_by.as_deref().is_some_and(|by| by != worker) && post.lease_until > now {
            let wait = Duration::from_millis((post.lease_until - now) as u64);
            self.queue.send(job, delay_seconds(wait).max(1)).await?;
            return Ok(Advanced::Busy);
        }
        post.lease_by = Some(worker.to_owned());
        post.lease_until = now + ms(self.settings.lease);
        if post.status != PostStatus::WaitingForQuota {
            post.status = PostStatus::Publishing;
        }
        post.updated_at = now;
        post = match self.store.save_post(&post).await {
            Ok(saved) => saved,
            Err(StoreError::Conflict { .. }) => {
                // Another worker took it this instant; look again shortly.
                self.queue.send(job, 2).await?;
                return Ok(Advanced::Busy);
            }
            Err(e) => return Err(e.into()),
        };
        let handle = match self.handle_of(&post).await {
            Ok(handle) => handle,
            Err(Ok((reason, fix))) => return self.fail(post, reason, fix).await,
            Err(Err(e)) => return Err(e),
        };
        loop {
            match self.step(&mut post, &handle).await? {
                Flow::Continue => continue,
                Flow::Stop(outcome) => return Ok(outcome),
            }
        }
    }

    /// The account's Graph handle, or why the post cannot be published.
    async fn handle_of(
        &self,
        post: &Post,
    ) -> Result<Handle, Result<(String, FixBy), PublishError>> {
        let account = match self
            .store
            .get_account(&post.tenant_id, &post.account_id)
            .await
        {
            Ok(Some(account)) => account,
            Ok(None) => {
                return Err(Ok((
                    "the account is no longer connected to Relay".into(),
                    FixBy::ReconnectTheAccount,
                )));
            }
            Err(e) => return Err(Err(e.into())),
        };
        self.tokens.graph_handle(&account).await.map_err(|e| {
            if e.needs_reconnect() {
                Ok((
                    format!("the account cannot publish: {e}"),
                    FixBy::ReconnectTheAccount,
                ))
            } else {
                Err(PublishError::Token(e.to_string()))
            }
        })
    }

    /// Store the post's progress; losing the race means another worker has it now.
    async fn save(&self, post: &mut Post) -> Result<bool, PublishError> {
        post.updated_at = self.now();
        match self.store.save_post(post).await {
            Ok(saved) => {
                *post = saved;
                Ok(true)
            }
            Err(StoreError::Conflict { .. }) => {
                warn!(post_id = %post.post_id, "post changed under this worker; it stops");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn saved_or_stop(&self, post: &mut Post) -> Result<Flow, PublishError> {
        Ok(if self.save(post).await? {
            Flow::Continue
        } else {
            Flow::Stop(Advanced::Nothing)
        })
    }

    async fn step(&self, post: &mut Post, handle: &Handle) -> Result<Flow, PublishError> {
        let step = machine::next_step(post);
        let result = match (step, handle) {
            (Step::Done, _) => return self.published(post).await.map(Flow::Stop),
            (Step::PagePostUnconfirmed, _) => {
                let outcome = self
                    .fail(
                        post.clone(),
                        "the Page post was sent but Meta's answer was lost; it may be on the Page. Check the Page before scheduling it again".into(),
                        FixBy::TryAgainLater,
                    )
                    .await?;
                return Ok(Flow::Stop(outcome));
            }
            (Step::PublishPagePost, Handle::Page(page)) => self.page_post(post, page).await,
            (_, Handle::Instagram(ig)) => self.instagram_step(step, post, ig).await,
            (_, _) => {
                let outcome = self
                    .fail(
                        post.clone(),
                        "the post's kind does not fit the account".into(),
                        FixBy::ChangeTheMedia,
                    )
                    .await?;
                return Ok(Flow::Stop(outcome));
            }
        };
        match result {
            Ok(flow) => Ok(flow),
            Err(StepError::Store(e)) => Err(e),
            Err(StepError::Graph(e)) => self.on_graph_error(post, &e).await,
        }
    }

    async fn instagram_step(
        &self,
        step: Step,
        post: &mut Post,
        ig: &InstagramAccount,
    ) -> Result<Flow, StepError> {
        let caption = post.caption.clone();
        match step {
            Step::CreateItem(i) => {
                let content = self.for_meta(post).await?;
                let PostContent::Carousel { items } = &content else {
                    unreachable!("only carousels have items");
                };
                let item = &items[i];
                let spec = ContainerSpec::CarouselItem(match item.kind {
                    MediaKind::Image => CarouselItem::Image(&item.url),
                    MediaKind::Video => CarouselItem::Video(&item.url),
                });
                let id = self.graph.create_container(ig, spec).await?.value;
                post.progress.children.push(id);
                Ok(self.saved_or_stop(post).await?)
            }
            Step::CreateContainer => {
                let children = post.progress.children.clone();
                let content = self.for_meta(post).await?;
                let spec = match &content {
                    PostContent::Image { url, alt_text } => ContainerSpec::Image {
                        image_url: url,
                        caption: caption.as_deref(),
                        alt_text: alt_text.as_deref(),
                    },
                    PostContent::Reel {
                        video_url,
                        cover_url,
                        share_to_feed,
                    } => ContainerSpec::Reel {
                        video_url,
                        caption: caption.as_deref(),
                        share_to_feed: *share_to_feed,
                        cover_url: cover_url.as_deref(),
                        thumb_offset_ms: None,
                    },
                    PostContent::Carousel { .. } => ContainerSpec::Carousel {
                        children: &children,
                        caption: caption.as_deref(),
                    },
                    PostContent::Story { media } => ContainerSpec::Story(match media.kind {
                        MediaKind::Image => StoryMedia::Image(&media.url),
                        MediaKind::Video => StoryMedia::Video(&media.url),
                    }),
                    _ => unreachable!("Page posts take no container"),
                };
                let id = self.graph.create_container(ig, spec).await?.value;
                post.progress.container = Some(id);
                post.progress.polls = 0;
                Ok(self.saved_or_stop(post).await?)
            }
            Step::CheckItem(_) | Step::CheckContainer => {
                // Meta processes a carousel's items side by side: read every item not
                // yet known to be finished in one round.
                let containers: Vec<MediaId> = match step {
                    Step::CheckItem(first) => post.progress.children[first..].to_vec(),
                    _ => vec![
                        post.progress
                            .container
                            .clone()
                            .expect("checked by the machine"),
                    ],
                };
                let reads = futures::future::join_all(
                    containers
                        .iter()
                        .map(|c| self.graph.container_status(ig, c)),
                )
                .await;
                let mut finished = Vec::with_capacity(reads.len());
                for read in reads {
                    let status = read?.value;
                    if let Some(e) = status.error() {
                        return Err(StepError::Graph(e));
                    }
                    finished.push(matches!(
                        status.state,
                        ContainerState::Finished | ContainerState::Published
                    ));
                }
                match finished.iter().all(|f| *f) {
                    true => {
                        match step {
                            Step::CheckItem(_) => {
                                post.progress.children_ready = post.progress.children.len()
                            }
                            _ => post.progress.container_ready = true,
                        }
                        post.progress.polls = 0;
                        Ok(self.saved_or_stop(post).await?)
                    }
                    false => {
                        if let Step::CheckItem(first) = step {
                            // Items found finished need no second read.
                            post.progress.children_ready =
                                first + finished.iter().take_while(|f| **f).count();
                        }
                        let limits = &self.settings.limits;
                        if post.progress.polls >= limits.max_polls {
                            let reason = format!(
                                "Meta was still processing the media after {} status reads",
                                post.progress.polls
                            );
                            let outcome = self
                                .fail(post.clone(), reason, FixBy::ChangeTheMedia)
                                .await?;
                            return Ok(Flow::Stop(outcome));
                        }
                        let video = post
                            .content
                            .media()
                            .iter()
                            .any(|(k, _)| *k == MediaKind::Video);
                        let wait = machine::poll_delay(limits, post.progress.polls, video);
                        post.progress.polls += 1;
                        Ok(self.wait(post, wait, None).await?)
                    }
                }
            }
            Step::Publish => {
                if let Some(flow) = self.until_its_second(post).await? {
                    return Ok(flow);
                }
                let limit = self.graph.publishing_limit(ig).await?.value;
                if limit.remaining() == Some(0) {
                    return Ok(self.wait_for_quota(post).await?);
                }
                let container = post
                    .progress
                    .container
                    .clone()
                    .expect("checked by the machine");
                let outcome = self
                    .graph
                    .media_publish(ig, &container, PublishRetry::ReconcileWithStatus)
                    .await?
                    .value;
                post.progress.published = true;
                post.progress.waiting = None;
                post.published_at = Some(self.now());
                if let PublishOutcome::Published(media) = outcome {
                    post.progress.media_id = Some(media.to_string());
                } else {
                    info!(post_id = %post.post_id, "container was already published; its answer had been lost");
                }
                Ok(self.saved_or_stop(post).await?)
            }
            Step::FirstComment => {
                let text = post.first_comment.clone().unwrap_or_default();
                let media = media_of(post)?;
                post.progress.first_comment_sent = true;
                if !self.save(post).await? {
                    return Ok(Flow::Stop(Advanced::Nothing));
                }
                match self.graph.comment_on_media(ig, &media, &text).await {
                    Ok(comment) => post.progress.first_comment_id = Some(comment.value.to_string()),
                    // The post is out; a lost first comment does not fail it.
                    Err(e) => warn!(error = %e, "first comment not posted"),
                }
                Ok(self.saved_or_stop(post).await?)
            }
            Step::Permalink => {
                let media = media_of(post)?;
                let link = self.graph.media_permalink(ig, &media).await?.value;
                post.progress.permalink = Some(link);
                Ok(self.saved_or_stop(post).await?)
            }
            Step::Done | Step::PublishPagePost | Step::PagePostUnconfirmed => {
                unreachable!("handled by the caller")
            }
        }
    }

    async fn page_post(&self, post: &mut Post, page: &FacebookPage) -> Result<Flow, StepError> {
        if let Some(flow) = self.until_its_second(post).await? {
            return Ok(flow);
        }
        let text = post.caption.clone();
        let content = self.for_meta(post).await?;
        let request = match &content {
            PostContent::PageText => PagePost::Text {
                message: text.as_deref().unwrap_or_default(),
            },
            PostContent::PagePhoto { url } => PagePost::Photo {
                url,
                caption: text.as_deref(),
            },
            PostContent::PageLink { link } => PagePost::Link {
                link,
                message: text.as_deref(),
            },
            _ => unreachable!("Instagram posts take containers"),
        };
        post.progress.page_post_sent = true;
        if !self.save(post).await? {
            return Ok(Flow::Stop(Advanced::Nothing));
        }
        match self.graph.publish_page_post(page, request).await {
            Ok(created) => {
                let created = created.value;
                post.progress.published = true;
                post.progress.media_id = Some(created.post_id.unwrap_or(created.id));
                post.published_at = Some(self.now());
                Ok(self.saved_or_stop(post).await?)
            }
            Err(e) => {
                // Meta answered with an error, or the call never left: nothing was
                // posted, so it may be sent again.
                if definitely_not_sent(&e) {
                    post.progress.page_post_sent = false;
                }
                Err(StepError::Graph(e))
            }
        }
    }

    async fn on_graph_error(&self, post: &mut Post, e: &GraphError) -> Result<Flow, PublishError> {
        match machine::on_error(e, post, &self.settings.limits) {
            OnError::Rebuild => {
                info!(post_id = %post.post_id, "container expired; building a new one");
                post.progress.children.clear();
                post.progress.children_ready = 0;
                post.progress.container = None;
                post.progress.container_ready = false;
                post.progress.rebuilds += 1;
                self.saved_or_stop(post).await
            }
            OnError::Retry(wait) => {
                post.progress.retries += 1;
                self.wait(post, wait, None).await
            }
            OnError::WaitForQuota => self.wait_for_quota(post).await,
            OnError::Fail { reason, fix } => {
                let outcome = self.fail(post.clone(), reason, fix).await?;
                Ok(Flow::Stop(outcome))
            }
        }
    }

    /// The post is ready ahead of its time: come back just before its second (SQS delays
    /// are whole seconds), then wait out the last moment here, so it goes out at its
    /// second rather than its minute. None: the time has come.
    async fn until_its_second(&self, post: &mut Post) -> Result<Option<Flow>, PublishError> {
        let remaining = post.scheduled_at - self.now();
        if remaining > 1500 {
            let early = Duration::from_secs(((remaining - 1000) / 1000).max(1) as u64);
            return self.wait(post, early, None).await.map(Some);
        }
        if remaining > 0 {
            tokio::time::sleep(Duration::from_millis(remaining as u64)).await;
        }
        Ok(None)
    }

    async fn wait_for_quota(&self, post: &mut Post) -> Result<Flow, PublishError> {
        let wait = self.settings.limits.quota_wait;
        post.status = PostStatus::WaitingForQuota;
        let note = format!(
            "the account used its publishing quota for the last 24 hours; Relay tries again in {} minutes",
            wait.as_secs().div_ceil(60)
        );
        self.wait(post, wait, Some(note)).await
    }

    /// Give up the lease and come back after `wait`.
    async fn wait(
        &self,
        post: &mut Post,
        wait: Duration,
        note: Option<String>,
    ) -> Result<Flow, PublishError> {
        if note.is_some() {
            post.progress.waiting = note;
        }
        post.lease_by = None;
        post.lease_until = self.now() + ms(wait) + ms(self.settings.watchdog);
        if !self.save(post).await? {
            return Ok(Flow::Stop(Advanced::Nothing));
        }
        self.queue.send(&job_of(post), delay_seconds(wait)).await?;
        Ok(Flow::Stop(Advanced::Waiting(wait)))
    }

    async fn published(&self, post: &mut Post) -> Result<Advanced, PublishError> {
        let now = self.now();
        post.status = PostStatus::Published;
        post.lease_by = None;
        post.published_at.get_or_insert(now);
        if !self.save(post).await? {
            return Ok(Advanced::Nothing);
        }
        let published_at = post.published_at.unwrap_or(now);
        info!(post_id = %post.post_id, late_ms = published_at - post.scheduled_at, "post published");
        let event = PostPublished {
            tenant_id: post.tenant_id.clone(),
            account_id: post.account_id.to_string(),
            post_id: post.post_id.to_string(),
            media_id: post.progress.media_id.clone(),
            permalink: post.progress.permalink.clone(),
            scheduled_at: post.scheduled_at,
            published_at,
        };
        if let Err(e) = self.bus.publish(&event).await {
            warn!(error = %e, "PostPublished not sent");
        }
        self.uploads_done(post).await;
        self.audit_post(
            post,
            "post.published",
            json!({
                "media_id": post.progress.media_id,
                "late_ms": published_at - post.scheduled_at,
            }),
        )
        .await;
        Ok(Advanced::Published)
    }

    async fn fail(
        &self,
        mut post: Post,
        reason: String,
        fix: FixBy,
    ) -> Result<Advanced, PublishError> {
        let now = self.now();
        post.status = PostStatus::Failed;
        post.lease_by = None;
        post.failure = Some(super::post::Failure {
            reason: reason.clone(),
            fix,
            at: now,
        });
        if !self.save(&mut post).await? {
            return Ok(Advanced::Nothing);
        }
        let fix_name = serde_json::to_value(fix)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        warn!(post_id = %post.post_id, %reason, "post failed");
        let event = PostFailed {
            tenant_id: post.tenant_id.clone(),
            account_id: post.account_id.to_string(),
            post_id: post.post_id.to_string(),
            reason: reason.clone(),
            fix: fix_name.clone(),
            at: now,
        };
        if let Err(e) = self.bus.publish(&event).await {
            warn!(error = %e, "PostFailed not sent");
        }
        self.uploads_done(&post).await;
        self.audit_post(
            &post,
            "post.failed",
            json!({ "reason": reason, "fix": fix_name }),
        )
        .await;
        Ok(Advanced::Failed)
    }

    /// The post's content as Meta gets it: each upload replaced by a presigned URL of
    /// its file, made now (Meta downloads when the container is created).
    async fn for_meta(&self, post: &Post) -> Result<PostContent, PublishError> {
        let mut urls = std::collections::HashMap::new();
        for upload in post.content.uploads() {
            let url = self
                .media
                .download_url(&post.tenant_id, &upload, DOWNLOAD_URL_LIFETIME)
                .await?;
            urls.insert(super::upload::reference(&upload), url);
        }
        Ok(post
            .content
            .map_urls(|url| urls.get(url).cloned().unwrap_or_else(|| url.to_owned())))
    }

    /// The post is over: its uploaded files are tagged for the bucket's lifecycle to
    /// remove. A file left untagged is removed by the lifecycle's catch-all later.
    async fn uploads_done(&self, post: &Post) {
        for upload in post.content.uploads() {
            if let Err(e) = self
                .media
                .mark(&post.tenant_id, &upload, ObjectState::Done)
                .await
            {
                warn!(error = %e, post_id = %post.post_id, "upload not marked done");
            }
        }
    }

    async fn audit_post(&self, post: &Post, action: &str, details: serde_json::Value) {
        let entry = AuditEntry::new(ACTOR, action)
            .target(format!("post:{}", post.post_id))
            .details(details);
        if let Err(e) = self.audit.append(&post.tenant_id, entry).await {
            warn!(error = %e, "publishing outcome not audited");
        }
    }
}

/// Inside one step: a Meta error (mapped by the machine) or a store failure.
enum StepError {
    Graph(GraphError),
    Store(PublishError),
}

impl From<GraphError> for StepError {
    fn from(e: GraphError) -> Self {
        Self::Graph(e)
    }
}

impl From<PublishError> for StepError {
    fn from(e: PublishError) -> Self {
        Self::Store(e)
    }
}

fn media_of(post: &Post) -> Result<MediaId, StepError> {
    let raw = post.progress.media_id.clone().unwrap_or_default();
    MediaId::parse(raw).map_err(|e| {
        StepError::Graph(GraphError::Decode {
            context: "media_publish",
            detail: e.to_string(),
        })
    })
}

/// An error that proves the request was not carried out: Meta refused it, or it never
/// reached Meta. A timeout or a 5xx may have been carried out.
fn definitely_not_sent(e: &GraphError) -> bool {
    use crate::meta::TransientCause;
    match e {
        GraphError::Transient { cause } => matches!(cause, TransientCause::Connect),
        GraphError::Decode { .. } => false,
        _ => true,
    }
}

/// What claiming one post did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// Claimed now and queued to fire at its second.
    Queued,
    /// Claimed before, but its message or worker went missing: queued again.
    Requeued,
    /// Not for now: final, still leased, or changed by someone else meanwhile.
    Skipped,
}

/// Claim a post that is due (the caller read it from the due index, or just scheduled
/// it within the lead time) and queue it with a delay so it fires at its second.
pub async fn claim(
    store: &Store,
    queue: &JobQueue,
    mut post: Post,
    now: i64,
    prepare: Duration,
    watchdog: Duration,
) -> Result<Claimed, PublishError> {
    let fresh = match post.status {
        PostStatus::Scheduled => true,
        s if s.is_final() => return Ok(Claimed::Skipped),
        // Claimed before: queue again only when its lease or watchdog ran out.
        _ if post.lease_until > now => return Ok(Claimed::Skipped),
        _ => false,
    };
    // Delivered when its preparation should start: containers are built and processed
    // ahead, so that only media_publish is left at its second.
    let fire_at = (post.scheduled_at - ms(prepare)).max(now);
    if fresh {
        post.status = PostStatus::Queued;
    }
    post.lease_by = None;
    post.lease_until = post.scheduled_at.max(now) + ms(watchdog);
    post.updated_at = now;
    match store.save_post(&post).await {
        Ok(_) => {}
        // Someone else moved it (an edit, a cancel, another sweep): theirs stands.
        Err(StoreError::Conflict { .. }) => return Ok(Claimed::Skipped),
        Err(e) => return Err(e.into()),
    }
    let delay = Duration::from_millis(u64::try_from(fire_at - now).unwrap_or(0));
    queue.send(&job_of(&post), delay_seconds(delay)).await?;
    if fresh {
        Ok(Claimed::Queued)
    } else {
        warn!(post_id = %post.post_id, "claimed post had no live worker; queued again");
        Ok(Claimed::Requeued)
    }
}

pub fn job_of(post: &Post) -> PublishJob {
    PublishJob {
        tenant_id: post.tenant_id.clone(),
        post_id: post.post_id.clone(),
    }
}
