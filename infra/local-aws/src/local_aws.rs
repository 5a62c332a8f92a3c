//! The template's AWS resources on a local moto server.
//!
//! [`LocalAws::provision`] reads the template and creates every DynamoDB table, KMS key
//! and alias, SQS queue and EventBridge bus in it, each named `<prefix>-<logical id>`.
//! Nothing is hard-coded: a resource added to the template is created here without
//! changes, and can be looked up by its logical id. Failures are errors that name the
//! AWS operation and the resource; the local stack reports them and stops.
//!
//! [`TestAws`] is the test harness on top: a fresh random prefix per test (so tests never
//! see each other's data and run in parallel), typed fields for the resources the
//! functions use, and panics with the full SDK error chain instead of results.
//!
//! The SDK configuration points at a local endpoint with test credentials; it never
//! reaches a real AWS account. Build SDK clients per test with the constructors here:
//! an SDK client belongs to the tokio runtime that created its connections, and every
//! `#[tokio::test]` has its own runtime.

use std::collections::{BTreeMap, HashMap};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types as ddb;
use aws_sdk_sqs::types::QueueAttributeName;
use futures::future::join_all;

use crate::template::{
    BillingMode, BucketSpec, Expr, FunctionSpec, IndexSpec, KeySchema, KeySpec, Projection,
    QueueSpec, Resolve, TableSpec, Template, TemplateError, Throughput,
};

/// Region of every local resource.
pub const REGION: &str = "us-east-1";
/// The account id moto gives every resource unless told otherwise.
pub const ACCOUNT_ID: &str = "123456789012";
/// The environment variable that names the local AWS endpoint.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL";

/// Why the template's resources could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("cannot read template.yaml: {0}")]
    Template(#[from] TemplateError),
    /// An AWS call failed; `message` is the SDK's full error chain.
    #[error("{operation} failed: {message}")]
    Aws { operation: String, message: String },
    #[error("{0} did not return what it always returns")]
    Incomplete(String),
}

fn aws_error(operation: String, err: impl std::error::Error) -> ProvisionError {
    ProvisionError::Aws {
        operation,
        message: DisplayErrorContext(err).to_string(),
    }
}

/// Names of the tables the functions use.
#[derive(Debug, Clone)]
pub struct Tables {
    pub main: String,
    pub audit: String,
    pub archive: String,
}

/// URLs of the work queues and their dead-letter queues.
#[derive(Debug, Clone)]
pub struct Queues {
    pub inbound: String,
    pub inbound_dlq: String,
    pub replies: String,
    pub replies_dlq: String,
    pub moderation: String,
    pub moderation_dlq: String,
    pub publish: String,
    pub publish_dlq: String,
    pub sync: String,
    pub sync_dlq: String,
}

/// A resource created from the template, by kind, with what `!Ref` and `!GetAtt` return.
#[derive(Debug, Clone)]
pub enum Created {
    Table {
        name: String,
        arn: String,
    },
    Queue {
        name: String,
        url: String,
        arn: String,
    },
    Key {
        id: String,
        arn: String,
    },
    Alias {
        name: String,
    },
    EventBus {
        name: String,
        arn: String,
    },
    Bucket {
        name: String,
        arn: String,
    },
}

/// The template's resources, created under one prefix.
#[derive(Debug, Clone)]
pub struct LocalAws {
    pub sdk: SdkConfig,
    /// Starts the name of every resource; also the value of `AWS::StackName`.
    pub prefix: String,
    created: BTreeMap<String, Created>,
    parameters: BTreeMap<String, String>,
    function_environment: BTreeMap<String, Expr>,
}

impl LocalAws {
    /// Creates every resource of `template` on the endpoint `sdk` points at, each named
    /// `<prefix>-<logical id>`.
    pub async fn provision(
        sdk: SdkConfig,
        prefix: &str,
        template: &Template,
    ) -> Result<LocalAws, ProvisionError> {
        let mut stack = Provisioner {
            sdk: &sdk,
            prefix,
            created: BTreeMap::new(),
        };
        stack.create_all(template).await?;
        let created = stack.created;
        let parameters = template
            .parameters()
            .filter_map(|p| Some((p.name.clone(), p.default.clone()?)))
            .collect();
        Ok(LocalAws {
            sdk,
            prefix: prefix.to_owned(),
            created,
            parameters,
            function_environment: template.function_environment().clone(),
        })
    }

    /// What a logical id became, if the template declared it.
    pub fn created(&self, logical_id: &str) -> Option<&Created> {
        self.created.get(logical_id)
    }

    /// Every created resource by logical id.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &Created)> {
        self.created.iter().map(|(id, c)| (id.as_str(), c))
    }

    /// Name of the table with this logical id.
    pub fn table(&self, logical_id: &str) -> Option<&str> {
        match self.created.get(logical_id)? {
            Created::Table { name, .. } => Some(name),
            _ => None,
        }
    }

    /// URL of the queue with this logical id.
    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        match self.created.get(logical_id)? {
            Created::Queue { url, .. } => Some(url),
            _ => None,
        }
    }

    /// ARN of the queue with this logical id.
    pub fn queue_arn(&self, logical_id: &str) -> Option<&str> {
        match self.created.get(logical_id)? {
            Created::Queue { arn, .. } => Some(arn),
            _ => None,
        }
    }

    /// Key id of the KMS key with this logical id.
    pub fn key_id(&self, logical_id: &str) -> Option<&str> {
        match self.created.get(logical_id)? {
            Created::Key { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Name of the KMS alias with this logical id (`alias/...`).
    pub fn alias(&self, logical_id: &str) -> Option<&str> {
        match self.created.get(logical_id)? {
            Created::Alias { name } => Some(name),
            _ => None,
        }
    }

    /// Name of the event bus with this logical id.
    pub fn event_bus_name(&self, logical_id: &str) -> Option<&str> {
        match self.created.get(logical_id)? {
            Created::EventBus { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Gives a template parameter a value for the environment of functions.
    pub fn set_parameter(&mut self, name: &str, value: impl Into<String>) {
        self.parameters.insert(name.to_owned(), value.into());
    }

    /// Stores `secret_json` as a Secrets Manager secret named `<prefix>-<parameter>` and
    /// makes the template parameter `parameter` (e.g. `SecretsArn`) its ARN. Returns the
    /// ARN.
    pub async fn put_secret(
        &mut self,
        parameter: &str,
        secret_json: &str,
    ) -> Result<String, ProvisionError> {
        let out = aws_sdk_secretsmanager::Client::new(&self.sdk)
            .create_secret()
            .name(format!("{}-{parameter}", self.prefix))
            .secret_string(secret_json)
            .send()
            .await
            .map_err(|e| aws_error(format!("CreateSecret {parameter}"), e))?;
        let arn = out
            .arn()
            .ok_or_else(|| ProvisionError::Incomplete("CreateSecret".into()))?
            .to_owned();
        self.set_parameter(parameter, arn.clone());
        Ok(arn)
    }

    /// The environment template.yaml gives every function (`Globals.Function`), with
    /// references resolved to these resources: table names, queue URLs, key id, bus
    /// name, and parameters at their defaults or [`LocalAws::set_parameter`] values. A
    /// variable whose parameter has no value yet (`SecretsArn` until
    /// [`LocalAws::put_secret`]) is left out, so a function that needs it fails as it
    /// would when misconfigured.
    pub fn env_vars(&self) -> Result<BTreeMap<String, String>, TemplateError> {
        self.resolve_all(&self.function_environment)
    }

    /// The environment of one function: `Globals` and then its own variables (which win),
    /// resolved as in [`LocalAws::env_vars`].
    pub fn function_env_vars(
        &self,
        function: &FunctionSpec,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let mut env = self.env_vars()?;
        env.extend(self.resolve_all(&function.environment)?);
        Ok(env)
    }

    fn resolve_all(
        &self,
        vars: &BTreeMap<String, Expr>,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let mut out = BTreeMap::new();
        for (name, expr) in vars {
            match expr.evaluate(self) {
                Ok(value) => {
                    out.insert(name.clone(), value);
                }
                Err(TemplateError::Unresolved { reference })
                    if self.is_parameter_without_value(&reference) => {}
                Err(TemplateError::Unresolved { reference }) => {
                    return Err(TemplateError::Invalid {
                        resource: name.clone(),
                        message: format!("cannot resolve {reference}"),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn is_parameter_without_value(&self, name: &str) -> bool {
        !self.parameters.contains_key(name)
            && !self.created.contains_key(name)
            && !name.starts_with("AWS::")
    }
}

impl Resolve for LocalAws {
    fn reference(&self, name: &str) -> Option<String> {
        if let Some(value) = pseudo_parameter(name, &self.prefix) {
            return Some(value);
        }
        if let Some(value) = self.parameters.get(name) {
            return Some(value.clone());
        }
        reference_of(self.created.get(name)?)
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
        attribute_of(self.created.get(resource)?, attribute)
    }
}

/// SDK configuration for a local endpoint (moto), with test credentials.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "relay-local",
        ))
        .load()
        .await
}

/// An S3 client for a local endpoint: buckets by path, since `<bucket>.127.0.0.1`
/// does not resolve.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

// ------------------------------------------------------------------ test harness

/// One test's isolated set of the template's AWS resources.
#[derive(Debug, Clone)]
pub struct TestAws {
    pub sdk: SdkConfig,
    /// Starts the name of every resource of this set; unique per provision.
    pub prefix: String,
    pub tables: Tables,
    pub token_key_id: String,
    pub event_bus: String,
    pub queues: Queues,
    /// The bucket of uploaded post media.
    pub media_bucket: String,
    local: LocalAws,
}

/// Stops the test with the operation that failed and the SDK's full error chain.
fn fail(err: ProvisionError) -> ! {
    panic!("local AWS: {err}")
}

impl TestAws {
    /// Creates every resource of the project's template.yaml for this test.
    ///
    /// Panics when `AWS_ENDPOINT_URL` is unset (run the tests through
    /// `infra/scripts/test.sh`), when the template cannot be read, or when moto refuses
    /// a resource.
    pub async fn provision() -> TestAws {
        let template = Template::project().unwrap_or_else(|e| fail(e.into()));
        TestAws::provision_template(&template).await
    }

    /// Creates every resource of `template`, which must declare at least the
    /// resources behind the typed fields (MainTable, TokenKey, InboundQueue, ...).
    pub async fn provision_template(template: &Template) -> TestAws {
        let sdk = sdk_config().await;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let local = LocalAws::provision(sdk.clone(), &prefix, template)
            .await
            .unwrap_or_else(|e| fail(e));
        let lookup = |id: &str| -> &Created {
            local.created(id).unwrap_or_else(|| {
                panic!("local AWS: template.yaml has no {id}, which the harness exposes as a field")
            })
        };
        let table = |id: &str| match lookup(id) {
            Created::Table { name, .. } => name.clone(),
            other => panic!("local AWS: {id} is not a table: {other:?}"),
        };
        let queue = |id: &str| match lookup(id) {
            Created::Queue { url, .. } => url.clone(),
            other => panic!("local AWS: {id} is not a queue: {other:?}"),
        };
        let tables = Tables {
            main: table("MainTable"),
            audit: table("AuditTable"),
            archive: table("ArchiveTable"),
        };
        let queues = Queues {
            inbound: queue("InboundQueue"),
            inbound_dlq: queue("InboundDLQ"),
            replies: queue("RepliesQueue"),
            replies_dlq: queue("RepliesDLQ"),
            moderation: queue("ModerationQueue"),
            moderation_dlq: queue("ModerationDLQ"),
            publish: queue("PublishQueue"),
            publish_dlq: queue("PublishDLQ"),
            sync: queue("SyncQueue"),
            sync_dlq: queue("SyncDLQ"),
        };
        let token_key_id = match lookup("TokenKey") {
            Created::Key { id, .. } => id.clone(),
            other => panic!("local AWS: TokenKey is not a KMS key: {other:?}"),
        };
        let event_bus = match lookup("EventBus") {
            Created::EventBus { name, .. } => name.clone(),
            other => panic!("local AWS: EventBus is not an event bus: {other:?}"),
        };
        let media_bucket = match lookup("MediaBucket") {
            Created::Bucket { name, .. } => name.clone(),
            other => panic!("local AWS: MediaBucket is not a bucket: {other:?}"),
        };
        TestAws {
            sdk,
            prefix,
            tables,
            token_key_id,
            event_bus,
            queues,
            media_bucket,
            local,
        }
    }

    /// The underlying set of resources, as the local stack uses it.
    pub fn local(&self) -> &LocalAws {
        &self.local
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.sdk)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.sdk)
    }

    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    /// A new queue that receives Relay's domain events from this test's bus: those of
    /// `detail_type`, or all of them. Returns its URL (read it to see what was published).
    pub async fn capture_bus_events(&self, detail_type: Option<&str>) -> String {
        let name = format!("{}-events-{}", self.prefix, detail_type.unwrap_or("all"));
        let sqs = self.sqs();
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("CreateQueue on moto")
            .queue_url
            .expect("a created queue has a URL");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes on moto")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("a queue has an ARN");
        let mut pattern = serde_json::json!({"source": ["relay"]});
        if let Some(detail_type) = detail_type {
            pattern["detail-type"] = serde_json::json!([detail_type]);
        }
        let events = self.eventbridge();
        events
            .put_rule()
            .name(&name)
            .event_bus_name(&self.event_bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("PutRule on moto");
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(&self.event_bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .expect("id and arn are set"),
            )
            .send()
            .await
            .expect("PutTargets on moto");
        url
    }

    fn created(&self, logical_id: &str) -> &Created {
        self.local.created(logical_id).unwrap_or_else(|| {
            panic!("local AWS: template.yaml declares no table, queue, key or bus {logical_id}")
        })
    }

    /// Name of the table with this logical id, e.g. `table("MainTable")`.
    pub fn table(&self, logical_id: &str) -> &str {
        match self.created(logical_id) {
            Created::Table { name, .. } => name,
            other => panic!("local AWS: {logical_id} is not a table: {other:?}"),
        }
    }

    /// URL of the queue with this logical id, e.g. `queue_url("InboundQueue")`.
    pub fn queue_url(&self, logical_id: &str) -> &str {
        match self.created(logical_id) {
            Created::Queue { url, .. } => url,
            other => panic!("local AWS: {logical_id} is not a queue: {other:?}"),
        }
    }

    /// ARN of the queue with this logical id.
    pub fn queue_arn(&self, logical_id: &str) -> &str {
        match self.created(logical_id) {
            Created::Queue { arn, .. } => arn,
            other => panic!("local AWS: {logical_id} is not a queue: {other:?}"),
        }
    }

    /// Key id of the KMS key with this logical id.
    pub fn key_id(&self, logical_id: &str) -> &str {
        match self.created(logical_id) {
            Created::Key { id, .. } => id,
            other => panic!("local AWS: {logical_id} is not a KMS key: {other:?}"),
        }
    }

    /// Name of the KMS alias with this logical id (`alias/...`).
    pub fn alias(&self, logical_id: &str) -> &str {
        match self.created(logical_id) {
            Created::Alias { name } => name,
            other => panic!("local AWS: {logical_id} is not a KMS alias: {other:?}"),
        }
    }

    /// Name of the event bus with this logical id.
    pub fn event_bus_name(&self, logical_id: &str) -> &str {
        match self.created(logical_id) {
            Created::EventBus { name, .. } => name,
            other => panic!("local AWS: {logical_id} is not an event bus: {other:?}"),
        }
    }

    /// Logical ids of everything created, for tests that walk the whole template.
    pub fn logical_ids(&self) -> impl Iterator<Item = &str> {
        self.local.resources().map(|(id, _)| id)
    }

    /// Gives a template parameter a value for [`TestAws::env_vars`].
    pub fn set_parameter(&mut self, name: &str, value: impl Into<String>) {
        self.local.set_parameter(name, value);
    }

    /// Stores `secret_json` as a Secrets Manager secret of this set and makes the
    /// template parameter `parameter` (e.g. `SecretsArn`) its ARN. Returns the ARN.
    pub async fn put_secret(&mut self, parameter: &str, secret_json: &str) -> String {
        self.local
            .put_secret(parameter, secret_json)
            .await
            .unwrap_or_else(|e| fail(e))
    }

    /// The environment template.yaml gives every function (`Globals.Function`), with
    /// references resolved to this set's resources (see [`LocalAws::env_vars`]).
    pub fn env_vars(&self) -> BTreeMap<String, String> {
        self.local
            .env_vars()
            .unwrap_or_else(|e| panic!("local AWS: cannot compute the function environment: {e}"))
    }
}

impl Resolve for TestAws {
    fn reference(&self, name: &str) -> Option<String> {
        self.local.reference(name)
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
        self.local.attribute(resource, attribute)
    }
}

/// SDK configuration for the local moto server named by `AWS_ENDPOINT_URL`.
async fn sdk_config() -> SdkConfig {
    let endpoint = std::env::var(ENDPOINT_ENV).unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: run the tests with infra/scripts/test.sh, which \
             starts a local moto server and points the AWS SDK at it"
        )
    });
    sdk_config_for(&endpoint).await
}

// ------------------------------------------------------------------ provisioning

fn pseudo_parameter(name: &str, stack_name: &str) -> Option<String> {
    match name {
        "AWS::Region" => Some(REGION.into()),
        "AWS::AccountId" => Some(ACCOUNT_ID.into()),
        "AWS::Partition" => Some("aws".into()),
        "AWS::URLSuffix" => Some("amazonaws.com".into()),
        "AWS::StackName" => Some(stack_name.into()),
        _ => None,
    }
}

/// What CloudFormation's `!Ref` returns for each resource type.
fn reference_of(created: &Created) -> Option<String> {
    Some(match created {
        Created::Table { name, .. } => name.clone(),
        Created::Queue { url, .. } => url.clone(),
        Created::Key { id, .. } => id.clone(),
        Created::Alias { name } => name.clone(),
        Created::EventBus { name, .. } => name.clone(),
        Created::Bucket { name, .. } => name.clone(),
    })
}

/// What CloudFormation's `!GetAtt` returns for the attributes the harness knows.
fn attribute_of(created: &Created, attribute: &str) -> Option<String> {
    let value = match (created, attribute) {
        (Created::Table { arn, .. }, "Arn") => arn,
        (Created::Queue { arn, .. }, "Arn") => arn,
        (Created::Queue { name, .. }, "QueueName") => name,
        (Created::Queue { url, .. }, "QueueUrl") => url,
        (Created::Key { arn, .. }, "Arn") => arn,
        (Created::Key { id, .. }, "KeyId") => id,
        (Created::EventBus { arn, .. }, "Arn") => arn,
        (Created::EventBus { name, .. }, "Name") => name,
        (Created::Bucket { arn, .. }, "Arn") => arn,
        _ => return None,
    };
    Some(value.clone())
}

/// Creates a template's resources and records what each logical id became.
struct Provisioner<'a> {
    sdk: &'a SdkConfig,
    prefix: &'a str,
    created: BTreeMap<String, Created>,
}

type Made = Result<(String, Created), ProvisionError>;

impl Provisioner<'_> {
    fn name(&self, logical_id: &str) -> String {
        format!("{}-{logical_id}", self.prefix)
    }

    /// Tables, keys and buses depend on nothing; queues may be encrypted with a key
    /// of the template; aliases need their key; redrive policies need the ARN of
    /// their dead-letter queue. Each stage runs its requests concurrently.
    async fn create_all(&mut self, template: &Template) -> Result<(), ProvisionError> {
        let tables = template.tables()?;
        let keys = template.keys()?;
        let buses = template.event_buses()?;
        let queues = template.queues()?;
        let aliases = template.aliases()?;
        let buckets = template.buckets()?;

        let (tables, keys, buses, buckets) = futures::join!(
            join_all(tables.iter().map(|t| self.create_table(t))),
            join_all(keys.iter().map(|k| self.create_key(k))),
            join_all(buses.iter().map(|b| self.create_bus(&b.logical_id))),
            join_all(buckets.iter().map(|b| self.create_bucket(b))),
        );
        for made in tables.into_iter().chain(keys).chain(buses).chain(buckets) {
            let (id, created) = made?;
            self.created.insert(id, created);
        }

        let (created_queues, aliases) = futures::join!(
            join_all(queues.iter().map(|q| self.create_queue(q))),
            join_all(
                aliases
                    .iter()
                    .map(|a| self.create_alias(&a.logical_id, &a.target_key))
            ),
        );
        for made in created_queues.into_iter().chain(aliases) {
            let (id, created) = made?;
            self.created.insert(id, created);
        }

        let redrives = join_all(
            queues
                .iter()
                .filter_map(|q| Some((q, q.redrive.as_ref()?)))
                .map(|(queue, redrive)| {
                    let policy = serde_json::json!({
                        "deadLetterTargetArn": self.queue_arn(&redrive.dead_letter_queue),
                        "maxReceiveCount": redrive.max_receive_count,
                    });
                    self.set_redrive(&queue.logical_id, policy.to_string())
                }),
        )
        .await;
        redrives.into_iter().collect()
    }

    fn queue_arn(&self, logical_id: &str) -> &str {
        match self.created.get(logical_id) {
            Some(Created::Queue { arn, .. }) => arn,
            _ => unreachable!("Template::queues checked that every DLQ is a queue"),
        }
    }

    async fn create_table(&self, spec: &TableSpec) -> Made {
        let name = self.name(&spec.logical_id);
        let client = aws_sdk_dynamodb::Client::new(self.sdk);
        let (billing, capacity) = match spec.billing {
            BillingMode::PayPerRequest => (ddb::BillingMode::PayPerRequest, None),
            BillingMode::Provisioned(t) => (ddb::BillingMode::Provisioned, Some(throughput(t))),
        };
        let attributes = spec
            .attributes
            .iter()
            .map(|(attribute, kind)| {
                ddb::AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ddb::ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .expect("attribute name and type are set")
            })
            .collect();
        let gsis: Vec<_> = spec
            .global_indexes
            .iter()
            .map(|index| {
                ddb::GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_schema(&index.key_schema)))
                    .projection(projection(index))
                    .set_provisioned_throughput(index.throughput.map(throughput))
                    .build()
                    .expect("index name, key schema and projection are set")
            })
            .collect();
        let lsis: Vec<_> = spec
            .local_indexes
            .iter()
            .map(|index| {
                ddb::LocalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_schema(&index.key_schema)))
                    .projection(projection(index))
                    .build()
                    .expect("index name, key schema and projection are set")
            })
            .collect();
        let stream = spec.stream_view.as_deref().map(|view| {
            ddb::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(ddb::StreamViewType::from(view))
                .build()
                .expect("stream_enabled is set")
        });
        let out = client
            .create_table()
            .table_name(&name)
            .billing_mode(billing)
            .set_provisioned_throughput(capacity)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&spec.key_schema)))
            .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
            .set_local_secondary_indexes((!lsis.is_empty()).then_some(lsis))
            .set_stream_specification(stream)
            .send()
            .await
            .map_err(|e| aws_error(format!("CreateTable {}", spec.logical_id), e))?;
        if let Some(attribute) = &spec.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    ddb::TimeToLiveSpecification::builder()
                        .attribute_name(attribute)
                        .enabled(true)
                        .build()
                        .expect("attribute name and enabled are set"),
                )
                .send()
                .await
                .map_err(|e| aws_error(format!("UpdateTimeToLive {}", spec.logical_id), e))?;
        }
        let arn = out
            .table_description()
            .and_then(|d| d.table_arn())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"));
        Ok((spec.logical_id.clone(), Created::Table { name, arn }))
    }

    async fn create_key(&self, spec: &KeySpec) -> Made {
        use aws_sdk_kms::types::{KeySpec, KeyUsageType};
        let client = aws_sdk_kms::Client::new(self.sdk);
        let out = client
            .create_key()
            .description(self.name(&spec.logical_id))
            .key_spec(KeySpec::from(spec.key_spec.as_str()))
            .key_usage(KeyUsageType::from(spec.key_usage.as_str()))
            .send()
            .await
            .map_err(|e| aws_error(format!("CreateKey {}", spec.logical_id), e))?;
        let metadata = out
            .key_metadata()
            .ok_or_else(|| ProvisionError::Incomplete("CreateKey".into()))?;
        let id = metadata.key_id().to_owned();
        let arn = metadata
            .arn()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{id}"));
        if spec.rotation {
            client
                .enable_key_rotation()
                .key_id(&id)
                .send()
                .await
                .map_err(|e| aws_error(format!("EnableKeyRotation {}", spec.logical_id), e))?;
        }
        if !spec.enabled {
            client
                .disable_key()
                .key_id(&id)
                .send()
                .await
                .map_err(|e| aws_error(format!("DisableKey {}", spec.logical_id), e))?;
        }
        Ok((spec.logical_id.clone(), Created::Key { id, arn }))
    }

    async fn create_alias(&self, logical_id: &str, target_key: &str) -> Made {
        let Some(Created::Key { id, .. }) = self.created.get(target_key) else {
            unreachable!("Template::aliases checked that the target is a key of the template")
        };
        let name = format!("alias/{}", self.name(logical_id));
        aws_sdk_kms::Client::new(self.sdk)
            .create_alias()
            .alias_name(&name)
            .target_key_id(id)
            .send()
            .await
            .map_err(|e| aws_error(format!("CreateAlias {logical_id}"), e))?;
        Ok((logical_id.to_owned(), Created::Alias { name }))
    }

    async fn create_bus(&self, logical_id: &str) -> Made {
        let name = self.name(logical_id);
        let out = aws_sdk_eventbridge::Client::new(self.sdk)
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .map_err(|e| aws_error(format!("CreateEventBus {logical_id}"), e))?;
        let arn = out
            .event_bus_arn()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"));
        Ok((logical_id.to_owned(), Created::EventBus { name, arn }))
    }

    /// Creates a bucket (S3 names are lowercase) with the template's lifecycle rules.
    async fn create_bucket(&self, spec: &BucketSpec) -> Made {
        use aws_sdk_s3::types::{
            AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
            LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, Tag,
        };
        let name = self.name(&spec.logical_id).to_ascii_lowercase();
        let client = s3_client(self.sdk);
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| aws_error(format!("CreateBucket {}", spec.logical_id), e))?;
        let tag = |(key, value): &(String, String)| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .expect("key and value are set")
        };
        let rules = spec
            .lifecycle
            .iter()
            .map(|rule| {
                let filter = match (&rule.prefix, rule.tags.as_slice()) {
                    (None, [one]) => LifecycleRuleFilter::builder().tag(tag(one)).build(),
                    (Some(prefix), []) => LifecycleRuleFilter::builder().prefix(prefix).build(),
                    (prefix, tags) => LifecycleRuleFilter::builder()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .set_prefix(prefix.clone())
                                .set_tags(Some(tags.iter().map(tag).collect()))
                                .build(),
                        )
                        .build(),
                };
                LifecycleRule::builder()
                    .id(&rule.id)
                    .status(ExpirationStatus::Enabled)
                    .filter(filter)
                    .expiration(
                        LifecycleExpiration::builder()
                            .days(rule.expiration_days as i32)
                            .build(),
                    )
                    .set_abort_incomplete_multipart_upload(rule.abort_multipart_days.map(|d| {
                        AbortIncompleteMultipartUpload::builder()
                            .days_after_initiation(d as i32)
                            .build()
                    }))
                    .build()
                    .expect("status is set")
            })
            .collect::<Vec<_>>();
        if !rules.is_empty() {
            client
                .put_bucket_lifecycle_configuration()
                .bucket(&name)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .expect("rules are set"),
                )
                .send()
                .await
                .map_err(|e| {
                    aws_error(
                        format!("PutBucketLifecycleConfiguration {}", spec.logical_id),
                        e,
                    )
                })?;
        }
        let arn = format!("arn:aws:s3:::{name}");
        Ok((spec.logical_id.clone(), Created::Bucket { name, arn }))
    }

    /// Creates a queue with every attribute but its redrive policy, which needs the
    /// dead-letter queue's ARN and is set once all queues exist.
    async fn create_queue(&self, spec: &QueueSpec) -> Made {
        let mut name = self.name(&spec.logical_id);
        // SQS requires the name of a FIFO queue to end in ".fifo".
        if spec.fifo {
            name.push_str(".fifo");
        }
        let resolver = CreatedSoFar {
            created: &self.created,
            stack_name: self.prefix,
        };
        let kms_key = spec
            .kms_master_key
            .as_ref()
            .map(|expr| expr.evaluate(&resolver))
            .transpose()?;
        let numbers = [
            (QueueAttributeName::DelaySeconds, spec.delay_seconds),
            (
                QueueAttributeName::VisibilityTimeout,
                spec.visibility_timeout,
            ),
            (
                QueueAttributeName::MessageRetentionPeriod,
                spec.message_retention_period,
            ),
            (
                QueueAttributeName::MaximumMessageSize,
                spec.maximum_message_size,
            ),
            (
                QueueAttributeName::ReceiveMessageWaitTimeSeconds,
                spec.receive_wait_time_seconds,
            ),
        ];
        let flags = [
            (QueueAttributeName::FifoQueue, spec.fifo.then_some(true)),
            (
                QueueAttributeName::ContentBasedDeduplication,
                spec.content_based_deduplication,
            ),
            (
                QueueAttributeName::SqsManagedSseEnabled,
                spec.sqs_managed_sse,
            ),
        ];
        let mut attributes: HashMap<QueueAttributeName, String> = HashMap::new();
        for (attribute, value) in numbers {
            if let Some(value) = value {
                attributes.insert(attribute, value.to_string());
            }
        }
        for (attribute, value) in flags {
            if let Some(value) = value {
                attributes.insert(attribute, value.to_string());
            }
        }
        if let Some(key) = kms_key {
            attributes.insert(QueueAttributeName::KmsMasterKeyId, key);
        }
        let client = aws_sdk_sqs::Client::new(self.sdk);
        let url = client
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| aws_error(format!("CreateQueue {}", spec.logical_id), e))?
            .queue_url()
            .ok_or_else(|| ProvisionError::Incomplete("CreateQueue".into()))?
            .to_owned();
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws_error(format!("GetQueueAttributes {}", spec.logical_id), e))?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .ok_or_else(|| ProvisionError::Incomplete("GetQueueAttributes".into()))?
            .clone();
        Ok((spec.logical_id.clone(), Created::Queue { name, url, arn }))
    }

    async fn set_redrive(&self, logical_id: &str, policy: String) -> Result<(), ProvisionError> {
        let Some(Created::Queue { url, .. }) = self.created.get(logical_id) else {
            unreachable!("every queue was created before redrive policies are set")
        };
        aws_sdk_sqs::Client::new(self.sdk)
            .set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .map_err(|e| aws_error(format!("SetQueueAttributes {logical_id}"), e))?;
        Ok(())
    }
}

/// Resolves references against resources created so far, while provisioning.
struct CreatedSoFar<'a> {
    created: &'a BTreeMap<String, Created>,
    stack_name: &'a str,
}

impl Resolve for CreatedSoFar<'_> {
    fn reference(&self, name: &str) -> Option<String> {
        pseudo_parameter(name, self.stack_name).or_else(|| reference_of(self.created.get(name)?))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
        attribute_of(self.created.get(resource)?, attribute)
    }
}

fn key_schema(schema: &KeySchema) -> Vec<ddb::KeySchemaElement> {
    std::iter::once((&schema.hash, ddb::KeyType::Hash))
        .chain(schema.range.iter().map(|r| (r, ddb::KeyType::Range)))
        .map(|(attribute, kind)| {
            ddb::KeySchemaElement::builder()
                .attribute_name(attribute)
                .key_type(kind)
                .build()
                .expect("attribute name and key type are set")
        })
        .collect()
}

fn projection(index: &IndexSpec) -> ddb::Projection {
    let builder = ddb::Projection::builder();
    match &index.projection {
        Projection::All => builder.projection_type(ddb::ProjectionType::All),
        Projection::KeysOnly => builder.projection_type(ddb::ProjectionType::KeysOnly),
        Projection::Include(attributes) => builder
            .projection_type(ddb::ProjectionType::Include)
            .set_non_key_attributes(Some(attributes.clone())),
    }
    .build()
}

fn throughput(t: Throughput) -> ddb::ProvisionedThroughput {
    ddb::ProvisionedThroughput::builder()
        .read_capacity_units(t.read)
        .write_capacity_units(t.write)
        .build()
        .expect("read and write capacity are set")
}
