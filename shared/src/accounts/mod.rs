//! Accounts: the tenants, the Instagram professional accounts and Facebook Pages they
//! connect, and the Meta access tokens that let Relay act for them.
//!
//! - [`record`]: the records (tenant, account, webhook route) and the rules that change
//!   an account as a whole: a new connection, a reconnect, a disconnection.
//! - [`refresh`]: the refresh rule (pure): which tokens are refreshed, when and how.
//! - [`tokens`]: [`Tokens`], the token I/O: a usable token or Graph handle for an account,
//!   the schedule's refresh run, and the reconnect event when a person must step in.
//! - [`connect`]: the OAuth flow's two ends as commands, by the connect rules (a new
//!   account, a reconnect, an account another tenant holds).
//! - [`erase`]: Meta's deauthorize and data-deletion callbacks, as commands.
//! - [`ports`]: the little the workflows need from outside, as small traits.
//! - [`env`]: what a cold start reads to reach Meta and make onboarding links.
//!
//! How the records are stored is the store's (its `accounts` module).

pub mod connect;
pub mod env;
pub mod erase;
pub mod ports;
pub mod record;
pub mod refresh;
pub mod tokens;

pub use env::{FB_APP_ID, IG_APP_ID, META_BASE_URL, PUBLIC_BASE_URL, meta_config, public_base_url};
pub use record::{Account, AccountStatus, Channel, LoginKind, NewAccount, Route, Tenant};
pub use refresh::{
    INSTAGRAM_MIN_AGE_FOR_REFRESH, LONG_LIVED_TOKEN_SECONDS, RefreshDecision, RefreshMethod,
    TokenPolicy, refresh_decision,
};
pub use tokens::{GraphHandle, RefreshOutcome, RefreshSummary, SkipReason, TokenError, Tokens};
