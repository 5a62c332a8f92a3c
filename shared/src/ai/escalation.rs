//! The customer asking for a person.
//!
//! Meta's policy for automated messaging requires a path to a human agent. A customer
//! message containing one of the tenant's escalation words (or Relay's defaults in
//! several languages) hands the conversation to a person: it is paused, an
//! EscalationCreated event is raised, and a hand-off message may be sent once.
//!
//! Matching works on words, not substrings, after Unicode lowercasing (with Turkish
//! dotted/dotless I folded), so "HUMAN", "İnsan" and "insan" match while "humanity" does
//! not; a pattern ending in `*` matches any ending, for languages that inflect
//! ("insan*" matches "insanla", "mensch*" matches "menschen"). A pattern of several words
//! matches those words in sequence.

use std::collections::HashMap;

use super::retrieval::fold;

/// Relay's defaults, per language. Kept to words customers use to ask for a person.
pub const DEFAULT_WORDS: &[&str] = &[
    // English
    "human",
    "humans",
    "agent",
    "agents",
    "real person",
    "someone real",
    "representative",
    "operator",
    "customer service",
    "live chat",
    // Turkish
    "insan*",
    "temsilci*",
    "yetkili*",
    "canlı destek",
    "müşteri hizmetleri",
    "gerçek kişi*",
    // German
    "mensch*",
    "mitarbeiter*",
    "berater*",
    "echte person",
    "kundendienst",
    // French
    "humain*",
    "conseiller*",
    "vraie personne",
    "service client",
    // Spanish
    "humano*",
    "agente*",
    "asesor*",
    "persona real",
    // Italian
    "operatore*",
    "persona reale",
    "una persona vera",
    // Portuguese
    "atendente*",
    "pessoa real",
    // Dutch
    "medewerker*",
    "een mens",
    // Arabic
    "موظف",
    "انسان",
    "إنسان",
];

/// One pattern: a sequence of folded words; the last may be a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    words: Vec<String>,
    prefix_last: bool,
    source: String,
}

impl Pattern {
    fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        let prefix_last = trimmed.ends_with('*');
        let words: Vec<String> = words_of(trimmed.trim_end_matches('*'));
        if words.is_empty() {
            return None;
        }
        Some(Self {
            words,
            prefix_last,
            source: trimmed.to_owned(),
        })
    }

    fn matches_at(&self, tokens: &[String], start: usize) -> bool {
        if start + self.words.len() > tokens.len() {
            return false;
        }
        let last = self.words.len() - 1;
        self.words.iter().enumerate().all(|(i, word)| {
            let token = &tokens[start + i];
            if i == last && self.prefix_last {
                token.starts_with(word.as_str())
            } else {
                token == word
            }
        })
    }
}

/// The folded words of a text: lowercase alphanumeric runs.
pub fn words_of(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A tenant's escalation vocabulary, compiled once per job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationWords {
    patterns: Vec<Pattern>,
    /// Patterns by their first word, so a text is matched with one lookup per word
    /// instead of a comparison per word and pattern.
    by_first_word: HashMap<String, Vec<usize>>,
    /// Patterns of one word ending in `*`: their first word is a prefix, not a key.
    by_prefix: Vec<usize>,
}

impl EscalationWords {
    /// The tenant's words, plus Relay's defaults when `with_defaults`.
    pub fn new<S: AsRef<str>>(tenant_words: &[S], with_defaults: bool) -> Self {
        let defaults: &[&str] = if with_defaults { DEFAULT_WORDS } else { &[] };
        let patterns: Vec<Pattern> = tenant_words
            .iter()
            .map(AsRef::as_ref)
            .chain(defaults.iter().copied())
            .filter_map(Pattern::parse)
            .collect();
        let mut by_first_word: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_prefix = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            if p.words.len() == 1 && p.prefix_last {
                by_prefix.push(i);
            } else {
                by_first_word.entry(p.words[0].clone()).or_default().push(i);
            }
        }
        Self {
            patterns,
            by_first_word,
            by_prefix,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The first pattern found in `text`, if any.
    pub fn find(&self, text: &str) -> Option<&str> {
        self.find_in_words(&words_of(text))
    }

    /// Like [`Self::find`], over words already split with [`words_of`] (to match many
    /// vocabularies against one text without folding it each time).
    pub fn find_in_words(&self, tokens: &[String]) -> Option<&str> {
        (0..tokens.len()).find_map(|start| {
            self.matches_at(tokens, start)
                .min()
                .map(|i| self.patterns[i].source.as_str())
        })
    }

    /// Every pattern found anywhere in `tokens`, as the patterns' sources in the order
    /// they were given.
    pub fn all_in_words(&self, tokens: &[String]) -> Vec<&str> {
        let mut found = vec![false; self.patterns.len()];
        for start in 0..tokens.len() {
            for i in self.matches_at(tokens, start) {
                found[i] = true;
            }
        }
        found
            .iter()
            .zip(&self.patterns)
            .filter(|(hit, _)| **hit)
            .map(|(_, p)| p.source.as_str())
            .collect()
    }

    /// Indices of the patterns that match at `start`.
    fn matches_at<'a>(
        &'a self,
        tokens: &'a [String],
        start: usize,
    ) -> impl Iterator<Item = usize> + 'a {
        let keyed = self
            .by_first_word
            .get(tokens[start].as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        keyed
            .iter()
            .chain(&self.by_prefix)
            .copied()
            .filter(move |i| self.patterns[*i].matches_at(tokens, start))
    }
}

/// The customer asked for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// The pattern that matched (a configured word, safe to log: it is the tenant's
    /// vocabulary, not the customer's text).
    pub matched: String,
}

/// Whether any of the customer's messages asks for a person.
pub fn detect_escalation<S: AsRef<str>>(
    messages: &[S],
    words: &EscalationWords,
) -> Option<Escalation> {
    messages.iter().find_map(|m| {
        words.find(m.as_ref()).map(|matched| Escalation {
            matched: matched.to_owned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> EscalationWords {
        EscalationWords::new::<&str>(&[], true)
    }

    #[test]
    fn every_pattern_found_is_listed_once_in_the_order_given() {
        let words = EscalationWords::new(&["free followers", "crypto*", "dm me", "agent"], false);
        let text = words_of("DM me for CRYPTOCURRENCY and free followers, dm me again");
        assert_eq!(
            words.all_in_words(&text),
            vec!["free followers", "crypto*", "dm me"]
        );
        assert_eq!(
            words.find_in_words(&text),
            Some("dm me"),
            "the earliest in the text"
        );
        assert!(words.all_in_words(&[]).is_empty());
    }

    #[test]
    fn asks_for_a_person_in_several_languages() {
        let w = defaults();
        for text in [
            "Can I talk to a HUMAN please?",
            "agent",
            "I want a real person",
            "İnsanla konuşmak istiyorum",
            "insan lütfen",
            "Canlı destek var mı?",
            "Kann ich mit einem Menschen sprechen?",
            "Bitte einen Mitarbeiter",
            "Je veux parler à un conseiller",
            "Quiero hablar con un humano",
            "Posso parlare con un operatore?",
            "Quero falar com um atendente",
            "Ik wil een medewerker spreken",
        ] {
            assert!(w.find(text).is_some(), "{text:?} should escalate");
        }
    }

    #[test]
    fn ordinary_questions_do_not_escalate() {
        let w = defaults();
        for text in [
            "Do you ship to Berlin?",
            "What does humanity need?",
            "Is the red dress in stock?",
            "",
            "🙂",
            "agentur", // German: agency, not an agent
        ] {
            assert_eq!(w.find(text), None, "{text:?} should not escalate");
        }
    }

    #[test]
    fn tenant_words_and_phrases() {
        let w = EscalationWords::new(&["speak to Maria", "kasiyer*"], false);
        assert_eq!(w.find("Can I speak to   MARIA?"), Some("speak to Maria"));
        assert_eq!(w.find("maria, speak to me"), None, "phrase order matters");
        assert_eq!(w.find("kasiyere sorar mısınız"), Some("kasiyer*"));
        assert_eq!(w.find("a human please"), None, "defaults were turned off");
    }

    #[test]
    fn empty_patterns_are_ignored() {
        let w = EscalationWords::new(&["", " * ", "!!"], false);
        assert!(w.is_empty());
        assert_eq!(w.find("anything"), None);
    }

    #[test]
    fn any_of_the_pending_messages_can_escalate() {
        let w = defaults();
        let messages = ["hi", "where is my order", "let me talk to an agent"];
        let found = detect_escalation(&messages, &w).expect("third message escalates");
        assert_eq!(found.matched, "agent");
        assert_eq!(detect_escalation(&["hi", "thanks"], &w), None);
    }
}
