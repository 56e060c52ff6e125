//! `/ui`: the dashboard, one HTML page with its script and styles inline, embedded in the
//! binary (nothing is fetched from elsewhere). It reads `/api/v1/graph`,
//! `/api/v1/components` and the `/api/v1/events` stream, follows a component's log with
//! `/api/v1/logs/{name}?follow=1`, and posts controls; with `--read-only` it has no buttons.

use super::router::Api;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page, with `__READ_ONLY__` and `__STACK__` to fill in.
const PAGE: &str = include_str!("ui.html");

/// `GET /ui`.
pub async fn page(State(api): State<Api>) -> Response {
    let stack = api
        .shared
        .name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    let body = PAGE
        .replace(
            "__READ_ONLY__",
            if api.access.read_only {
                "true"
            } else {
                "false"
            },
        )
        .replace("__STACK__", &stack);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src 'self' data:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}
