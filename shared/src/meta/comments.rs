//! Comment moderation: list (with paging), reply, hide, unhide, delete, and turning
//! comments off on a media.
//!
//! Hide, unhide and enable/disable set a state, so they are retried on transient
//! failures; replies and deletes are sent once (a repeated reply is a duplicate, a
//! repeated delete fails on the missing comment).

use std::fmt;

use serde::Deserialize;

use super::transport::{Auth, Call, PageLimits, Paged, Retry, Success, with_query};
use super::{GraphClient, GraphError, InstagramAccount, Response};
use crate::ids::{CommentId, CustomerId, MediaId};

/// The fields read for each comment.
const COMMENT_FIELDS: &str = "id,from,text,timestamp,hidden,like_count,parent_id";

/// Who wrote a comment. Personal data: `Debug` shows the id's fingerprint only.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct CommentAuthor {
    pub id: CustomerId,
    #[serde(default)]
    pub username: Option<String>,
}

impl fmt::Debug for CommentAuthor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommentAuthor")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A comment on one of the account's media. `Debug` never prints the text.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub from: Option<CommentAuthor>,
    /// ISO 8601 as Meta sends it (`2026-08-01T12:00:00+0000`).
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub hidden: Option<bool>,
    #[serde(default)]
    pub like_count: Option<u64>,
    /// Set on replies: the comment replied to.
    #[serde(default)]
    pub parent_id: Option<CommentId>,
}

impl fmt::Debug for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Comment")
            .field("id", &self.id)
            .field("text_bytes", &self.text.len())
            .field("from", &self.from)
            .field("timestamp", &self.timestamp)
            .field("hidden", &self.hidden)
            .field("like_count", &self.like_count)
            .field("parent_id", &self.parent_id)
            .finish()
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: CommentId,
}

impl GraphClient {
    /// Comments on a media, following `paging.next` within `limits`.
    pub async fn list_comments(
        &self,
        account: &InstagramAccount,
        media: &MediaId,
        limits: PageLimits,
    ) -> Result<Response<Paged<Comment>>, GraphError> {
        let url = with_query(
            self.instagram_url(account.login, &[media.as_str(), "comments"]),
            &[("fields", COMMENT_FIELDS)],
        );
        let call =
            Call::get("list_comments", url, Auth::Bearer(&account.token)).for_account(&account.id);
        self.execute_paged(call, self.instagram_base(account.login), limits)
            .await
    }

    /// Comments on the account's own media (a post's first comment). Sent once.
    pub async fn comment_on_media(
        &self,
        account: &InstagramAccount,
        media: &crate::ids::MediaId,
        message: &str,
    ) -> Result<Response<CommentId>, GraphError> {
        if message.trim().is_empty() {
            return Err(GraphError::InvalidInput {
                reason: "the comment is empty".into(),
            });
        }
        let call = Call::post(
            "comment_on_media",
            self.instagram_url(account.login, &[media.as_str(), "comments"]),
            Auth::Bearer(&account.token),
            Retry::Once,
        )
        .for_account(&account.id)
        .form(vec![("message", message.to_owned())]);
        Ok(self
            .execute::<IdOnly>(&call)
            .await?
            .map(|comment| comment.id))
    }

    /// Replies publicly under a comment. Sent once.
    pub async fn reply_to_comment(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        message: &str,
    ) -> Result<Response<CommentId>, GraphError> {
        if message.trim().is_empty() {
            return Err(GraphError::InvalidInput {
                reason: "the reply is empty".into(),
            });
        }
        let call = Call::post(
            "reply_to_comment",
            self.instagram_url(account.login, &[comment.as_str(), "replies"]),
            Auth::Bearer(&account.token),
            Retry::Once,
        )
        .for_account(&account.id)
        .form(vec![("message", message.to_owned())]);
        Ok(self.execute::<IdOnly>(&call).await?.map(|reply| reply.id))
    }

    /// Hides a comment from everyone but its author.
    pub async fn hide_comment(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
    ) -> Result<Response<()>, GraphError> {
        self.set_hidden(account, comment, true).await
    }

    /// Shows a hidden comment again.
    pub async fn unhide_comment(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
    ) -> Result<Response<()>, GraphError> {
        self.set_hidden(account, comment, false).await
    }

    async fn set_hidden(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
        hide: bool,
    ) -> Result<Response<()>, GraphError> {
        let name = if hide {
            "hide_comment"
        } else {
            "unhide_comment"
        };
        let url = with_query(
            self.instagram_url(account.login, &[comment.as_str()]),
            &[("hide", if hide { "true" } else { "false" })],
        );
        let call = Call::post(name, url, Auth::Bearer(&account.token), Retry::Idempotent)
            .for_account(&account.id);
        self.acknowledged(&call).await
    }

    /// Deletes a comment. Sent once.
    pub async fn delete_comment(
        &self,
        account: &InstagramAccount,
        comment: &CommentId,
    ) -> Result<Response<()>, GraphError> {
        let call = Call::delete(
            "delete_comment",
            self.instagram_url(account.login, &[comment.as_str()]),
            Auth::Bearer(&account.token),
            Retry::Once,
        )
        .for_account(&account.id);
        self.acknowledged(&call).await
    }

    /// Turns comments on a media on or off (`comment_enabled`).
    pub async fn set_comments_enabled(
        &self,
        account: &InstagramAccount,
        media: &MediaId,
        enabled: bool,
    ) -> Result<Response<()>, GraphError> {
        let url = with_query(
            self.instagram_url(account.login, &[media.as_str()]),
            &[("comment_enabled", if enabled { "true" } else { "false" })],
        );
        let call = Call::post(
            "set_comments_enabled",
            url,
            Auth::Bearer(&account.token),
            Retry::Idempotent,
        )
        .for_account(&account.id);
        self.acknowledged(&call).await
    }

    pub(crate) async fn acknowledged(&self, call: &Call<'_>) -> Result<Response<()>, GraphError> {
        let response = self.execute::<Success>(call).await?;
        let usage = response.usage;
        response.value.check(call.name)?;
        Ok(Response { value: (), usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_parse_from_meta_shape_and_hide_text_in_debug() {
        let comment: Comment = serde_json::from_str(
            r#"{"id":"17858893269000001","text":"call me at 555-0100","timestamp":"2026-08-01T12:00:00+0000",
                "from":{"id":"17841400000000999","username":"jane"},"hidden":false,"like_count":3}"#,
        )
        .expect("documented shape");
        assert_eq!(comment.text, "call me at 555-0100");
        assert_eq!(comment.like_count, Some(3));
        let shown = format!("{comment:?}");
        assert!(!shown.contains("555-0100"), "{shown}");
        assert!(!shown.contains("17841400000000999"), "{shown}");
        assert!(!shown.contains("jane"), "{shown}");
    }

    #[test]
    fn minimal_comments_parse() {
        let comment: Comment = serde_json::from_str(r#"{"id":"1"}"#).expect("only id is required");
        assert!(comment.from.is_none() && comment.text.is_empty());
    }
}
