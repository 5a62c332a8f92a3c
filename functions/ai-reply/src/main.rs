//! Lambda entry point: read config and secrets and build clients once per cold start,
//! then handle SQS batches from the replies queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use relay::config::{Config, Secrets, Vars};
use relay::crypto::CacheLimits;
use relay::replies::ai::ACTOR;
use relay::replies::{Adapters, Requeue};
use relay::tokens::Tokens;

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
    let vars = Vars::from_process();
    let settings = ai_reply::Settings::from_vars(&vars)?;
    let drafter = ai_reply::drafter(ai_reply::llm_config(&vars, &secrets)?)?;
    // Opened data keys are cached briefly, so a busy account does not cost a KMS call
    // per reply.
    let tokens =
        Tokens::from_config(&config, &secrets, &sdk, ACTOR)?.with_key_cache(CacheLimits::default());
    let requeue = config.queues.replies.clone().map(|queue_url| Requeue {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        queue_url,
    });
    let handler = ai_reply::AiReply::new(
        Adapters {
            store: tokens.store().clone(),
            audit: tokens.audit().clone(),
            bus: tokens.events().clone(),
            graph: tokens.graph().clone(),
            tokens,
            drafter,
            clock: Arc::new(relay::clock::SystemClock),
            requeue,
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
