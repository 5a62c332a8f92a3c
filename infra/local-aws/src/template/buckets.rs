//! `AWS::S3::Bucket`: the buckets to create and the lifecycle rules applied to them
//! (which objects expire, by tag or key prefix, and when). Access, encryption and CORS
//! settings are deployment-only.

use super::props::Props;
use super::{Template, TemplateError, invalid, unsupported};

/// One rule of a bucket's `LifecycleConfiguration`: objects it selects (by tag or key
/// prefix) expire this many days after they were created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRule {
    pub id: String,
    pub prefix: Option<String>,
    /// `TagFilters` (key, value): an object must carry every one.
    pub tags: Vec<(String, String)>,
    pub expiration_days: u32,
    pub abort_multipart_days: Option<u32>,
}

/// An `AWS::S3::Bucket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub logical_id: String,
    pub lifecycle: Vec<LifecycleRule>,
}

impl Template {
    /// Every `AWS::S3::Bucket`, with the lifecycle rules the local stack applies (access,
    /// encryption and CORS settings are deployment-only: moto has no use for them).
    pub fn buckets(&self) -> Result<Vec<BucketSpec>, TemplateError> {
        self.of_type("AWS::S3::Bucket")
            .map(|props| {
                let p = props?;
                p.only(
                    &["LifecycleConfiguration"],
                    &[
                        "BucketName",
                        "BucketEncryption",
                        "CorsConfiguration",
                        "OwnershipControls",
                        "PublicAccessBlockConfiguration",
                        "Tags",
                        "VersioningConfiguration",
                    ],
                )?;
                let mut lifecycle = Vec::new();
                if let Some(config) = p.get("LifecycleConfiguration") {
                    let config = p.nested(config, "LifecycleConfiguration")?;
                    config.only(&["Rules"], &[])?;
                    for rule in config.list("Rules")? {
                        lifecycle.push(lifecycle_rule(&config.nested(rule, "a lifecycle rule")?)?);
                    }
                }
                Ok(BucketSpec {
                    logical_id: p.id.to_owned(),
                    lifecycle,
                })
            })
            .collect()
    }
}

/// One rule of a `LifecycleConfiguration`; only enabled rules with an expiry are read.
fn lifecycle_rule(rule: &Props<'_>) -> Result<LifecycleRule, TemplateError> {
    rule.only(
        &[
            "Id",
            "Status",
            "Prefix",
            "TagFilters",
            "ExpirationInDays",
            "AbortIncompleteMultipartUpload",
        ],
        &[],
    )?;
    let id = rule
        .text("Id")?
        .ok_or_else(|| invalid(rule.id, "a lifecycle rule needs an Id"))?;
    if rule.text("Status")?.as_deref() != Some("Enabled") {
        return Err(unsupported(
            rule.id,
            format!("lifecycle rule {id} that is not Enabled"),
        ));
    }
    let expiration_days = rule.number("ExpirationInDays")?.ok_or_else(|| {
        invalid(
            rule.id,
            format!("lifecycle rule {id} needs ExpirationInDays"),
        )
    })?;
    let mut tags = Vec::new();
    for filter in rule.list("TagFilters")? {
        let filter = rule.nested(filter, "a tag filter")?;
        filter.only(&["Key", "Value"], &[])?;
        let (Some(key), Some(value)) = (filter.text("Key")?, filter.text("Value")?) else {
            return Err(invalid(
                rule.id,
                format!("a tag filter of {id} needs Key and Value"),
            ));
        };
        tags.push((key, value));
    }
    let abort_multipart_days = match rule.get("AbortIncompleteMultipartUpload") {
        None => None,
        Some(value) => rule
            .nested(value, "AbortIncompleteMultipartUpload")?
            .number("DaysAfterInitiation")?,
    };
    Ok(LifecycleRule {
        id,
        prefix: rule.text("Prefix")?,
        tags,
        expiration_days,
        abort_multipart_days,
    })
}

#[cfg(test)]
mod tests {
    use crate::template::project;

    #[test]
    fn uploaded_media_expire_by_their_tag_and_nothing_is_kept_forever() {
        let buckets = project().buckets().unwrap();
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].logical_id, "MediaBucket");
        let rule = |id: &str| {
            buckets[0]
                .lifecycle
                .iter()
                .find(|r| r.id == id)
                .cloned()
                .unwrap_or_else(|| panic!("no lifecycle rule {id}"))
        };
        // The tag values are the ones the code writes (relay::publishing::upload).
        let never_used = rule("NeverUsed");
        assert_eq!(never_used.tags, [("relay-state".into(), "pending".into())]);
        assert_eq!(never_used.expiration_days, 7);
        let over = rule("PostOver");
        assert_eq!(over.tags, [("relay-state".into(), "done".into())]);
        assert_eq!(over.expiration_days, 1);
        let everything = rule("Everything");
        assert_eq!(everything.prefix.as_deref(), Some("uploads/"));
        assert!(everything.tags.is_empty());
        // Longer than the furthest a post may be scheduled (365 days).
        assert!(everything.expiration_days > 365);
        assert_eq!(everything.abort_multipart_days, Some(1));
    }
}
