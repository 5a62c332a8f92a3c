//! The Send API: Instagram messages (`/<IG_ID>/messages`, `/me/messages`), Messenger
//! messages (`/<PAGE_ID>/messages`), sender actions, reactions and private replies to
//! comments. The rules live in [`crate::state::messaging`]; this module reads Meta's
//! request shapes and records every accepted message for `GET /_sim/messages`.

use super::{Auth, Ctx, GraphResult};
use crate::graph_error::GraphError;
use crate::state::accounts::Capability;
use crate::state::messaging::{self, Channel, MessageTag, SentMessage};
use crate::state::{SimState, ids};
use crate::webhook;
use serde_json::{Value, json};

/// Attachment types the Send API accepts by URL.
const MEDIA_ATTACHMENTS: &[&str] = &["image", "audio", "video", "file"];
const MAX_ATTACHMENTS: usize = 10;
const MAX_QUICK_REPLIES: usize = 13;

/// `POST /<IG_ID>/messages` on behalf of an Instagram account.
pub fn send(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    account: &str,
    channel: Channel,
) -> GraphResult {
    auth.require(Capability::Messages)?;
    send_checked(state, ctx, account, channel)
}

/// `POST /<PAGE_ID>/messages` (or `/me/messages` with a page token): Messenger, or
/// Instagram through the page's linked account when the recipient is an Instagram
/// user (Facebook Login's Instagram messaging).
pub fn send_from_page(
    state: &mut SimState,
    ctx: &mut Ctx,
    auth: &Auth,
    page_id: &str,
) -> GraphResult {
    let recipient = ctx.params.json("recipient")?.unwrap_or(Value::Null);
    let linked = state
        .page(page_id)
        .and_then(|p| p.instagram_business_account.clone());
    let via_instagram = linked.as_deref().is_some_and(|ig| {
        let by_id = recipient["id"]
            .as_str()
            .is_some_and(|r| state.thread(ig, r).is_some());
        let by_comment = recipient["comment_id"]
            .as_str()
            .and_then(|c| state.comment(c))
            .is_some_and(|c| c.account_id == ig);
        by_id || by_comment
    });
    match linked {
        Some(ig) if via_instagram => {
            auth.require(Capability::Messages)?;
            ctx.usage.buc_type = "instagram";
            ctx.usage.account = Some(ig.clone());
            send_checked(state, ctx, &ig, Channel::Instagram)
        }
        _ => {
            auth.require(Capability::PageMessaging)?;
            send_checked(state, ctx, page_id, Channel::Messenger)
        }
    }
}

fn send_checked(
    state: &mut SimState,
    ctx: &mut Ctx,
    account: &str,
    channel: Channel,
) -> GraphResult {
    let recipient = ctx
        .params
        .json("recipient")?
        .filter(Value::is_object)
        .ok_or_else(|| GraphError::param("The parameter recipient is required"))?;
    let message = ctx.params.json("message")?;
    let sender_action = ctx.params.nonempty("sender_action");
    let messaging_type = ctx.params.nonempty("messaging_type");
    let tag_raw = ctx.params.nonempty("tag");

    if let Some(mt) = &messaging_type
        && !["RESPONSE", "UPDATE", "MESSAGE_TAG"].contains(&mt.as_str())
    {
        return Err(GraphError::param(format!(
            "Param messaging_type must be one of {{RESPONSE, UPDATE, MESSAGE_TAG}} - got \"{mt}\""
        )));
    }
    let tag = match &tag_raw {
        None => None,
        Some(raw) => Some(MessageTag::parse(raw, channel).ok_or_else(|| {
            let allowed = match channel {
                Channel::Instagram => "{HUMAN_AGENT}",
                Channel::Messenger => {
                    "{ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, HUMAN_AGENT, POST_PURCHASE_UPDATE}"
                }
            };
            GraphError::param(format!(
                "Param tag must be one of {allowed} - got \"{raw}\""
            ))
        })?),
    };
    if channel == Channel::Messenger && sender_action.is_none() {
        // Messenger requires messaging_type, and MESSAGE_TAG exactly when a tag is set.
        match (messaging_type.as_deref(), tag) {
            (None, _) => {
                return Err(GraphError::param(
                    "The parameter messaging_type is required",
                ));
            }
            (Some("MESSAGE_TAG"), None) => {
                return Err(GraphError::param(
                    "A tag is required when messaging_type is MESSAGE_TAG",
                ));
            }
            (Some(mt), Some(_)) if mt != "MESSAGE_TAG" => {
                return Err(GraphError::param(
                    "messaging_type must be MESSAGE_TAG when a tag is set",
                ));
            }
            _ => {}
        }
    }

    if let Some(comment_id) = recipient["comment_id"].as_str() {
        let message =
            message.ok_or_else(|| GraphError::param("The parameter message is required"))?;
        return private_reply(state, ctx, account, comment_id, &message);
    }
    let customer = recipient["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            GraphError::param("The parameter recipient must have an id or a comment_id")
        })?
        .to_owned();

    if let Some(action) = sender_action {
        if message.is_some() {
            return Err(GraphError::param(
                "sender_action cannot be sent together with message",
            ));
        }
        return sender_action_call(state, ctx, account, channel, &customer, &action);
    }

    let message = message.ok_or_else(|| GraphError::param("The parameter message is required"))?;
    let (text, attachment) = parse_message(&message, channel)?;

    let last = state
        .thread(account, &customer)
        .and_then(|t| t.last_inbound_ms);
    messaging::check_window(channel, last, tag, ctx.now)
        .map_err(|e| GraphError::send(e, channel))?;

    let mid = new_mid(account, channel);
    state.record_outbound_mid(account, &customer, &mid);
    state.messages.push(SentMessage {
        id: mid.clone(),
        account_id: account.to_owned(),
        channel,
        recipient: json!({"id": customer}),
        text: text.clone(),
        attachment: attachment.clone(),
        tag: tag_raw,
        messaging_type,
        sender_action: None,
        reaction: None,
        sent_at: ctx.now.secs(),
    });
    if state.webhook.echo_sent_messages {
        let mut echo = json!({"mid": mid});
        if let Some(t) = &text {
            echo["text"] = json!(t);
        }
        if let Some(a) = &attachment {
            echo["attachments"] = json!([a]);
        }
        if channel == Channel::Messenger {
            echo["app_id"] = json!(state.config.fb_app_id);
        }
        ctx.followups.push(webhook::echo_event(
            channel,
            account,
            &customer,
            echo,
            ctx.now.ms(),
        ));
    }
    Ok(json!({"recipient_id": customer, "message_id": mid}))
}

fn new_mid(account: &str, channel: Channel) -> String {
    match channel {
        Channel::Instagram => ids::ig_mid(account),
        Channel::Messenger => ids::messenger_mid(),
    }
}

/// Reads `message`: text, one attachment, or (Instagram) several image attachments.
fn parse_message(
    message: &Value,
    channel: Channel,
) -> Result<(Option<String>, Option<Value>), GraphError> {
    if !message.is_object() {
        return Err(GraphError::param("Param message must be a JSON object"));
    }
    if let Some(qr) = message.get("quick_replies") {
        let n = qr.as_array().map_or(0, Vec::len);
        if n == 0 || n > MAX_QUICK_REPLIES {
            return Err(GraphError::param(
                "Param message[quick_replies] must have 1 to 13 items",
            ));
        }
    }
    let text = match message.get("text") {
        None => None,
        Some(Value::String(t)) => {
            messaging::check_text(t).map_err(|e| GraphError::send(e, channel))?;
            Some(t.clone())
        }
        Some(_) => return Err(GraphError::param("Param message[text] must be a string")),
    };
    let attachment = match (message.get("attachment"), message.get("attachments")) {
        (Some(a), None) => Some(check_attachment(a, channel)?),
        (None, Some(Value::Array(items))) => {
            if items.is_empty() || items.len() > MAX_ATTACHMENTS {
                return Err(GraphError::param(
                    "Param message[attachments] must have 1 to 10 items",
                ));
            }
            for a in items {
                let a = check_attachment(a, channel)?;
                if items.len() > 1 && a["type"] != "image" {
                    return Err(GraphError::param("Only images can be sent several at once"));
                }
            }
            Some(Value::Array(items.clone()))
        }
        (None, None) => None,
        _ => {
            return Err(GraphError::param(
                "Use either message[attachment] or message[attachments]",
            ));
        }
    };
    match (&text, &attachment) {
        (None, None) => Err(GraphError::param(
            "Message cannot be empty, must provide valid attachment or text",
        )),
        (Some(_), Some(_)) => Err(GraphError::param(
            "A message has either text or an attachment, not both",
        )),
        _ => Ok((text, attachment)),
    }
}

fn check_attachment(a: &Value, channel: Channel) -> Result<Value, GraphError> {
    let kind = a["type"].as_str().unwrap_or("");
    let payload = &a["payload"];
    if kind == "template" && channel == Channel::Messenger {
        if !payload.is_object() {
            return Err(GraphError::param(
                "Param message[attachment][payload] must be an object",
            ));
        }
        return Ok(a.clone());
    }
    if !MEDIA_ATTACHMENTS.contains(&kind) {
        return Err(GraphError::param(format!(
            "Param message[attachment][type] must be one of {{image, audio, video, file}} - got \"{kind}\""
        )));
    }
    let by_url = payload["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"));
    let by_id = payload["attachment_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty());
    if !(by_url || by_id) {
        return Err(GraphError::param(
            "Param message[attachment][payload][url] must be a valid http(s) URL",
        ));
    }
    Ok(a.clone())
}

fn sender_action_call(
    state: &mut SimState,
    ctx: &mut Ctx,
    account: &str,
    channel: Channel,
    customer: &str,
    action: &str,
) -> GraphResult {
    let last = state
        .thread(account, customer)
        .and_then(|t| t.last_inbound_ms);
    let reaction = match action {
        "typing_on" | "typing_off" | "mark_seen" => None,
        "react" | "unreact" => {
            let payload = ctx
                .params
                .json("payload")?
                .filter(Value::is_object)
                .ok_or_else(|| {
                    GraphError::param("The parameter payload is required for reactions")
                })?;
            let target = payload["message_id"]
                .as_str()
                .ok_or_else(|| GraphError::param("Param payload[message_id] is required"))?;
            let known = state
                .thread(account, customer)
                .is_some_and(|t| t.mids.iter().any(|m| m == target));
            if !known {
                return Err(GraphError::param(
                    "Invalid message_id: no such message in this conversation",
                ));
            }
            if action == "react" && payload["reaction"].as_str().is_none_or(str::is_empty) {
                return Err(GraphError::param("Param payload[reaction] is required"));
            }
            Some(payload)
        }
        other => {
            return Err(GraphError::param(format!(
                "Param sender_action must be one of {{typing_on, typing_off, mark_seen, react, unreact}} - got \"{other}\""
            )));
        }
    };
    messaging::check_window(channel, last, None, ctx.now)
        .map_err(|e| GraphError::send(e, channel))?;
    let target = reaction
        .as_ref()
        .and_then(|p| p["message_id"].as_str())
        .map(str::to_owned);
    state.messages.push(SentMessage {
        id: target.clone().unwrap_or_else(|| new_mid(account, channel)),
        account_id: account.to_owned(),
        channel,
        recipient: json!({"id": customer}),
        text: None,
        attachment: None,
        tag: None,
        messaging_type: None,
        sender_action: Some(action.to_owned()),
        reaction,
        sent_at: ctx.now.secs(),
    });
    Ok(match target {
        Some(mid) => json!({"recipient_id": customer, "message_id": mid}),
        None => json!({"recipient_id": customer}),
    })
}

/// A private reply: one text message to the author of a comment on the account's media,
/// once per comment and within 7 days of it.
fn private_reply(
    state: &mut SimState,
    ctx: &mut Ctx,
    account: &str,
    comment_id: &str,
    message: &Value,
) -> GraphResult {
    let comment = state
        .comment(comment_id)
        .filter(|c| c.account_id == account)
        .cloned()
        .ok_or_else(|| GraphError::param(format!("Invalid comment_id: {comment_id}")))?;
    let text = match message.get("text") {
        Some(Value::String(t)) if message.get("attachment").is_none() => t.clone(),
        _ => return Err(GraphError::param("A private reply must be a text message")),
    };
    messaging::check_text(&text).map_err(|e| GraphError::send(e, Channel::Instagram))?;
    messaging::check_private_reply(comment.created_at_ms, comment.private_replied, ctx.now)
        .map_err(GraphError::private_reply)?;
    if let Some(c) = state.comment_mut(comment_id) {
        c.private_replied = true;
    }
    let mid = ids::ig_mid(account);
    state.messages.push(SentMessage {
        id: mid.clone(),
        account_id: account.to_owned(),
        channel: Channel::Instagram,
        recipient: json!({"comment_id": comment_id}),
        text: Some(text),
        attachment: None,
        tag: None,
        messaging_type: ctx.params.nonempty("messaging_type"),
        sender_action: None,
        reaction: None,
        sent_at: ctx.now.secs(),
    });
    Ok(json!({"recipient_id": comment.from_id, "message_id": mid}))
}
