//! Whether the AI may act on a customer's message, and how: one pure function.
//!
//! The rules, in the order they are checked:
//! 1. the effective AI mode (conversation override, else account) must not be off;
//! 2. a paused conversation (human takeover, escalation) gets nothing until a person
//!    resumes it;
//! 3. debounce: only the conversation's latest inbound message is answered, so a burst of
//!    messages gets one reply (the latest job's prompt holds all of them);
//! 4. a message already claimed by an earlier delivery is never acted on again;
//! 5. shadow mode drafts a suggestion for a person, useful while a person may still answer
//!    (Meta's HUMAN_AGENT window: 7 days after the customer's last message);
//! 6. auto mode sends only inside Meta's 24-hour window after the customer's last
//!    message, and only within the time Meta expects of bots (30 s after the message),
//!    otherwise not at all.

use std::fmt;
use std::time::Duration;

use crate::inbox::AiMode;

/// Meta: automated messages only within 24 hours of the customer's last message.
pub const AUTOMATED_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Meta: a person may answer up to 7 days later with the HUMAN_AGENT tag.
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Meta's Messenger policy: bots answer within 30 seconds.
pub const BOT_REPLY_DEADLINE: Duration = Duration::from_secs(30);

/// The time limits the policy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub automated_window: Duration,
    pub draft_window: Duration,
    /// Measured from the customer's message (its event time).
    pub reply_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            automated_window: AUTOMATED_WINDOW,
            draft_window: HUMAN_AGENT_WINDOW,
            reply_deadline: BOT_REPLY_DEADLINE,
        }
    }
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation<'a> {
    pub account_mode: AiMode,
    pub conversation_mode: Option<AiMode>,
    pub paused: bool,
    /// The message the job is about.
    pub job_mid: &'a str,
    /// Its event time (ms).
    pub job_message_at: i64,
    /// The conversation's latest inbound message and its time.
    pub latest_inbound_mid: Option<&'a str>,
    pub last_inbound_at: Option<i64>,
    /// An earlier delivery of this job claimed the right to reply.
    pub already_claimed: bool,
    pub now_ms: i64,
    pub limits: Limits,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Draft and send (auto mode).
    Reply,
    /// Draft a suggestion for a person; send nothing (shadow mode).
    Draft,
    Skip(SkipReason),
}

/// Why nothing is done. Recorded with the job's outcome and counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    AiOff,
    Paused,
    /// A newer customer message arrived; its job answers all of them.
    Superseded,
    AlreadyHandled,
    /// Outside Meta's window for this kind of reply.
    WindowClosed,
    /// Too late for an automated reply (Meta expects bots to answer within 30 s).
    DeadlinePassed,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AiOff => "ai_off",
            Self::Paused => "paused",
            Self::Superseded => "superseded",
            Self::AlreadyHandled => "already_handled",
            Self::WindowClosed => "window_closed",
            Self::DeadlinePassed => "deadline_passed",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Decide what the AI may do for a job.
pub fn decide(s: &Situation<'_>) -> Decision {
    let mode = s.conversation_mode.unwrap_or(s.account_mode);
    if mode == AiMode::Off {
        return Decision::Skip(SkipReason::AiOff);
    }
    if s.paused {
        return Decision::Skip(SkipReason::Paused);
    }
    if s.latest_inbound_mid != Some(s.job_mid) {
        return Decision::Skip(SkipReason::Superseded);
    }
    if s.already_claimed {
        return Decision::Skip(SkipReason::AlreadyHandled);
    }
    // The window runs from the customer's last message; never trust a job's own time
    // over the conversation's (a newer message would only widen it, but the job must be
    // the latest to get here anyway).
    let last = s
        .last_inbound_at
        .unwrap_or(s.job_message_at)
        .max(s.job_message_at);
    let age = s.now_ms.saturating_sub(last);
    match mode {
        AiMode::Off => Decision::Skip(SkipReason::AiOff),
        AiMode::Shadow => {
            if age > millis(s.limits.draft_window) {
                Decision::Skip(SkipReason::WindowClosed)
            } else {
                Decision::Draft
            }
        }
        AiMode::Auto => {
            if age > millis(s.limits.automated_window) {
                Decision::Skip(SkipReason::WindowClosed)
            } else if s.now_ms.saturating_sub(s.job_message_at) > millis(s.limits.reply_deadline) {
                Decision::Skip(SkipReason::DeadlinePassed)
            } else {
                Decision::Reply
            }
        }
    }
}

/// Time left (ms) before the automated reply to a message is too late; negative when
/// it already is.
pub fn time_left_ms(job_message_at: i64, now_ms: i64, limits: &Limits) -> i64 {
    job_message_at
        .saturating_add(millis(limits.reply_deadline))
        .saturating_sub(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_760_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn base(mode: AiMode) -> Situation<'static> {
        Situation {
            account_mode: mode,
            conversation_mode: None,
            paused: false,
            job_mid: "m3",
            job_message_at: T0,
            latest_inbound_mid: Some("m3"),
            last_inbound_at: Some(T0),
            already_claimed: false,
            now_ms: T0 + 9_000,
            limits: Limits::default(),
        }
    }

    #[test]
    fn auto_replies_to_the_latest_message_in_time() {
        assert_eq!(decide(&base(AiMode::Auto)), Decision::Reply);
    }

    #[test]
    fn shadow_drafts_and_never_replies() {
        assert_eq!(decide(&base(AiMode::Shadow)), Decision::Draft);
        // Drafts are for people, so the bot deadline does not apply...
        let late = Situation {
            now_ms: T0 + 2 * HOUR,
            ..base(AiMode::Shadow)
        };
        assert_eq!(decide(&late), Decision::Draft);
        // ...but a week-old message is past even the human-agent window.
        let stale = Situation {
            now_ms: T0 + 7 * 24 * HOUR + 1,
            ..base(AiMode::Shadow)
        };
        assert_eq!(decide(&stale), Decision::Skip(SkipReason::WindowClosed));
    }

    #[test]
    fn off_does_nothing_whatever_else_holds() {
        assert_eq!(
            decide(&base(AiMode::Off)),
            Decision::Skip(SkipReason::AiOff)
        );
        let paused_off = Situation {
            paused: true,
            ..base(AiMode::Off)
        };
        assert_eq!(decide(&paused_off), Decision::Skip(SkipReason::AiOff));
    }

    #[test]
    fn conversation_override_beats_the_account() {
        let off_here = Situation {
            conversation_mode: Some(AiMode::Off),
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&off_here), Decision::Skip(SkipReason::AiOff));
        let shadow_here = Situation {
            conversation_mode: Some(AiMode::Shadow),
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&shadow_here), Decision::Draft);
        let auto_here = Situation {
            conversation_mode: Some(AiMode::Auto),
            ..base(AiMode::Off)
        };
        assert_eq!(decide(&auto_here), Decision::Reply);
    }

    #[test]
    fn paused_conversations_get_nothing() {
        for mode in [AiMode::Auto, AiMode::Shadow] {
            let s = Situation {
                paused: true,
                ..base(mode)
            };
            assert_eq!(decide(&s), Decision::Skip(SkipReason::Paused), "{mode:?}");
        }
    }

    #[test]
    fn an_older_message_is_superseded_by_the_latest() {
        let s = Situation {
            job_mid: "m1",
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&s), Decision::Skip(SkipReason::Superseded));
        let unknown = Situation {
            latest_inbound_mid: None,
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&unknown), Decision::Skip(SkipReason::Superseded));
    }

    #[test]
    fn a_claimed_message_is_not_handled_twice() {
        for mode in [AiMode::Auto, AiMode::Shadow] {
            let s = Situation {
                already_claimed: true,
                ..base(mode)
            };
            assert_eq!(decide(&s), Decision::Skip(SkipReason::AlreadyHandled));
        }
    }

    #[test]
    fn auto_respects_the_24_hour_window() {
        let s = Situation {
            now_ms: T0 + 25 * HOUR,
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&s), Decision::Skip(SkipReason::WindowClosed));
        // Exactly at 24 h the window is still open (Meta: "within 24 hours"); the bot
        // deadline is what stops it then.
        let edge = Situation {
            now_ms: T0 + 24 * HOUR,
            limits: Limits {
                reply_deadline: Duration::from_secs(48 * 3600),
                ..Limits::default()
            },
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&edge), Decision::Reply);
    }

    #[test]
    fn auto_gives_up_after_the_bot_deadline() {
        let on_time = Situation {
            now_ms: T0 + 30_000,
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&on_time), Decision::Reply);
        let late = Situation {
            now_ms: T0 + 30_001,
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&late), Decision::Skip(SkipReason::DeadlinePassed));
        assert_eq!(time_left_ms(T0, T0 + 30_001, &Limits::default()), -1);
        assert_eq!(time_left_ms(T0, T0 + 10_000, &Limits::default()), 20_000);
    }

    #[test]
    fn the_window_runs_from_the_latest_inbound_time() {
        // A stale job time cannot shorten the window the conversation says is open.
        let s = Situation {
            job_message_at: T0 - 30 * HOUR,
            last_inbound_at: Some(T0),
            limits: Limits {
                reply_deadline: Duration::from_secs(100 * 3600),
                ..Limits::default()
            },
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&s), Decision::Reply);
        // A missing conversation time falls back to the message's own time.
        let s = Situation {
            last_inbound_at: None,
            now_ms: T0 + 25 * HOUR,
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&s), Decision::Skip(SkipReason::WindowClosed));
    }

    #[test]
    fn a_clock_behind_the_message_does_not_break_the_rules() {
        let s = Situation {
            now_ms: T0 - 5_000,
            ..base(AiMode::Auto)
        };
        assert_eq!(decide(&s), Decision::Reply);
    }

    #[test]
    fn reasons_have_stable_names() {
        let all = [
            SkipReason::AiOff,
            SkipReason::Paused,
            SkipReason::Superseded,
            SkipReason::AlreadyHandled,
            SkipReason::WindowClosed,
            SkipReason::DeadlinePassed,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), all.len());
        assert_eq!(SkipReason::WindowClosed.to_string(), "window_closed");
    }
}
