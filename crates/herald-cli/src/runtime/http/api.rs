//! `/api/v1`: the components' rows (as `herald status --json` prints them), controls, and
//! the dependency graph (as `herald graph --format json`).

use super::super::control::server::rows;
use super::router::Api;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald::Action;
use serde_json::json;

/// A JSON error: `{"error": MESSAGE}` plus `extra` fields.
pub fn error(status: StatusCode, message: String, extra: serde_json::Value) -> Response {
    let mut body = json!({ "error": message });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    (status, Json(body)).into_response()
}

/// 404 for a component the running stack does not have, listing those it has.
pub fn unknown(api: &Api, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no component {name:?} in the running stack"),
        json!({ "components": api.shared.names }),
    )
}

/// `GET /api/v1/components`.
pub async fn components(State(api): State<Api>) -> Response {
    Json(rows(&api.shared.running)).into_response()
}

/// `GET /api/v1/components/{name}`.
pub async fn component(State(api): State<Api>, Path(name): Path<String>) -> Response {
    match rows(&api.shared.running)
        .into_iter()
        .find(|r| r.name == name)
    {
        Some(row) => Json(row).into_response(),
        None => unknown(&api, &name),
    }
}

/// `POST /api/v1/components/{name}/{action}`: [`Running::act`](herald::Running::act), then
/// the component's row. Refused (403) with `--read-only`.
pub async fn control(
    State(api): State<Api>,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let action: Action = match action.parse() {
        Ok(action) => action,
        Err(e) => return error(StatusCode::NOT_FOUND, e.to_string(), json!({})),
    };
    if api.access.read_only {
        return error(
            StatusCode::FORBIDDEN,
            format!("read-only: {action} {name} refused (the stack runs with --read-only)"),
            json!({}),
        );
    }
    if api.shared.running.act(&name, action).await.is_err() {
        return unknown(&api, &name);
    }
    component(State(api), Path(name)).await
}

/// `GET /api/v1/graph`.
pub async fn graph(State(api): State<Api>) -> Response {
    Json(crate::graph_view::to_json(api.shared.running.graph())).into_response()
}
