//! The clients a function builds once per cold start, from its configuration: the
//! DynamoDB store, the audit trail, the Graph client, the event bus, and the token I/O
//! over them. Each is cheap to clone; a handler takes the ones it needs, so no other type
//! hands out clients it was given.

use crate::accounts::Tokens;
use crate::accounts::env::{META_BASE_URL, meta_config, public_base_url};
use crate::accounts::refresh::TokenPolicy;
use crate::audit::AuditTrail;
use crate::config::{Config, ConfigError, ConfigProblem, Secrets, Vars};
use crate::crypto::EnvelopeCipher;
use crate::events::EventBus;
use crate::meta::GraphClient;
use crate::onboarding::OnboardingLinks;
use crate::store::Store;

#[derive(Clone)]
pub struct Clients {
    pub store: Store,
    pub audit: AuditTrail,
    pub graph: GraphClient,
    pub bus: EventBus,
    /// Usable tokens and their refresh, over the clients above and the KMS key.
    pub tokens: Tokens,
}

impl Clients {
    /// Everything from the configuration. `actor` names the function in audit records
    /// (`system:<function>`). Reads from `vars` `RELAY_META_BASE_URL`, the app ids, the
    /// token policy and `RELAY_PUBLIC_BASE_URL` (reconnect events then carry an
    /// onboarding link).
    pub fn from_config(
        config: &Config,
        secrets: &Secrets,
        vars: &Vars,
        sdk: &aws_config::SdkConfig,
        actor: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let graph = GraphClient::new(meta_config(config, secrets, vars)?).map_err(|e| {
            ConfigError(vec![ConfigProblem::Invalid {
                var: META_BASE_URL.into(),
                reason: e.to_string(),
            }])
        })?;
        let policy = TokenPolicy::from_vars(vars)?;
        let links =
            public_base_url(vars).map(|base| OnboardingLinks::new(&secrets.oauth_state_key, base));
        vars.finish()?;
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let store = Store::new(dynamodb.clone(), config.main_table.clone());
        let audit = AuditTrail::new(dynamodb, config.audit_table.clone());
        let bus = EventBus::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus.clone(),
        );
        let cipher =
            EnvelopeCipher::new(aws_sdk_kms::Client::new(sdk), config.token_key_id.clone());
        let tokens = Tokens::new(
            store.clone(),
            cipher,
            graph.clone(),
            audit.clone(),
            bus.clone(),
            actor,
        )
        .with_policy(policy);
        let tokens = match links {
            Some(links) => tokens.with_links(links),
            None => tokens,
        };
        Ok(Self {
            store,
            audit,
            graph,
            bus,
            tokens,
        })
    }
}
