//! Text as Relay matches it: folded, cut into words, searched for word patterns and for
//! links. Used by the AI (escalation words, knowledge retrieval) and by moderation (spam
//! phrases, blocked words, repeats, links), so both read a customer's text the same way.
//!
//! - [`fold`]: compatibility-decomposed (so "ｆｒｅｅ" and "𝐟𝐫𝐞𝐞" read "free"), Unicode
//!   lowercase, Turkish dotted and dotless I unified, accents removed ("Müşteri" reads
//!   "musteri");
//! - [`Words`]: the folded alphanumeric runs of a text, in order;
//! - [`WordPatterns`]: patterns of whole words ("free followers"; a trailing `*` matches
//!   any ending: "crypto*"), found in one pass over a text;
//! - [`links`]: the web links and e-mail addresses in a text, by host.
//!
//! Nothing here keeps or logs the text: results are the caller's own patterns, or hosts.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use linkify::{LinkFinder, LinkKind};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Combining marks that are accents on a letter (the combining diacritical blocks): the
/// marks other scripts build their letters with (Arabic hamza, Indic vowel signs) stay.
fn is_accent(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// A text as it is compared: compatibility forms replaced by what they stand for,
/// lowercase, Turkish I forms unified ("İ", "I", "ı" all read "i") and accents removed.
/// Marks that stay (other scripts') are recomposed, so the result is in NFC.
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    let mut marks_left = false;
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if is_hangul_syllable(c) {
            // Decomposing would only have to be undone.
            out.push(c);
        } else {
            decompose_compatible(c, |d| {
                for l in d.to_lowercase() {
                    let l = if l == 'ı' { 'i' } else { l };
                    if is_accent(l) {
                        continue;
                    }
                    marks_left |= is_combining_mark(l);
                    out.push(l);
                }
            });
        }
    }
    if marks_left { out.nfc().collect() } else { out }
}

fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// The folded words of a text: its alphanumeric runs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    /// The words with one space before and after each (" free followers "), so a pattern
    /// can only match whole words.
    spaced: String,
}

impl Words {
    pub fn of(text: &str) -> Self {
        let folded = fold(text);
        let mut spaced = String::with_capacity(folded.len() + 2);
        spaced.push(' ');
        for word in folded
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            spaced.push_str(word);
            spaced.push(' ');
        }
        Self { spaced }
    }

    pub fn is_empty(&self) -> bool {
        self.spaced.len() == 1
    }

    /// The words, each once in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.spaced.split(' ').filter(|w| !w.is_empty())
    }

    /// The words separated by single spaces ("" for none).
    pub fn as_str(&self) -> &str {
        self.spaced.trim_matches(' ')
    }
}

/// Patterns of whole words, compiled once and matched in one pass over a text.
///
/// A pattern is folded and cut into words like the text ("Rip-Off" is "rip off"), so
/// case, accents and punctuation do not matter; a pattern of several words matches them
/// in sequence, and a trailing `*` lets its last word have any ending ("insan*" matches
/// "insanla"). Patterns with no words ("", "!!", "*") are left out.
#[derive(Debug, Clone)]
pub struct WordPatterns {
    /// The patterns exactly as given, for [`Self::shared`].
    raw: Vec<String>,
    /// The patterns with words (trimmed), in order: what a match reports.
    sources: Vec<String>,
    /// One automaton pattern per distinct folded form: " free followers " (whole words)
    /// or " crypto" (a prefix).
    automaton: AhoCorasick,
    /// The sources (by index) of each automaton pattern.
    sources_of: Vec<Vec<usize>>,
}

impl WordPatterns {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let mut sources = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut sources_of: Vec<Vec<usize>> = Vec::new();
        let mut key_index: HashMap<String, usize> = HashMap::new();
        for raw in patterns {
            let trimmed = raw.as_ref().trim();
            let prefix = trimmed.ends_with('*');
            let words = Words::of(trimmed.trim_end_matches('*'));
            if words.is_empty() {
                continue;
            }
            let key = if prefix {
                words.spaced.trim_end_matches(' ').to_owned()
            } else {
                words.spaced
            };
            let source = sources.len();
            sources.push(trimmed.to_owned());
            let index = *key_index.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                sources_of.push(Vec::new());
                keys.len() - 1
            });
            sources_of[index].push(source);
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            // Every pattern starts with a space: a prefilter would stop at every word.
            .prefilter(false)
            .build(&keys)
            .expect("word patterns are far below the automaton's size limits");
        Self {
            raw: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
            sources,
            automaton,
            sources_of,
        }
    }

    /// The same as [`Self::new`], compiled once per process: a tenant's vocabulary
    /// (blocked words, escalation words) is the same from one comment or message to the
    /// next, and compiling it costs more than matching it.
    pub fn shared<S: AsRef<str>>(patterns: &[S]) -> Arc<Self> {
        static COMPILED: LazyLock<Mutex<HashMap<u64, Vec<Arc<WordPatterns>>>>> =
            LazyLock::new(Mutex::default);
        /// Vocabularies kept at most; past that the cache starts over.
        const KEPT: usize = 256;
        let mut hasher = DefaultHasher::new();
        for p in patterns {
            p.as_ref().hash(&mut hasher);
        }
        let key = hasher.finish();
        let same = |compiled: &WordPatterns| {
            compiled.raw.len() == patterns.len()
                && compiled
                    .raw
                    .iter()
                    .zip(patterns)
                    .all(|(a, b)| a == b.as_ref())
        };
        let mut cache = COMPILED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = cache.get(&key).and_then(|v| v.iter().find(|c| same(c))) {
            return found.clone();
        }
        if cache.len() >= KEPT {
            cache.clear();
        }
        let compiled = Arc::new(Self::new(patterns));
        cache.entry(key).or_default().push(compiled.clone());
        compiled
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The pattern found first in `text`: the one that starts at the earliest word, and
    /// of those the one given first.
    pub fn find(&self, text: &str) -> Option<&str> {
        self.find_in(&Words::of(text))
    }

    /// Like [`Self::find`], over words already cut (to match several sets of patterns
    /// against one text without folding it each time).
    pub fn find_in(&self, words: &Words) -> Option<&str> {
        self.automaton
            .find_overlapping_iter(&words.spaced)
            .filter_map(|m| {
                let first = self.sources_of[m.pattern().as_usize()].first()?;
                Some((m.start(), *first))
            })
            .min()
            .map(|(_, source)| self.sources[source].as_str())
    }

    /// Every pattern found anywhere in `words`, once each, in the order they were given.
    pub fn all_in(&self, words: &Words) -> Vec<&str> {
        let mut found = vec![false; self.sources.len()];
        for m in self.automaton.find_overlapping_iter(&words.spaced) {
            for source in &self.sources_of[m.pattern().as_usize()] {
                found[*source] = true;
            }
        }
        found
            .iter()
            .zip(&self.sources)
            .filter(|(hit, _)| **hit)
            .map(|(_, source)| source.as_str())
            .collect()
    }
}

/// Top-level domains a bare `name.tld` (no scheme, no `www.`) counts as a link for. A
/// list, so that "end.Then" with a missing space or "24.50" is not a link.
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "ly", "me", "info", "biz", "xyz", "shop", "store", "online",
    "site", "link", "click", "top", "ru", "cn", "tk", "gl", "gd", "to", "app", "dev", "uk", "de",
    "fr", "tr", "us", "ca", "au", "in", "br", "es", "it", "nl", "pl", "eu", "cc", "ws", "live",
    "club", "vip", "win", "bid", "loan", "money", "ee", "at", "ch", "be", "example",
];

/// What a link in a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTo {
    Web,
    Email,
}

/// A link found in a text, by host: lowercase, without `www.`, port or user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub to: LinkTo,
    pub host: String,
}

/// The web links (with a scheme, starting `www.`, or a bare `name.tld[/path]` with a
/// known top-level domain) and e-mail addresses (at such a domain) in a text, in order.
/// Where a link ends (trailing punctuation, brackets) is linkify's call.
pub fn links(text: &str) -> Vec<Link> {
    let mut finder = LinkFinder::new();
    finder.url_must_have_scheme(false);
    finder
        .links(text)
        .filter_map(|link| match link.kind() {
            LinkKind::Url => web_host(link.as_str()).map(|host| Link {
                to: LinkTo::Web,
                host,
            }),
            LinkKind::Email => {
                let (_, domain) = link.as_str().rsplit_once('@')?;
                let host = bare_host(domain)?;
                Some(Link {
                    to: LinkTo::Email,
                    host,
                })
            }
            _ => None,
        })
        .collect()
}

/// The host a URL found by linkify names, if it is a link by Relay's rules.
fn web_host(url: &str) -> Option<String> {
    match url.split_once("://") {
        Some((_, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = host.split(':').next().unwrap_or_default().to_lowercase();
            let host = host.strip_prefix("www.").unwrap_or(&host);
            well_formed(host).then(|| host.to_owned())
        }
        None => bare_host(url.split(['/', '?', '#', ':']).next().unwrap_or_default()),
    }
}

/// A host written without a scheme: a link when it starts `www.` or ends in a known
/// top-level domain.
fn bare_host(host: &str) -> Option<String> {
    let host = host.to_lowercase();
    if let Some(rest) = host.strip_prefix("www.") {
        return well_formed(rest).then(|| rest.to_owned());
    }
    let tld = host.rsplit('.').next().unwrap_or_default();
    (well_formed(&host) && TLDS.contains(&tld)).then_some(host)
}

/// Two labels or more, of letters, digits and hyphens, none empty.
fn well_formed(host: &str) -> bool {
    host.contains('.')
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_handles_case_turkish_i_and_accents() {
        assert_eq!(fold("İNSAN Işık"), "insan isik");
        assert_eq!(fold("Café Müşteri Ñandú"), "cafe musteri nandu");
        assert_eq!(fold("Plain ASCII, kept: 42!"), "plain ascii, kept: 42!");
    }

    #[test]
    fn folding_reads_lookalike_letters_and_stacked_accents_as_plain_ones() {
        // Fullwidth and mathematical letters, ligatures: what spam writes to get past
        // word lists.
        assert_eq!(fold("ＦＲＥＥ ｆｏｌｌｏｗｅｒｓ"), "free followers");
        assert_eq!(fold("𝐅𝐫𝐞𝐞 𝒇𝒐𝒍𝒍𝒐𝒘𝒆𝒓𝒔"), "free followers");
        assert_eq!(fold("ﬁnd"), "find");
        // Accents beyond the common ones, and "Zalgo" text.
        assert_eq!(fold("Łódź Dvořák Ősz"), "łodz dvorak osz");
        assert_eq!(fold("f\u{336}r\u{336}e\u{301}\u{302}e\u{20DD}"), "free");
        // Letters other scripts build with marks stay whole.
        assert_eq!(fold("إنسان"), "إنسان");
        assert_eq!(fold("한국어"), "한국어");
        assert_eq!(fold("🙂🔥"), "🙂🔥");
    }

    #[test]
    fn words_are_the_folded_alphanumeric_runs() {
        let words = Words::of("  Rip-Off!!  ÇOK   güzel 🙂 ");
        assert_eq!(
            words.iter().collect::<Vec<_>>(),
            ["rip", "off", "cok", "guzel"]
        );
        assert_eq!(words.as_str(), "rip off cok guzel");
        assert!(Words::of(" 🙂 !! ").is_empty());
        assert_eq!(Words::of("").as_str(), "");
    }

    #[test]
    fn every_pattern_found_is_listed_once_in_the_order_given() {
        let patterns = WordPatterns::new(&["free followers", "crypto*", "dm me", "agent"]);
        let text = Words::of("DM me for CRYPTOCURRENCY and free followers, dm me again");
        assert_eq!(
            patterns.all_in(&text),
            vec!["free followers", "crypto*", "dm me"]
        );
        assert_eq!(
            patterns.find_in(&text),
            Some("dm me"),
            "the earliest in the text"
        );
        assert!(patterns.all_in(&Words::of("")).is_empty());
    }

    #[test]
    fn patterns_match_whole_words_and_prefixes_only_at_word_starts() {
        let patterns = WordPatterns::new(&["scam*", "rip off", "me"]);
        assert_eq!(patterns.find("What a SCAMMER"), Some("scam*"));
        assert_eq!(patterns.find("total Rip-Off"), Some("rip off"));
        assert_eq!(patterns.find("Escampar is a word"), None);
        assert_eq!(patterns.find("ripoff"), None, "one word is not two");
        assert_eq!(patterns.find("meme"), None, "a whole word is not a prefix");
        // Of patterns starting at one word, the one given first wins.
        let patterns = WordPatterns::new(&["dm*", "dm me"]);
        assert_eq!(patterns.find("dm me now"), Some("dm*"));
    }

    #[test]
    fn patterns_that_fold_alike_are_all_reported() {
        let patterns = WordPatterns::new(&["Scam", "scam", "SCAM!", "", " * ", "!!"]);
        assert_eq!(
            patterns.all_in(&Words::of("a scam")),
            vec!["Scam", "scam", "SCAM!"]
        );
        assert_eq!(patterns.find("a scam"), Some("Scam"));
        assert!(WordPatterns::new(&["", " * ", "!!"]).is_empty());
        assert_eq!(WordPatterns::new::<&str>(&[]).find("anything"), None);
    }

    #[test]
    fn a_vocabulary_is_compiled_once() {
        let a = WordPatterns::shared(&["scam*", "rip off"]);
        let b = WordPatterns::shared(&["scam*".to_owned(), "rip off".to_owned()]);
        assert!(Arc::ptr_eq(&a, &b));
        let c = WordPatterns::shared(&["scam*"]);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.find("rip off"), None);
        assert_eq!(a.find("rip off"), Some("rip off"));
    }

    fn hosts(text: &str) -> Vec<(LinkTo, String)> {
        links(text).into_iter().map(|l| (l.to, l.host)).collect()
    }

    #[test]
    fn links_are_found_in_their_usual_shapes() {
        let web = |h: &str| vec![(LinkTo::Web, h.to_owned())];
        assert_eq!(hosts("see https://example.org/x"), web("example.org"));
        assert_eq!(hosts("see www.deals.example"), web("deals.example"));
        assert_eq!(
            hosts("see cheap-stuff.shop/item?x=1"),
            web("cheap-stuff.shop")
        );
        assert_eq!(hosts("(see http://a.b.example)"), web("a.b.example"));
        assert_eq!(hosts("DM me bit.ly/grow-fast!"), web("bit.ly"));
        assert_eq!(
            hosts("HTTPS://WWW.Shop.Example:8443/mug"),
            web("shop.example")
        );
        assert_eq!(hosts("https://user:pw@evil.example/x"), web("evil.example"));
        assert_eq!(hosts("see http://üñîçøðé.com/ä"), web("üñîçøðé.com"));
        assert_eq!(
            hosts("mail hunter2@mail.example or see t.me/x"),
            vec![
                (LinkTo::Email, "mail.example".to_owned()),
                (LinkTo::Web, "t.me".to_owned())
            ]
        );
    }

    #[test]
    fn dotted_words_and_numbers_are_not_links() {
        for text in [
            "Great job.Thanks",
            "version 1.2.3",
            "e.g. this",
            "Is it 24.00 or 24.50?",
            "Order #12345 arrived",
            "@anna.smith look",
            "http://localhost/",
            "a@b",
            "",
        ] {
            assert_eq!(hosts(text), vec![], "{text}");
        }
    }
}
