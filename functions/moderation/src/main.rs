//! Lambda entry point: read config and secrets and build clients once per cold start,
//! then handle SQS batches from the moderation queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use relay::audit::AuditTrail;
use relay::config::{Config, ConfigError, ConfigProblem, Secrets, Vars};
use relay::crypto::{CacheLimits, EnvelopeCipher};
use relay::events::EventBus;
use relay::meta::GraphClient;
use relay::store::Store;
use relay::tokens::{META_BASE_URL, TokenPolicy, Tokens, meta_config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
    let vars = Vars::from_process();
    let settings = moderation::Settings::from_vars(&vars)?;
    let graph = GraphClient::new(meta_config(&config, &secrets, &vars)?).map_err(|e| {
        ConfigError(vec![ConfigProblem::Invalid {
            var: META_BASE_URL.into(),
            reason: e.to_string(),
        }])
    })?;
    let policy = TokenPolicy::from_vars(&vars)?;

    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = Store::new(ddb.clone(), config.main_table.clone());
    let audit = AuditTrail::new(ddb, config.audit_table.clone());
    let bus = EventBus::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        config.event_bus.clone(),
    );
    // Opened data keys are cached briefly, so a burst of comments on one account does
    // not cost a KMS call each.
    let cipher = EnvelopeCipher::new(aws_sdk_kms::Client::new(&sdk), config.token_key_id.clone())
        .with_cache(CacheLimits::default());
    let tokens = Tokens::new(
        store.clone(),
        cipher,
        graph.clone(),
        audit.clone(),
        bus,
        moderation::ACTOR,
    )
    .with_policy(policy);
    let handler = moderation::Moderation::new(
        moderation::Deps {
            store,
            audit,
            graph,
            tokens,
            clock: Arc::new(relay::ai::SystemClock),
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
