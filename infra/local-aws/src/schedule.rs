//! EventBridge schedule expressions: `rate(...)`, `cron(...)` and Scheduler's one-time
//! `at(...)`, parsed into values that compute their next run time (UTC).
//!
//! Pure: no clock is read here; callers pass "now". Guarantees: an expression EventBridge
//! would refuse is refused (wrong unit plurality, both day fields set, values out of
//! range), and the few cron features the local scheduler does not implement (`L`, `W`,
//! `#`) are refused by name instead of being misread.

use std::fmt;

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

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

/// The fields of a cron expression, each as the set of values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: Vec<u8>,
    hours: Vec<u8>,
    /// `None` is `?`.
    days_of_month: Option<Vec<u8>>,
    months: Vec<u8>,
    /// 1 = Sunday ... 7 = Saturday, as EventBridge numbers them; `None` is `?`.
    days_of_week: Option<Vec<u8>>,
    years: Vec<u16>,
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

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    fn parse(text: &str, body: &str) -> Result<Self, ScheduleError> {
        let fail = |reason: String| ScheduleError::Cron {
            expression: text.to_owned(),
            reason,
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err(fail(format!(
                "expected 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                fields.len()
            )));
        };
        for (name, field) in [("day-of-month", dom), ("day-of-week", dow)] {
            if let Some(c) = field.chars().find(|c| matches!(c, 'L' | 'W' | '#')) {
                return Err(fail(format!(
                    "{name} uses {c}, which the local scheduler does not implement"
                )));
            }
        }
        let day_of_month = match dom {
            "?" => None,
            f => Some(field(f, 1, 31, &[]).map_err(|r| fail(format!("day-of-month: {r}")))?),
        };
        let day_of_week = match dow {
            "?" => None,
            f => Some(field(f, 1, 7, &WEEKDAYS).map_err(|r| fail(format!("day-of-week: {r}")))?),
        };
        // EventBridge: exactly one of the two day fields is "?".
        if day_of_month.is_some() == day_of_week.is_some() {
            return Err(fail(
                "exactly one of day-of-month and day-of-week must be ?".into(),
            ));
        }
        Ok(Cron {
            text: text.to_owned(),
            minutes: field(minutes, 0, 59, &[]).map_err(|r| fail(format!("minutes: {r}")))?,
            hours: field(hours, 0, 23, &[]).map_err(|r| fail(format!("hours: {r}")))?,
            days_of_month: day_of_month,
            months: field(month, 1, 12, &MONTHS).map_err(|r| fail(format!("month: {r}")))?,
            days_of_week: day_of_week,
            years: field(year, 1970, 2199, &[])
                .map_err(|r| fail(format!("year: {r}")))?
                .into_iter()
                .collect(),
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let year_ok = u16::try_from(date.year()).is_ok_and(|y| self.years.contains(&y));
        let month_ok = self.months.contains(&u8::from(date.month()));
        let dom_ok = self
            .days_of_month
            .as_ref()
            .is_none_or(|days| days.contains(&date.day()));
        let dow_ok = self.days_of_week.as_ref().is_none_or(|days| {
            let sunday_is_one = date.weekday().number_days_from_sunday() + 1;
            days.contains(&sunday_is_one)
        });
        year_ok && month_ok && dom_ok && dow_ok
    }

    /// The first matching minute strictly after `after` (searching up to the last year
    /// the expression allows).
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let after = after.to_offset(time::UtcOffset::UTC);
        let last_year = i32::from(*self.years.iter().max()?);
        let mut date = after.date();
        while date.year() <= last_year {
            if self.day_matches(date) {
                for &hour in &self.hours {
                    for &minute in &self.minutes {
                        let at =
                            PrimitiveDateTime::new(date, Time::from_hms(hour, minute, 0).ok()?)
                                .assume_utc();
                        if at > after {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.next_day()?;
        }
        None
    }
}

/// The sorted values a cron field allows: `*`, `N`, `A-B`, `X/STEP`, lists of those, and
/// names (`JAN`, `MON`) where `names` gives them (index 0 is `min`).
fn field<T>(text: &str, min: u16, max: u16, names: &[&str]) -> Result<Vec<T>, String>
where
    T: TryFrom<u16> + Ord + Copy,
{
    let value = |part: &str| -> Result<u16, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(part)) {
            return Ok(min + u16::try_from(i).expect("name lists are short"));
        }
        let v: u16 = part
            .parse()
            .map_err(|_| format!("{part:?} is not a number"))?;
        if !(min..=max).contains(&v) {
            return Err(format!("{v} is outside {min}-{max}"));
        }
        Ok(v)
    };
    let mut out: Vec<u16> = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u16 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {step:?} must be a positive number"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (start, end) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // "5/15" means from 5 to the end in steps of 15.
                None if item.contains('/') => (value(r)?, max),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if start > end {
            return Err(format!("range {range} runs backwards"));
        }
        out.extend((start..=end).step_by(usize::from(step)));
    }
    out.sort_unstable();
    out.dedup();
    out.into_iter()
        .map(|v| T::try_from(v).map_err(|_| format!("{v} is out of range")))
        .collect()
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
        let cron = match ScheduleExpression::parse("cron(0 0 1 DEC ? *)").unwrap() {
            ScheduleExpression::Cron(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(cron.months, vec![u8::from(time::Month::December)]);
    }
}
