//! `/openapi.json`: the OpenAPI 3 description of every route, made from the router's own
//! table ([`router::table`](super::router::table)), so that a route cannot be served without
//! being described.

use super::router::{Route, table};
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for route in table() {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation(&route);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "herald",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A running herald stack: health, metrics, components, controls, \
                events and logs. Over the unix socket <state_dir>/api.sock everything is open to \
                the stack's user; over TCP every path but /livez and /readyz needs the bearer \
                token.",
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        },
        "security": [ { "bearer": [] } ],
        "paths": paths,
    })
}

fn operation(route: &Route) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let mut parameter = json!({
                "name": name, "in": "path", "required": true, "schema": { "type": "string" }
            });
            if name == "action" {
                parameter["schema"]["enum"] = json!(["start", "stop", "restart"]);
            }
            parameter
        })
        .collect();
    parameters.extend(route.query.iter().map(|name| {
        json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" } })
    }));
    let mut operation = json!({
        "summary": route.summary,
        "parameters": parameters,
        "responses": {
            "200": { "description": "OK", "content": { route.produces: {} } },
        },
    });
    if route.path == "/livez" || route.path.starts_with("/readyz") {
        operation["security"] = json!([]);
        operation["responses"]["503"] = json!({ "description": "a check failed" });
    }
    if route.path.contains("{name}") {
        operation["responses"]["404"] = json!({ "description": "no such component" });
    }
    if route.method == "POST" {
        operation["responses"]["403"] = json!({ "description": "the stack runs --read-only" });
    }
    operation
}

/// `GET /openapi.json`.
pub async fn document() -> Response {
    Json(build()).into_response()
}
