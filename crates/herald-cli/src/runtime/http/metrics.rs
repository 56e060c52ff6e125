//! `/metrics`: the Prometheus text format (0.0.4), or OpenMetrics 1.0 when `Accept` asks for
//! `application/openmetrics-text`.
//!
//! Names follow Prometheus' rules (base units, `_total` counters, `_info` metadata) and the
//! shape of node_exporter's systemd collector: one `herald_component_state` series per state,
//! 1 for the current one. The stack's start-up figures appear once every component has been
//! up (ready or completed) in this run; they are read from the event log once, then kept.

use super::super::eventlog;
use super::router::Api;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use herald::{Record, State as Lifecycle};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

/// The kinds of metric written here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Info,
}

/// A metrics page being written, in one of the two formats.
struct Page {
    out: String,
    open_metrics: bool,
}

/// `name="value"` pairs.
type Labels<'a> = &'a [(&'a str, &'a str)];

impl Page {
    /// One family: its `# HELP`, `# TYPE` and samples. `name` is the sample name (with
    /// `_total` or `_info`); OpenMetrics names the family without it.
    fn family(&mut self, name: &str, kind: Kind, help: &str, samples: &[(Labels<'_>, f64)]) {
        let (family, kind_name) = match (kind, self.open_metrics) {
            (Kind::Counter, true) => (name.trim_end_matches("_total"), "counter"),
            (Kind::Counter, false) => (name, "counter"),
            // An `_info` gauge, which both formats read (promtool's parser has no `info`).
            (Kind::Info, _) | (Kind::Gauge, _) => (name, "gauge"),
        };
        let _ = writeln!(self.out, "# HELP {family} {help}");
        let _ = writeln!(self.out, "# TYPE {family} {kind_name}");
        for (labels, value) in samples {
            self.out.push_str(name);
            if !labels.is_empty() {
                self.out.push('{');
                for (i, (key, value)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    let _ = write!(self.out, "{key}=\"{}\"", escape(value));
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {}", number(*value));
        }
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The start-up of this run: when every component had first been up, and the critical path
/// through the times each took from spawn to ready.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// From the run's start to the last component's first ready (or completed).
    pub total: Duration,
    /// The critical path through the graph with those times.
    pub critical_path: Duration,
}

/// The start-up of the run the event log ends with, once every component of it was up.
pub fn startup(api: &Api) -> Option<Startup> {
    if let Some(known) = api.startup.get() {
        return Some(*known);
    }
    let records = eventlog::records(&api.shared.state_dir.join(eventlog::FILE));
    let run = records.iter().rev().find_map(|r| match r {
        Record::Run(header) => Some(header.clone()),
        Record::Event(_) => None,
    })?;
    let mut first_up: HashMap<String, (std::time::SystemTime, Duration)> = HashMap::new();
    for record in &records {
        if let Record::Event(event) = record
            && event.run == run.run
            && event.state.is_up()
        {
            first_up
                .entry(event.component.to_string())
                .or_insert((event.time, event.time_to_ready.unwrap_or_default()));
        }
    }
    if api.shared.names.iter().any(|n| !first_up.contains_key(n)) {
        return None;
    }
    let last = first_up.values().map(|(time, _)| *time).max()?;
    let graph = api.shared.running.graph();
    let path = graph.critical_path(|name| first_up.get(name).map(|(_, d)| *d).unwrap_or_default());
    let known = Startup {
        total: last.duration_since(run.time).unwrap_or_default(),
        critical_path: path.total,
    };
    Some(*api.startup.get_or_init(|| known))
}

/// Whether `Accept` asks for OpenMetrics.
fn wants_open_metrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

/// `GET /metrics`.
pub async fn metrics(State(api): State<Api>, headers: HeaderMap) -> Response {
    let open_metrics = wants_open_metrics(&headers);
    let body = render(&api, open_metrics);
    let content_type = if open_metrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The page.
pub fn render(api: &Api, open_metrics: bool) -> String {
    let mut page = Page {
        out: String::new(),
        open_metrics,
    };
    let running = &api.shared.running;
    let statuses = running.statuses();
    page.family(
        "herald_build_info",
        Kind::Info,
        "The herald build.",
        &[(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
    );
    let ready = statuses.iter().all(|(_, s)| s.state.is_up());
    page.family(
        "herald_stack_ready",
        Kind::Gauge,
        "1 when every component is ready or completed.",
        &[(&[], f64::from(u8::from(ready)))],
    );
    if let Some(startup) = startup(api) {
        page.family(
            "herald_stack_startup_seconds",
            Kind::Gauge,
            "From the start of the run until every component had been ready or completed.",
            &[(&[], startup.total.as_secs_f64())],
        );
        page.family(
            "herald_stack_critical_path_seconds",
            Kind::Gauge,
            "The longest chain of start times through the dependency graph.",
            &[(&[], startup.critical_path.as_secs_f64())],
        );
    }
    let mut states = Vec::new();
    for (name, status) in &statuses {
        for state in Lifecycle::ALL {
            states.push((name.as_str(), state.as_str(), status.state == state));
        }
    }
    let state_labels: Vec<[(&str, &str); 2]> = states
        .iter()
        .map(|(name, state, _)| [("component", *name), ("state", *state)])
        .collect();
    let samples: Vec<(Labels<'_>, f64)> = state_labels
        .iter()
        .zip(&states)
        .map(|(labels, (_, _, on))| (&labels[..], f64::from(u8::from(*on))))
        .collect();
    page.family(
        "herald_component_state",
        Kind::Gauge,
        "1 for the state each component is in, 0 for the others.",
        &samples,
    );
    let labels: Vec<[(&str, &str); 1]> = statuses
        .iter()
        .map(|(name, _)| [("component", name.as_str())])
        .collect();
    let per = |value: &dyn Fn(&herald::Status) -> Option<f64>| -> Vec<(Labels<'_>, f64)> {
        labels
            .iter()
            .zip(&statuses)
            .filter_map(|(labels, (_, status))| Some((&labels[..], value(status)?)))
            .collect()
    };
    page.family(
        "herald_component_ready",
        Kind::Gauge,
        "1 while the component is ready or completed.",
        &per(&|s| Some(f64::from(u8::from(s.state.is_up())))),
    );
    page.family(
        "herald_component_restarts_total",
        Kind::Counter,
        "Restarts the restart policy made after an exit or a failed start.",
        &per(&|s| Some(f64::from(s.restarts))),
    );
    page.family(
        "herald_component_startup_seconds",
        Kind::Gauge,
        "From spawn to ready (or completed), in the last start.",
        &per(&|s| s.time_to_ready.map(|d| d.as_secs_f64())),
    );
    page.family(
        "herald_component_dependency_wait_seconds",
        Kind::Gauge,
        "How long the last start waited for the component's dependencies.",
        &per(&|s| s.waited.map(|d| d.as_secs_f64())),
    );
    let probes: Vec<[(&str, &str); 2]> = statuses
        .iter()
        .map(|(name, _)| [("component", name.as_str()), ("check", "ready")])
        .collect();
    let probe_samples: Vec<(Labels<'_>, f64)> = probes
        .iter()
        .map(|labels| {
            let spent = running.probes_spent(labels[0].1).unwrap_or(0);
            (&labels[..], f64::from(spent))
        })
        .collect();
    page.family(
        "herald_probes_total",
        Kind::Counter,
        "Readiness probe attempts (tcp, http, exec, grpc, ...) since the stack started.",
        &probe_samples,
    );
    if open_metrics {
        page.out.push_str("# EOF\n");
    }
    page.out
}
