//! `AWS::SQS::Queue`: the attributes the queues are created with, and the
//! `RedrivePolicy` (written as a mapping or as JSON text) that sends a message to its
//! dead-letter queue after `maxReceiveCount` receives. A dead-letter queue must be a
//! queue of the template, FIFO exactly when its source queue is.

use yaml_serde::Value;

use super::intrinsics::{Defaults, Expr};
use super::props::Props;
use super::{Template, TemplateError, invalid, unsupported};

/// The `RedrivePolicy` of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveSpec {
    /// Logical id of the dead-letter queue.
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueSpec {
    pub logical_id: String,
    pub fifo: bool,
    pub content_based_deduplication: Option<bool>,
    pub delay_seconds: Option<u32>,
    pub visibility_timeout: Option<u32>,
    pub message_retention_period: Option<u32>,
    pub maximum_message_size: Option<u32>,
    pub receive_wait_time_seconds: Option<u32>,
    pub sqs_managed_sse: Option<bool>,
    /// `KmsMasterKeyId`; may refer to a key of the template.
    pub kms_master_key: Option<Expr>,
    pub redrive: Option<RedriveSpec>,
}

impl Template {
    /// Every `AWS::SQS::Queue`.
    pub fn queues(&self) -> Result<Vec<QueueSpec>, TemplateError> {
        let queues = self
            .of_type("AWS::SQS::Queue")
            .map(|props| {
                let p = props?;
                p.only(
                    &[
                        "ContentBasedDeduplication",
                        "DelaySeconds",
                        "FifoQueue",
                        "KmsMasterKeyId",
                        "MaximumMessageSize",
                        "MessageRetentionPeriod",
                        "ReceiveMessageWaitTimeSeconds",
                        "RedrivePolicy",
                        "SqsManagedSseEnabled",
                        "VisibilityTimeout",
                    ],
                    &["QueueName", "Tags", "KmsDataKeyReusePeriodSeconds"],
                )?;
                let redrive = p
                    .get("RedrivePolicy")
                    .map(|v| redrive_policy(p.id, v, &p))
                    .transpose()?;
                Ok(QueueSpec {
                    logical_id: p.id.to_owned(),
                    fifo: p.boolean("FifoQueue")?.unwrap_or(false),
                    content_based_deduplication: p.boolean("ContentBasedDeduplication")?,
                    delay_seconds: p.number("DelaySeconds")?,
                    visibility_timeout: p.number("VisibilityTimeout")?,
                    message_retention_period: p.number("MessageRetentionPeriod")?,
                    maximum_message_size: p.number("MaximumMessageSize")?,
                    receive_wait_time_seconds: p.number("ReceiveMessageWaitTimeSeconds")?,
                    sqs_managed_sse: p.boolean("SqsManagedSseEnabled")?,
                    kms_master_key: p
                        .get("KmsMasterKeyId")
                        .map(|v| Expr::parse(v, &format!("{}.KmsMasterKeyId", p.id)))
                        .transpose()?,
                    redrive,
                })
            })
            .collect::<Result<Vec<_>, TemplateError>>()?;
        for queue in &queues {
            if let Some(redrive) = &queue.redrive {
                let target = queues
                    .iter()
                    .find(|q| q.logical_id == redrive.dead_letter_queue)
                    .ok_or_else(|| {
                        invalid(
                            &queue.logical_id,
                            format!(
                                "dead-letter queue {} is not a queue",
                                redrive.dead_letter_queue
                            ),
                        )
                    })?;
                // SQS requires a FIFO queue's DLQ to be FIFO as well, and vice versa.
                if target.fifo != queue.fifo {
                    return Err(invalid(
                        &queue.logical_id,
                        "queue and DLQ differ in FIFO-ness",
                    ));
                }
            }
        }
        Ok(queues)
    }
}

/// Reads a `RedrivePolicy`, written as a mapping or as a JSON string.
fn redrive_policy(id: &str, value: &Value, p: &Props<'_>) -> Result<RedriveSpec, TemplateError> {
    let policy: Value = match value {
        Value::String(json) => serde_json::from_str(json)
            .map_err(|e| invalid(id, format!("RedrivePolicy is not JSON: {e}")))?,
        other => other.clone(),
    };
    let Value::Mapping(map) = &policy else {
        return Err(invalid(id, "RedrivePolicy must be a mapping"));
    };
    let policy = Props {
        id,
        map,
        defaults: Defaults(p.defaults.0),
    };
    policy.only(&["deadLetterTargetArn", "maxReceiveCount"], &[])?;
    let target = policy
        .get("deadLetterTargetArn")
        .ok_or_else(|| invalid(id, "RedrivePolicy.deadLetterTargetArn missing"))?;
    let dead_letter_queue = match Expr::parse(target, id)? {
        Expr::GetAtt {
            resource,
            attribute,
        } if attribute == "Arn" => resource,
        _ => {
            return Err(unsupported(
                id,
                "a dead-letter queue other than !GetAtt <Queue>.Arn of this template",
            ));
        }
    };
    let max_receive_count = policy
        .number("maxReceiveCount")?
        .ok_or_else(|| invalid(id, "RedrivePolicy.maxReceiveCount missing"))?;
    Ok(RedriveSpec {
        dead_letter_queue,
        max_receive_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::project;

    #[test]
    fn every_work_queue_sends_poison_messages_to_its_own_dlq_after_five_receives() {
        let queues = project().queues().unwrap();
        for name in ["Inbound", "Replies", "Moderation", "Publish", "Sync"] {
            let queue = queues
                .iter()
                .find(|q| q.logical_id == format!("{name}Queue"))
                .unwrap_or_else(|| panic!("{name}Queue is in the template"));
            assert_eq!(
                queue.redrive,
                Some(RedriveSpec {
                    dead_letter_queue: format!("{name}DLQ"),
                    max_receive_count: 5
                }),
                "{name}Queue redrive"
            );
            assert_eq!(queue.sqs_managed_sse, Some(true));
            // Six times the consuming function's timeout (15 s at least).
            assert!(queue.visibility_timeout.unwrap() >= 90, "{name}Queue");
            let dlq = queues
                .iter()
                .find(|q| q.logical_id == format!("{name}DLQ"))
                .unwrap();
            assert_eq!(dlq.message_retention_period, Some(14 * 24 * 3600));
            assert_eq!(dlq.redrive, None);
        }
        assert_eq!(queues.len(), 10);
    }

    const MINIMAL: &str = r#"
Parameters:
  Timeout: { Type: Number, Default: 42 }
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref Timeout
      DelaySeconds: "7"
      RedrivePolicy: '{"deadLetterTargetArn": {"Fn::GetAtt": ["D", "Arn"]}, "maxReceiveCount": 3}'
  D:
    Type: AWS::SQS::Queue
"#;

    #[test]
    fn long_and_short_intrinsics_and_string_numbers_are_understood() {
        let queues = Template::parse(MINIMAL).unwrap().queues().unwrap();
        let q = queues.iter().find(|q| q.logical_id == "Q").unwrap();
        assert_eq!(q.visibility_timeout, Some(42));
        assert_eq!(q.delay_seconds, Some(7));
        assert_eq!(
            q.redrive,
            Some(RedriveSpec {
                dead_letter_queue: "D".into(),
                max_receive_count: 3
            })
        );
    }

    #[test]
    fn properties_the_local_stack_would_ignore_are_refused() {
        let text = MINIMAL.replace("DelaySeconds: \"7\"", "RedriveAllowPolicy: {}");
        let err = Template::parse(&text).unwrap().queues().unwrap_err();
        assert!(
            err.to_string().contains("RedriveAllowPolicy"),
            "error names the property: {err}"
        );
        let err = Template::parse(&MINIMAL.replace("!Ref Timeout", "!Select [0, [1]]"))
            .unwrap()
            .queues()
            .unwrap_err();
        assert!(
            err.to_string().contains("Select"),
            "error names the intrinsic: {err}"
        );
    }

    #[test]
    fn dead_letter_queue_must_be_a_queue_of_the_template() {
        let text = MINIMAL.replace("\"D\", \"Arn\"", "\"Missing\", \"Arn\"");
        let err = Template::parse(&text).unwrap().queues().unwrap_err();
        assert!(err.to_string().contains("Missing"), "{err}");
    }
}
