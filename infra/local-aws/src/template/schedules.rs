//! `Schedule` (EventBridge rule) and `ScheduleV2` (EventBridge Scheduler) events of
//! functions: the expression (parsed by [`crate::schedule`]), the `Input` sent instead
//! of the default payload, and whether the schedule is enabled. Only UTC schedules are
//! read; retry and dead-letter settings matter only to a real deployment.

use super::props::Props;
use super::{TemplateError, invalid, unsupported};

/// Which EventBridge service runs a schedule; they deliver different payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// `Type: Schedule`: an EventBridge rule, which sends a "Scheduled Event".
    Rule,
    /// `Type: ScheduleV2`: EventBridge Scheduler, which sends `Input` as it is.
    Scheduler,
}

/// A schedule that invokes a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub kind: ScheduleKind,
    pub expression: crate::schedule::ScheduleExpression,
    /// `Input`: the JSON text sent instead of the default payload.
    pub input: Option<String>,
    pub enabled: bool,
}

/// A `Schedule` (EventBridge rule) or `ScheduleV2` (EventBridge Scheduler) event.
pub(super) fn schedule(p: &Props<'_>, at: &str, kind: &str) -> Result<ScheduleSpec, TemplateError> {
    // Retry and dead-letter settings only matter for failed asynchronous invocations,
    // which the local scheduler logs and does not retry; names and descriptions only
    // label the deployed rule.
    let (kind, expression_key) = if kind == "Schedule" {
        p.only(
            &["Schedule", "Input", "Enabled", "State"],
            &["Name", "Description", "RetryPolicy", "DeadLetterConfig"],
        )?;
        (ScheduleKind::Rule, "Schedule")
    } else {
        p.only(
            &[
                "ScheduleExpression",
                "ScheduleExpressionTimezone",
                "Input",
                "State",
            ],
            &[
                "Name",
                "Description",
                "GroupName",
                "FlexibleTimeWindow",
                "RetryPolicy",
                "DeadLetterConfig",
                "RoleArn",
                "PermissionsBoundary",
                "KmsKeyArn",
                "OmitName",
            ],
        )?;
        if let Some(zone) = p.text("ScheduleExpressionTimezone")? {
            if !matches!(zone.as_str(), "UTC" | "Etc/UTC" | "GMT") {
                return Err(unsupported(
                    p.id,
                    format!("{at}: time zone {zone} (only UTC)"),
                ));
            }
        }
        (ScheduleKind::Scheduler, "ScheduleExpression")
    };
    let text = p
        .text(expression_key)?
        .ok_or_else(|| invalid(p.id, format!("{at}: {expression_key} missing")))?;
    let expression = crate::schedule::ScheduleExpression::parse(&text)
        .map_err(|e| invalid(p.id, format!("{at}: {e}")))?;
    let input = p.text("Input")?;
    if let Some(input) = &input {
        if serde_json::from_str::<serde_json::Value>(input).is_err() {
            return Err(invalid(p.id, format!("{at}: Input must be JSON text")));
        }
    }
    let enabled = match (p.boolean("Enabled")?, p.text("State")?.as_deref()) {
        (Some(enabled), None) => enabled,
        (None, None) | (None, Some("ENABLED")) => true,
        (None, Some("DISABLED")) => false,
        (None, Some(other)) => {
            return Err(invalid(
                p.id,
                format!("{at}: State must be ENABLED or DISABLED, not {other}"),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                p.id,
                format!("{at}: give Enabled or State, not both"),
            ));
        }
    };
    Ok(ScheduleSpec {
        kind,
        expression,
        input,
        enabled,
    })
}
