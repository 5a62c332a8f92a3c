//! `relay-stack redrive`: every dead-letter queue of the stack back into the queue it
//! serves (`inbound_dlq` into `inbound`, ...), once the fault that sent its records
//! there is gone; what AWS does with `aws sqs start-message-move-task`. Each record is
//! sent to its source queue before it is deleted from the DLQ, so a redrive that stops
//! half-way loses nothing (a record may then be in both, and Relay's handlers are
//! idempotent).

use std::collections::BTreeMap;

use aws_sdk_sqs::Client;

/// How many records each DLQ gave back, by its short name.
pub async fn redrive(
    sqs: &Client,
    queues: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, usize>, String> {
    let mut moved = BTreeMap::new();
    for (name, dlq) in queues {
        let Some(source) = name.strip_suffix("_dlq").and_then(|s| queues.get(s)) else {
            continue;
        };
        let mut count = 0;
        loop {
            let received = sqs
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(|e| format!("receive from {name}: {e}"))?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                sqs.send_message()
                    .queue_url(source)
                    .message_body(message.body.unwrap_or_default())
                    .set_message_attributes(message.message_attributes)
                    .send()
                    .await
                    .map_err(|e| format!("send to the queue {name} serves: {e}"))?;
                if let Some(handle) = message.receipt_handle {
                    sqs.delete_message()
                        .queue_url(dlq)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| format!("delete from {name}: {e}"))?;
                }
                count += 1;
            }
        }
        moved.insert(name.clone(), count);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_local_aws::local_aws::TestAws;

    async fn bodies(sqs: &Client, url: &str) -> Vec<String> {
        let mut all = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap();
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            all.extend(messages.into_iter().filter_map(|m| m.body));
        }
        all.sort();
        all
    }

    #[tokio::test]
    async fn every_dead_letter_goes_back_to_the_queue_it_came_from_once() {
        let aws = TestAws::provision().await;
        let sqs = aws.sqs();
        let queues: BTreeMap<String, String> = [
            ("inbound", "InboundQueue"),
            ("inbound_dlq", "InboundDLQ"),
            ("moderation", "ModerationQueue"),
            ("moderation_dlq", "ModerationDLQ"),
        ]
        .into_iter()
        .map(|(name, id)| (name.to_owned(), aws.queue_url(id).to_owned()))
        .collect();
        for body in ["a", "b", "c"] {
            sqs.send_message()
                .queue_url(&queues["inbound_dlq"])
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
        sqs.send_message()
            .queue_url(&queues["moderation_dlq"])
            .message_body("r")
            .send()
            .await
            .unwrap();

        let moved = redrive(&sqs, &queues).await.unwrap();
        assert_eq!(moved["inbound_dlq"], 3);
        assert_eq!(moved["moderation_dlq"], 1);
        assert_eq!(bodies(&sqs, &queues["inbound"]).await, ["a", "b", "c"]);
        assert_eq!(bodies(&sqs, &queues["moderation"]).await, ["r"]);
        assert!(bodies(&sqs, &queues["inbound_dlq"]).await.is_empty());
        assert_eq!(redrive(&sqs, &queues).await.unwrap()["inbound_dlq"], 0);
    }
}
