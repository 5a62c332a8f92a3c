//! The schedules of template.yaml (`Schedule` rules and `ScheduleV2` schedules), run
//! against the wall clock in UTC: at each run time the function is invoked with what
//! EventBridge sends — a rule's "Scheduled Event" (or its `Input`), a Scheduler
//! schedule's `Input` (or `{}`). A failed run is logged; the schedule goes on.

use std::time::Duration;

use relay_local_aws::local_aws::{ACCOUNT_ID, REGION};
use relay_local_aws::template::{ScheduleKind, ScheduleSpec};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::invoke::{COLD_START_ALLOWANCE, Invoked, Lambda};
use crate::logs::Logs;

/// One schedule and its function.
#[derive(Debug, Clone)]
pub struct Job {
    /// `<Function>.<Event>`, for logs and the rule's ARN.
    pub name: String,
    pub binary: String,
    pub spec: ScheduleSpec,
    pub function_timeout: Duration,
}

/// The payload EventBridge delivers for a run at `at`.
pub fn payload(job: &Job, prefix: &str, at: OffsetDateTime) -> Value {
    if let Some(input) = &job.spec.input {
        // The template reader checked that Input is JSON.
        return serde_json::from_str(input).unwrap_or(Value::Null);
    }
    match job.spec.kind {
        ScheduleKind::Scheduler => json!({}),
        ScheduleKind::Rule => json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": at
                .replace_nanosecond(0)
                .unwrap_or(at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "region": REGION,
            "resources": [format!(
                "arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{prefix}-{}",
                job.name.replace('.', "-")
            )],
            "detail": {},
        }),
    }
}

/// Runs `job` until `stop` turns true.
pub async fn run(
    job: Job,
    prefix: String,
    lambda: Lambda,
    logs: Logs,
    mut stop: watch::Receiver<bool>,
) {
    let started = OffsetDateTime::now_utc();
    let mut after = started;
    loop {
        let Some(next) = job.spec.expression.next_after(started, after) else {
            logs.line(
                "cron",
                &format!("{}: {} has no further runs", job.name, job.spec.expression),
            );
            return;
        };
        logs.line(
            "cron",
            &format!(
                "{} ({}) -> {}: next run {}",
                job.name,
                job.spec.expression,
                job.binary,
                next.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
        );
        let wait = (next - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
        let wait = Duration::from_secs_f64(wait.as_seconds_f64());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let body = serde_json::to_vec(&payload(&job, &prefix, next)).expect("JSON serialises");
        match lambda
            .invoke(
                &job.binary,
                &body,
                job.function_timeout + COLD_START_ALLOWANCE,
            )
            .await
        {
            Invoked::Result(_) => logs.line("cron", &format!("{}: {} ran", job.name, job.binary)),
            Invoked::FunctionError(e) => {
                logs.line("cron", &format!("{}: {} failed: {e}", job.name, job.binary));
            }
            Invoked::NoAnswer(e) => {
                logs.line(
                    "cron",
                    &format!("{}: {} did not answer: {e}", job.name, job.binary),
                );
            }
        }
        after = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_local_aws::schedule::ScheduleExpression;

    fn job(kind: ScheduleKind, input: Option<&str>) -> Job {
        Job {
            name: "TokenRefreshFunction.Daily".into(),
            binary: "token-refresh".into(),
            spec: ScheduleSpec {
                kind,
                expression: ScheduleExpression::parse("rate(1 day)").unwrap(),
                input: input.map(str::to_owned),
                enabled: true,
            },
            function_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn rules_send_a_scheduled_event_that_lambda_events_reads() {
        let at = time::macros::datetime!(2026-11-21 03:00:00.5 UTC);
        let value = payload(&job(ScheduleKind::Rule, None), "relay", at);
        assert_eq!(value["detail-type"], "Scheduled Event");
        assert_eq!(value["time"], "2026-11-21T03:00:00Z");
        assert_eq!(
            value["resources"][0],
            "arn:aws:events:us-east-1:123456789012:rule/relay-TokenRefreshFunction-Daily"
        );
        let event: aws_lambda_events::event::eventbridge::EventBridgeEvent<Value> =
            serde_json::from_value(value).unwrap();
        assert_eq!(event.source, "aws.events");
    }

    #[test]
    fn input_replaces_the_default_payload() {
        let at = OffsetDateTime::now_utc();
        assert_eq!(
            payload(&job(ScheduleKind::Rule, Some(r#"{"full":true}"#)), "p", at),
            json!({"full": true})
        );
        assert_eq!(
            payload(&job(ScheduleKind::Scheduler, None), "p", at),
            json!({})
        );
    }
}
