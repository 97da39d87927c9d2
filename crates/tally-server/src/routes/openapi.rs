//! `GET /api/openapi.json`: the route inventory as an OpenAPI 3.1 document. Generated from
//! the same table the router is built from, so it cannot drift from the routes.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::AppState;

pub(crate) async fn document(State(state): State<AppState>) -> Json<Value> {
    let mut paths = Map::new();
    for route in state.inventory() {
        let parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": if name == "role_id" { "string" } else { "integer" } } }))
            .collect();
        let operation = json!({
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
        let entry = paths.entry(route.path.to_string()).or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation;
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": { "title": "Tally", "version": env!("CARGO_PKG_VERSION") },
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
                "serviceAccount": { "type": "http", "scheme": "basic" },
                "scimToken": { "type": "http", "scheme": "bearer" },
            }
        },
        "paths": paths,
    }))
}
