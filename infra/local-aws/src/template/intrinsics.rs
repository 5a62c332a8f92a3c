//! CloudFormation's intrinsic functions as the template uses them: `!Ref`, `!GetAtt` and
//! `!Sub`, in their short (`!Ref X`) and long (`{ Ref: X }`) forms. They stay symbolic
//! ([`Expr`]) until a [`Resolve`] supplies the values of what they refer to: the
//! parameters' defaults while reading the template, the created resources afterwards.
//! Any other intrinsic is refused by name.

use std::collections::BTreeMap;

use yaml_serde::{Mapping, Value};

use super::{ParameterSpec, TemplateError, invalid, unsupported};

/// A template value that may depend on parameters or on other resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A plain scalar (strings, numbers and booleans all as text).
    Literal(String),
    /// `!Ref Name`: a parameter, a pseudo parameter or a resource.
    Ref(String),
    /// `!GetAtt Resource.Attribute`.
    GetAtt { resource: String, attribute: String },
    /// `!Sub`: text with `${...}` parts substituted.
    Sub(Vec<SubPart>),
}

/// One piece of a `!Sub` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubPart {
    Text(String),
    Expr(Expr),
}

/// Supplies the values of references when an [`Expr`] is evaluated.
pub trait Resolve {
    /// Value of `!Ref name`, or `None` if unknown.
    fn reference(&self, name: &str) -> Option<String>;
    /// Value of `!GetAtt resource.attribute`, or `None` if unknown.
    fn attribute(&self, resource: &str, attribute: &str) -> Option<String>;
}

impl Expr {
    /// Parses a YAML value written in either the short (`!Ref X`) or the long
    /// (`{ Ref: X }`) intrinsic form. `at` names the place for error messages.
    pub fn parse(value: &Value, at: &str) -> Result<Expr, TemplateError> {
        match value {
            Value::String(s) => Ok(Expr::Literal(s.clone())),
            Value::Number(n) => Ok(Expr::Literal(n.to_string())),
            Value::Bool(b) => Ok(Expr::Literal(b.to_string())),
            Value::Tagged(tagged) => {
                let name = tagged.tag.to_string();
                let name = name.trim_start_matches('!');
                Self::intrinsic(name, &tagged.value, at)
            }
            Value::Mapping(map) if map.len() == 1 => {
                let (key, inner) = map.iter().next().expect("mapping has exactly one entry");
                match key.as_str() {
                    Some("Ref") => Self::intrinsic("Ref", inner, at),
                    Some(long) if long.starts_with("Fn::") => {
                        Self::intrinsic(&long["Fn::".len()..], inner, at)
                    }
                    _ => Err(invalid(at, "expected a scalar or an intrinsic function")),
                }
            }
            _ => Err(invalid(at, "expected a scalar or an intrinsic function")),
        }
    }

    fn intrinsic(name: &str, arg: &Value, at: &str) -> Result<Expr, TemplateError> {
        match name {
            "Ref" => arg
                .as_str()
                .map(|s| Expr::Ref(s.to_owned()))
                .ok_or_else(|| invalid(at, "Ref takes a name")),
            "GetAtt" => {
                let (resource, attribute) = match arg {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(r, a)| (r.to_owned(), a.to_owned()))
                        .ok_or_else(|| invalid(at, "GetAtt takes Resource.Attribute"))?,
                    Value::Sequence(items) if items.len() == 2 => {
                        match (items[0].as_str(), items[1].as_str()) {
                            (Some(r), Some(a)) => (r.to_owned(), a.to_owned()),
                            _ => return Err(invalid(at, "GetAtt takes [Resource, Attribute]")),
                        }
                    }
                    _ => return Err(invalid(at, "GetAtt takes Resource.Attribute")),
                };
                Ok(Expr::GetAtt {
                    resource,
                    attribute,
                })
            }
            "Sub" => {
                let (text, vars) = match arg {
                    Value::String(s) => (s.as_str(), None),
                    Value::Sequence(items) if items.len() == 2 => match (&items[0], &items[1]) {
                        (Value::String(s), Value::Mapping(vars)) => (s.as_str(), Some(vars)),
                        _ => return Err(invalid(at, "Sub takes [String, {Var: Value}]")),
                    },
                    _ => return Err(invalid(at, "Sub takes a string")),
                };
                parse_sub(text, vars, at).map(Expr::Sub)
            }
            other => Err(unsupported(at, format!("intrinsic function {other}"))),
        }
    }

    /// Computes the value, asking `resolver` for every reference.
    pub fn evaluate(&self, resolver: &impl Resolve) -> Result<String, TemplateError> {
        match self {
            Expr::Literal(s) => Ok(s.clone()),
            Expr::Ref(name) => resolver
                .reference(name)
                .ok_or_else(|| TemplateError::Unresolved {
                    reference: name.clone(),
                }),
            Expr::GetAtt {
                resource,
                attribute,
            } => resolver
                .attribute(resource, attribute)
                .ok_or_else(|| TemplateError::Unresolved {
                    reference: format!("{resource}.{attribute}"),
                }),
            Expr::Sub(parts) => parts
                .iter()
                .map(|part| match part {
                    SubPart::Text(text) => Ok(text.clone()),
                    SubPart::Expr(expr) => expr.evaluate(resolver),
                })
                .collect(),
        }
    }

    /// The names this expression refers to with `!Ref` (directly or inside `!Sub`).
    pub fn references(&self) -> Vec<&str> {
        match self {
            Expr::Literal(_) => Vec::new(),
            Expr::Ref(name) => vec![name.as_str()],
            Expr::GetAtt { resource, .. } => vec![resource.as_str()],
            Expr::Sub(parts) => parts
                .iter()
                .flat_map(|part| match part {
                    SubPart::Text(_) => Vec::new(),
                    SubPart::Expr(expr) => expr.references(),
                })
                .collect(),
        }
    }
}

/// Splits a `!Sub` string into text and references. `${!x}` is the escape CloudFormation
/// uses for a literal `${x}`.
fn parse_sub(text: &str, vars: Option<&Mapping>, at: &str) -> Result<Vec<SubPart>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = text;
    let mut literal = String::new();
    while let Some(start) = rest.find("${") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(at, "unterminated ${ in Sub"))?;
        let name = after[..end].trim();
        rest = &after[end + 1..];
        if let Some(escaped) = name.strip_prefix('!') {
            literal.push_str("${");
            literal.push_str(escaped);
            literal.push('}');
            continue;
        }
        if !literal.is_empty() {
            parts.push(SubPart::Text(std::mem::take(&mut literal)));
        }
        let expr = match vars.and_then(|vars| vars.get(name)) {
            Some(value) => Expr::parse(value, at)?,
            None => match name.split_once('.') {
                Some((resource, attribute)) => Expr::GetAtt {
                    resource: resource.to_owned(),
                    attribute: attribute.to_owned(),
                },
                None => Expr::Ref(name.to_owned()),
            },
        };
        parts.push(SubPart::Expr(expr));
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(SubPart::Text(literal));
    }
    Ok(parts)
}

/// Resolves references from parameter defaults only: what a spec field that needs
/// a plain value (a number, a key name) may depend on.
pub(super) struct Defaults<'a>(pub(super) &'a BTreeMap<String, ParameterSpec>);

impl Resolve for Defaults<'_> {
    fn reference(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|p| p.default.clone())
    }
    fn attribute(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_splits_references_attributes_and_escapes() {
        let value: Value =
            yaml_serde::from_str("!Sub 'a-${Stage}-${Q.Arn}-${!Literal}-${AWS::Region}'").unwrap();
        let expr = Expr::parse(&value, "test").unwrap();
        struct R;
        impl Resolve for R {
            fn reference(&self, name: &str) -> Option<String> {
                match name {
                    "Stage" => Some("dev".into()),
                    "AWS::Region" => Some("us-east-1".into()),
                    _ => None,
                }
            }
            fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
                (resource == "Q" && attribute == "Arn").then(|| "arn:q".into())
            }
        }
        assert_eq!(
            expr.evaluate(&R).unwrap(),
            "a-dev-arn:q-${Literal}-us-east-1"
        );
        assert_eq!(expr.references(), vec!["Stage", "Q", "AWS::Region"]);
        let unresolved = Expr::Ref("Nope".into()).evaluate(&R).unwrap_err();
        assert!(matches!(unresolved, TemplateError::Unresolved { .. }));
    }
}
