//! The vocabulary a comment's moderation state is told in: the labels the classifier
//! gives, the status a comment is listed under, and how the one follows from the other.
//!
//! A leaf: the inbox (which stores comments) and the classifier (which labels them)
//! both depend on it, and it depends on neither.

use serde::{Deserialize, Serialize};

/// What a comment was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Spam,
    Link,
    BlockedWord,
    Repeat,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "spam",
            Self::Link => "link",
            Self::BlockedWord => "blocked_word",
            Self::Repeat => "repeat",
        }
    }
}

/// Moderation state of a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentStatus {
    New,
    Spam,
    Hidden,
    Replied,
    Deleted,
}

impl CommentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Spam => "spam",
            Self::Hidden => "hidden",
            Self::Replied => "replied",
            Self::Deleted => "deleted",
        }
    }
}

/// A comment's status from its labels and what was done to it. The most decisive state
/// wins: deleted, then hidden, then replied, then spam.
pub fn status_of(labels: &[Label], hidden: bool, replied: bool, deleted: bool) -> CommentStatus {
    if deleted {
        CommentStatus::Deleted
    } else if hidden {
        CommentStatus::Hidden
    } else if replied {
        CommentStatus::Replied
    } else if labels.contains(&Label::Spam) {
        CommentStatus::Spam
    } else {
        CommentStatus::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_most_decisive_state() {
        use CommentStatus::*;
        let spam = [Label::Spam];
        assert_eq!(status_of(&[], false, false, false), New);
        assert_eq!(status_of(&spam, false, false, false), Spam);
        assert_eq!(status_of(&spam, false, true, false), Replied);
        assert_eq!(status_of(&spam, true, true, false), Hidden);
        assert_eq!(status_of(&spam, true, true, true), Deleted);
    }
}
