//! EventBridge schedule expressions: `rate(...)`, `cron(...)` and Scheduler's one-time
//! `at(...)`, parsed into values that compute their next run time (UTC).
//!
//! Pure: no clock is read here; callers pass "now". Guarantees: an expression EventBridge
//! would refuse is refused (wrong unit plurality, both day fields set, values out of
//! range, named by field), and the cron features the local scheduler does not take
//! (`L`, `W`, `#`, croner's own `+`) are refused by name instead of being misread.
//! `cron(...)` is evaluated by croner, adapted to EventBridge's six fields (see
//! [`Cron`]); `rate(...)` and `at(...)` are simple enough to compute here.

use std::fmt;

use croner::parser::{CronParser, Seconds, Year};
use time::{OffsetDateTime, PrimitiveDateTime};

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule expression {0:?} is not rate(...), cron(...) or at(...)")]
    Shape(String),
    #[error("rate expression {expression:?}: {reason}")]
    Rate { expression: String, reason: String },
    #[error("cron expression {expression:?}: {reason}")]
    Cron { expression: String, reason: String },
    #[error("at expression {0:?} must be at(yyyy-mm-ddThh:mm:ss)")]
    At(String),
}

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    /// `rate(N minutes|hours|days)`: every `seconds` seconds.
    Rate { seconds: u64, text: String },
    /// `cron(min hour day-of-month month day-of-week year)`, UTC.
    Cron(Cron),
    /// `at(2026-11-21T10:00:00)`: once (EventBridge Scheduler only).
    At {
        when: PrimitiveDateTime,
        text: String,
    },
}

impl fmt::Display for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleExpression::Rate { text, .. } | ScheduleExpression::At { text, .. } => {
                f.write_str(text)
            }
            ScheduleExpression::Cron(cron) => f.write_str(&cron.text),
        }
    }
}

/// A `cron(...)` expression, evaluated by croner.
///
/// EventBridge writes six fields, `minutes hours day-of-month month day-of-week year`,
/// numbers days of the week 1 (Sunday) to 7 (Saturday) as Quartz does, and allows a
/// start with a step (`0/15`); croner reads that as the seven-field Quartz form once a
/// seconds field of `0` is put in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    /// Boxed: croner's bit fields are large, and expressions travel by value in specs.
    schedule: Box<croner::Cron>,
}

impl ScheduleExpression {
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let text = text.trim();
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
                .map(str::trim)
        };
        if let Some(body) = inner("rate(") {
            return parse_rate(text, body);
        }
        if let Some(body) = inner("cron(") {
            return Cron::parse(text, body).map(ScheduleExpression::Cron);
        }
        if let Some(body) = inner("at(") {
            let format =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            let when = PrimitiveDateTime::parse(body, format)
                .map_err(|_| ScheduleError::At(text.to_owned()))?;
            return Ok(ScheduleExpression::At {
                when,
                text: text.to_owned(),
            });
        }
        Err(ScheduleError::Shape(text.to_owned()))
    }

    /// The first run strictly after `after`; `started` is when the schedule was created
    /// (a rate counts from there). `None` when it never runs again.
    pub fn next_after(
        &self,
        started: OffsetDateTime,
        after: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        match self {
            ScheduleExpression::Rate { seconds, .. } => {
                let period = i64::try_from(*seconds).ok()?;
                let elapsed = (after - started).whole_seconds().max(0);
                let periods = elapsed / period + 1;
                Some(started + time::Duration::seconds(periods * period))
            }
            ScheduleExpression::Cron(cron) => cron.next_after(after),
            ScheduleExpression::At { when, .. } => {
                let when = when.assume_utc();
                (when > after).then_some(when)
            }
        }
    }
}

fn parse_rate(text: &str, body: &str) -> Result<ScheduleExpression, ScheduleError> {
    let fail = |reason: &str| ScheduleError::Rate {
        expression: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(fail("expected rate(value unit)"));
    };
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| fail("the value must be a positive whole number"))?;
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3600),
        "day" | "days" => ("day", 86_400),
        _ => return Err(fail("the unit must be minute(s), hour(s) or day(s)")),
    };
    // EventBridge refuses "rate(1 minutes)" and "rate(5 minute)".
    if (value == 1) != (unit == singular) {
        return Err(fail("use the singular unit for 1 and the plural otherwise"));
    }
    Ok(ScheduleExpression::Rate {
        seconds: value * seconds,
        text: text.to_owned(),
    })
}

/// The fields of EventBridge's form, with the values each allows, for error messages.
const FIELDS: [(&str, u16, u16); 6] = [
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 1, 7),
    ("year", 1970, 2199),
];

/// croner set up for EventBridge's fields (see [`Cron`]).
fn eventbridge_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
}

impl Cron {
    fn parse(text: &str, body: &str) -> Result<Self, ScheduleError> {
        let fail = |reason: String| ScheduleError::Cron {
            expression: text.to_owned(),
            reason,
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [_, _, dom, _, dow, _] = fields[..] else {
            return Err(fail(format!(
                "expected 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                fields.len()
            )));
        };
        for (name, field) in [("day-of-month", dom), ("day-of-week", dow)] {
            if let Some(c) = field.chars().find(|c| matches!(c, 'L' | 'W' | '#' | '+')) {
                return Err(fail(format!(
                    "{name} uses {c}, which the local scheduler does not implement"
                )));
            }
        }
        // EventBridge: exactly one of the two day fields is "?".
        if (dom == "?") == (dow == "?") {
            return Err(fail(
                "exactly one of day-of-month and day-of-week must be ?".into(),
            ));
        }
        let parser = eventbridge_parser();
        // croner's errors do not say which field is wrong: name the first field that
        // fails alone (the others wildcards), with the values EventBridge allows there.
        for (i, (&field, (name, min, max))) in fields.iter().zip(FIELDS).enumerate() {
            let alone: Vec<&str> = (0..6).map(|j| if j == i { field } else { "*" }).collect();
            let detail = match parser.parse(&format!("0 {}", alone.join(" "))) {
                Ok(cron) if i == 5 && !field.starts_with('*') => {
                    match years_outside(&cron, min, max) {
                        Some(year) => format!("{field:?} allows {year}, outside {min}-{max}"),
                        None => continue,
                    }
                }
                Ok(_) => continue,
                Err(e) if e.to_string().contains("out of bounds") => {
                    let backwards = if field.contains('-') {
                        " or runs backwards"
                    } else {
                        ""
                    };
                    format!("{field:?} is outside {min}-{max}{backwards}")
                }
                Err(e) => format!("{field:?}: {e}"),
            };
            return Err(fail(format!("{name}: {detail}")));
        }
        let schedule = parser
            .parse(&format!("0 {body}"))
            .map_err(|e| fail(e.to_string()))?;
        Ok(Cron {
            text: text.to_owned(),
            schedule: Box::new(schedule),
        })
    }

    /// The first matching minute strictly after `after`.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let after = jiff::Timestamp::from_second(after.unix_timestamp())
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC);
        // No match before croner's search limit (a year long past, say) is no next run.
        let next = self.schedule.find_next_occurrence(&after, false).ok()?;
        OffsetDateTime::from_unix_timestamp(next.timestamp().as_second()).ok()
    }
}

/// A year that `cron`'s year field allows outside `min..=max` (croner knows years 1
/// to 5000, EventBridge only 1970 to 2199).
fn years_outside(cron: &croner::Cron, min: u16, max: u16) -> Option<u16> {
    let start = jiff::civil::date(1, 1, 1).at(0, 0, 0, 0);
    let first = cron.find_next_occurrence(&start, true).ok()?;
    if first.year() < i16::try_from(min).ok()? {
        return u16::try_from(first.year()).ok();
    }
    let after = jiff::civil::date(i16::try_from(max).ok()?, 12, 31).at(23, 59, 59, 0);
    let later = cron.find_next_occurrence(&after, false).ok()?;
    u16::try_from(later.year()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn next(expr: &str, after: OffsetDateTime) -> Option<OffsetDateTime> {
        ScheduleExpression::parse(expr)
            .unwrap()
            .next_after(after, after)
    }

    #[test]
    fn rates_count_from_the_start_and_insist_on_plurality() {
        let expr = ScheduleExpression::parse("rate(5 minutes)").unwrap();
        let start = datetime!(2026-11-21 10:00:00 UTC);
        assert_eq!(
            expr.next_after(start, start),
            Some(datetime!(2026-11-21 10:05:00 UTC))
        );
        assert_eq!(
            expr.next_after(start, datetime!(2026-11-21 10:05:00 UTC)),
            Some(datetime!(2026-11-21 10:10:00 UTC))
        );
        assert!(ScheduleExpression::parse("rate(1 day)").is_ok());
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 hours)",
            "rate(5 weeks)",
        ] {
            assert!(
                matches!(
                    ScheduleExpression::parse(bad),
                    Err(ScheduleError::Rate { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn cron_fields_lists_ranges_steps_and_names() {
        let after = datetime!(2026-11-21 10:07:30 UTC); // a Saturday
        assert_eq!(
            next("cron(0/15 * * * ? *)", after),
            Some(datetime!(2026-11-21 10:15:00 UTC))
        );
        assert_eq!(
            next("cron(0 3 * * ? *)", after),
            Some(datetime!(2026-11-22 03:00:00 UTC))
        );
        // 2 = Monday in EventBridge's numbering (1 = Sunday).
        assert_eq!(
            next("cron(30 9 ? * MON-FRI *)", after),
            Some(datetime!(2026-11-23 09:30:00 UTC))
        );
        assert_eq!(
            next("cron(30 9 ? * 2 *)", after),
            Some(datetime!(2026-11-23 09:30:00 UTC))
        );
        assert_eq!(
            next("cron(0 0 1 JAN,JUL ? 2027)", after),
            Some(datetime!(2027-01-01 00:00:00 UTC))
        );
        assert_eq!(next("cron(0 0 1 1 ? 2020)", after), None, "only past years");
    }

    #[test]
    fn cron_rules_eventbridge_enforces_are_enforced() {
        for (bad, why) in [
            ("cron(0 3 * * * *)", "exactly one"),
            ("cron(0 3 ? * ? *)", "exactly one"),
            ("cron(0 3 * *)", "6 fields"),
            ("cron(60 3 * * ? *)", "outside"),
            ("cron(0 3 L * ? *)", "does not implement"),
            ("cron(0 3 ? * 2#1 *)", "does not implement"),
            ("cron(0 5-3 * * ? *)", "backwards"),
        ] {
            let err = ScheduleExpression::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(matches!(
            ScheduleExpression::parse("every 5 minutes"),
            Err(ScheduleError::Shape(_))
        ));
    }

    #[test]
    fn at_runs_once() {
        let expr = ScheduleExpression::parse("at(2026-11-21T12:00:00)").unwrap();
        let before = datetime!(2026-11-21 11:00:00 UTC);
        assert_eq!(
            expr.next_after(before, before),
            Some(datetime!(2026-11-21 12:00:00 UTC))
        );
        assert_eq!(
            expr.next_after(before, datetime!(2026-11-21 12:00:00 UTC)),
            None
        );
    }

    #[test]
    fn displays_as_written() {
        for text in [
            "rate(1 hour)",
            "cron(0 3 * * ? *)",
            "at(2026-11-21T12:00:00)",
        ] {
            assert_eq!(ScheduleExpression::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn months_are_numbered_from_one() {
        let after = datetime!(2026-11-21 10:07:30 UTC);
        assert_eq!(
            next("cron(0 0 1 DEC ? *)", after),
            Some(datetime!(2026-12-01 00:00:00 UTC))
        );
        assert_eq!(
            next("cron(0 0 1 12 ? *)", after),
            Some(datetime!(2026-12-01 00:00:00 UTC))
        );
    }

    #[test]
    fn weekdays_run_from_sunday_one_to_saturday_seven() {
        let saturday = datetime!(2026-11-21 10:07:30 UTC);
        assert_eq!(
            next("cron(0 12 ? * 1 *)", saturday),
            Some(datetime!(2026-11-22 12:00:00 UTC)),
            "1 is Sunday"
        );
        assert_eq!(
            next("cron(0 12 ? * 7 *)", saturday),
            Some(datetime!(2026-11-21 12:00:00 UTC)),
            "7 is Saturday"
        );
        assert_eq!(
            next("cron(0 12 ? * sun *)", saturday),
            Some(datetime!(2026-11-22 12:00:00 UTC)),
            "names in any case"
        );
    }

    #[test]
    fn stepped_ranges_short_months_and_minute_boundaries() {
        let after = datetime!(2026-11-21 10:07:30 UTC);
        assert_eq!(
            next("cron(0 8-17/3 * * ? *)", after),
            Some(datetime!(2026-11-21 11:00:00 UTC))
        );
        // November has no 31st: the next one is in December.
        assert_eq!(
            next("cron(0 0 31 * ? *)", after),
            Some(datetime!(2026-12-31 00:00:00 UTC))
        );
        // Strictly after: a run at the very minute is the next one's predecessor.
        assert_eq!(
            next("cron(* * * * ? *)", datetime!(2026-11-21 10:15:00 UTC)),
            Some(datetime!(2026-11-21 10:16:00 UTC))
        );
        assert_eq!(
            next("cron(* * * * ? *)", datetime!(2026-11-21 10:15:00.5 UTC)),
            Some(datetime!(2026-11-21 10:16:00 UTC))
        );
    }

    #[test]
    fn errors_name_the_field_and_what_eventbridge_allows() {
        for (bad, why) in [
            ("cron(0 24 * * ? *)", "hours: \"24\" is outside 0-23"),
            ("cron(0 3 32 * ? *)", "day-of-month: \"32\" is outside 1-31"),
            ("cron(0 3 ? 13 ? *)", "exactly one"),
            ("cron(0 3 1 13 ? *)", "month: \"13\" is outside 1-12"),
            (
                "cron(0 3 1 1 ? 2300)",
                "year: \"2300\" allows 2300, outside 1970-2199",
            ),
            (
                "cron(0 3 1 1 ? 1900-1980)",
                "year: \"1900-1980\" allows 1900, outside 1970-2199",
            ),
            ("cron(0 3 ? * +MON *)", "does not implement"),
            ("cron(0 3 ? * 15W *)", "does not implement"),
            ("cron(x 3 * * ? *)", "minutes: \"x\""),
        ] {
            let err = ScheduleExpression::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(ScheduleExpression::parse("cron(0 3 1 1 ? 1970-2199)").is_ok());
    }
}
