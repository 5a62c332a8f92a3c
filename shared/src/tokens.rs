//! Moved to [`crate::accounts`]; these names stay for callers not yet moved. New code
//! uses `relay::accounts`.

pub use crate::accounts::env::{
    FB_APP_ID, IG_APP_ID, META_BASE_URL, PUBLIC_BASE_URL, meta_config, public_base_url,
};
pub use crate::accounts::refresh::{
    INSTAGRAM_MIN_AGE_FOR_REFRESH, LONG_LIVED_TOKEN_SECONDS, RefreshDecision, RefreshMethod,
    TokenPolicy, refresh_decision,
};
pub use crate::accounts::tokens::{RefreshOutcome, SkipReason, TokenError, Tokens};
