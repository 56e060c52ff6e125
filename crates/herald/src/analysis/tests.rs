//! The analysis on hand-made runs whose every moment is known.

use super::*;
use crate::State::{self, *};
use crate::{Dependencies, EdgeKind, Event, ReadinessError, Record, Release, RunHeader, RunTag};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

const T0: u64 = 1_800_000_000;

fn header(run: u64, seq: u64, graph: &[(&str, &[(&str, EdgeKind)])]) -> Record {
    let mut deps = BTreeMap::new();
    for (name, edges) in graph {
        let mut d = Dependencies::default();
        for (dep, kind) in *edges {
            match kind {
                EdgeKind::Requires => d.requires.push(dep.to_string()),
                EdgeKind::Wants => d.wants.push(dep.to_string()),
                EdgeKind::After => d.after.push(dep.to_string()),
                EdgeKind::BindsTo => d.binds_to.push(dep.to_string()),
                EdgeKind::Uses => d.uses.push(dep.to_string()),
            }
        }
        deps.insert(name.to_string(), d);
    }
    Record::Run(RunHeader {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        seq,
        run,
        event: RunTag::Run,
        stack: "demo".into(),
        graph: deps,
    })
}

/// `component` enters `state` at `ms` after the start of run 1.
fn at(ms: u64, component: &str, state: State) -> Event {
    Event {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_millis(ms),
        at: Instant::now(),
        seq: ms + 1,
        run: 1,
        component: Arc::from(component),
        state,
        pid: None,
        error: None,
        released_by: None,
        waited: None,
        time_to_ready: None,
        restarts: 0,
    }
}

fn released(mut event: Event, by: &str, state: State, edge: EdgeKind) -> Event {
    event.released_by = Some(Release {
        component: by.into(),
        state,
        edge,
    });
    event
}

fn timeline(records: Vec<Record>) -> Timeline {
    Timeline::from_records(&records, None).unwrap()
}

/// db is ready at 100 ms; cache fails at 50 ms; api (requires db, wants cache) is released by
/// db; web (after api) by api's spawn.
fn web_stack() -> Vec<Record> {
    use EdgeKind::*;
    let mut failed = at(50, "cache", Failed);
    failed.error = Some(Arc::new(ReadinessError::new(
        "cache",
        herald_kind("exit"),
        "",
        "status 1",
    )));
    vec![
        header(
            1,
            0,
            &[
                ("db", &[]),
                ("cache", &[]),
                ("api", &[("db", Requires), ("cache", Wants)]),
                ("web", &[("api", After)]),
            ],
        ),
        Record::Event(at(10, "db", Starting)),
        Record::Event(at(12, "cache", Starting)),
        Record::Event(failed),
        Record::Event(at(100, "db", Ready)),
        Record::Event(released(at(101, "api", Starting), "db", Ready, Requires)),
        Record::Event(released(at(102, "web", Starting), "api", Starting, After)),
        Record::Event(at(150, "api", Ready)),
        Record::Event(at(300, "web", Ready)),
    ]
}

#[test]
fn the_chain_follows_what_released_each_start_through_every_edge_kind() {
    let t = timeline(web_stack());
    let chain = t.chain("web").unwrap();
    let names: Vec<(&str, State)> = chain
        .links
        .iter()
        .map(|l| (l.component.as_str(), l.state))
        .collect();
    assert_eq!(names, [("web", Ready), ("api", Starting), ("db", Ready)]);
    assert_eq!(chain.links[0].on, Some(("api".into(), EdgeKind::After)));
    assert_eq!(chain.links[1].own_start, None, "only api's spawn counted");
    assert_eq!(chain.critical_path(), Duration::from_millis(198 + 90));
    let text = chain.render();
    let lines: Vec<&str> = text.lines().skip(3).collect();
    assert_eq!(
        lines,
        [
            "web @300ms +198ms (waited 102ms on api, after)",
            "└─api started @101ms (waited 101ms on db, requires)",
            "  └─db @100ms +90ms (waited 10ms)",
        ]
    );
    // The last to be ready is the default, and the summary's critical path is its chain's.
    assert_eq!(t.last_settled().unwrap().name, "web");
    let summary = t.summary();
    assert_eq!(
        summary.line(),
        "Startup failed in 300ms (critical path 288ms, 4 components, 0 restarts, 1 failed)"
    );
    assert_eq!(summary.failures[0].component, "cache");
}

#[test]
fn retries_are_counted_apart_so_that_the_parts_add_up() {
    let mut restarting = at(50, "db", Restarting);
    restarting.error = Some(Arc::new(ReadinessError::new(
        "db",
        herald_kind("tcp"),
        ":5432",
        "refused",
    )));
    let mut ready = at(200, "db", Ready);
    ready.restarts = 1;
    let t = timeline(vec![
        header(1, 0, &[("db", &[])]),
        Record::Event(at(10, "db", Starting)),
        Record::Event(restarting),
        Record::Event(at(150, "db", Waiting)),
        Record::Event(at(160, "db", Starting)),
        Record::Event(ready),
    ]);
    let db = t.component("db").unwrap();
    assert_eq!(db.attempts.len(), 2);
    assert_eq!(db.attempts[0].error.as_ref().unwrap().reason, "refused");
    let blame = &t.blame(BlameOrder::Total)[0];
    let ms = Duration::from_millis;
    assert_eq!(
        (blame.total, blame.waiting, blame.retrying, blame.own_start),
        (ms(200), ms(10), ms(150), ms(40))
    );
    assert_eq!(blame.retries, 1);
    assert!(t.summary().line().ends_with("1 component, 1 restart)"));
    // The trace marks the restart and keeps the attempts' slices apart.
    let trace = t.trace();
    let events = trace["traceEvents"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "i" && e["name"] == "restart")
    );
    let mut slices: Vec<(u64, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| (e["ts"].as_u64().unwrap(), e["dur"].as_u64().unwrap()))
        .collect();
    slices.sort();
    assert!(
        slices.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
        "{slices:?}"
    );
    assert_eq!(slices[0].0, T0 * 1_000_000, "microseconds since the epoch");
}

#[test]
fn a_run_is_chosen_by_number_and_a_missing_one_is_named() {
    let mut records = web_stack();
    records.push(header(2, 100, &[("db", &[])]));
    let mut second = at(5, "db", Starting);
    second.run = 2;
    second.seq = 101;
    records.push(Record::Event(second));
    let last = Timeline::from_records(&records, None).unwrap();
    assert_eq!((last.run, last.components.len()), (2, 1));
    let first = Timeline::from_records(&records, Some(1)).unwrap();
    assert_eq!(first.components.len(), 4);
    let names: Vec<&str> = first.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cache", "db", "api", "web"], "dependencies first");
    assert_eq!(
        Timeline::from_records(&records, Some(7))
            .unwrap_err()
            .to_string(),
        "the event log holds no run 7 (its runs: 1-2)"
    );
    assert_eq!(Timeline::from_records(&[], None), Err(TimelineError::NoRun));
}

#[test]
fn a_blocked_component_leads_to_what_blocked_it() {
    let error = ReadinessError::new("db", herald_kind("exit"), "", "status 4");
    let mut failed = at(40, "db", Failed);
    failed.error = Some(Arc::new(error.clone()));
    let mut blocked = at(41, "api", Blocked);
    blocked.error = Some(Arc::new(ReadinessError::blocked(
        "api",
        EdgeKind::Requires,
        error,
    )));
    let t = timeline(vec![
        header(1, 0, &[("db", &[]), ("api", &[("db", EdgeKind::Requires)])]),
        Record::Event(at(10, "db", Starting)),
        Record::Event(failed),
        Record::Event(blocked),
    ]);
    let chain = t.chain("api").unwrap();
    let states: Vec<(&str, State)> = chain
        .links
        .iter()
        .map(|l| (l.component.as_str(), l.state))
        .collect();
    assert_eq!(states, [("api", Blocked), ("db", Failed)]);
    assert_eq!(chain.links[1].own_start, Some(Duration::from_millis(30)));
    assert!(
        chain
            .render()
            .contains("api blocked: requires db, which failed")
    );
    let svg = t.plot_svg();
    assert_eq!(svg.matches("<g class=\"row").count(), 2);
    assert!(svg.contains("class=\"blocked\"") && svg.contains("class=\"failed\""));
}

#[test]
fn the_spawn_counts_in_the_own_start_as_the_engine_measured_it() {
    // The spawn began 95 ms before ready; `starting` was published once it returned.
    let mut ready = at(100, "db", Ready);
    ready.time_to_ready = Some(Duration::from_millis(95));
    let t = timeline(vec![
        header(1, 0, &[("db", &[]), ("web", &[("db", EdgeKind::After)])]),
        Record::Event(at(10, "db", Starting)),
        Record::Event(released(
            at(12, "web", Starting),
            "db",
            Starting,
            EdgeKind::After,
        )),
        Record::Event(ready),
        Record::Event(at(20, "web", Ready)),
    ]);
    let db = &t.component("db").unwrap().attempts[0];
    let ms = Duration::from_millis;
    assert_eq!((db.started, db.spawned), (Some(ms(5)), Some(ms(10))));
    let blame = t.blame(BlameOrder::Name);
    assert_eq!(blame[0].component, "db");
    assert_eq!((blame[0].waiting, blame[0].own_start), (ms(5), ms(95)));
    // web was released by the published spawn.
    let chain = t.chain("web").unwrap();
    assert_eq!(chain.links[1].state, Starting);
    assert_eq!(chain.links[1].at, ms(10));
    let phases = db.phases(t.until);
    assert_eq!((phases[0].name, phases[0].to), ("waiting", ms(5)));
    assert_eq!((phases[1].name, phases[1].from), ("starting", ms(5)));
}

fn herald_kind(name: &str) -> crate::CheckKind {
    name.parse().expect("infallible")
}
