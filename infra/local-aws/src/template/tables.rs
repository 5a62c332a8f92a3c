//! `AWS::DynamoDB::Table`: key schema, attribute types, billing, secondary indexes,
//! TTL and streams. DynamoDB's own rule that key attributes and attribute definitions
//! match exactly is checked here, so a template mistake fails before moto sees it.

use std::collections::BTreeMap;

use yaml_serde::Value;

use super::props::Props;
use super::{Template, TemplateError, invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Number,
    Binary,
}

impl AttributeType {
    /// The DynamoDB wire name (S, N, B).
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "S",
            AttributeType::Number => "N",
            AttributeType::Binary => "B",
        }
    }
}

/// Hash key and optional range key of a table or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    pub hash: String,
    pub range: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

/// Read and write capacity units, for tables and indexes in PROVISIONED mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throughput {
    pub read: i64,
    pub write: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: KeySchema,
    pub projection: Projection,
    pub throughput: Option<Throughput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingMode {
    PayPerRequest,
    Provisioned(Throughput),
}

/// An `AWS::DynamoDB::Table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    pub billing: BillingMode,
    /// Attribute name -> type, for every key attribute of the table and its indexes.
    pub attributes: BTreeMap<String, AttributeType>,
    pub key_schema: KeySchema,
    pub global_indexes: Vec<IndexSpec>,
    pub local_indexes: Vec<IndexSpec>,
    /// Attribute that holds the expiry time, when TTL is enabled.
    pub ttl_attribute: Option<String>,
    /// StreamViewType, when a stream is enabled.
    pub stream_view: Option<String>,
}

impl Template {
    /// Every `AWS::DynamoDB::Table`.
    pub fn tables(&self) -> Result<Vec<TableSpec>, TemplateError> {
        self.of_type("AWS::DynamoDB::Table")
            .map(|props| {
                let p = props?;
                p.only(
                    &[
                        "AttributeDefinitions",
                        "BillingMode",
                        "GlobalSecondaryIndexes",
                        "KeySchema",
                        "LocalSecondaryIndexes",
                        "ProvisionedThroughput",
                        "StreamSpecification",
                        "TimeToLiveSpecification",
                    ],
                    &[
                        "TableName",
                        "Tags",
                        "DeletionProtectionEnabled",
                        "PointInTimeRecoverySpecification",
                        "SSESpecification",
                        "ContributorInsightsSpecification",
                        "TableClass",
                    ],
                )?;
                let attributes = p
                    .list("AttributeDefinitions")?
                    .iter()
                    .map(|item| {
                        let a = p.nested(item, "AttributeDefinitions")?;
                        let name = a
                            .text("AttributeName")?
                            .ok_or_else(|| invalid(p.id, "AttributeName missing"))?;
                        let kind = match a.text("AttributeType")?.as_deref() {
                            Some("S") => AttributeType::String,
                            Some("N") => AttributeType::Number,
                            Some("B") => AttributeType::Binary,
                            _ => return Err(invalid(p.id, "AttributeType is S, N or B")),
                        };
                        Ok((name, kind))
                    })
                    .collect::<Result<BTreeMap<_, _>, TemplateError>>()?;
                let billing = match p.text("BillingMode")?.as_deref() {
                    Some("PAY_PER_REQUEST") => BillingMode::PayPerRequest,
                    None | Some("PROVISIONED") => BillingMode::Provisioned(
                        p.throughput("ProvisionedThroughput")?.ok_or_else(|| {
                            invalid(p.id, "PROVISIONED billing needs ProvisionedThroughput")
                        })?,
                    ),
                    Some(other) => return Err(invalid(p.id, format!("BillingMode {other}"))),
                };
                let global_indexes = p
                    .list("GlobalSecondaryIndexes")?
                    .iter()
                    .map(|v| p.index(v, "GlobalSecondaryIndexes"))
                    .collect::<Result<Vec<_>, _>>()?;
                let local_indexes = p
                    .list("LocalSecondaryIndexes")?
                    .iter()
                    .map(|v| p.index(v, "LocalSecondaryIndexes"))
                    .collect::<Result<Vec<_>, _>>()?;
                let ttl_attribute = match p.get("TimeToLiveSpecification") {
                    None => None,
                    Some(v) => {
                        let ttl = p.nested(v, "TimeToLiveSpecification")?;
                        if ttl.boolean("Enabled")?.unwrap_or(false) {
                            Some(ttl.text("AttributeName")?.ok_or_else(|| {
                                invalid(p.id, "TimeToLiveSpecification.AttributeName missing")
                            })?)
                        } else {
                            None
                        }
                    }
                };
                let stream_view = match p.get("StreamSpecification") {
                    None => None,
                    Some(v) => p.nested(v, "StreamSpecification")?.text("StreamViewType")?,
                };
                let key_schema = p.key_schema(p.get("KeySchema"), "KeySchema")?;
                let table = TableSpec {
                    logical_id: p.id.to_owned(),
                    billing,
                    attributes,
                    key_schema,
                    global_indexes,
                    local_indexes,
                    ttl_attribute,
                    stream_view,
                };
                check_key_attributes(&table)?;
                Ok(table)
            })
            .collect()
    }
}

impl<'a> Props<'a> {
    fn key_schema(&self, value: Option<&'a Value>, what: &str) -> Result<KeySchema, TemplateError> {
        let Some(Value::Sequence(items)) = value else {
            return Err(invalid(self.id, format!("{what} must be a list")));
        };
        let (mut hash, mut range) = (None, None);
        for item in items {
            let element = self.nested(item, what)?;
            let name = element
                .text("AttributeName")?
                .ok_or_else(|| invalid(self.id, format!("{what}: AttributeName missing")))?;
            let slot = match element.text("KeyType")?.as_deref() {
                Some("HASH") => &mut hash,
                Some("RANGE") => &mut range,
                _ => {
                    return Err(invalid(
                        self.id,
                        format!("{what}: KeyType is HASH or RANGE"),
                    ));
                }
            };
            if slot.replace(name).is_some() {
                return Err(invalid(self.id, format!("{what}: key type given twice")));
            }
        }
        Ok(KeySchema {
            hash: hash.ok_or_else(|| invalid(self.id, format!("{what}: no HASH key")))?,
            range,
        })
    }

    fn throughput(&self, key: &str) -> Result<Option<Throughput>, TemplateError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let t = self.nested(value, key)?;
        let units = |k: &str| -> Result<i64, TemplateError> {
            t.number(k)?
                .map(i64::from)
                .ok_or_else(|| invalid(self.id, format!("{key}.{k} missing")))
        };
        Ok(Some(Throughput {
            read: units("ReadCapacityUnits")?,
            write: units("WriteCapacityUnits")?,
        }))
    }

    fn index(&self, value: &'a Value, what: &str) -> Result<IndexSpec, TemplateError> {
        let index = self.nested(value, what)?;
        index.only(
            &[
                "IndexName",
                "KeySchema",
                "Projection",
                "ProvisionedThroughput",
            ],
            &["ContributorInsightsSpecification"],
        )?;
        let name = index
            .text("IndexName")?
            .ok_or_else(|| invalid(self.id, format!("{what}: IndexName missing")))?;
        let projection = match index.get("Projection") {
            None => Projection::All,
            Some(p) => {
                let p = index.nested(p, "Projection")?;
                let non_key = p
                    .list("NonKeyAttributes")?
                    .iter()
                    .map(|v| p.text_of(v, "NonKeyAttributes"))
                    .collect::<Result<Vec<_>, _>>()?;
                match p.text("ProjectionType")?.as_deref() {
                    None | Some("ALL") => Projection::All,
                    Some("KEYS_ONLY") => Projection::KeysOnly,
                    Some("INCLUDE") => Projection::Include(non_key),
                    Some(other) => {
                        return Err(invalid(self.id, format!("unknown ProjectionType {other}")));
                    }
                }
            }
        };
        Ok(IndexSpec {
            key_schema: index.key_schema(index.get("KeySchema"), &format!("{name}.KeySchema"))?,
            name,
            projection,
            throughput: index.throughput("ProvisionedThroughput")?,
        })
    }
}

/// DynamoDB rejects a table whose key attributes are not all defined (and whose
/// definitions include attributes no key uses); the template must agree with it.
fn check_key_attributes(table: &TableSpec) -> Result<(), TemplateError> {
    let mut used: Vec<&str> = Vec::new();
    let schemas = std::iter::once(&table.key_schema).chain(
        table
            .global_indexes
            .iter()
            .chain(&table.local_indexes)
            .map(|i| &i.key_schema),
    );
    for schema in schemas {
        used.push(&schema.hash);
        used.extend(schema.range.as_deref());
    }
    for name in &used {
        if !table.attributes.contains_key(*name) {
            return Err(invalid(
                &table.logical_id,
                format!("key attribute {name} has no AttributeDefinition"),
            ));
        }
    }
    if let Some(unused) = table
        .attributes
        .keys()
        .find(|a| !used.contains(&a.as_str()))
    {
        return Err(invalid(
            &table.logical_id,
            format!("AttributeDefinition {unused} is not used by any key"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::project;

    #[test]
    fn main_table_has_the_key_design_the_store_relies_on() {
        let tables = project().tables().unwrap();
        let main = tables.iter().find(|t| t.logical_id == "MainTable").unwrap();
        assert_eq!(main.billing, BillingMode::PayPerRequest);
        assert_eq!(
            main.key_schema,
            KeySchema {
                hash: "pk".into(),
                range: Some("sk".into())
            }
        );
        let gsis: Vec<_> = main
            .global_indexes
            .iter()
            .map(|i| (i.name.as_str(), i.key_schema.clone(), i.projection.clone()))
            .collect();
        assert_eq!(
            gsis,
            vec![
                (
                    "gsi1",
                    KeySchema {
                        hash: "gsi1pk".into(),
                        range: Some("gsi1sk".into())
                    },
                    Projection::All
                ),
                (
                    "gsi2",
                    KeySchema {
                        hash: "gsi2pk".into(),
                        range: Some("gsi2sk".into())
                    },
                    Projection::All
                ),
            ]
        );
        assert_eq!(main.ttl_attribute.as_deref(), Some("ttl"));
        assert!(
            main.attributes
                .values()
                .all(|t| *t == AttributeType::String)
        );
    }

    #[test]
    fn audit_records_never_expire_and_archived_payloads_do() {
        let tables = project().tables().unwrap();
        let ttl = |id: &str| {
            tables
                .iter()
                .find(|t| t.logical_id == id)
                .unwrap_or_else(|| panic!("{id} is in the template"))
                .ttl_attribute
                .clone()
        };
        assert_eq!(ttl("AuditTable"), None);
        assert_eq!(ttl("ArchiveTable").as_deref(), Some("ttl"));
        assert_eq!(tables.len(), 3);
    }

    #[test]
    fn key_attributes_must_match_their_definitions() {
        let text = r#"
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }, { AttributeName: sk, KeyType: RANGE }]
"#;
        let err = Template::parse(text).unwrap().tables().unwrap_err();
        assert!(err.to_string().contains("sk"), "{err}");
    }
}
