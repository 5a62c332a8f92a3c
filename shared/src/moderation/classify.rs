//! Labelling a comment and deciding the automatic action.
//!
//! Spam is scored from explainable signals, each with a weight: promotional phrases
//! ("free followers", "check my bio", "dm for collab"), link shorteners and messenger
//! links, links in general, several @mentions, phone numbers and e-mail addresses,
//! shouting and emoji floods. A comment whose score reaches the policy's threshold is
//! spam. Independently a comment can carry a link (outside the tenant's own domains), a
//! blocked word of the tenant, or be a repeat (the same text from the same author, again
//! and again). The policy then says which labels hide the comment.
//!
//! The account's own comments are never labelled: Meta does not let an account hide its
//! own comments, and a business does not moderate itself.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::label::Label;
use super::policy::ModerationPolicy;
use crate::text::{LinkTo, WordPatterns, Words, fold, links};

/// What the classifier needs to know about one comment.
#[derive(Clone, Copy)]
pub struct CommentFacts<'a> {
    pub text: &'a str,
    /// Written by the connected account itself.
    pub by_account: bool,
    /// Comments by the same author with the same text within the policy's window,
    /// this one included (0 when unknown).
    pub repeats: u32,
}

/// The classifier's result. `signals` name what was found in Relay's vocabulary (and
/// the tenant's blocked word that matched): safe to log and store, never the text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub labels: Vec<Label>,
    pub signals: Vec<String>,
    pub spam_score: u32,
    /// The policy hides the comment.
    pub hide: bool,
}

impl Verdict {
    pub fn has(&self, label: Label) -> bool {
        self.labels.contains(&label)
    }
}

/// Promotional phrases, matched on whole words after folding case and accents; a
/// trailing `*` matches any ending. Weight 2 is a strong sign on its own.
const PHRASES: &[(&str, u32)] = &[
    ("free followers", 2),
    ("buy followers", 2),
    ("cheap followers", 2),
    ("get followers", 2),
    ("real followers", 2),
    ("followers instantly", 2),
    ("promote it on", 2),
    ("dm for collab", 2),
    ("dm us for promo*", 2),
    ("collab dm", 2),
    ("for promotion", 2),
    ("check my bio", 2),
    ("check my profile", 2),
    ("link in my bio", 2),
    ("visit my page", 2),
    ("follow for follow", 2),
    ("f4f", 2),
    ("l4l", 2),
    ("like for like", 2),
    ("follow back", 2),
    ("earn money", 2),
    ("make money", 2),
    ("passive income", 2),
    ("work from home", 2),
    ("bitcoin", 2),
    ("crypto*", 2),
    ("forex", 2),
    ("binary options", 2),
    ("you won", 2),
    ("you have won", 2),
    ("claim your prize", 2),
    ("giveaway winner", 2),
    ("onlyfans", 2),
    ("sugar daddy", 2),
    ("whatsapp", 2),
    ("telegram", 2),
    ("cash app", 2),
    ("hot singles", 2),
    ("dm me", 1),
    ("message me", 1),
    ("click here", 1),
    ("click the link", 1),
    ("limited offer", 1),
    ("100 free", 1),
];

/// Every promotional phrase, matched in one pass over a comment's words.
static PHRASE_PATTERNS: LazyLock<WordPatterns> = LazyLock::new(|| {
    let phrases: Vec<&str> = PHRASES.iter().map(|(phrase, _)| *phrase).collect();
    WordPatterns::new(&phrases)
});

fn phrase_weight(phrase: &str) -> u32 {
    PHRASES
        .iter()
        .find(|(p, _)| *p == phrase)
        .map_or(0, |(_, weight)| *weight)
}

/// Link shorteners and messenger links: they hide where a link goes, or move the
/// conversation off Instagram.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "cutt.ly",
    "is.gd",
    "ow.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "t.me",
    "wa.me",
];

/// Labels a comment under a policy.
pub fn classify(facts: &CommentFacts<'_>, policy: &ModerationPolicy) -> Verdict {
    let mut verdict = Verdict::default();
    if !policy.enabled || facts.by_account {
        return verdict;
    }
    let text = facts.text;
    let mut score = 0u32;
    let mut signal = |verdict: &mut Verdict, name: String, weight: u32| {
        score += weight;
        verdict.signals.push(name);
    };

    let words = Words::of(text);
    for phrase in PHRASE_PATTERNS.all_in(&words) {
        signal(
            &mut verdict,
            format!("phrase:{phrase}"),
            phrase_weight(phrase),
        );
    }

    let mut link = false;
    let mut shortener = false;
    let mut email = false;
    for found in links(text) {
        if found.to == LinkTo::Email {
            email = true;
            continue;
        }
        let host = found.host;
        if allowed(&host, &policy.allowed_domains) {
            continue;
        }
        link = true;
        if SHORTENERS
            .iter()
            .any(|s| host == *s || host.ends_with(&format!(".{s}")))
        {
            shortener = true;
        }
    }
    if link {
        verdict.labels.push(Label::Link);
        signal(&mut verdict, "link".into(), 1);
    }
    if shortener {
        signal(&mut verdict, "shortened_or_messenger_link".into(), 2);
    }
    if email {
        signal(&mut verdict, "email_address".into(), 1);
    }

    let mentions = text
        .split_whitespace()
        .filter(|t| t.starts_with('@') && t.len() > 1 && !t[1..].contains('@'))
        .count();
    if mentions >= 3 {
        signal(&mut verdict, format!("mentions:{mentions}"), 2);
    }
    if has_phone_number(text) {
        signal(&mut verdict, "phone_number".into(), 1);
    }
    if is_shouting(text) {
        signal(&mut verdict, "shouting".into(), 1);
    }
    if is_emoji_flood(text) {
        signal(&mut verdict, "emoji_flood".into(), 1);
    }

    verdict.spam_score = score;
    if score >= policy.spam_sensitivity.threshold() {
        verdict.labels.insert(0, Label::Spam);
    }

    if !policy.blocked_words.is_empty() {
        let blocked = WordPatterns::shared(&policy.blocked_words);
        if let Some(word) = blocked.find_in(&words) {
            verdict.labels.push(Label::BlockedWord);
            verdict.signals.push(format!("blocked:{word}"));
        }
    }

    if facts.repeats >= policy.repeat_threshold {
        verdict.labels.push(Label::Repeat);
        verdict.signals.push(format!("repeats:{}", facts.repeats));
    }

    let hide = &policy.hide;
    verdict.hide = (hide.spam && verdict.has(Label::Spam))
        || (hide.links && verdict.has(Label::Link))
        || (hide.blocked_words && verdict.has(Label::BlockedWord))
        || (hide.repeats && verdict.has(Label::Repeat));
    verdict
}

fn allowed(host: &str, domains: &[String]) -> bool {
    domains.iter().any(|d| {
        let d = d.trim().to_ascii_lowercase();
        host == d || host.ends_with(&format!(".{d}"))
    })
}

/// Nine or more digits in one run, allowing the separators people type in numbers.
fn has_phone_number(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= 9 {
                return true;
            }
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
            digits = 0;
        }
    }
    false
}

fn is_shouting(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    letters.len() >= 15 && upper * 10 >= letters.len() * 8
}

fn is_emoji(c: char) -> bool {
    matches!(u32::from(c), 0x1F300..=0x1FAFF | 0x2600..=0x27BF)
}

fn is_emoji_flood(text: &str) -> bool {
    let visible: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let emoji = visible.iter().filter(|c| is_emoji(**c)).count();
    emoji >= 10 && emoji * 2 >= visible.len()
}

/// A stable fingerprint of what a comment says, for counting repeats: case, accents,
/// punctuation and spacing do not matter. None for a comment with nothing in it.
pub fn normalized_fingerprint(text: &str) -> Option<String> {
    let words = Words::of(text);
    let normal = if words.is_empty() {
        fold(text).split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        words.as_str().to_owned()
    };
    if normal.is_empty() {
        return None;
    }
    Some(hex::encode(&Sha256::digest(normal.as_bytes())[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(text: &str) -> Verdict {
        verdict_with(text, &ModerationPolicy::default(), 1)
    }

    fn verdict_with(text: &str, policy: &ModerationPolicy, repeats: u32) -> Verdict {
        classify(
            &CommentFacts {
                text,
                by_account: false,
                repeats,
            },
            policy,
        )
    }

    #[test]
    fn ordinary_comments_are_clean() {
        for text in [
            "Love the new mugs! Do you ship to Austria?",
            "How much is the scarf? 😍",
            "@anna look at this",
            "Great job.Thanks",
            "Is it 24.00 or 24.50?",
            "Order #12345 arrived, thank you!",
        ] {
            let v = verdict(text);
            assert_eq!(v.labels, Vec::<Label>::new(), "{text}: {:?}", v.signals);
            assert!(!v.hide);
        }
    }

    #[test]
    fn promotional_spam_is_labelled_and_hidden() {
        let v = verdict("Want 10k FREE followers?? DM me or check my bio 🔥 bit.ly/grow-fast");
        assert_eq!(v.labels, vec![Label::Spam, Label::Link]);
        assert!(v.hide);
        assert!(v.signals.contains(&"phrase:free followers".to_owned()));
        assert!(
            v.signals
                .contains(&"shortened_or_messenger_link".to_owned())
        );
        assert!(v.spam_score >= 6);

        let v = verdict("Earn money from home with crypto, text me on WhatsApp +44 7700 900123");
        assert!(v.has(Label::Spam));
        assert!(v.signals.contains(&"phone_number".to_owned()));
    }

    #[test]
    fn signals_name_relay_vocabulary_never_the_text() {
        let v = verdict("my secret is hunter2, dm me at hunter2@mail.example now");
        for s in &v.signals {
            assert!(!s.contains("hunter2"), "{s}");
        }
        assert!(v.signals.contains(&"email_address".to_owned()));
    }

    #[test]
    fn mass_mentions_shouting_and_emoji_floods_count() {
        assert!(verdict("@a @b @c @d you need to see this").has(Label::Spam));
        let v = verdict("THIS IS THE BEST DEAL EVER GO NOW");
        assert_eq!(v.signals, vec!["shouting".to_owned()]);
        assert!(!v.has(Label::Spam), "one weak signal is not spam");
        let v = verdict("😍😍😍😍😍😍😍😍😍😍 wow");
        assert_eq!(v.signals, vec!["emoji_flood".to_owned()]);
        let flood = format!("{} FOLLOW THIS PAGE RIGHT NOW", "🔥".repeat(30));
        let v = verdict(&flood);
        assert!(v.has(Label::Spam), "{:?}", v.signals);
    }

    #[test]
    fn links_are_found_in_their_usual_shapes_and_the_tenants_own_are_welcome() {
        for text in [
            "see https://example.org/x",
            "see www.deals.example",
            "see cheap-stuff.shop/item?x=1",
            "(see http://a.b.example)",
        ] {
            assert!(verdict(text).has(Label::Link), "{text}");
        }
        for text in ["Great job.Thanks", "version 1.2.3", "e.g. this"] {
            assert!(!verdict(text).has(Label::Link), "{text}");
        }
        let policy = ModerationPolicy {
            allowed_domains: vec!["shop.example".into()],
            ..ModerationPolicy::default()
        };
        let v = verdict_with("Bought it at https://www.shop.example/mug", &policy, 1);
        assert!(!v.has(Label::Link));
        let v = verdict_with("see https://eu.shop.example/mug", &policy, 1);
        assert!(!v.has(Label::Link), "subdomains of an allowed domain count");
        let v = verdict_with("see https://notshop.example/mug", &policy, 1);
        assert!(v.has(Label::Link), "a lookalike domain is not allowed");
    }

    #[test]
    fn links_alone_are_hidden_only_when_the_policy_says_so() {
        let v = verdict("our recipe https://blog.example/soup");
        assert_eq!(v.labels, vec![Label::Link]);
        assert!(!v.hide);
        let mut policy = ModerationPolicy::default();
        policy.hide.links = true;
        assert!(verdict_with("our recipe https://blog.example/soup", &policy, 1).hide);
    }

    #[test]
    fn blocked_words_match_whole_words_case_and_accents_ignored() {
        let policy = ModerationPolicy {
            blocked_words: vec!["scam*".into(), "rip off".into()],
            ..ModerationPolicy::default()
        };
        let v = verdict_with("What a SCAMMER, total Rip-Off", &policy, 1);
        assert!(v.has(Label::BlockedWord) && v.hide);
        assert_eq!(v.signals.last().map(String::as_str), Some("blocked:scam*"));
        assert!(!verdict_with("Escampar is a word", &policy, 1).has(Label::BlockedWord));
    }

    #[test]
    fn repeats_reach_the_threshold() {
        let policy = ModerationPolicy::default();
        assert!(!verdict_with("first!", &policy, 2).has(Label::Repeat));
        let v = verdict_with("first!", &policy, 3);
        assert!(v.has(Label::Repeat));
        assert!(!v.hide, "repeats are not hidden by default");
        let mut policy = policy;
        policy.hide.repeats = true;
        assert!(verdict_with("first!", &policy, 4).hide);
    }

    #[test]
    fn sensitivity_moves_the_threshold() {
        let text = "nice, see https://blog.example/x";
        let mut policy = ModerationPolicy::default();
        assert!(!verdict_with(text, &policy, 1).has(Label::Spam));
        policy.spam_sensitivity = super::super::Sensitivity::High;
        assert!(verdict_with(text, &policy, 1).has(Label::Spam));
        policy.spam_sensitivity = super::super::Sensitivity::Low;
        assert!(!verdict_with("dm me, check my bio", &policy, 1).has(Label::Spam));
    }

    #[test]
    fn the_accounts_own_comments_and_disabled_policies_label_nothing() {
        let spam = "FREE FOLLOWERS dm me bit.ly/x";
        let own = classify(
            &CommentFacts {
                text: spam,
                by_account: true,
                repeats: 9,
            },
            &ModerationPolicy::default(),
        );
        assert_eq!(own, Verdict::default());
        let off = ModerationPolicy {
            enabled: false,
            ..ModerationPolicy::default()
        };
        assert_eq!(verdict_with(spam, &off, 9), Verdict::default());
    }

    #[test]
    fn hostile_text_is_handled() {
        let long = "a".repeat(100_000);
        assert_eq!(verdict(&long).labels, Vec::<Label>::new());
        let v = verdict("\u{0}\u{202e}http://\u{1F525}.example @ @@ ://");
        assert!(!v.hide || v.has(Label::Spam));
        assert!(verdict("").labels.is_empty());
    }

    #[test]
    fn fingerprints_ignore_case_accents_and_punctuation() {
        assert_eq!(
            normalized_fingerprint("Fïrst!!  FIRST"),
            normalized_fingerprint("first first")
        );
        assert_ne!(
            normalized_fingerprint("first"),
            normalized_fingerprint("second")
        );
        assert_eq!(
            normalized_fingerprint("🔥🔥"),
            normalized_fingerprint(" 🔥🔥 ")
        );
        assert_eq!(normalized_fingerprint("   "), None);
    }
}
