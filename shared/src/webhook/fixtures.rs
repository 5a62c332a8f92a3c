//! Sample deliveries, exactly as Meta POSTs them (one file per case under `events/meta/`).
//! The same files feed the webhook and ingest functions' sample events.

pub const IG_BATCH: &str = include_str!("../../../events/meta/instagram-batch.json");
pub const IG_BATCH_WITH_MALFORMED_EVENT: &str =
    include_str!("../../../events/meta/instagram-batch-with-malformed-event.json");
pub const IG_COMMENT: &str = include_str!("../../../events/meta/instagram-comment.json");
pub const IG_COMMENT_FACEBOOK_LOGIN: &str =
    include_str!("../../../events/meta/instagram-comment-facebook-login.json");
pub const IG_COMMENT_FLAT: &str = include_str!("../../../events/meta/instagram-comment-flat.json");
pub const IG_LIVE_COMMENT: &str = include_str!("../../../events/meta/instagram-live-comment.json");
pub const IG_MENTION: &str = include_str!("../../../events/meta/instagram-mention.json");
pub const IG_MESSAGE_AD_REFERRAL: &str =
    include_str!("../../../events/meta/instagram-message-ad-referral.json");
pub const IG_MESSAGE_ATTACHMENT: &str =
    include_str!("../../../events/meta/instagram-message-attachment.json");
pub const IG_MESSAGE_DELETED: &str =
    include_str!("../../../events/meta/instagram-message-deleted.json");
pub const IG_MESSAGE_ECHO: &str = include_str!("../../../events/meta/instagram-message-echo.json");
pub const IG_MESSAGE_ECHO_ELLIPSIS: &str =
    include_str!("../../../events/meta/instagram-message-echo-ellipsis.json");
pub const IG_MESSAGE_EDIT: &str = include_str!("../../../events/meta/instagram-message-edit.json");
pub const IG_MESSAGE_QUICK_REPLY: &str =
    include_str!("../../../events/meta/instagram-message-quick-reply.json");
pub const IG_MESSAGE_STORY_MENTION: &str =
    include_str!("../../../events/meta/instagram-message-story-mention.json");
pub const IG_MESSAGE_STORY_REPLY: &str =
    include_str!("../../../events/meta/instagram-message-story-reply.json");
pub const IG_MESSAGE_TEXT: &str = include_str!("../../../events/meta/instagram-message-text.json");
pub const IG_MESSAGE_UNICODE: &str =
    include_str!("../../../events/meta/instagram-message-unicode.json");
pub const IG_MESSAGE_UNSUPPORTED: &str =
    include_str!("../../../events/meta/instagram-message-unsupported.json");
pub const IG_POSTBACK: &str = include_str!("../../../events/meta/instagram-postback.json");
pub const IG_REACTION: &str = include_str!("../../../events/meta/instagram-reaction.json");
pub const IG_READ: &str = include_str!("../../../events/meta/instagram-read.json");
pub const IG_REFERRAL: &str = include_str!("../../../events/meta/instagram-referral.json");
pub const IG_UNKNOWN_EVENT: &str =
    include_str!("../../../events/meta/instagram-unknown-event.json");
pub const IG_UNREACT: &str = include_str!("../../../events/meta/instagram-unreact.json");
pub const MESSENGER_ECHO: &str = include_str!("../../../events/meta/messenger-echo.json");
pub const MESSENGER_MESSAGE: &str = include_str!("../../../events/meta/messenger-message.json");
pub const MESSENGER_POSTBACK: &str = include_str!("../../../events/meta/messenger-postback.json");
pub const MESSENGER_REACTION: &str = include_str!("../../../events/meta/messenger-reaction.json");
pub const MESSENGER_READ: &str = include_str!("../../../events/meta/messenger-read.json");

/// Every sample, with its file name.
pub const ALL: &[(&str, &str)] = &[
    ("instagram-batch", IG_BATCH),
    (
        "instagram-batch-with-malformed-event",
        IG_BATCH_WITH_MALFORMED_EVENT,
    ),
    ("instagram-comment", IG_COMMENT),
    (
        "instagram-comment-facebook-login",
        IG_COMMENT_FACEBOOK_LOGIN,
    ),
    ("instagram-comment-flat", IG_COMMENT_FLAT),
    ("instagram-live-comment", IG_LIVE_COMMENT),
    ("instagram-mention", IG_MENTION),
    ("instagram-message-ad-referral", IG_MESSAGE_AD_REFERRAL),
    ("instagram-message-attachment", IG_MESSAGE_ATTACHMENT),
    ("instagram-message-deleted", IG_MESSAGE_DELETED),
    ("instagram-message-echo", IG_MESSAGE_ECHO),
    ("instagram-message-echo-ellipsis", IG_MESSAGE_ECHO_ELLIPSIS),
    ("instagram-message-edit", IG_MESSAGE_EDIT),
    ("instagram-message-quick-reply", IG_MESSAGE_QUICK_REPLY),
    ("instagram-message-story-mention", IG_MESSAGE_STORY_MENTION),
    ("instagram-message-story-reply", IG_MESSAGE_STORY_REPLY),
    ("instagram-message-text", IG_MESSAGE_TEXT),
    ("instagram-message-unicode", IG_MESSAGE_UNICODE),
    ("instagram-message-unsupported", IG_MESSAGE_UNSUPPORTED),
    ("instagram-postback", IG_POSTBACK),
    ("instagram-reaction", IG_REACTION),
    ("instagram-read", IG_READ),
    ("instagram-referral", IG_REFERRAL),
    ("instagram-unknown-event", IG_UNKNOWN_EVENT),
    ("instagram-unreact", IG_UNREACT),
    ("messenger-echo", MESSENGER_ECHO),
    ("messenger-message", MESSENGER_MESSAGE),
    ("messenger-postback", MESSENGER_POSTBACK),
    ("messenger-reaction", MESSENGER_REACTION),
    ("messenger-read", MESSENGER_READ),
];
