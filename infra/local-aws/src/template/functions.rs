//! `AWS::Serverless::Function`: the workspace binary each function is built from
//! (`Metadata.BuildProperties.Binary`), its environment on top of `Globals`, its
//! timeout, and its `Events`: HTTP API routes (read in `http_api`), SQS event source
//! mappings (read here, with Lambda's limits on batch size and batching window) and
//! schedules (read in `schedules`). Two functions may not share a binary or a route.

use std::collections::BTreeMap;

use yaml_serde::{Mapping, Value};

use super::http_api::HttpRoute;
use super::intrinsics::{Defaults, Expr};
use super::props::Props;
use super::schedules::{ScheduleSpec, schedule};
use super::{Template, TemplateError, environment_variables, invalid, unsupported};

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

impl Template {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::ScheduleKind;
    use crate::template::project;

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
