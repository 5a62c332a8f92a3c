//! Reads the SAM template (template.yaml) into typed specs of the resources the local
//! AWS stack has to create: DynamoDB tables, SQS queues, KMS keys and aliases,
//! EventBridge buses, the environment every function gets from `Globals`, and the
//! functions themselves with the events that trigger them (HTTP API routes, SQS event
//! source mappings, schedules).
//!
//! This module is pure: it reads text and returns values, it never talks to AWS, so
//! the test harness and the local stack share one reading of the template instead of
//! repeating its wiring.
//!
//! Guarantees: every property of a supported resource either ends up in its spec or
//! is known to matter only for a real deployment (names, tags, backups, deletion
//! protection, key policies); anything else is an [`TemplateError::Unsupported`]
//! error, so a template change the local stack would silently ignore fails loudly.
//! Intrinsics are kept symbolic ([`Expr`]) wherever their value only exists once the
//! resources do (queue URLs, key ids) and resolved from parameter defaults wherever a
//! spec needs a plain value (a visibility timeout, a key attribute name).
//!
//! One file per concern: `intrinsics` (`!Ref`, `!GetAtt`, `!Sub`), the property
//! access every reader shares (`props`), then one reader per resource kind:
//! `tables`, `queues`, `keys` (KMS keys and aliases), `buckets`, `buses`, `functions`
//! (with their SQS event source mappings), `http_api` (routes and authorizers) and
//! `schedules`. Every spec is re-exported here, so callers name them
//! `template::TableSpec` whatever file reads them.

mod buckets;
mod buses;
mod functions;
mod http_api;
mod intrinsics;
mod keys;
mod props;
mod queues;
mod schedules;
mod tables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;
use yaml_serde::{Mapping, Value};

pub use buckets::{BucketSpec, LifecycleRule};
pub use buses::EventBusSpec;
pub use functions::{EventSpec, FunctionSpec, SqsMapping, Trigger};
pub use http_api::{HttpRoute, LambdaAuthorizer};
pub use intrinsics::{Expr, Resolve, SubPart};
pub use keys::{AliasSpec, KeySpec};
pub use queues::{QueueSpec, RedriveSpec};
pub use schedules::{ScheduleKind, ScheduleSpec};
pub use tables::{
    AttributeType, BillingMode, IndexSpec, KeySchema, Projection, TableSpec, Throughput,
};

use intrinsics::Defaults;
use props::Props;

/// Environment variable that names the template explicitly.
pub const TEMPLATE_ENV: &str = "RELAY_TEMPLATE";

/// Why the template could not be read into specs.
#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no template.yaml found in {start} or any parent directory (set {TEMPLATE_ENV})")]
    NotFound { start: PathBuf },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] yaml_serde::Error),
    #[error("template has no Resources mapping")]
    NoResources,
    #[error("{resource}: {message}")]
    Invalid { resource: String, message: String },
    #[error(
        "{resource}: {what} is not supported by the local AWS stack (infra/local-aws/src/template/)"
    )]
    Unsupported { resource: String, what: String },
    #[error("cannot resolve {reference}")]
    Unresolved { reference: String },
}

fn invalid(resource: &str, message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        resource: resource.to_owned(),
        message: message.into(),
    }
}

fn unsupported(resource: &str, what: impl Into<String>) -> TemplateError {
    TemplateError::Unsupported {
        resource: resource.to_owned(),
        what: what.into(),
    }
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSpec {
    pub name: String,
    /// `Default`, as text; `None` when the deployer must supply it.
    pub default: Option<String>,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    parameters: BTreeMap<String, ParameterSpec>,
    resources: BTreeMap<String, RawResource>,
    function_environment: BTreeMap<String, Expr>,
    /// `Globals.Function.Timeout`, unevaluated.
    function_timeout: Option<Value>,
}

#[derive(Debug, Clone)]
struct RawResource {
    kind: String,
    properties: Mapping,
    /// The resource's `Metadata` (SAM reads the build method of a function here).
    metadata: Option<Mapping>,
    condition: bool,
}

impl Template {
    /// Parses template text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let root: Value = yaml_serde::from_str(text)?;
        let parameters = match root.get("Parameters") {
            Some(Value::Mapping(map)) => map
                .iter()
                .filter_map(|(name, body)| Some((name.as_str()?.to_owned(), body)))
                .map(|(name, body)| {
                    let default = body
                        .get("Default")
                        .map(|v| Expr::parse(v, &name)?.evaluate(&Defaults(&BTreeMap::new())))
                        .transpose()?;
                    Ok((name.clone(), ParameterSpec { name, default }))
                })
                .collect::<Result<_, TemplateError>>()?,
            _ => BTreeMap::new(),
        };
        let Some(Value::Mapping(resources)) = root.get("Resources") else {
            return Err(TemplateError::NoResources);
        };
        let resources = resources
            .iter()
            .map(|(id, body)| {
                let id = id
                    .as_str()
                    .ok_or_else(|| invalid("Resources", "logical ids are strings"))?;
                let kind = body
                    .get("Type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(id, "Type missing"))?;
                let properties = match body.get("Properties") {
                    None => Mapping::new(),
                    Some(Value::Mapping(map)) => map.clone(),
                    Some(_) => return Err(invalid(id, "Properties must be a mapping")),
                };
                let metadata = match body.get("Metadata") {
                    None => None,
                    Some(Value::Mapping(map)) => Some(map.clone()),
                    Some(_) => return Err(invalid(id, "Metadata must be a mapping")),
                };
                let resource = RawResource {
                    kind: kind.to_owned(),
                    properties,
                    metadata,
                    condition: body.get("Condition").is_some(),
                };
                Ok((id.to_owned(), resource))
            })
            .collect::<Result<_, TemplateError>>()?;
        let globals = root.get("Globals").and_then(|g| g.get("Function"));
        let function_environment = environment_variables(
            globals
                .and_then(|f| f.get("Environment"))
                .and_then(|e| e.get("Variables")),
            "Globals",
        )?;
        let function_timeout = globals.and_then(|f| f.get("Timeout")).cloned();
        Ok(Template {
            parameters,
            resources,
            function_environment,
            function_timeout,
        })
    }

    /// Reads and parses the template at `path`.
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        Template::parse(&text)
    }

    /// The project's template: `$RELAY_TEMPLATE` if set, else the first `template.yaml`
    /// found walking up from this crate's directory.
    pub fn locate() -> Result<PathBuf, TemplateError> {
        if let Some(path) = std::env::var_os(TEMPLATE_ENV) {
            return Ok(PathBuf::from(path));
        }
        let start = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        start
            .ancestors()
            .map(|dir| dir.join("template.yaml"))
            .find(|candidate| candidate.is_file())
            .ok_or(TemplateError::NotFound { start })
    }

    /// Loads the project's template (see [`Template::locate`]).
    pub fn project() -> Result<Template, TemplateError> {
        Template::load(&Template::locate()?)
    }

    pub fn parameters(&self) -> impl Iterator<Item = &ParameterSpec> {
        self.parameters.values()
    }

    /// The CloudFormation type of a resource, by logical id.
    pub fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resources.get(logical_id).map(|r| r.kind.as_str())
    }

    /// `Globals.Function.Environment.Variables`: what every function is given.
    pub fn function_environment(&self) -> &BTreeMap<String, Expr> {
        &self.function_environment
    }

    /// Resources of one type, each with property access; resources created only under
    /// a condition are refused because the local stack has no conditions to evaluate.
    fn of_type<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = Result<Props<'a>, TemplateError>> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r.kind == kind)
            .map(|(id, r)| {
                if r.condition {
                    return Err(unsupported(id, "Condition on a resource"));
                }
                Ok(Props {
                    id,
                    map: &r.properties,
                    defaults: Defaults(&self.parameters),
                })
            })
    }
}

/// `Variables` of an `Environment`: name -> expression.
fn environment_variables(
    value: Option<&Value>,
    at: &str,
) -> Result<BTreeMap<String, Expr>, TemplateError> {
    match value {
        None => Ok(BTreeMap::new()),
        Some(Value::Mapping(vars)) => vars
            .iter()
            .map(|(name, value)| {
                let name = name
                    .as_str()
                    .ok_or_else(|| invalid(at, "variable names are strings"))?;
                Ok((name.to_owned(), Expr::parse(value, name)?))
            })
            .collect(),
        Some(_) => Err(invalid(at, "Environment.Variables must be a mapping")),
    }
}

/// The repository's template.yaml, which the tests of every reader check.
#[cfg(test)]
fn project() -> Template {
    Template::project().expect("template.yaml of the repository parses into specs")
}
