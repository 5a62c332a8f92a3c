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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};
use thiserror::Error;

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
        "{resource}: {what} is not supported by the local AWS stack (infra/local-aws/src/template.rs)"
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

// ------------------------------------------------------------------ expressions

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

// ------------------------------------------------------------------ specs

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSpec {
    pub name: String,
    /// `Default`, as text; `None` when the deployer must supply it.
    pub default: Option<String>,
}

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

/// An `AWS::Events::EventBus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBusSpec {
    pub logical_id: String,
}

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

/// An `AWS::Serverless::Function`: one binary of the Cargo workspace, the environment
/// it gets on top of `Globals`, and the events that trigger it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the workspace binary, which is also the name
    /// cargo-lambda serves the function under.
    pub binary: String,
    /// The function's own `Environment.Variables` (added to, and overriding, `Globals`).
    pub environment: BTreeMap<String, Expr>,
    /// `Timeout` in seconds: the function's own, else `Globals`, else SAM's default (3).
    pub timeout_seconds: u32,
    pub events: Vec<EventSpec>,
}

/// One entry of a function's `Events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// The event's key in `Events` (e.g. `Delivery`).
    pub name: String,
    pub trigger: Trigger,
}

/// What makes a function run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `Type: HttpApi`: a route of an HTTP API (payload format 2.0).
    Http(HttpRoute),
    /// `Type: SQS`: an event source mapping polling a queue.
    Sqs(SqsMapping),
    /// `Type: Schedule` (EventBridge rule) or `ScheduleV2` (EventBridge Scheduler).
    Schedule(ScheduleSpec),
}

/// A route of an HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Logical id of the `AWS::Serverless::HttpApi` (`ApiId`); `None` is SAM's implicit API.
    pub api: Option<String>,
    /// Upper-case method; `None` means `ANY`.
    pub method: Option<String>,
    /// The route path as written (`/webhooks/meta`, `/oauth/callback/{provider}`,
    /// `/api/{proxy+}`), or `$default`.
    pub path: String,
    /// The Lambda authorizer that guards the route (`Auth.Authorizer`), if any.
    pub authorizer: Option<LambdaAuthorizer>,
}

/// A Lambda REQUEST authorizer of an HTTP API (`Auth.Authorizers.<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    pub name: String,
    /// Logical id of the function (`FunctionArn: !GetAtt <id>.Arn`).
    pub function: String,
    /// Lower-case header names of `Identity.Headers`: a request without all of them is
    /// refused (401) before the authorizer runs, and they key the result cache.
    pub identity_headers: Vec<String>,
    /// `Identity.ReauthorizeEvery`: seconds an answer is cached (0: not cached).
    pub ttl_seconds: u32,
    /// `EnableSimpleResponses`: the function answers `{isAuthorized, context}`.
    pub simple_responses: bool,
}

impl HttpRoute {
    /// API Gateway's route key, e.g. `GET /webhooks/meta`, `ANY /api/{proxy+}`, `$default`.
    pub fn route_key(&self) -> String {
        if self.path == "$default" {
            return self.path.clone();
        }
        format!("{} {}", self.method.as_deref().unwrap_or("ANY"), self.path)
    }
}

/// An SQS event source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMapping {
    /// Logical id of the queue polled.
    pub queue: String,
    /// Most records per invocation (SAM default 10).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`: how long records are gathered before a batch
    /// smaller than `batch_size` is delivered (default 0).
    pub batching_window_seconds: u32,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`: the function names the
    /// records that failed instead of failing the whole batch.
    pub report_batch_item_failures: bool,
    pub enabled: bool,
}

/// Which EventBridge service runs a schedule; they deliver different payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// `Type: Schedule`: an EventBridge rule, which sends a "Scheduled Event".
    Rule,
    /// `Type: ScheduleV2`: EventBridge Scheduler, which sends `Input` as it is.
    Scheduler,
}

/// A schedule that invokes a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub kind: ScheduleKind,
    pub expression: crate::schedule::ScheduleExpression,
    /// `Input`: the JSON text sent instead of the default payload.
    pub input: Option<String>,
    pub enabled: bool,
}

// ------------------------------------------------------------------ template

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

/// Resolves references from parameter defaults only: what a spec field that needs
/// a plain value (a number, a key name) may depend on.
struct Defaults<'a>(&'a BTreeMap<String, ParameterSpec>);

impl Resolve for Defaults<'_> {
    fn reference(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|p| p.default.clone())
    }
    fn attribute(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// Property access for one resource, with errors that name it.
struct Props<'a> {
    id: &'a str,
    map: &'a Mapping,
    defaults: Defaults<'a>,
}

impl<'a> Props<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// Rejects properties that are neither understood nor deployment-only.
    fn only(&self, known: &[&str], deploy_only: &[&str]) -> Result<(), TemplateError> {
        for key in self.map.keys() {
            let key = key.as_str().unwrap_or("<non-string key>");
            if !known.contains(&key) && !deploy_only.contains(&key) {
                return Err(unsupported(self.id, format!("property {key}")));
            }
        }
        Ok(())
    }

    fn text_of(&self, value: &Value, what: &str) -> Result<String, TemplateError> {
        let at = format!("{}.{what}", self.id);
        Expr::parse(value, &at)?
            .evaluate(&self.defaults)
            .map_err(|e| invalid(self.id, format!("{what}: {e}")))
    }

    fn text(&self, key: &str) -> Result<Option<String>, TemplateError> {
        self.get(key).map(|v| self.text_of(v, key)).transpose()
    }

    fn number(&self, key: &str) -> Result<Option<u32>, TemplateError> {
        self.text(key)?
            .map(|s| {
                s.parse()
                    .map_err(|_| invalid(self.id, format!("{key} must be a whole number")))
            })
            .transpose()
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, TemplateError> {
        self.text(key)?
            .map(|s| match s.as_str() {
                "true" | "True" => Ok(true),
                "false" | "False" => Ok(false),
                _ => Err(invalid(self.id, format!("{key} must be true or false"))),
            })
            .transpose()
    }

    fn list(&self, key: &str) -> Result<&'a [Value], TemplateError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Sequence(items)) => Ok(items),
            Some(_) => Err(invalid(self.id, format!("{key} must be a list"))),
        }
    }

    fn nested(&self, value: &'a Value, what: &str) -> Result<Props<'a>, TemplateError> {
        match value {
            Value::Mapping(map) => Ok(Props {
                id: self.id,
                map,
                defaults: Defaults(self.defaults.0),
            }),
            _ => Err(invalid(self.id, format!("{what} must be a mapping"))),
        }
    }

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

    /// Every `AWS::Serverless::Function`, with its events.
    pub fn functions(&self) -> Result<Vec<FunctionSpec>, TemplateError> {
        let default_timeout = match &self.function_timeout {
            None => 3,
            Some(value) => {
                let text = Expr::parse(value, "Globals.Function.Timeout")?
                    .evaluate(&Defaults(&self.parameters))
                    .map_err(|e| invalid("Globals", format!("Function.Timeout: {e}")))?;
                text.parse()
                    .map_err(|_| invalid("Globals", "Function.Timeout must be a whole number"))?
            }
        };
        let functions = self
            .of_type("AWS::Serverless::Function")
            .map(|props| {
                let p = props?;
                p.only(
                    &["Environment", "Events", "Timeout"],
                    &[
                        "CodeUri",
                        "Description",
                        "Policies",
                        "Role",
                        "MemorySize",
                        "Architectures",
                        "Runtime",
                        "Handler",
                        "LoggingConfig",
                        "FunctionName",
                        "Tags",
                        "Tracing",
                        "Layers",
                        "VpcConfig",
                        "ReservedConcurrentExecutions",
                        "ProvisionedConcurrencyConfig",
                        "AutoPublishAlias",
                        "PermissionsBoundary",
                        "KmsKeyArn",
                        "EphemeralStorage",
                        "RuntimeManagementConfig",
                    ],
                )?;
                let binary = self.function_binary(p.id)?;
                let environment = match p.get("Environment") {
                    None => BTreeMap::new(),
                    Some(env) => {
                        let env = p.nested(env, "Environment")?;
                        env.only(&["Variables"], &[])?;
                        environment_variables(env.get("Variables"), p.id)?
                    }
                };
                let events = match p.get("Events") {
                    None => Vec::new(),
                    Some(Value::Mapping(events)) => events
                        .iter()
                        .map(|(name, body)| {
                            let name = name
                                .as_str()
                                .ok_or_else(|| invalid(p.id, "event names are strings"))?;
                            self.event(&p, name, body)
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(_) => return Err(invalid(p.id, "Events must be a mapping")),
                };
                Ok(FunctionSpec {
                    logical_id: p.id.to_owned(),
                    binary,
                    environment,
                    timeout_seconds: p.number("Timeout")?.unwrap_or(default_timeout),
                    events,
                })
            })
            .collect::<Result<Vec<_>, TemplateError>>()?;
        for (i, f) in functions.iter().enumerate() {
            if let Some(other) = functions[..i].iter().find(|o| o.binary == f.binary) {
                return Err(invalid(
                    &f.logical_id,
                    format!(
                        "binary {} is also the binary of {}",
                        f.binary, other.logical_id
                    ),
                ));
            }
        }
        let mut routes: BTreeMap<(Option<String>, String), &str> = BTreeMap::new();
        for f in &functions {
            for event in &f.events {
                if let Trigger::Http(route) = &event.trigger {
                    let key = (route.api.clone(), route.route_key());
                    if let Some(other) = routes.insert(key, &f.logical_id) {
                        return Err(invalid(
                            &f.logical_id,
                            format!("route {} is also a route of {other}", route.route_key()),
                        ));
                    }
                }
            }
        }
        Ok(functions)
    }

    /// `Metadata.BuildProperties.Binary` of a function built by cargo-lambda.
    fn function_binary(&self, id: &str) -> Result<String, TemplateError> {
        let metadata = self
            .resources
            .get(id)
            .and_then(|r| r.metadata.as_ref())
            .ok_or_else(|| invalid(id, "Metadata with BuildMethod rust-cargolambda missing"))?;
        match metadata.get("BuildMethod").and_then(Value::as_str) {
            Some("rust-cargolambda") => {}
            Some(other) => return Err(unsupported(id, format!("BuildMethod {other}"))),
            None => return Err(invalid(id, "Metadata.BuildMethod missing")),
        }
        let binary = metadata
            .get("BuildProperties")
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(
                    id,
                    "Metadata.BuildProperties.Binary missing: name the workspace binary",
                )
            })?;
        let valid = !binary.is_empty()
            && binary
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(invalid(
                id,
                format!("binary name {binary:?} is not a Cargo binary name"),
            ));
        }
        Ok(binary.to_owned())
    }

    fn event(&self, f: &Props<'_>, name: &str, body: &Value) -> Result<EventSpec, TemplateError> {
        let at = format!("{}.Events.{name}", f.id);
        let event = f.nested(body, &at)?;
        event.only(&["Type", "Properties"], &[])?;
        let kind = event
            .get("Type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(f.id, format!("{at}: Type missing")))?;
        let empty = Value::Mapping(Mapping::new());
        let props = event.nested(event.get("Properties").unwrap_or(&empty), &at)?;
        let trigger = match kind {
            "HttpApi" => self.http_route(&props, &at).map(Trigger::Http),
            "SQS" => self.sqs_mapping(&props, &at).map(Trigger::Sqs),
            "Schedule" | "ScheduleV2" => schedule(&props, &at, kind).map(Trigger::Schedule),
            other => return Err(unsupported(f.id, format!("{at}: event type {other}"))),
        }
        // Name the event in "property X is not supported" errors of its properties.
        .map_err(|e| match e {
            TemplateError::Unsupported { resource, what } if what.starts_with("property ") => {
                TemplateError::Unsupported {
                    resource,
                    what: format!("{at}: {what}"),
                }
            }
            other => other,
        })?;
        Ok(EventSpec {
            name: name.to_owned(),
            trigger,
        })
    }

    fn http_route(&self, p: &Props<'_>, at: &str) -> Result<HttpRoute, TemplateError> {
        // An authorizer or CORS rules change what a request gets; the local router
        // implements neither yet, so a template that uses them must not start silently
        // without them.
        p.only(
            &["ApiId", "Path", "Method", "PayloadFormatVersion", "Auth"],
            &["TimeoutInMillis", "RouteSettings"],
        )?;
        if let Some(version) = p.text("PayloadFormatVersion")? {
            if version != "2.0" {
                return Err(unsupported(p.id, format!("{at}: payload format {version}")));
            }
        }
        let mut authorizers = BTreeMap::new();
        let api = match p.get("ApiId") {
            None => None,
            Some(value) => match Expr::parse(value, at)? {
                Expr::Ref(api) if self.resource_type(&api) == Some("AWS::Serverless::HttpApi") => {
                    authorizers = self.check_http_api(&api)?;
                    Some(api)
                }
                _ => {
                    return Err(invalid(
                        p.id,
                        format!("{at}: ApiId must be !Ref of an AWS::Serverless::HttpApi"),
                    ));
                }
            },
        };
        let path = p.text("Path")?.unwrap_or_else(|| "$default".into());
        if path != "$default" && !valid_route_path(&path) {
            return Err(invalid(
                p.id,
                format!("{at}: route path {path:?} is not valid"),
            ));
        }
        let method = match p.text("Method")?.map(|m| m.to_ascii_uppercase()) {
            None => None,
            Some(m) if m == "ANY" || m == "X-AMAZON-APIGATEWAY-ANY-METHOD" => None,
            Some(m) => {
                const METHODS: [&str; 7] =
                    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
                if !METHODS.contains(&m.as_str()) {
                    return Err(invalid(
                        p.id,
                        format!("{at}: method {m} is not an HTTP method"),
                    ));
                }
                Some(m)
            }
        };
        let authorizer = match p.get("Auth") {
            None => None,
            Some(auth) => {
                let auth = p.nested(auth, &format!("{at}.Auth"))?;
                auth.only(&["Authorizer"], &[])?;
                match auth.text("Authorizer")?.as_deref() {
                    None | Some("NONE") => None,
                    Some(name) => Some(authorizers.remove(name).ok_or_else(|| {
                        invalid(
                            p.id,
                            format!("{at}: authorizer {name} is not declared on its HttpApi"),
                        )
                    })?),
                }
            }
        };
        Ok(HttpRoute {
            api,
            method,
            path,
            authorizer,
        })
    }

    /// The Lambda authorizers an HTTP API declares (`Auth.Authorizers`).
    fn http_api_authorizers(
        &self,
        api: &Props<'_>,
    ) -> Result<BTreeMap<String, LambdaAuthorizer>, TemplateError> {
        let mut found = BTreeMap::new();
        let Some(auth) = api.get("Auth") else {
            return Ok(found);
        };
        let auth = api.nested(auth, "Auth")?;
        auth.only(&["Authorizers"], &[])?;
        let Some(Value::Mapping(authorizers)) = auth.get("Authorizers") else {
            return Ok(found);
        };
        for (name, body) in authorizers {
            let name = name.as_str().unwrap_or_default().to_owned();
            let a = auth.nested(body, &format!("Auth.Authorizers.{name}"))?;
            a.only(
                &[
                    "FunctionArn",
                    "FunctionPayloadType",
                    "AuthorizerPayloadFormatVersion",
                    "EnableSimpleResponses",
                    "Identity",
                ],
                &["EnableFunctionDefaultPermissions", "FunctionInvokeRole"],
            )?;
            let function = match a
                .get("FunctionArn")
                .map(|v| Expr::parse(v, &name))
                .transpose()?
            {
                Some(Expr::GetAtt {
                    resource,
                    attribute,
                }) if attribute == "Arn" => resource,
                _ => {
                    return Err(invalid(
                        api.id,
                        format!("authorizer {name}: FunctionArn must be !GetAtt <function>.Arn"),
                    ));
                }
            };
            if a.text("FunctionPayloadType")?
                .as_deref()
                .is_some_and(|t| t != "REQUEST")
            {
                return Err(unsupported(
                    api.id,
                    format!("authorizer {name}: only REQUEST authorizers"),
                ));
            }
            if a.text("AuthorizerPayloadFormatVersion")?.as_deref() != Some("2.0") {
                return Err(unsupported(
                    api.id,
                    format!("authorizer {name}: payload format 2.0 only"),
                ));
            }
            let (identity_headers, ttl_seconds) = match a.get("Identity") {
                None => (Vec::new(), 0),
                Some(identity) => {
                    let identity = a.nested(identity, "Identity")?;
                    identity.only(&["Headers", "ReauthorizeEvery"], &[])?;
                    let headers = identity
                        .list("Headers")?
                        .iter()
                        .map(|h| {
                            identity
                                .text_of(h, "Headers")
                                .map(|h| h.to_ascii_lowercase())
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    (headers, identity.number("ReauthorizeEvery")?.unwrap_or(300))
                }
            };
            found.insert(
                name.clone(),
                LambdaAuthorizer {
                    name,
                    function,
                    identity_headers,
                    ttl_seconds,
                    simple_responses: a.boolean("EnableSimpleResponses")?.unwrap_or(false),
                },
            );
        }
        Ok(found)
    }

    fn check_http_api(
        &self,
        id: &str,
    ) -> Result<BTreeMap<String, LambdaAuthorizer>, TemplateError> {
        let api = self
            .of_type("AWS::Serverless::HttpApi")
            .find(|p| p.as_ref().map_or(true, |p| p.id == id))
            .expect("the caller checked that the resource is an HttpApi")?;
        api.only(
            &["Auth"],
            &[
                "StageName",
                "DefaultRouteSettings",
                "RouteSettings",
                "Description",
                "Tags",
                "Name",
                "FailOnWarnings",
                "Domain",
                "AccessLogSettings",
                "DisableExecuteApiEndpoint",
            ],
        )?;
        self.http_api_authorizers(&api)
    }

    fn sqs_mapping(&self, p: &Props<'_>, at: &str) -> Result<SqsMapping, TemplateError> {
        p.only(
            &[
                "Queue",
                "BatchSize",
                "MaximumBatchingWindowInSeconds",
                "FunctionResponseTypes",
                "Enabled",
            ],
            &["ScalingConfig", "KmsKeyArn", "MetricsConfig"],
        )?;
        let queue = p
            .get("Queue")
            .ok_or_else(|| invalid(p.id, format!("{at}: Queue missing")))?;
        let queue = match Expr::parse(queue, at)? {
            Expr::GetAtt {
                resource,
                attribute,
            } if attribute == "Arn" && self.resource_type(&resource) == Some("AWS::SQS::Queue") => {
                resource
            }
            _ => {
                return Err(unsupported(
                    p.id,
                    format!("{at}: a queue other than !GetAtt <Queue>.Arn of this template"),
                ));
            }
        };
        let batch_size = p.number("BatchSize")?.unwrap_or(10);
        let batching_window_seconds = p.number("MaximumBatchingWindowInSeconds")?.unwrap_or(0);
        if !(1..=10_000).contains(&batch_size) {
            return Err(invalid(p.id, format!("{at}: BatchSize must be 1 to 10000")));
        }
        if batching_window_seconds > 300 {
            return Err(invalid(
                p.id,
                format!("{at}: MaximumBatchingWindowInSeconds must be 0 to 300"),
            ));
        }
        // Lambda refuses a batch size above 10 without a batching window.
        if batch_size > 10 && batching_window_seconds == 0 {
            return Err(invalid(
                p.id,
                format!("{at}: BatchSize above 10 needs MaximumBatchingWindowInSeconds >= 1"),
            ));
        }
        let mut report_batch_item_failures = false;
        for kind in p.list("FunctionResponseTypes")? {
            match p.text_of(kind, "FunctionResponseTypes")?.as_str() {
                "ReportBatchItemFailures" => report_batch_item_failures = true,
                other => {
                    return Err(invalid(
                        p.id,
                        format!("{at}: unknown FunctionResponseTypes entry {other}"),
                    ));
                }
            }
        }
        Ok(SqsMapping {
            queue,
            batch_size,
            batching_window_seconds,
            report_batch_item_failures,
            enabled: p.boolean("Enabled")?.unwrap_or(true),
        })
    }

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

    /// Every `AWS::Events::EventBus`.
    pub fn event_buses(&self) -> Result<Vec<EventBusSpec>, TemplateError> {
        self.of_type("AWS::Events::EventBus")
            .map(|props| {
                let p = props?;
                p.only(&[], &["Name", "Tags", "Description"])?;
                Ok(EventBusSpec {
                    logical_id: p.id.to_owned(),
                })
            })
            .collect()
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

/// A route path API Gateway accepts: `/`-separated segments, each literal or one
/// `{name}`, the last possibly `{name+}` (greedy).
fn valid_route_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let segments: Vec<&str> = rest.split('/').collect();
    segments.iter().enumerate().all(|(i, segment)| {
        if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && (!greedy || i == segments.len() - 1)
        } else {
            !segment.is_empty() && !segment.contains(['{', '}'])
        }
    })
}

/// A `Schedule` (EventBridge rule) or `ScheduleV2` (EventBridge Scheduler) event.
fn schedule(p: &Props<'_>, at: &str, kind: &str) -> Result<ScheduleSpec, TemplateError> {
    // Retry and dead-letter settings only matter for failed asynchronous invocations,
    // which the local scheduler logs and does not retry; names and descriptions only
    // label the deployed rule.
    let (kind, expression_key) = if kind == "Schedule" {
        p.only(
            &["Schedule", "Input", "Enabled", "State"],
            &["Name", "Description", "RetryPolicy", "DeadLetterConfig"],
        )?;
        (ScheduleKind::Rule, "Schedule")
    } else {
        p.only(
            &[
                "ScheduleExpression",
                "ScheduleExpressionTimezone",
                "Input",
                "State",
            ],
            &[
                "Name",
                "Description",
                "GroupName",
                "FlexibleTimeWindow",
                "RetryPolicy",
                "DeadLetterConfig",
                "RoleArn",
                "PermissionsBoundary",
                "KmsKeyArn",
                "OmitName",
            ],
        )?;
        if let Some(zone) = p.text("ScheduleExpressionTimezone")? {
            if !matches!(zone.as_str(), "UTC" | "Etc/UTC" | "GMT") {
                return Err(unsupported(
                    p.id,
                    format!("{at}: time zone {zone} (only UTC)"),
                ));
            }
        }
        (ScheduleKind::Scheduler, "ScheduleExpression")
    };
    let text = p
        .text(expression_key)?
        .ok_or_else(|| invalid(p.id, format!("{at}: {expression_key} missing")))?;
    let expression = crate::schedule::ScheduleExpression::parse(&text)
        .map_err(|e| invalid(p.id, format!("{at}: {e}")))?;
    let input = p.text("Input")?;
    if let Some(input) = &input {
        if serde_json::from_str::<serde_json::Value>(input).is_err() {
            return Err(invalid(p.id, format!("{at}: Input must be JSON text")));
        }
    }
    let enabled = match (p.boolean("Enabled")?, p.text("State")?.as_deref()) {
        (Some(enabled), None) => enabled,
        (None, None) | (None, Some("ENABLED")) => true,
        (None, Some("DISABLED")) => false,
        (None, Some(other)) => {
            return Err(invalid(
                p.id,
                format!("{at}: State must be ENABLED or DISABLED, not {other}"),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                p.id,
                format!("{at}: give Enabled or State, not both"),
            ));
        }
    };
    Ok(ScheduleSpec {
        kind,
        expression,
        input,
        enabled,
    })
}

/// Reads a `RedrivePolicy`, written as a mapping or as a JSON string.
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

    fn project() -> Template {
        Template::project().expect("template.yaml of the repository parses into specs")
    }

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

    #[test]
    fn every_function_variable_refers_to_something_the_template_declares() {
        let template = project();
        let env = template.function_environment();
        let expected = [
            "RELAY_MAIN_TABLE",
            "RELAY_AUDIT_TABLE",
            "RELAY_ARCHIVE_TABLE",
            "RELAY_TOKEN_KEY_ID",
            "RELAY_EVENT_BUS",
            "RELAY_SECRETS_ARN",
            "RELAY_GRAPH_VERSION",
            "RELAY_INBOUND_QUEUE_URL",
            "RELAY_REPLIES_QUEUE_URL",
            "RELAY_MODERATION_QUEUE_URL",
            "RELAY_PUBLISH_QUEUE_URL",
            "RELAY_SYNC_QUEUE_URL",
            "RELAY_PUBLIC_BASE_URL",
            "RELAY_IG_APP_ID",
            "RELAY_FB_APP_ID",
        ];
        let mut names: Vec<_> = env.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(names, want);
        for (name, expr) in env {
            for reference in expr.references() {
                let declared = template.resource_type(reference).is_some()
                    || template.parameters().any(|p| p.name == reference);
                assert!(declared, "{name} refers to undeclared {reference}");
            }
        }
        assert_eq!(
            env["RELAY_INBOUND_QUEUE_URL"],
            Expr::Ref("InboundQueue".into())
        );
        let graph = template
            .parameters()
            .find(|p| p.name == "GraphApiVersion")
            .unwrap();
        assert_eq!(graph.default.as_deref(), Some("v26.0"));
        let secrets = template
            .parameters()
            .find(|p| p.name == "SecretsArn")
            .unwrap();
        assert_eq!(secrets.default, None, "no secret value in the template");
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

    #[test]
    fn dead_letter_queue_must_be_a_queue_of_the_template() {
        let text = MINIMAL.replace("\"D\", \"Arn\"", "\"Missing\", \"Arn\"");
        let err = Template::parse(&text).unwrap().queues().unwrap_err();
        assert!(err.to_string().contains("Missing"), "{err}");
    }

    #[test]
    fn functions_are_read_with_binary_environment_timeout_and_events() {
        let functions = project().functions().unwrap();
        let by_id = |id: &str| {
            functions
                .iter()
                .find(|f| f.logical_id == id)
                .unwrap_or_else(|| panic!("{id} is in the template"))
        };
        let webhook = by_id("WebhookFunction");
        assert_eq!(webhook.binary, "webhook");
        assert_eq!(webhook.timeout_seconds, 10);
        let routes: Vec<_> = webhook
            .events
            .iter()
            .map(|e| match &e.trigger {
                Trigger::Http(route) => route.clone(),
                other => panic!("webhook is triggered only by HTTP: {other:?}"),
            })
            .collect();
        let mut keys: Vec<_> = routes.iter().map(HttpRoute::route_key).collect();
        keys.sort();
        assert_eq!(keys, ["GET /webhooks/meta", "POST /webhooks/meta"]);
        assert!(routes.iter().all(|r| r.api.as_deref() == Some("HttpApi")));
        assert_eq!(routes.len(), 2, "GET handshake and POST delivery");

        let ingest = by_id("IngestFunction");
        assert_eq!(ingest.binary, "ingest");
        assert_eq!(
            ingest.environment.get("RELAY_DEBOUNCE_SECONDS"),
            Some(&Expr::Literal("8".into()))
        );
        let sqs: Vec<_> = ingest
            .events
            .iter()
            .filter_map(|e| match &e.trigger {
                Trigger::Sqs(m) => Some(m.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            sqs,
            vec![SqsMapping {
                queue: "InboundQueue".into(),
                batch_size: 10,
                batching_window_seconds: 1,
                report_batch_item_failures: true,
                enabled: true,
            }]
        );
        // Every function is a distinct workspace binary with a sane timeout.
        for f in &functions {
            assert!(
                f.timeout_seconds >= 1 && f.timeout_seconds <= 900,
                "{}",
                f.logical_id
            );
        }
    }

    #[test]
    fn every_sqs_consumer_reads_a_queue_with_a_dead_letter_queue() {
        let template = project();
        let queues = template.queues().unwrap();
        for f in template.functions().unwrap() {
            for event in &f.events {
                if let Trigger::Sqs(mapping) = &event.trigger {
                    let queue = queues
                        .iter()
                        .find(|q| q.logical_id == mapping.queue)
                        .unwrap();
                    assert!(
                        queue.redrive.is_some(),
                        "{} polls {} which has no DLQ",
                        f.logical_id,
                        mapping.queue
                    );
                    // AWS: visibility timeout at least six times the function timeout.
                    assert!(
                        queue.visibility_timeout.unwrap_or(30) >= 6 * f.timeout_seconds,
                        "{}: {} visibility timeout",
                        f.logical_id,
                        mapping.queue
                    );
                }
            }
        }
    }

    const FUNCTIONS: &str = r#"
Globals:
  Function:
    Timeout: 7
    Environment:
      Variables:
        SHARED: !Ref Q
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties: { StageName: $default }
  Q:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties: { Binary: my-fn }
    Properties:
      CodeUri: .
      Environment:
        Variables: { OWN: "1" }
      Events:
        Route:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: "/items/{id}", Method: any }
        Catch:
          Type: HttpApi
          Properties: { ApiId: !Ref Api }
        Queue:
          Type: SQS
          Properties: { Queue: !GetAtt Q.Arn }
        Nightly:
          Type: Schedule
          Properties: { Schedule: "cron(0 3 * * ? *)", Input: '{"full": true}' }
        Often:
          Type: ScheduleV2
          Properties: { ScheduleExpression: rate(5 minutes), State: DISABLED }
"#;

    #[test]
    fn function_events_of_every_kind_are_understood() {
        let functions = Template::parse(FUNCTIONS).unwrap().functions().unwrap();
        let f = &functions[0];
        assert_eq!(f.binary, "my-fn");
        assert_eq!(f.timeout_seconds, 7, "Globals timeout");
        assert_eq!(f.environment.len(), 1, "only its own variables");
        let trigger = |name: &str| {
            f.events
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.trigger.clone())
                .unwrap()
        };
        match trigger("Route") {
            Trigger::Http(route) => {
                assert_eq!(route.method, None, "any is ANY");
                assert_eq!(route.route_key(), "ANY /items/{id}");
            }
            other => panic!("{other:?}"),
        }
        match trigger("Catch") {
            Trigger::Http(route) => assert_eq!(route.route_key(), "$default"),
            other => panic!("{other:?}"),
        }
        match trigger("Queue") {
            Trigger::Sqs(m) => {
                assert_eq!((m.batch_size, m.batching_window_seconds), (10, 0));
                assert!(!m.report_batch_item_failures);
            }
            other => panic!("{other:?}"),
        }
        match trigger("Nightly") {
            Trigger::Schedule(s) => {
                assert_eq!(s.kind, ScheduleKind::Rule);
                assert_eq!(s.expression.to_string(), "cron(0 3 * * ? *)");
                assert_eq!(s.input.as_deref(), Some(r#"{"full": true}"#));
                assert!(s.enabled);
            }
            other => panic!("{other:?}"),
        }
        match trigger("Often") {
            Trigger::Schedule(s) => {
                assert_eq!(s.kind, ScheduleKind::Scheduler);
                assert!(!s.enabled);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_route_behind_a_lambda_authorizer_names_it_and_its_identity() {
        let text = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Keys:
            FunctionArn: !GetAtt Gate.Arn
            FunctionPayloadType: REQUEST
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: { Headers: [Authorization], ReauthorizeEvery: 60 }
  Gate:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: gate } }
  Rest:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: rest } }
    Properties:
      Events:
        Open: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /v1/spec, Method: GET } }
        Closed: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: "/v1/{proxy+}", Auth: { Authorizer: Keys } } }
"#;
        let functions = Template::parse(text).unwrap().functions().unwrap();
        let rest = functions.iter().find(|f| f.binary == "rest").unwrap();
        let route = |name: &str| match &rest.events.iter().find(|e| e.name == name).unwrap().trigger
        {
            Trigger::Http(route) => route.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(route("Open").authorizer, None);
        let auth = route("Closed").authorizer.expect("the route is guarded");
        assert_eq!(auth.function, "Gate");
        assert_eq!(auth.identity_headers, ["authorization"]);
        assert_eq!(auth.ttl_seconds, 60);
        assert!(auth.simple_responses);
    }

    #[test]
    fn function_features_the_local_stack_lacks_are_refused_by_name() {
        for (from, to, named) in [
            (
                "Properties: { ApiId: !Ref Api }",
                "Properties: { ApiId: !Ref Api, Auth: { Authorizer: A } }",
                "authorizer A is not declared",
            ),
            (
                "Properties: { ApiId: !Ref Api }",
                "Properties: { ApiId: !Ref Api, Auth: { Authorizer: A, AuthorizationScopes: [s] } }",
                "property AuthorizationScopes",
            ),
            (
                "Properties: { StageName: $default }",
                "Properties: { StageName: $default, CorsConfiguration: true }",
                "CorsConfiguration",
            ),
            (
                "Properties: { Queue: !GetAtt Q.Arn }",
                "Properties: { Queue: !GetAtt Q.Arn, FilterCriteria: {} }",
                "FilterCriteria",
            ),
            ("Type: SQS", "Type: Kinesis", "event type Kinesis"),
            ("rate(5 minutes)", "rate(5 minute)", "plural"),
            (
                "cron(0 3 * * ? *)",
                "cron(0 3 L * ? *)",
                "does not implement",
            ),
            (
                "Binary: my-fn",
                "Binary: \"my fn\"",
                "not a Cargo binary name",
            ),
            (
                "BuildMethod: rust-cargolambda",
                "BuildMethod: makefile",
                "BuildMethod makefile",
            ),
            (
                "CodeUri: .",
                "CodeUri: .\n      DeadLetterQueue: {}",
                "DeadLetterQueue",
            ),
            ("Method: any", "Method: FETCH", "not an HTTP method"),
            (
                "Path: \"/items/{id}\"",
                "Path: \"/items/{id+}/x\"",
                "not valid",
            ),
        ] {
            assert!(FUNCTIONS.contains(from), "{from}");
            let text = FUNCTIONS.replace(from, to);
            let err = Template::parse(&text)
                .unwrap()
                .functions()
                .expect_err(to)
                .to_string();
            assert!(err.contains(named), "{to}: {err}");
        }
    }

    #[test]
    fn two_functions_cannot_share_a_binary_or_a_route() {
        let second = FUNCTIONS.replace("  Fn:\n", "  Fn2:\n");
        let both = format!("{FUNCTIONS}{}", &second[second.find("  Fn2:").unwrap()..]);
        let err = Template::parse(&both).unwrap().functions().unwrap_err();
        assert!(err.to_string().contains("binary my-fn"), "{err}");
        let renamed = both.replacen("Binary: my-fn", "Binary: other", 1);
        let err = Template::parse(&renamed).unwrap().functions().unwrap_err();
        assert!(err.to_string().contains("route"), "{err}");
    }
}
