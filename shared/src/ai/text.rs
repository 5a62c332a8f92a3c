//! Fitting a reply into Meta's Send API limit: 1000 bytes of UTF-8 per message.
//!
//! A long reply is split (or shortened) at sentence boundaries: after `.`, `!`, `?`, `…`
//! and their CJK forms when followed by white space, and at line breaks. Only a single
//! sentence longer than the limit is cut inside, at a word boundary, and only a single
//! word longer than the limit at a character boundary; UTF-8 characters are never split.
//! Guarantees (property-tested): every part is non-empty and within the limit, splitting
//! keeps every non-space character in order, and text that fits is returned as it is
//! (trimmed).

use super::settings::LongReplies;

const TERMINATORS: &[char] = &['.', '!', '?', '…', '。', '！', '？'];
const CLOSERS: &[char] = &['"', '\'', ')', ']', '»', '”', '’'];

/// The text cut into sentences; each slice keeps its trailing white space, so the
/// slices concatenate back to the text.
fn sentences(text: &str) -> Vec<&str> {
    let mut units = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        let boundary = if c == '\n' {
            true
        } else if TERMINATORS.contains(&c) {
            // Closing quotes or brackets belong to the sentence they close.
            while let Some(&(_, next)) = chars.peek() {
                if CLOSERS.contains(&next) || TERMINATORS.contains(&next) {
                    chars.next();
                } else {
                    break;
                }
            }
            chars.peek().is_none_or(|&(_, next)| next.is_whitespace())
        } else {
            false
        };
        if boundary {
            // The white space after the sentence goes with it.
            while let Some(&(_, next)) = chars.peek() {
                if next.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            let end = chars.peek().map_or(text.len(), |&(j, _)| j);
            if end > start {
                units.push(&text[start..end]);
            }
            start = end;
        }
    }
    if start < text.len() {
        units.push(&text[start..]);
    }
    units
}

/// The longest prefix of `s` within `limit` bytes that ends on a character boundary.
fn char_prefix(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A sentence longer than the limit, cut at word boundaries (words longer than the limit
/// at character boundaries).
fn split_words(sentence: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for word in sentence.split_whitespace() {
        let mut word = word;
        loop {
            let needed = if current.is_empty() {
                word.len()
            } else {
                current.len() + 1 + word.len()
            };
            if needed <= limit {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(word);
                break;
            }
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            // A single word longer than the limit.
            let head = char_prefix(word, limit);
            if head.is_empty() {
                break; // a character wider than the limit: only possible below 4 bytes
            }
            parts.push(head.to_owned());
            word = &word[head.len()..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Split a reply into messages of at most `limit` bytes, at sentence boundaries.
/// Empty or blank text gives no messages.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    assert!(
        limit >= 4,
        "a message limit below 4 bytes cannot hold a character"
    );
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    if text.len() <= limit {
        return vec![text.to_owned()];
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    for unit in sentences(text) {
        let candidate_len = current.len() + unit.trim_end().len();
        if candidate_len <= limit {
            current.push_str(unit);
            continue;
        }
        let done = current.trim();
        if !done.is_empty() {
            parts.push(done.to_owned());
        }
        current.clear();
        if unit.trim().len() <= limit {
            current.push_str(unit);
        } else {
            let mut pieces = split_words(unit.trim(), limit);
            let last = pieces.pop().unwrap_or_default();
            parts.extend(pieces);
            current = last;
            // Keep the sentence's separator so the next one does not run into it.
            current.push(' ');
        }
    }
    let done = current.trim();
    if !done.is_empty() {
        parts.push(done.to_owned());
    }
    parts
}

/// Shorten a reply to one message of at most `limit` bytes, ending at the last sentence
/// boundary that fits; a first sentence longer than the limit is cut at a word and
/// marked with "…".
pub fn shorten(text: &str, limit: usize) -> String {
    assert!(
        limit >= 4,
        "a message limit below 4 bytes cannot hold a character"
    );
    let text = text.trim();
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut kept = String::new();
    for unit in sentences(text) {
        if kept.len() + unit.trim_end().len() > limit {
            break;
        }
        kept.push_str(unit);
    }
    let kept = kept.trim();
    if !kept.is_empty() {
        return kept.to_owned();
    }
    let ellipsis = "…";
    let room = limit - ellipsis.len();
    if room < 4 {
        return char_prefix(text, limit).trim_end().to_owned();
    }
    let first = split_words(text, room)
        .into_iter()
        .next()
        .unwrap_or_default();
    format!("{}{ellipsis}", first.trim_end_matches(TERMINATORS))
}

/// A reply as the messages to send, following the tenant's choice for long replies.
pub fn fit_reply(text: &str, limit: usize, policy: LongReplies) -> Vec<String> {
    match policy {
        LongReplies::Split { max_parts } => {
            let mut parts = split(text, limit);
            parts.truncate(usize::from(max_parts.max(1)));
            parts
        }
        LongReplies::Shorten => {
            let short = shorten(text, limit);
            if short.is_empty() {
                Vec::new()
            } else {
                vec![short]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn visible(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn sentences_keep_their_punctuation_and_spacing() {
        assert_eq!(
            sentences("Hi there! Is it \"ready?\" Yes.\nNext line…  done"),
            vec![
                "Hi there! ",
                "Is it \"ready?\" ",
                "Yes.\n",
                "Next line…  ",
                "done"
            ]
        );
        // A dot inside a number or an abbreviation without space is not a boundary.
        assert_eq!(
            sentences("Costs 89.90 EUR. Ok"),
            vec!["Costs 89.90 EUR. ", "Ok"]
        );
    }

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(split("  Hello!  ", 1000), vec!["Hello!"]);
        assert_eq!(shorten("Hello!", 1000), "Hello!");
        assert!(split("   ", 1000).is_empty());
    }

    #[test]
    fn long_text_splits_at_sentences() {
        let s = "First sentence here. Second one is a bit longer! Third? Fourth.";
        let parts = split(s, 40);
        assert_eq!(
            parts,
            vec![
                "First sentence here.",
                "Second one is a bit longer! Third?",
                "Fourth."
            ]
        );
        assert_eq!(shorten(s, 40), "First sentence here.");
    }

    #[test]
    fn a_sentence_longer_than_the_limit_is_cut_at_words() {
        let s = "one two three four five six seven eight nine ten. End.";
        let parts = split(s, 20);
        assert!(parts.iter().all(|p| p.len() <= 20), "{parts:?}");
        assert_eq!(visible(&parts.concat()), visible(s));
        let short = shorten(s, 20);
        assert!(short.len() <= 20 && short.ends_with('…'), "{short}");
    }

    #[test]
    fn multibyte_text_is_measured_in_bytes() {
        // 400 two-byte characters: 800 bytes in one sentence... times two sentences.
        let sentence = format!("{}.", "ş".repeat(400));
        let text = format!("{sentence} {sentence}");
        let parts = split(&text, 1000);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= 1000));
        let emoji = "🙂".repeat(300); // 1200 bytes, one word
        let parts = split(&emoji, 1000);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![1000, 200]
        );
    }

    #[test]
    fn split_policy_drops_sentences_beyond_the_last_part() {
        let s = "Aaaa aaaa. Bbbb bbbb. Cccc cccc.";
        assert_eq!(
            fit_reply(s, 12, LongReplies::Split { max_parts: 2 }),
            vec!["Aaaa aaaa.", "Bbbb bbbb."]
        );
        assert_eq!(fit_reply(s, 12, LongReplies::Shorten), vec!["Aaaa aaaa."]);
        assert!(fit_reply(" ", 12, LongReplies::Shorten).is_empty());
    }

    fn sentence() -> impl Strategy<Value = String> {
        (
            prop::collection::vec("[a-zA-Zçşğüöıİ€🙂0-9]{1,12}", 1..12),
            prop::sample::select(vec![".", "!", "?", "…"]),
        )
            .prop_map(|(words, end)| format!("{}{end}", words.join(" ")))
    }

    fn reply() -> impl Strategy<Value = String> {
        prop::collection::vec(sentence(), 1..40).prop_map(|s| s.join(" "))
    }

    proptest! {
        #[test]
        fn split_parts_fit_and_keep_everything(text in reply(), limit in 8usize..1200) {
            let parts = split(&text, limit);
            for p in &parts {
                prop_assert!(!p.trim().is_empty());
                prop_assert!(p.len() <= limit, "{} bytes > {limit}", p.len());
            }
            prop_assert_eq!(visible(&parts.concat()), visible(&text));
            if text.trim().len() <= limit {
                prop_assert_eq!(parts, vec![text.trim().to_owned()]);
            }
        }

        #[test]
        fn split_parts_end_at_sentences_when_sentences_fit(text in reply()) {
            // With sentences shorter than the limit, every part ends a sentence.
            let limit = 1000;
            prop_assume!(sentences(&text).iter().all(|s| s.trim().len() <= limit));
            for p in split(&text, limit) {
                prop_assert!(p.ends_with(TERMINATORS), "part does not end a sentence: {p:?}");
            }
        }

        #[test]
        fn shorten_fits_and_is_a_prefix(text in reply(), limit in 8usize..1200) {
            let short = shorten(&text, limit);
            prop_assert!(short.len() <= limit);
            prop_assert!(!short.is_empty());
            let kept = visible(short.trim_end_matches('…'));
            prop_assert!(visible(&text).starts_with(&kept));
        }

        #[test]
        fn arbitrary_text_never_panics_or_overflows(text in ".{0,3000}", limit in 4usize..1100) {
            for p in split(&text, limit) {
                prop_assert!(p.len() <= limit && !p.trim().is_empty());
            }
            prop_assert!(shorten(&text, limit).len() <= limit);
        }
    }
}
