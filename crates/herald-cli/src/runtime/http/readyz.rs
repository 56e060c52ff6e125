//! `/livez` and `/readyz`, in the Kubernetes API server's format.
//!
//! `/readyz` runs the checks `ping` (the server answers) and `component/NAME` for each
//! component of the run (not the stand-ins of other nodes' components), which passes while it is `ready` or `completed`. It answers 200 `ok`,
//! or with `?verbose` one line per check (`[+]component/db ok`) and `readyz check passed`; on
//! a failure 503 with every line (`[-]component/web failed: REASON`) and `readyz check
//! failed`. The reason (the state and the first line of the last error) is shown over the
//! unix socket or with the token, else `reason withheld`. `?exclude=component/NAME` (repeatable)
//! leaves a check out (`[+]component/NAME excluded: ok`); a name that matches none is warned
//! about. `/readyz/component/NAME` and `/readyz/ping` run one check: `ok`, or 503
//! `internal server error: REASON`. With `Accept: application/json`, `/readyz` answers the
//! same checks as `{"status": "passed"|"failed", "checks": [{"name", "status", "reason"}]}`.

use super::auth::Trusted;
use super::router::{Api, query};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use herald::State as Lifecycle;
use serde_json::json;
use std::fmt::Write;

/// One check's outcome: `None` passed, else the reason it failed.
struct Check {
    name: String,
    failure: Option<String>,
}

/// Every check, in order: `ping`, then each component in file order.
fn checks(api: &Api) -> Vec<Check> {
    let mut checks = vec![Check {
        name: "ping".into(),
        failure: None,
    }];
    for (name, status) in api.shared.running.statuses() {
        // Another node's component is not this stack's own readiness (what depends on it
        // is, and is not ready without it).
        if crate::stackfile::cluster::is_remote(&name) {
            continue;
        }
        let failure = (!matches!(status.state, Lifecycle::Ready | Lifecycle::Completed)).then(
            || match status.error.as_deref() {
                Some(error) => format!(
                    "{}: {}",
                    status.state,
                    super::super::progress::first_line(error)
                ),
                None => status.state.to_string(),
            },
        );
        checks.push(Check {
            name: format!("component/{name}"),
            failure,
        });
    }
    checks
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /livez`: `ok` while the supervisor runs its stack.
pub async fn livez(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let verbose = query(raw.as_deref()).iter().any(|(k, _)| k == "verbose");
    if *api.shared.finished.borrow() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "[-]ping failed: the stack has stopped\nlivez check failed\n".into(),
        );
    }
    let body = if verbose {
        "[+]ping ok\nlivez check passed\n"
    } else {
        "ok"
    };
    text(StatusCode::OK, body.into())
}

/// `GET /readyz`.
pub async fn readyz(
    State(api): State<Api>,
    Extension(Trusted(trusted)): Extension<Trusted>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query(raw.as_deref());
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let mut report = Vec::new();
    let verbose = pairs.iter().any(|(k, _)| k == "verbose");
    let mut excluded: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "exclude")
        .map(|(_, v)| v)
        .collect();
    let mut out = String::new();
    let mut failed = false;
    for check in checks(&api) {
        if let Some(at) = excluded.iter().position(|e| *e == check.name) {
            excluded.remove(at);
            excluded.retain(|e| *e != check.name);
            let _ = writeln!(out, "[+]{} excluded: ok", check.name);
            report.push(json!({ "name": check.name, "status": "excluded" }));
            continue;
        }
        match check.failure {
            None => {
                let _ = writeln!(out, "[+]{} ok", check.name);
                report.push(json!({ "name": check.name, "status": "ok" }));
            }
            Some(reason) => {
                failed = true;
                let reason = if trusted {
                    reason
                } else {
                    "reason withheld".into()
                };
                let _ = writeln!(out, "[-]{} failed: {reason}", check.name);
                report.push(json!({ "name": check.name, "status": "failed", "reason": reason }));
            }
        }
    }
    if !excluded.is_empty() {
        let names: Vec<String> = excluded.iter().map(|e| format!("{e:?}")).collect();
        let _ = writeln!(
            out,
            "warn: some health checks cannot be excluded: no matches for {}",
            names.join(",")
        );
    }
    let code = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    if json {
        let status = if failed { "failed" } else { "passed" };
        let body = json!({ "status": status, "checks": report, "unmatched_excludes": excluded });
        return (code, Json(body)).into_response();
    }
    if failed {
        out.push_str("readyz check failed\n");
        return text(StatusCode::SERVICE_UNAVAILABLE, out);
    }
    if !verbose {
        return text(StatusCode::OK, "ok".into());
    }
    out.push_str("readyz check passed\n");
    text(StatusCode::OK, out)
}

/// One check by its full name.
fn one_check(api: &Api, trusted: bool, name: &str) -> Response {
    let Some(check) = checks(api).into_iter().find(|c| c.name == name) else {
        return text(StatusCode::NOT_FOUND, format!("no check {name:?}\n"));
    };
    match check.failure {
        None => text(StatusCode::OK, "ok".into()),
        Some(reason) => {
            let reason = if trusted {
                reason
            } else {
                "reason withheld".into()
            };
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("internal server error: {reason}\n"),
            )
        }
    }
}

/// `GET /readyz/{check}`: `ping`.
pub async fn one(
    State(api): State<Api>,
    Extension(Trusted(trusted)): Extension<Trusted>,
    Path(check): Path<String>,
) -> Response {
    one_check(&api, trusted, &check)
}

/// `GET /readyz/component/{name}`.
pub async fn component(
    State(api): State<Api>,
    Extension(Trusted(trusted)): Extension<Trusted>,
    Path(name): Path<String>,
) -> Response {
    one_check(&api, trusted, &format!("component/{name}"))
}
