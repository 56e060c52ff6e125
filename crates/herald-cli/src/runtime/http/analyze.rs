//! `/api/v1/analyze/{time,blame,critical-chain,trace}`: the same JSON as `herald analyze
//! ... --json`, for the run going on (its open phases last until now) or `?run=N`.

use super::super::commands::analyze::records_of;
use super::api::error;
use super::router::{Api, query};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald::{BlameOrder, Timeline};
use serde_json::json;
use std::time::SystemTime;

/// The timeline `?run=N` asks for (default: this run), or the answer to give instead.
fn timeline(api: &Api, params: &[(String, String)]) -> Result<Timeline, Box<Response>> {
    let run = match params.iter().find(|(k, _)| k == "run") {
        Some((_, n)) => Some(n.parse::<u64>().map_err(|_| {
            let message = format!("run must be a number, not {n:?}");
            Box::new(error(StatusCode::BAD_REQUEST, message, json!({})))
        })?),
        None => None,
    };
    let (records, found) = records_of(&api.shared.state_dir, run);
    let mut timeline = found.map_err(|e| error(StatusCode::NOT_FOUND, e.to_string(), json!({})))?;
    if records.last().map(|r| r.run()) == Some(timeline.run) {
        timeline.extend_to(SystemTime::now());
    }
    Ok(timeline)
}

/// `GET /api/v1/analyze/time`.
pub async fn time(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    match timeline(&api, &query(raw.as_deref())) {
        Ok(timeline) => Json(timeline.summary()).into_response(),
        Err(answer) => *answer,
    }
}

/// `GET /api/v1/analyze/blame?sort=total|waiting|start|retries|name`.
pub async fn blame(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let params = query(raw.as_deref());
    let order = match params.iter().find(|(k, _)| k == "sort") {
        Some((_, sort)) => match sort.parse::<BlameOrder>() {
            Ok(order) => order,
            Err(_) => {
                let message =
                    format!("sort must be total, waiting, start, retries or name, not {sort:?}");
                return error(StatusCode::BAD_REQUEST, message, json!({}));
            }
        },
        None => BlameOrder::default(),
    };
    match timeline(&api, &params) {
        Ok(timeline) => Json(timeline.blame(order)).into_response(),
        Err(answer) => *answer,
    }
}

/// `GET /api/v1/analyze/critical-chain?name=NAME` (default: the last to settle).
pub async fn critical_chain(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    let params = query(raw.as_deref());
    let timeline = match timeline(&api, &params) {
        Ok(timeline) => timeline,
        Err(answer) => return *answer,
    };
    let name = params
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, n)| n.clone())
        .or_else(|| timeline.last_settled().map(|c| c.name.to_string()));
    match name.as_deref().and_then(|n| timeline.chain(n)) {
        Some(chain) => Json(chain).into_response(),
        None => {
            let message = format!(
                "run {} has no component {:?}",
                timeline.run,
                name.unwrap_or_default()
            );
            error(StatusCode::NOT_FOUND, message, json!({}))
        }
    }
}

/// `GET /api/v1/analyze/trace`: Chrome/Perfetto JSON.
pub async fn trace(State(api): State<Api>, RawQuery(raw): RawQuery) -> Response {
    match timeline(&api, &query(raw.as_deref())) {
        Ok(timeline) => Json(timeline.trace()).into_response(),
        Err(answer) => *answer,
    }
}
