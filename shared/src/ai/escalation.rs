//! The customer asking for a person.
//!
//! Meta's policy for automated messaging requires a path to a human agent. A customer
//! message containing one of the tenant's escalation words (or Relay's defaults in
//! several languages) hands the conversation to a person: it is paused, an
//! EscalationCreated event is raised, and a hand-off message may be sent once.
//!
//! Matching works on words, not substrings, after folding ([`crate::text`]: case,
//! accents, Turkish dotted/dotless I), so "HUMAN", "İnsan" and "insan" match while
//! "humanity" does not; a pattern ending in `*` matches any ending, for languages that
//! inflect ("insan*" matches "insanla", "mensch*" matches "menschen"). A pattern of
//! several words matches those words in sequence.

use std::sync::Arc;

use crate::text::WordPatterns;

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

/// A tenant's escalation vocabulary, compiled once per job.
#[derive(Debug, Clone)]
pub struct EscalationWords(Arc<WordPatterns>);

impl EscalationWords {
    /// The tenant's words, plus Relay's defaults when `with_defaults`.
    pub fn new<S: AsRef<str>>(tenant_words: &[S], with_defaults: bool) -> Self {
        let defaults: &[&str] = if with_defaults { DEFAULT_WORDS } else { &[] };
        let words: Vec<&str> = tenant_words
            .iter()
            .map(AsRef::as_ref)
            .chain(defaults.iter().copied())
            .collect();
        Self(WordPatterns::shared(&words))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first pattern found in `text`, if any.
    pub fn find(&self, text: &str) -> Option<&str> {
        self.0.find(text)
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
