//! Lambda entry point: read config and secrets and build clients once per cold start,
//! then handle SQS batches from the moderation queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use relay::config::{Config, Secrets, Vars};
use relay::crypto::CacheLimits;
use relay::tokens::Tokens;

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
    let settings = moderation::Settings::from_vars(&Vars::from_process())?;
    // Opened data keys are cached briefly, so a burst of comments on one account does
    // not cost a KMS call each.
    let tokens = Tokens::from_config(&config, &secrets, &sdk, moderation::ACTOR)?
        .with_key_cache(CacheLimits::default());
    let handler = moderation::Moderation::new(
        moderation::Deps {
            store: tokens.store().clone(),
            audit: tokens.audit().clone(),
            graph: tokens.graph().clone(),
            tokens,
            clock: Arc::new(relay::clock::SystemClock),
        },
        settings,
    );
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = handler.handle_batch(event.payload).await;
        handler.metrics().flush();
        Ok::<_, Error>(response)
    }))
    .await
}
