//! Property access for one resource of the template, shared by every resource reader:
//! scalars evaluated against the parameters' defaults, lists, nested mappings, and
//! [`Props::only`], which refuses a property that is neither read nor known to matter
//! only for a real deployment. Every error names the resource.

use yaml_serde::{Mapping, Value};

use super::intrinsics::{Defaults, Expr};
use super::{TemplateError, invalid, unsupported};

/// Property access for one resource, with errors that name it.
pub(super) struct Props<'a> {
    pub(super) id: &'a str,
    pub(super) map: &'a Mapping,
    pub(super) defaults: Defaults<'a>,
}

impl<'a> Props<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// Rejects properties that are neither understood nor deployment-only.
    pub(super) fn only(&self, known: &[&str], deploy_only: &[&str]) -> Result<(), TemplateError> {
        for key in self.map.keys() {
            let key = key.as_str().unwrap_or("<non-string key>");
            if !known.contains(&key) && !deploy_only.contains(&key) {
                return Err(unsupported(self.id, format!("property {key}")));
            }
        }
        Ok(())
    }

    pub(super) fn text_of(&self, value: &Value, what: &str) -> Result<String, TemplateError> {
        let at = format!("{}.{what}", self.id);
        Expr::parse(value, &at)?
            .evaluate(&self.defaults)
            .map_err(|e| invalid(self.id, format!("{what}: {e}")))
    }

    pub(super) fn text(&self, key: &str) -> Result<Option<String>, TemplateError> {
        self.get(key).map(|v| self.text_of(v, key)).transpose()
    }

    pub(super) fn number(&self, key: &str) -> Result<Option<u32>, TemplateError> {
        self.text(key)?
            .map(|s| {
                s.parse()
                    .map_err(|_| invalid(self.id, format!("{key} must be a whole number")))
            })
            .transpose()
    }

    pub(super) fn boolean(&self, key: &str) -> Result<Option<bool>, TemplateError> {
        self.text(key)?
            .map(|s| match s.as_str() {
                "true" | "True" => Ok(true),
                "false" | "False" => Ok(false),
                _ => Err(invalid(self.id, format!("{key} must be true or false"))),
            })
            .transpose()
    }

    pub(super) fn list(&self, key: &str) -> Result<&'a [Value], TemplateError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Sequence(items)) => Ok(items),
            Some(_) => Err(invalid(self.id, format!("{key} must be a list"))),
        }
    }

    pub(super) fn nested(&self, value: &'a Value, what: &str) -> Result<Props<'a>, TemplateError> {
        match value {
            Value::Mapping(map) => Ok(Props {
                id: self.id,
                map,
                defaults: Defaults(self.defaults.0),
            }),
            _ => Err(invalid(self.id, format!("{what} must be a mapping"))),
        }
    }
}
