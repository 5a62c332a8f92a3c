//! The Graph client pointed at a Meta simulator, with the simulator's app credentials.

use meta_sim::MetaSim;
use relay::meta::{AppCredentials, MetaConfig, MetaEndpoints};
use relay::secret::Secret;

/// Meta configuration that sends every Meta host to `sim`, with its app ids and secrets.
pub fn meta_config(sim: &MetaSim) -> MetaConfig {
    let c = sim.config();
    MetaConfig::new(
        MetaEndpoints::simulator(sim.base_url()).expect("the simulator's base URL is valid"),
        AppCredentials {
            instagram_app_id: c.ig_app_id.clone(),
            instagram_app_secret: Secret::new(c.ig_app_secret.clone()),
            facebook_app_id: c.fb_app_id.clone(),
            facebook_app_secret: Secret::new(c.fb_app_secret.clone()),
        },
    )
}
