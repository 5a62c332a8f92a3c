//! Comments on Instagram media and cursor paging over them.
//!
//! Guarantees: listings are newest first and exclude deleted comments; a cursor names
//! the last comment of a page, so paging with `after` never repeats or skips a comment
//! even when new comments arrive in between.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Comment {
    pub id: String,
    pub media_id: String,
    /// The owner of the media commented on.
    pub account_id: String,
    pub text: String,
    pub from_id: String,
    pub from_username: String,
    pub created_at_ms: i64,
    pub hidden: bool,
    pub deleted: bool,
    pub parent_id: Option<String>,
    pub private_replied: bool,
    pub like_count: u64,
}

/// One page of a listing.
#[derive(Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Whether items remain after this page.
    pub has_more: bool,
}

pub fn cursor_of(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

pub fn id_of_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()
}

/// Cuts `items` (already ordered) into the page that follows `after`, of at most
/// `limit` items. An unknown cursor yields an empty page.
pub fn paginate<T: Clone>(
    items: &[T],
    id: impl Fn(&T) -> &str,
    after: Option<&str>,
    limit: usize,
) -> Page<T> {
    let start = match after {
        None => 0,
        Some(cursor) => match id_of_cursor(cursor)
            .and_then(|target| items.iter().position(|it| id(it) == target))
        {
            Some(pos) => pos + 1,
            None => items.len(),
        },
    };
    let limit = limit.max(1);
    let end = (start + limit).min(items.len());
    let slice = &items[start.min(end)..end];
    Page {
        items: slice.to_vec(),
        before: slice.first().map(|it| cursor_of(id(it))),
        after: slice.last().map(|it| cursor_of(id(it))),
        has_more: end < items.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = paginate(&items, |s| s.as_str(), after.as_deref(), 3);
            seen.extend(page.items.clone());
            if !page.has_more {
                break;
            }
            after = page.after;
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn cursor_round_trips_and_unknown_cursor_gives_empty_page() {
        assert_eq!(id_of_cursor(&cursor_of("178123")), Some("178123".into()));
        let items = vec!["a".to_owned()];
        let page = paginate(&items, |s| s.as_str(), Some(&cursor_of("zzz")), 5);
        assert!(page.items.is_empty() && !page.has_more);
    }
}
