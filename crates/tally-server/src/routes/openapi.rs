//! `GET /api/openapi.json`: the route inventory as an OpenAPI 3.1 document. Generated from
//! the same table the router is built from, so it cannot drift from the routes. Bodies
//! that are Rust types deriving `utoipa::ToSchema` are published as components and named by
//! their routes; `docs/openapi.json` is this document, and the web app's TypeScript types
//! are generated from it (a test fails when the committed copy is stale).

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use utoipa::openapi::ComponentsBuilder;

use crate::AppState;
use crate::access::RouteSpec;

/// Routes whose request and answer bodies are typed: (method, path, request, answer), each
/// body a component's name. The answer is the `results` of the `{"status":"ok"}` envelope.
const TYPED: &[(&str, &str, Option<&str>, Option<&str>)] =
    &[("POST", "/api/app/projects/{project_id}/query", Some("Report"), Some("Answer"))];

/// The components every typed route refers to.
fn components() -> Value {
    use utoipa::ToSchema;
    let mut schemas = Vec::new();
    tally_query::model::Report::schemas(&mut schemas);
    tally_query::Answer::schemas(&mut schemas);
    let components = ComponentsBuilder::new()
        .schema_from::<tally_query::model::Report>()
        .schema_from::<tally_query::Answer>()
        .schemas_from_iter(schemas)
        .build();
    serde_json::to_value(components).unwrap_or_else(|_| json!({}))
}

pub(crate) async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(document_for(state.inventory()))
}

/// The document for a route inventory.
pub(crate) fn document_for(inventory: &[RouteSpec]) -> Value {
    let mut paths = Map::new();
    for route in inventory {
        // axum's catch-all `{*rest}` is a plain `{rest}` in OpenAPI's templates.
        let path = route.path.replace("{*", "{");
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let kind = if ["role_id", "screen", "file"].contains(&name) { "string" } else { "integer" };
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": kind } })
            })
            .collect();
        let typed = TYPED.iter().find(|(method, path, _, _)| *method == route.method && *path == route.path);
        let mut operation = json!({
            "summary": route.summary,
            "parameters": parameters,
            "x-tally-requirement": route.requirement.label(),
            "security": match route.requirement {
                crate::access::Requirement::Public => json!([]),
                crate::access::Requirement::ScimToken => json!([{ "scimToken": [] }]),
                _ => json!([{ "session": [] }, { "serviceAccount": [] }]),
            },
            "responses": { "default": { "description": "`{\"status\":\"ok\",\"results\":...}` or `{\"status\":\"error\",\"error\":...,\"code\":...}`" } },
        });
        if let Some((_, _, request, answer)) = typed {
            if let Some(request) = request {
                operation["requestBody"] = json!({
                    "required": true,
                    "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{request}") } } },
                });
            }
            if let Some(answer) = answer {
                operation["responses"]["200"] = json!({
                    "description": "the answer, in the envelope's `results`",
                    "content": { "application/json": { "schema": {
                        "type": "object",
                        "required": ["status", "results"],
                        "properties": {
                            "status": { "const": "ok" },
                            "results": { "$ref": format!("#/components/schemas/{answer}") },
                        },
                    } } },
                });
            }
        }
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation;
    }
    let mut components = components();
    components["securitySchemes"] = json!({
        "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
        "serviceAccount": { "type": "http", "scheme": "basic" },
        "scimToken": { "type": "http", "scheme": "bearer" },
    });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Tally", "version": env!("CARGO_PKG_VERSION") },
        "components": components,
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is what the server publishes; the web app's types are generated
    /// from it. `TALLY_UPDATE_OPENAPI=1` rewrites it (then `scripts/api-types`).
    #[test]
    fn committed_document_is_current() {
        let (_, inventory) = crate::routes::build();
        let document = document_for(&inventory);
        let text = serde_json::to_string_pretty(&document).unwrap_or_default() + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        if std::env::var_os("TALLY_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "docs/openapi.json is stale: run scripts/api-types (it rewrites the document and the web app's types)"
        );
    }

    #[test]
    fn typed_routes_exist_and_name_published_schemas() {
        let (_, inventory) = crate::routes::build();
        let document = document_for(&inventory);
        for (method, path, request, answer) in TYPED {
            assert!(inventory.iter().any(|r| r.method == *method && r.path == *path), "{method} {path}");
            for name in request.iter().chain(answer.iter()) {
                assert!(document["components"]["schemas"][name].is_object(), "{name} is not published");
            }
        }
        // Every reference inside the components names a published schema.
        let text = document["components"].to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(document["components"]["schemas"][name].is_object(), "{name} is referred to but not published");
        }
    }
}
