//! The OpenAPI 3.1 document, generated from the handlers' annotations. A copy is
//! committed (`functions/api/openapi.json`); a test fails when it is stale
//! (`cargo run -p api --bin openapi > functions/api/openapi.json` refreshes it).

use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    accounts, audit, comments, inbox, insights, keys, knowledge, operator, posts, tenant, uploads,
};
use crate::{problem, views};

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A Relay API key: `Authorization: Bearer rly_...`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Relay management API",
        version = "1",
        description = "The team's way into Relay: accounts, inbox, AI drafts and knowledge, comments, scheduled posts, profile and insights, audit trail, keys; and the operators' routes. Errors are application/problem+json (RFC 9457)."
    ),
    modifiers(&BearerKeys),
    security(("api_key" = [])),
    paths(
        accounts::list, accounts::show, accounts::update_settings, accounts::disconnect,
        inbox::list, inbox::show, inbox::messages, inbox::reply, inbox::assign, inbox::mark_read,
        inbox::pause, inbox::resume, inbox::drafts, inbox::approve, inbox::reject,
        knowledge::list, knowledge::create, knowledge::show, knowledge::replace, knowledge::remove,
        comments::list, comments::show, comments::act,
        posts::list, posts::create, posts::show, posts::change, posts::cancel,
        uploads::create,
        insights::profile, insights::account, insights::media, insights::refresh, insights::csv,
        audit::list, audit::verify,
        keys::list, keys::create, keys::revoke, tenant::erase,
        operator::list_tenants, operator::create_tenant, operator::create_owner_key,
        operator::onboarding_link, operator::health,
    ),
    components(schemas(problem::Problem, problem::FieldError, views::AccountView, views::TokenHealth))
)]
pub struct ApiDoc;

/// The document as the API serves it: the generated one, with what every operation
/// shares added in one place (unique operation ids, problems as
/// `application/problem+json`, the answers of the access gate and the body checks).
pub fn document() -> String {
    let mut doc =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document always serialises");
    let problem = || json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    // API Gateway answers 401 (no Authorization header) and 403 (the authorizer refused
    // the key) itself, as `{"message": ...}` in application/json.
    let gateway = || {
        let mut content = problem();
        content["application/json"] =
            json!({ "schema": { "$ref": "#/components/schemas/GatewayMessage" } });
        content
    };
    let shared = [
        ("401", "No API key (answered by API Gateway)"),
        (
            "403",
            "A key Relay does not know (API Gateway), or whose role or kind may not use this route",
        ),
        ("404", "No such resource in the caller's tenant"),
        (
            "422",
            "A parameter or the body was refused; `errors` names the fields",
        ),
        ("429", "The tenant's rate is used up; see Retry-After"),
        ("503", "Relay could not complete the request; try again"),
    ];
    let with_body = [
        ("413", "The body is larger than 256 KiB"),
        ("415", "The body is not application/json"),
    ];
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let Some(operation) = operation.as_object_mut() else {
                    continue;
                };
                let tag = operation["tags"][0].as_str().unwrap_or("api").to_owned();
                if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                    let id = format!("{tag}_{id}");
                    operation.insert("operationId".into(), Value::String(id));
                }
                let has_body = operation.contains_key("requestBody");
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for response in responses.values_mut() {
                    let is_problem = response["content"]["application/json"]["schema"]["$ref"]
                        == "#/components/schemas/Problem";
                    if is_problem {
                        response["content"] = problem();
                    }
                }
                let extra = if has_body { &with_body[..] } else { &[][..] };
                for (status, description) in shared.iter().chain(extra) {
                    responses.entry(*status).or_insert_with(
                        || json!({ "description": description, "content": problem() }),
                    );
                }
                for status in ["401", "403"] {
                    responses[status]["content"] = gateway();
                }
            }
        }
    }
    doc["components"]["schemas"]["GatewayMessage"] = json!({
        "type": "object",
        "description": "API Gateway's own answer",
        "properties": { "message": { "type": "string" } },
        "required": ["message"],
    });
    serde_json::to_string_pretty(&doc).expect("the OpenAPI document always serialises")
}

/// `GET /v1/openapi.json`: the spec, to anyone.
pub async fn serve() -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "application/json")], document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_spec_is_the_one_the_code_generates() {
        let committed = include_str!("../openapi.json");
        assert!(
            committed.trim_end() == document().trim_end(),
            "functions/api/openapi.json is stale: run `cargo run -p api --bin openapi > functions/api/openapi.json`"
        );
    }

    #[test]
    fn every_route_with_a_rule_is_in_the_spec_and_nothing_else() {
        let doc: Value = serde_json::from_str(&document()).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
                let id = operation["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "operation id {id} is not unique");
            }
        }
        documented.sort();
        let mut ruled: Vec<(String, String)> = crate::access::ROUTES
            .iter()
            .filter(|(_, p, _)| *p != "/v1/openapi.json")
            .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        ruled.sort();
        assert_eq!(documented, ruled);
    }
}
