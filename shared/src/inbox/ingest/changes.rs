//! Changes to stored messages: reactions, reads, edits and deletions.
//!
//! A change applies only when it is newer than what it replaces, so redelivered and
//! reordered changes end in the same state. A change whose message is not stored yet is
//! an error until [`Settings::orphan_receives`](super::Settings::orphan_receives)
//! deliveries (its message is usually just behind it); then it is held for its message
//! (the write that stores the message applies it) and kept as an orphan raw event, so
//! that a message that comes late still gets it and one that never comes cannot block
//! the entry for good.

use super::ports::{Change, Messages};
use super::{IngestError, Ingestion, Ports};
use crate::inbox::StoredReaction;
use crate::store::accounts::Route;
use crate::store::inbox::Applied;
use crate::webhook::{Event, Reaction, ReactionAction};

impl<P: Ports> Ingestion<P> {
    pub(super) async fn change(
        &self,
        route: &Route,
        event: &Event,
        receives: u32,
        change: Change<'_>,
    ) -> Result<(), IngestError> {
        let applied = self
            .store
            .apply_change(&route.tenant_id, &route.account_id, &change)
            .await?;
        match applied {
            Applied::Applied => self.metrics.count("ChangesApplied", 1),
            Applied::Stale => self.metrics.count("ChangesStale", 1),
            Applied::MessageUnknown if receives < self.settings.orphan_receives => {
                return Err(IngestError::MessageNotYetStored(change.what()));
            }
            Applied::MessageUnknown => {
                let held = match change.held() {
                    Some((mid, held)) => {
                        let until = self.clock.now_ms() / 1000
                            + self.settings.raw_event_ttl.as_secs() as i64;
                        self.store
                            .hold_change(&route.tenant_id, &route.account_id, mid, &held, until)
                            .await?
                    }
                    None => Applied::MessageUnknown,
                };
                match held {
                    // The message was stored meanwhile; the change went onto it.
                    Applied::Applied => self.metrics.count("ChangesApplied", 1),
                    Applied::Stale => self.metrics.count("ChangesStale", 1),
                    Applied::MessageUnknown => {
                        self.metrics.count("OrphanEvents", 1);
                        let kind = format!("orphan:{}", change.what());
                        self.keep_event(route, &kind, event).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A react or unreact, by the customer or the business. A reaction Meta names no kind for
/// is `other`; an unreact clears both the kind and the emoji.
pub(super) fn reaction<'a>(event: &Event, r: &'a Reaction) -> Change<'a> {
    let who = if event.by_business {
        "business"
    } else {
        "customer"
    };
    let reaction = match r.action {
        ReactionAction::React => StoredReaction {
            reaction: r.reaction.clone().or_else(|| Some("other".into())),
            emoji: r.emoji.clone(),
            at: event.timestamp_ms,
        },
        ReactionAction::Unreact => StoredReaction {
            reaction: None,
            emoji: None,
            at: event.timestamp_ms,
        },
    };
    Change::Reaction {
        mid: r.mid.as_str(),
        who,
        reaction,
    }
}
