//! The audit trail against DynamoDB (moto): concurrent appends form one chain, and any
//! edit, deletion or reordering is reported at the right position.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use relay::audit::{AuditEntry, AuditTrail, BreakKind};
use relay::ids::TenantId;
use relay_tests::TestAws;
use serde_json::json;

fn key(tenant: &str, seq: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".into(), AttributeValue::S(format!("T#{tenant}"))),
        ("sk".into(), AttributeValue::S(format!("SEQ#{seq:020}"))),
    ])
}

async fn trail_with(aws: &TestAws, tenant: &TenantId, n: u64) -> AuditTrail {
    let trail = AuditTrail::new(aws.dynamodb(), aws.tables.audit.clone());
    for i in 0..n {
        trail
            .append(
                tenant,
                AuditEntry::new("system:test", "thing.done").details(json!({"i": i})),
            )
            .await
            .unwrap();
    }
    trail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_appends_form_one_unbroken_chain() {
    let aws = TestAws::provision().await;
    // Four writers stand for four function instances (each its own client); two tasks
    // each keep appending at the same time.
    let writers: Vec<_> = (0..4)
        .map(|_| AuditTrail::new(aws.dynamodb(), aws.tables.audit.clone()))
        .collect();
    let trail = writers[0].clone();
    let tenant = TenantId::parse("acme").unwrap();
    let started = std::time::Instant::now();
    let results: Vec<_> = futures::stream::iter(0..1_000)
        .map(|i| {
            let (trail, tenant) = (writers[i % writers.len()].clone(), tenant.clone());
            async move {
                trail
                    .append(
                        &tenant,
                        AuditEntry::new("system:test", "load.append").details(json!({"i": i})),
                    )
                    .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        failed,
        0,
        "appends failed: {:?}",
        results.iter().find(|r| r.is_err())
    );
    let verification = trail.verify(&tenant).await.unwrap();
    println!(
        "1,000 appends from 4 writers x 2 tasks in {:?}",
        started.elapsed()
    );
    assert!(verification.is_intact(), "chain broken: {verification:?}");
    assert_eq!(
        verification.records_checked, 1_000,
        "records lost or forked"
    );
    assert_eq!(verification.head_seq, 1_000);
    let mut payloads: Vec<_> = trail
        .records(&tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.details)
        .collect();
    payloads.sort();
    payloads.dedup();
    assert_eq!(payloads.len(), 1_000, "an append was lost or stored twice");
}

#[tokio::test]
async fn an_edited_record_is_reported_at_its_position() {
    let aws = TestAws::provision().await;
    let tenant = TenantId::parse("acme").unwrap();
    let trail = trail_with(&aws, &tenant, 10).await;
    aws.dynamodb()
        .update_item()
        .table_name(&aws.tables.audit)
        .set_key(Some(key("acme", 4)))
        .update_expression("SET #a = :a")
        .expression_attribute_names("#a", "action")
        .expression_attribute_values(":a", AttributeValue::S("thing.undone".into()))
        .send()
        .await
        .unwrap();
    let broken = trail
        .verify(&tenant)
        .await
        .unwrap()
        .first_break
        .expect("edit not detected");
    assert_eq!((broken.seq, broken.kind), (4, BreakKind::Altered));
}

#[tokio::test]
async fn a_deleted_record_is_reported_at_its_position() {
    let aws = TestAws::provision().await;
    let tenant = TenantId::parse("acme").unwrap();
    let trail = trail_with(&aws, &tenant, 10).await;
    aws.dynamodb()
        .delete_item()
        .table_name(&aws.tables.audit)
        .set_key(Some(key("acme", 7)))
        .send()
        .await
        .unwrap();
    let broken = trail
        .verify(&tenant)
        .await
        .unwrap()
        .first_break
        .expect("deletion not detected");
    assert_eq!((broken.seq, broken.kind), (7, BreakKind::Missing));
}

#[tokio::test]
async fn two_records_swapped_in_order_are_reported_at_the_first_of_them() {
    let aws = TestAws::provision().await;
    let tenant = TenantId::parse("acme").unwrap();
    let trail = trail_with(&aws, &tenant, 10).await;
    let read = |seq: u64| {
        let aws = &aws;
        async move {
            aws.dynamodb()
                .get_item()
                .table_name(&aws.tables.audit)
                .set_key(Some(key("acme", seq)))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .expect("the record exists")
        }
    };
    let (third, fourth) = (read(3).await, read(4).await);
    // Each record's content moves to the other's position: every record is intact on
    // its own, only the order is changed.
    for (content, seq) in [(fourth, 3), (third, 4)] {
        let mut item = content;
        item.extend(key("acme", seq));
        aws.dynamodb()
            .put_item()
            .table_name(&aws.tables.audit)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let broken = trail
        .verify(&tenant)
        .await
        .unwrap()
        .first_break
        .expect("the reordering is detected");
    assert_eq!(broken.seq, 3, "{broken:?}");
    // Position 3 now holds record 4 (its own sequence number says so): record 3 is
    // missing from its place, or the content there does not belong, or does not link.
    assert!(
        matches!(
            broken.kind,
            BreakKind::Missing | BreakKind::Altered | BreakKind::Unlinked
        ),
        "{broken:?}"
    );
}

#[tokio::test]
async fn a_deleted_last_record_is_reported() {
    let aws = TestAws::provision().await;
    let tenant = TenantId::parse("acme").unwrap();
    let trail = trail_with(&aws, &tenant, 5).await;
    aws.dynamodb()
        .delete_item()
        .table_name(&aws.tables.audit)
        .set_key(Some(key("acme", 5)))
        .send()
        .await
        .unwrap();
    let broken = trail
        .verify(&tenant)
        .await
        .unwrap()
        .first_break
        .expect("tail deletion not detected");
    assert_eq!((broken.seq, broken.kind), (5, BreakKind::HeadMismatch));
}

#[tokio::test]
async fn tenants_have_separate_chains() {
    let aws = TestAws::provision().await;
    let (a, b) = (
        TenantId::parse("acme").unwrap(),
        TenantId::parse("globex").unwrap(),
    );
    let trail = trail_with(&aws, &a, 3).await;
    trail
        .append(&b, AuditEntry::new("system:test", "x"))
        .await
        .unwrap();
    assert_eq!(trail.verify(&a).await.unwrap().records_checked, 3);
    let vb = trail.verify(&b).await.unwrap();
    assert!(vb.is_intact());
    assert_eq!(vb.records_checked, 1);
}
