//! The router: every route in one table, which both builds the axum [`Router`] and lists the
//! routes for the OpenAPI document, so that the document cannot leave one out.

use super::super::serve::StackHandle;
use super::{Config, analyze, api, auth, metrics, openapi, readyz, sse, ui};
use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodRouter, get, post};
use std::sync::Arc;

/// How a request came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The unix socket: only the stack's own user.
    Unix,
    /// TCP (`--listen`).
    Tcp,
}

/// What every handler shares.
#[derive(Clone)]
pub struct Api {
    /// The running stack, as the supervisor shares it.
    pub shared: Arc<StackHandle>,
    /// The token and `--read-only`.
    pub access: Arc<Config>,
    /// How this listener's requests come.
    pub transport: Transport,
    /// The run's start-up figures, once known.
    pub startup: Arc<std::sync::OnceLock<metrics::Startup>>,
}

/// One route, as the OpenAPI document describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, with `{name}` for a parameter.
    pub path: &'static str,
    /// What it answers.
    pub summary: &'static str,
    /// Its query parameters.
    pub query: &'static [&'static str],
    /// What it answers with: `application/json`, `text/plain`, `text/event-stream`...
    pub produces: &'static str,
}

/// Routes as they are added: the axum router and the table.
struct Routes {
    router: Router<Api>,
    table: Vec<Route>,
}

impl Routes {
    fn add<H, T>(mut self, route: Route, handler: H) -> Routes
    where
        H: Handler<T, Api>,
        T: 'static,
    {
        let method: MethodRouter<Api> = match route.method {
            "POST" => post(handler),
            _ => get(handler),
        };
        self.router = self.router.route(route.path, method);
        self.table.push(route);
        self
    }
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    produces: &'static str,
) -> Route {
    Route {
        method,
        path,
        summary,
        query,
        produces,
    }
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";
const SSE: &str = "text/event-stream";

/// Every route, and the router that serves them (before its state and middleware).
fn routes() -> (Router<Api>, Vec<Route>) {
    let routes = Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .add(
        route("GET", "/livez", "ok while the supervisor's loop runs", &[], TEXT),
        readyz::livez,
    )
    .add(
        route(
            "GET",
            "/readyz",
            "200 when every component is ready or completed, else 503, in the Kubernetes format",
            &["verbose", "exclude"],
            TEXT,
        ),
        readyz::readyz,
    )
    .add(
        route("GET", "/readyz/{check}", "one check: ping", &[], TEXT),
        readyz::one,
    )
    .add(
        route(
            "GET",
            "/readyz/component/{name}",
            "one check: a component",
            &[],
            TEXT,
        ),
        readyz::component,
    )
    .add(
        route(
            "GET",
            "/metrics",
            "Prometheus text format, or OpenMetrics when Accept asks for it",
            &[],
            TEXT,
        ),
        metrics::metrics,
    )
    .add(
        route(
            "GET",
            "/api/v1/components",
            "every component's row, as `herald status --json`",
            &[],
            JSON,
        ),
        api::components,
    )
    .add(
        route(
            "GET",
            "/api/v1/components/{name}",
            "one component's row",
            &[],
            JSON,
        ),
        api::component,
    )
    .add(
        route(
            "POST",
            "/api/v1/components/{name}/{action}",
            "start, stop or restart a component; answered once the control has run, with its row",
            &[],
            JSON,
        ),
        api::control,
    )
    .add(
        route(
            "GET",
            "/api/v1/events",
            "every event-log line as a Server-Sent Event, id = seq; resumes after Last-Event-ID or since",
            &["since"],
            SSE,
        ),
        sse::events,
    )
    .add(
        route(
            "GET",
            "/api/v1/logs/{name}",
            "a component's output: the last `tail` lines as JSON, or with follow=1 those and what follows as Server-Sent Events",
            &["tail", "follow"],
            JSON,
        ),
        sse::logs,
    )
    .add(
        route(
            "GET",
            "/api/v1/graph",
            "the dependency graph, as `herald graph --format json`",
            &[],
            JSON,
        ),
        api::graph,
    )
    .add(
        route(
            "GET",
            "/api/v1/analyze/time",
            "the start-up summary, as `herald analyze time --json`",
            &["run"],
            JSON,
        ),
        analyze::time,
    )
    .add(
        route(
            "GET",
            "/api/v1/analyze/blame",
            "per component: total, waiting, retrying, own start, retries",
            &["run", "sort"],
            JSON,
        ),
        analyze::blame,
    )
    .add(
        route(
            "GET",
            "/api/v1/analyze/critical-chain",
            "the chain that released NAME (default: the last to settle)",
            &["run", "name"],
            JSON,
        ),
        analyze::critical_chain,
    )
    .add(
        route(
            "GET",
            "/api/v1/analyze/trace",
            "a Chrome/Perfetto trace of the run",
            &["run"],
            JSON,
        ),
        analyze::trace,
    )
    .add(
        route("GET", "/openapi.json", "this document", &[], JSON),
        openapi::document,
    )
    .add(
        route(
            "GET",
            "/ui",
            "the dashboard; on TCP, ?token=TOKEN signs in",
            &["token"],
            "text/html",
        ),
        ui::page,
    );
    (routes.router, routes.table)
}

/// Every route, as the OpenAPI document lists them.
pub fn table() -> Vec<Route> {
    routes().1
}

/// The router for one listener.
pub fn router(shared: Arc<StackHandle>, access: Arc<Config>, transport: Transport) -> Router {
    let api = Api {
        shared,
        access,
        transport,
        startup: Arc::default(),
    };
    routes()
        .0
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            auth::guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            super::server::MAX_BODY,
        ))
        .with_state(api)
}

/// The pairs of a query string, percent-decoded, in order (a key may repeat).
pub fn query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// `%XX` and `+` decoded; a malformed escape is kept as it is.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_keep_repeated_keys() {
        assert_eq!(
            query(Some(
                "verbose&exclude=component%2Fdb&exclude=component/web&x=%zz+1%4"
            )),
            [
                ("verbose".to_string(), String::new()),
                ("exclude".into(), "component/db".into()),
                ("exclude".into(), "component/web".into()),
                ("x".into(), "%zz 1%4".into()),
            ]
        );
    }

    #[test]
    fn the_table_has_each_route_once() {
        let table = table();
        let mut seen = std::collections::HashSet::new();
        assert!(table.iter().all(|r| seen.insert((r.method, r.path))));
    }
}
