//! The local AWS harness creates what template.yaml declares, and each test gets its
//! own isolated copy. Runs against the moto server started by infra/scripts/test.sh.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ProjectionType, TimeToLiveStatus};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_sqs::types::QueueAttributeName;
use relay_tests::template::{KeySchema, Projection};
use relay_tests::{Template, TestAws};

fn template() -> Template {
    Template::project().expect("template.yaml parses")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

#[tokio::test]
async fn every_table_has_the_keys_indexes_and_ttl_the_template_declares() {
    let aws = TestAws::provision().await;
    let ddb = aws.dynamodb();
    let specs = template().tables().unwrap();
    assert_eq!(specs.len(), 3, "main, audit and archive tables");

    for spec in &specs {
        let name = aws.table(&spec.logical_id);
        assert!(
            name.starts_with(&aws.prefix),
            "{name} carries the test prefix"
        );
        let table = ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let keys = |elements: &[aws_sdk_dynamodb::types::KeySchemaElement]| KeySchema {
            hash: elements
                .iter()
                .find(|e| e.key_type == KeyType::Hash)
                .unwrap()
                .attribute_name
                .clone(),
            range: elements
                .iter()
                .find(|e| e.key_type == KeyType::Range)
                .map(|e| e.attribute_name.clone()),
        };
        assert_eq!(
            keys(table.key_schema()),
            spec.key_schema,
            "{}",
            spec.logical_id
        );

        let mut indexes: Vec<_> = table
            .global_secondary_indexes()
            .iter()
            .map(|gsi| {
                (
                    gsi.index_name().unwrap().to_owned(),
                    keys(gsi.key_schema()),
                    gsi.projection().unwrap().projection_type().cloned(),
                )
            })
            .collect();
        indexes.sort_by(|a, b| a.0.cmp(&b.0));
        let expected: Vec<_> = spec
            .global_indexes
            .iter()
            .map(|i| {
                let projection = match i.projection {
                    Projection::All => ProjectionType::All,
                    Projection::KeysOnly => ProjectionType::KeysOnly,
                    Projection::Include(_) => ProjectionType::Include,
                };
                (i.name.clone(), i.key_schema.clone(), Some(projection))
            })
            .collect();
        assert_eq!(indexes, expected, "{} indexes", spec.logical_id);

        let ttl = ddb
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .time_to_live_description
            .unwrap();
        match &spec.ttl_attribute {
            Some(attribute) => {
                assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
                assert_eq!(ttl.attribute_name.as_deref(), Some(attribute.as_str()));
            }
            None => assert_ne!(
                ttl.time_to_live_status,
                Some(TimeToLiveStatus::Enabled),
                "{} must keep its records forever",
                spec.logical_id
            ),
        }
    }

    // The main table's key design, end to end: an item is found through gsi1 and gsi2.
    let gsi_names: Vec<_> = specs
        .iter()
        .find(|t| t.logical_id == "MainTable")
        .unwrap()
        .global_indexes
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(gsi_names, ["gsi1", "gsi2"]);
    ddb.put_item()
        .table_name(&aws.tables.main)
        .item("pk", s("T#1"))
        .item("sk", s("ACCOUNT#1"))
        .item("gsi1pk", s("IGID#42"))
        .item("gsi1sk", s("ACCOUNT"))
        .item("gsi2pk", s("EXPIRY"))
        .item("gsi2sk", s("2026-01-01"))
        .send()
        .await
        .unwrap();
    for (index, key, value) in [("gsi1", "gsi1pk", "IGID#42"), ("gsi2", "gsi2pk", "EXPIRY")] {
        let found = ddb
            .query()
            .table_name(&aws.tables.main)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", key)
            .expression_attribute_values(":v", s(value))
            .send()
            .await
            .unwrap();
        assert_eq!(found.count, 1, "item routed through {index}");
    }
}

#[tokio::test]
async fn every_work_queue_redrives_to_its_dlq_as_the_template_says() {
    let aws = TestAws::provision().await;
    let sqs = aws.sqs();
    let specs = template().queues().unwrap();
    let mut redriven = 0;
    for spec in &specs {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(aws.queue_url(&spec.logical_id))
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let number =
            |name: QueueAttributeName| attributes.get(&name).map(|v| v.parse::<u32>().unwrap());
        if spec.visibility_timeout.is_some() {
            assert_eq!(
                number(QueueAttributeName::VisibilityTimeout),
                spec.visibility_timeout
            );
        }
        if spec.delay_seconds.is_some() {
            assert_eq!(number(QueueAttributeName::DelaySeconds), spec.delay_seconds);
        }
        if spec.message_retention_period.is_some() {
            assert_eq!(
                number(QueueAttributeName::MessageRetentionPeriod),
                spec.message_retention_period,
                "{}",
                spec.logical_id
            );
        }
        let policy = attributes.get(&QueueAttributeName::RedrivePolicy);
        match &spec.redrive {
            Some(redrive) => {
                let policy: serde_json::Value =
                    serde_json::from_str(policy.expect("redrive policy set")).unwrap();
                assert_eq!(
                    policy["deadLetterTargetArn"],
                    aws.queue_arn(&redrive.dead_letter_queue),
                    "{} redrives to its DLQ",
                    spec.logical_id
                );
                let max = &policy["maxReceiveCount"];
                let max = max.as_u64().or_else(|| max.as_str()?.parse().ok());
                assert_eq!(max, Some(5));
                redriven += 1;
            }
            None => assert!(policy.is_none(), "{} has no redrive", spec.logical_id),
        }
    }
    assert_eq!(
        redriven, 5,
        "inbound, replies, moderation, publish and sync"
    );
    assert_eq!(
        template()
            .queues()
            .unwrap()
            .iter()
            .find(|q| q.logical_id == "InboundDLQ")
            .unwrap()
            .message_retention_period,
        Some(1_209_600)
    );
}

#[tokio::test]
async fn a_message_that_keeps_failing_lands_in_the_dlq_after_five_receives() {
    let aws = TestAws::provision().await;
    let sqs = aws.sqs();
    sqs.send_message()
        .queue_url(&aws.queues.inbound)
        .message_body("poison")
        .send()
        .await
        .unwrap();
    // A consumer that fails returns the message to the queue; visibility 0 makes it
    // visible again at once.
    let receive = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.receive_message()
                .queue_url(url)
                .visibility_timeout(0)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default()
        }
    };
    for attempt in 1..=5 {
        let messages = receive(aws.queues.inbound.clone()).await;
        assert_eq!(
            messages.len(),
            1,
            "receive {attempt} still gets the message"
        );
    }
    assert!(
        receive(aws.queues.inbound.clone()).await.is_empty(),
        "after 5 receives the message left the work queue"
    );
    let dead = receive(aws.queues.inbound_dlq.clone()).await;
    assert_eq!(dead.len(), 1, "poison message kept in the DLQ");
    assert_eq!(dead[0].body(), Some("poison"));
}

#[tokio::test]
async fn reply_jobs_wait_out_the_debounce_delay() {
    let aws = TestAws::provision().await;
    let sqs = aws.sqs();
    sqs.send_message()
        .queue_url(&aws.queues.replies)
        .message_body("job")
        .send()
        .await
        .unwrap();
    let early = sqs
        .receive_message()
        .queue_url(&aws.queues.replies)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    assert!(
        early.messages.unwrap_or_default().is_empty(),
        "a reply job is delayed"
    );
}

#[tokio::test]
async fn token_key_makes_data_keys_that_it_can_open_again() {
    let aws = TestAws::provision().await;
    let kms = aws.kms();
    let data_key = kms
        .generate_data_key()
        .key_id(&aws.token_key_id)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("tenant", "t1")
        .send()
        .await
        .unwrap();
    let plaintext = data_key.plaintext.unwrap();
    assert_eq!(plaintext.as_ref().len(), 32, "AES-256 data key");
    let ciphertext = data_key.ciphertext_blob.unwrap();
    assert_ne!(ciphertext.as_ref(), plaintext.as_ref());
    let opened = kms
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext.into_inner()))
        .encryption_context("tenant", "t1")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().as_ref(), plaintext.as_ref());

    let rotation = kms
        .get_key_rotation_status()
        .key_id(&aws.token_key_id)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled, "template enables rotation");

    let by_alias = kms
        .describe_key()
        .key_id(aws.alias("TokenKeyAlias"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_alias.key_metadata.unwrap().key_id, aws.token_key_id);
}

#[tokio::test]
async fn the_media_bucket_exists_with_the_templates_lifecycle_rules() {
    let aws = TestAws::provision().await;
    let rules = aws
        .s3()
        .get_bucket_lifecycle_configuration()
        .bucket(&aws.media_bucket)
        .send()
        .await
        .expect("the bucket has a lifecycle")
        .rules
        .unwrap_or_default();
    let mut ids: Vec<&str> = rules.iter().filter_map(|r| r.id()).collect();
    ids.sort();
    assert_eq!(ids, ["Everything", "NeverUsed", "PostOver"]);
    let done = rules.iter().find(|r| r.id() == Some("PostOver")).unwrap();
    assert_eq!(done.expiration().and_then(|e| e.days()), Some(1));
    let tag = done.filter().and_then(|f| f.tag()).expect("a tag filter");
    assert_eq!((tag.key(), tag.value()), ("relay-state", "done"));
}

#[tokio::test]
async fn event_bus_accepts_domain_events() {
    let aws = TestAws::provision().await;
    let events = aws.eventbridge();
    let bus = events
        .describe_event_bus()
        .name(&aws.event_bus)
        .send()
        .await
        .unwrap();
    assert_eq!(bus.name.as_deref(), Some(aws.event_bus.as_str()));
    let put = events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&aws.event_bus)
                .source("relay")
                .detail_type("PostPublished")
                .detail(r#"{"tenant":"t1"}"#)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count, 0);
}

#[tokio::test]
async fn two_provisions_share_no_resource_and_no_data() {
    let (a, b) = tokio::join!(TestAws::provision(), TestAws::provision());
    assert_ne!(a.prefix, b.prefix);
    let ids: Vec<_> = a.logical_ids().map(str::to_owned).collect();
    assert_eq!(ids, b.logical_ids().collect::<Vec<_>>());
    assert_ne!(a.env_vars(), b.env_vars());
    for (name, value) in a.env_vars() {
        if name != "RELAY_GRAPH_VERSION" {
            assert_ne!(Some(&value), b.env_vars().get(&name), "{name} is shared");
        }
    }

    let ddb = a.dynamodb();
    ddb.put_item()
        .table_name(&a.tables.main)
        .item("pk", s("T#shared"))
        .item("sk", s("X"))
        .send()
        .await
        .unwrap();
    let in_b = b
        .dynamodb()
        .get_item()
        .table_name(&b.tables.main)
        .key("pk", s("T#shared"))
        .key("sk", s("X"))
        .send()
        .await
        .unwrap();
    assert!(in_b.item.is_none(), "one test's item is visible to another");

    a.sqs()
        .send_message()
        .queue_url(&a.queues.inbound)
        .message_body("a")
        .send()
        .await
        .unwrap();
    let in_b = b
        .sqs()
        .receive_message()
        .queue_url(&b.queues.inbound)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    assert!(
        in_b.messages.unwrap_or_default().is_empty(),
        "one test's message reached another"
    );
}

#[tokio::test]
async fn functions_get_the_template_environment_pointing_at_this_test() {
    let mut aws = TestAws::provision().await;
    let env = aws.env_vars();
    let expected: BTreeMap<&str, &str> = [
        ("RELAY_MAIN_TABLE", aws.tables.main.as_str()),
        ("RELAY_AUDIT_TABLE", aws.tables.audit.as_str()),
        ("RELAY_ARCHIVE_TABLE", aws.tables.archive.as_str()),
        ("RELAY_TOKEN_KEY_ID", aws.token_key_id.as_str()),
        ("RELAY_EVENT_BUS", aws.event_bus.as_str()),
        ("RELAY_GRAPH_VERSION", "v26.0"),
        ("RELAY_INBOUND_QUEUE_URL", aws.queues.inbound.as_str()),
        ("RELAY_REPLIES_QUEUE_URL", aws.queues.replies.as_str()),
        ("RELAY_MODERATION_QUEUE_URL", aws.queues.moderation.as_str()),
        ("RELAY_PUBLISH_QUEUE_URL", aws.queues.publish.as_str()),
        ("RELAY_SYNC_QUEUE_URL", aws.queues.sync.as_str()),
    ]
    .into_iter()
    .collect();
    let got: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, expected, "no secret ARN until one is stored");

    let arn = aws.put_secret("SecretsArn", r#"{"app_secret":"x"}"#).await;
    assert_eq!(aws.env_vars().get("RELAY_SECRETS_ARN"), Some(&arn));
    let stored = aws
        .secretsmanager()
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.secret_string(), Some(r#"{"app_secret":"x"}"#));
}

#[tokio::test]
async fn a_table_or_queue_added_to_the_template_is_created_without_harness_changes() {
    let text = std::fs::read_to_string(Template::locate().unwrap()).unwrap();
    let extra = "Resources:
  ExtraTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{ AttributeName: id, AttributeType: N }]
      KeySchema: [{ AttributeName: id, KeyType: HASH }]
  ExtraQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 33
      RedrivePolicy: { deadLetterTargetArn: !GetAtt InboundDLQ.Arn, maxReceiveCount: 2 }
";
    assert!(text.contains("\nResources:\n"));
    let template =
        Template::parse(&text.replacen("\nResources:\n", &format!("\n{extra}"), 1)).unwrap();
    let aws = TestAws::provision_template(&template).await;

    let table = aws
        .dynamodb()
        .describe_table()
        .table_name(aws.table("ExtraTable"))
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.key_schema()[0].attribute_name, "id");
    let attributes = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(aws.queue_url("ExtraQueue"))
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "33");
    assert!(attributes[&QueueAttributeName::RedrivePolicy].contains(aws.queue_arn("InboundDLQ")));
}
