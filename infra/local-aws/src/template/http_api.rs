//! `AWS::Serverless::HttpApi` and the `HttpApi` events of functions: route keys
//! (method and path as API Gateway validates them), payload format 2.0 only, and the
//! Lambda REQUEST authorizers an API declares (`Auth.Authorizers`) with the identity
//! headers and cache time a route's requests are checked with.

use std::collections::BTreeMap;

use yaml_serde::Value;

use super::intrinsics::Expr;
use super::props::Props;
use super::{Template, TemplateError, invalid, unsupported};

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

impl Template {
    pub(super) fn http_route(&self, p: &Props<'_>, at: &str) -> Result<HttpRoute, TemplateError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Trigger;

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
}
