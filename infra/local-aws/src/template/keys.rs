//! `AWS::KMS::Key` and `AWS::KMS::Alias`: the keys to create and the aliases that
//! point at them (an alias of a key outside the template is refused).

use super::intrinsics::Expr;
use super::{Template, TemplateError, invalid, unsupported};

/// An `AWS::KMS::Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub logical_id: String,
    /// `KeySpec`, e.g. SYMMETRIC_DEFAULT.
    pub key_spec: String,
    /// `KeyUsage`, e.g. ENCRYPT_DECRYPT.
    pub key_usage: String,
    pub rotation: bool,
    pub enabled: bool,
}

/// An `AWS::KMS::Alias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    pub logical_id: String,
    /// Logical id of the key the alias points at.
    pub target_key: String,
}

impl Template {
    /// Every `AWS::KMS::Key`.
    pub fn keys(&self) -> Result<Vec<KeySpec>, TemplateError> {
        self.of_type("AWS::KMS::Key")
            .map(|props| {
                let p = props?;
                p.only(
                    &["Enabled", "EnableKeyRotation", "KeySpec", "KeyUsage"],
                    &[
                        "Description",
                        "KeyPolicy",
                        "PendingWindowInDays",
                        "Tags",
                        "MultiRegion",
                        "BypassPolicyLockoutSafetyCheck",
                        "RotationPeriodInDays",
                    ],
                )?;
                Ok(KeySpec {
                    logical_id: p.id.to_owned(),
                    key_spec: p
                        .text("KeySpec")?
                        .unwrap_or_else(|| "SYMMETRIC_DEFAULT".into()),
                    key_usage: p
                        .text("KeyUsage")?
                        .unwrap_or_else(|| "ENCRYPT_DECRYPT".into()),
                    rotation: p.boolean("EnableKeyRotation")?.unwrap_or(false),
                    enabled: p.boolean("Enabled")?.unwrap_or(true),
                })
            })
            .collect()
    }

    /// Every `AWS::KMS::Alias` that points at a key of this template.
    pub fn aliases(&self) -> Result<Vec<AliasSpec>, TemplateError> {
        self.of_type("AWS::KMS::Alias")
            .map(|props| {
                let p = props?;
                p.only(&["TargetKeyId"], &["AliasName"])?;
                let target = p
                    .get("TargetKeyId")
                    .ok_or_else(|| invalid(p.id, "TargetKeyId missing"))?;
                let target_key = match Expr::parse(target, p.id)? {
                    Expr::Ref(key) | Expr::GetAtt { resource: key, .. }
                        if self.resource_type(&key) == Some("AWS::KMS::Key") =>
                    {
                        key
                    }
                    _ => return Err(unsupported(p.id, "an alias of a key outside the template")),
                };
                Ok(AliasSpec {
                    logical_id: p.id.to_owned(),
                    target_key,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::EventBusSpec;
    use crate::template::project;

    #[test]
    fn token_key_rotates_and_bus_exists() {
        let template = project();
        let keys = template.keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].logical_id, "TokenKey");
        assert_eq!(keys[0].key_spec, "SYMMETRIC_DEFAULT");
        assert!(keys[0].rotation);
        assert_eq!(
            template.aliases().unwrap(),
            vec![AliasSpec {
                logical_id: "TokenKeyAlias".into(),
                target_key: "TokenKey".into()
            }]
        );
        assert_eq!(
            template.event_buses().unwrap(),
            vec![EventBusSpec {
                logical_id: "EventBus".into()
            }]
        );
    }
}
