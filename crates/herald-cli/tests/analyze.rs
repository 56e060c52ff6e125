//! `herald analyze` on real stacks of shell stand-ins with known delays: the critical chain,
//! blame, failures, live against offline, the plot's SVG and the trace's structure.

mod common;

use common::stack::Stack;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A stand-in that takes `secs` to start, then says "up" (its ready line) and runs on.
fn after(secs: f64) -> String {
    format!(
        "command = [\"sh\", \"-c\", \"sleep {secs}; echo up; exec sleep 600\"]\nready = {{ log = \"up\" }}\n"
    )
}

/// `d` requires `c` (and wants `e`); `c` requires `a` (slow) and `b` (quick); `e` requires
/// `b`. The chain that bounds `d` is d, c, a.
fn chain_stack() -> String {
    format!(
        "[stack]\nname = \"chain\"\n[defaults]\nstop_timeout = \"5s\"\n\
         [components.a]\n{}\n[components.b]\n{}\n\
         [components.c]\nrequires = [\"a\", \"b\"]\n{}\n\
         [components.d]\nrequires = [\"c\"]\nwants = [\"e\"]\n{}\n\
         [components.e]\nrequires = [\"b\"]\n{}\n",
        after(0.6),
        after(0.1),
        after(0.3),
        after(0.2),
        after(0.05)
    )
}

fn ms(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

/// The longest chain ending at `name` by own start times along `requires`/`wants`/...
/// edges of `graph`: (its length, its names from `name` down).
fn longest(name: &str, graph: &Value, own: &HashMap<String, f64>) -> (f64, Vec<String>) {
    let deps = &graph[name];
    let mut best = (0.0, Vec::new());
    for kind in ["requires", "wants", "binds_to", "after"] {
        for dep in deps[kind].as_array().into_iter().flatten() {
            let found = longest(dep.as_str().unwrap(), graph, own);
            if found.0 > best.0 {
                best = found;
            }
        }
    }
    let mut names = vec![name.to_string()];
    names.extend(best.1);
    (own[name] + best.0, names)
}

#[test]
fn the_critical_chain_is_the_longest_chain_of_own_start_times() {
    let stack = Stack::new(&chain_stack());
    stack.expect(0, &["up", "--detach"]);
    let blame = stack.json(&["analyze", "blame"]);
    let own: HashMap<String, f64> = blame
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["component"].as_str().unwrap().to_string(),
                ms(&r["own_start_ms"]),
            )
        })
        .collect();
    let records = stack.records();
    let graph = &records[0]["graph"];
    let (length, expected) = longest("d", graph, &own);
    assert_eq!(expected, ["d", "c", "a"], "the delays decide it: {own:?}");

    let chain = stack.json(&["analyze", "critical-chain"]);
    let names: Vec<&str> = chain["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["component"].as_str().unwrap())
        .collect();
    assert_eq!(
        names, expected,
        "the default is the last to be ready: {chain:#}"
    );
    let summed: f64 = chain["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| ms(&l["own_start_ms"]))
        .sum();
    assert!((summed - length).abs() < 0.01, "{summed} vs {length}");

    // systemd's tokens, the wait on each link and its edge kind.
    let text = stack.text(&["analyze", "critical-chain", "d"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("after the \"@\" character"), "{text}");
    assert!(lines[1].contains("after the \"+\" character"), "{text}");
    assert!(
        lines[3].starts_with("d @")
            && lines[3].contains(" +")
            && lines[3].ends_with(" on c, requires)"),
        "{text}"
    );
    assert!(
        lines[4].starts_with("└─c @") && lines[4].ends_with(" on a, requires)"),
        "{text}"
    );
    assert!(lines[5].starts_with("  └─a @"), "{text}");

    // The chain of another component, and an unknown one.
    let e = stack.json(&["analyze", "critical-chain", "e"]);
    assert_eq!(e["links"][1]["component"], "b");
    let out = stack.expect(2, &["analyze", "critical-chain", "nope"]);
    assert!(common::stderr(&out).contains("`nope` is not part of run 1"));

    let time = stack.text(&["analyze", "time"]);
    assert!(
        time.starts_with("Startup finished in ") && time.contains("5 components, 0 restarts)"),
        "{time}"
    );
    assert!(time.contains("reached last: d"), "{time}");
}

#[test]
fn blame_waiting_and_own_start_add_up_to_the_time_to_ready() {
    let text = format!(
        "{}[components.flaky]\n\
         command = [\"sh\", \"-c\", \"if [ -e tried ]; then echo up; exec sleep 600; fi; touch tried; exit 1\"]\n\
         ready = {{ log = \"up\" }}\nrequires = [\"b\"]\nrestart_backoff = {{ initial = \"200ms\" }}\n",
        chain_stack()
    );
    let stack = Stack::new(&text);
    let up = stack.expect(0, &["up", "--detach"]);
    // `up --detach` ends with the summary line.
    let said = common::stderr(&up);
    let last = said.lines().last().unwrap();
    assert!(
        last.starts_with("Startup finished in ") && last.ends_with("6 components, 1 restart)"),
        "{said}"
    );
    let records = stack.records();
    let began = humantime::parse_rfc3339(records[0]["time"].as_str().unwrap()).unwrap();
    // When each was ready, from the start of the run, and its time to ready (spawn to
    // ready) as the engine measured it.
    let ready_at: BTreeMap<String, (f64, f64)> = records
        .iter()
        .filter(|r| r["state"] == "ready")
        .map(|r| {
            let time = humantime::parse_rfc3339(r["time"].as_str().unwrap()).unwrap();
            let at = time.duration_since(began).unwrap().as_micros() as f64 / 1000.0;
            let took = ms(&r["time_to_ready_ms"]);
            (r["component"].as_str().unwrap().to_string(), (at, took))
        })
        .collect();
    let blame = stack.json(&["analyze", "blame"]);
    let rows = blame.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    let totals: Vec<f64> = rows.iter().map(|r| ms(&r["total_ms"])).collect();
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "slowest first: {totals:?}"
    );
    for row in rows {
        let name = row["component"].as_str().unwrap();
        let (total, waiting, retrying, own) = (
            ms(&row["total_ms"]),
            ms(&row["waiting_ms"]),
            ms(&row["retrying_ms"]),
            ms(&row["own_start_ms"]),
        );
        assert!((waiting + retrying + own - total).abs() < 0.002, "{row}");
        let (at, took) = ready_at[name];
        assert!((total - at).abs() < 0.002, "{row} vs {ready_at:?}");
        assert!(
            (own - took).abs() < 0.003,
            "own start is the time to ready: {row} vs {took}"
        );
        if name == "flaky" {
            assert_eq!(row["retries"], 1, "{row}");
            assert!(
                retrying >= 100.0,
                "the backoff (jittered) is in the retries: {row}"
            );
        } else {
            assert_eq!(row["retries"], 0, "{row}");
            assert_eq!(retrying, 0.0, "{row}");
            assert!((waiting + own - total).abs() < 0.002, "{row}");
        }
    }
    // The own start of each stand-in is at least its delay.
    let own = |name: &str| {
        rows.iter()
            .find(|r| r["component"] == name)
            .map(|r| ms(&r["own_start_ms"]))
            .unwrap()
    };
    assert!(
        own("a") >= 600.0 && own("c") >= 300.0 && own("d") >= 200.0,
        "{blame:#}"
    );
    let by_waiting = stack.json(&["analyze", "blame", "--sort", "waiting"]);
    let waits: Vec<f64> = by_waiting
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ms(&r["waiting_ms"]))
        .collect();
    assert!(waits.windows(2).all(|w| w[0] >= w[1]), "{waits:?}");
    let table = stack.text(&["analyze", "blame"]);
    assert!(
        table.starts_with("   TOTAL") || table.contains("TOTAL  WAITING"),
        "{table}"
    );
}

#[test]
fn a_failed_and_a_blocked_component_appear_with_their_causes() {
    let stack = Stack::new(
        "[components.db]\n\
         command = [\"sh\", \"-c\", \"echo disk full >&2; exit 4\"]\n\
         ready = { log = \"never\" }\n\
         restart = \"no\"\n\
         [components.api]\ncommand = [\"sh\", \"-c\", \"exec sleep 600\"]\nrequires = [\"db\"]\n\
         [components.cache]\ncommand = [\"sh\", \"-c\", \"exec sleep 600\"]\n",
    );
    stack.expect(1, &["up", "--detach"]);
    // `up --detach` returns at the first failure: let the others settle.
    stack.expect(1, &["wait", "api"]);
    stack.expect(0, &["wait", "cache"]);
    let time = stack.text(&["analyze", "time"]);
    assert!(time.starts_with("Startup failed in "), "{time}");
    assert!(time.contains("1 failed, 1 blocked"), "{time}");
    assert!(time.contains("db failed: exit check"), "{time}");

    let chain = stack.text(&["analyze", "critical-chain", "api"]);
    let lines: Vec<&str> = chain.lines().skip(3).collect();
    assert!(lines[0].starts_with("api blocked @"), "{chain}");
    assert!(lines[0].contains("on db, requires)"), "{chain}");
    assert!(
        lines[1].contains("api blocked: requires db, which failed"),
        "{chain}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("└─db failed @") && l.contains(" +")),
        "{chain}"
    );
    assert!(
        lines.iter().any(|l| l.contains("db failed: exit check")),
        "{chain}"
    );

    let blame = stack.json(&["analyze", "blame", "--sort", "name"]);
    let row = |name: &str| {
        blame
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["component"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(row("api")["state"], "blocked");
    assert_eq!(row("api")["error"]["cause"]["component"], "db");
    assert_eq!(row("db")["state"], "failed");
    assert_eq!(row("db")["error"]["check"], "exit");
    assert_eq!(row("cache")["state"], "ready");

    let trace = stack.json(&["analyze", "trace"]);
    let instants: Vec<&str> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "i")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        instants.contains(&"failed") && instants.contains(&"blocked"),
        "{instants:?}"
    );
}

/// The answers that do not depend on when they are asked.
fn answers(stack: &Stack) -> (Value, Value, Value, Vec<String>) {
    let mut time = stack.json(&["analyze", "time"]);
    time.as_object_mut().unwrap().remove("elapsed_ms");
    let chain = stack.text(&["analyze", "critical-chain"]);
    let chain_c = stack.text(&["analyze", "critical-chain", "c"]);
    let time_line = stack
        .text(&["analyze", "time"])
        .lines()
        .next()
        .unwrap()
        .to_string();
    (
        time,
        stack.json(&["analyze", "blame"]),
        stack.json(&["analyze", "critical-chain"]),
        vec![chain, chain_c, time_line],
    )
}

#[test]
fn offline_analysis_after_down_gives_the_answers_of_the_live_one() {
    let stack = Stack::new(&chain_stack());
    stack.expect(0, &["up", "--detach"]);
    let live = answers(&stack);
    stack.expect(0, &["down"]);
    let offline = answers(&stack);
    assert_eq!(live, offline);
    // A second run: the first stays readable with --run 1.
    stack.expect(0, &["up", "--detach"]);
    stack.expect(0, &["down"]);
    let first = stack.json(&["analyze", "blame", "--run", "1"]);
    assert_eq!(first, live.1);
    let out = stack.expect(2, &["analyze", "time", "--run", "9"]);
    assert!(
        common::stderr(&out).contains("no run 9 (its runs: 1-2)"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn an_earlier_run_is_found_in_the_log_moved_aside() {
    let stack = Stack::new(&chain_stack());
    stack.expect(0, &["up", "--detach"]);
    stack.expect(0, &["down"]);
    let first = stack.json(&["analyze", "blame"]);
    // As a log grown large is moved aside when the next run begins: numbers go on.
    let dir = stack.path().join(".herald");
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    std::fs::write(dir.join("events.jsonl.1"), &text).unwrap();
    let last = text.lines().last().unwrap();
    std::fs::write(dir.join("events.jsonl"), format!("{last}\n")).unwrap();
    stack.expect(0, &["up", "--detach"]);
    stack.expect(0, &["down"]);
    assert_eq!(stack.json(&["analyze", "time"])["components"], 5);
    assert_eq!(stack.json(&["analyze", "blame", "--run", "1"]), first);
    let out = stack.expect(2, &["analyze", "time", "--run", "3"]);
    assert!(common::stderr(&out).contains("no run 3 (its runs: 1-2)"));
}

#[test]
fn no_event_log_is_said_plainly() {
    let stack = Stack::new(&chain_stack());
    let out = stack.expect(1, &["analyze", "time"]);
    assert!(common::stderr(&out).contains("the event log holds no run"));
}

#[test]
fn the_plot_is_valid_svg_with_one_row_per_component_and_the_trace_is_well_formed() {
    let stack = Stack::new(&chain_stack());
    stack.expect(0, &["up", "--detach"]);
    stack.expect(0, &["restart", "b"]);
    stack.expect(0, &["wait", "b", "c", "d", "e"]);
    let file = stack.path().join("start.svg");
    stack.expect(0, &["analyze", "plot", "-o", file.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&file).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let rows: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.tag_name().name() == "g"
                && n.attribute("class")
                    .is_some_and(|c| c.split(' ').any(|w| w == "row"))
        })
        .collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r.attribute("data-name").unwrap())
        .collect();
    assert_eq!(
        names,
        ["a", "b", "c", "e", "d"],
        "one row each, dependencies first"
    );
    let critical: Vec<&str> = rows
        .iter()
        .filter(|r| r.attribute("class").unwrap().contains("critical"))
        .map(|r| r.attribute("data-name").unwrap())
        .collect();
    assert!(!critical.is_empty());
    // b restarted: two bars of `starting` on its row.
    let starting = |row: &roxmltree::Node| {
        row.children()
            .filter(|n| n.attribute("class") == Some("starting"))
            .count()
    };
    assert_eq!(starting(&rows[1]), 2, "{svg}");
    let html = stack.text(&["analyze", "plot", "--format", "html"]);
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg"),
        "{html}"
    );

    let trace = stack.json(&["analyze", "trace"]);
    check_trace(&trace, 5);
}

/// Every `X` has `ts` and `dur`, flows pair up (each `s` with one `f` bound to the enclosing
/// slice), slices on one track do not overlap, and every track is named.
fn check_trace(trace: &Value, tracks: usize) {
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let mut slices: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    let mut flows: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    let mut names = 0;
    for e in events {
        match e["ph"].as_str().unwrap() {
            "X" => {
                let ts = e["ts"].as_u64().expect("ts in µs");
                let dur = e["dur"].as_u64().expect("dur in µs");
                assert!(ts > 1_600_000_000_000_000, "ts since the epoch: {e}");
                slices
                    .entry(e["tid"].as_u64().unwrap())
                    .or_default()
                    .push((ts, dur));
            }
            "s" => flows.entry(e["id"].as_u64().unwrap()).or_default().0 += 1,
            "f" => {
                assert_eq!(e["bp"], "e", "{e}");
                flows.entry(e["id"].as_u64().unwrap()).or_default().1 += 1;
            }
            "M" if e["name"] == "thread_name" => names += 1,
            "M" | "i" => {}
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    assert_eq!(names, tracks);
    assert_eq!(slices.len(), tracks);
    assert!(!flows.is_empty());
    for (id, pair) in &flows {
        assert_eq!(*pair, (1, 1), "flow {id}");
    }
    for (tid, list) in &mut slices {
        list.sort();
        for w in list.windows(2) {
            assert!(
                w[0].0 + w[0].1 <= w[1].0,
                "track {tid}: {:?} overlaps {:?}",
                w[0],
                w[1]
            );
        }
    }
}

#[test]
fn a_foreground_up_says_when_its_start_finished() {
    let stack = Stack::new(
        "[components.certs]\nkind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"sleep 0.1\"]\n\
         [components.migrate]\nkind = \"oneshot\"\nrequires = [\"certs\"]\n\
         command = [\"sh\", \"-c\", \"sleep 0.1\"]\n",
    );
    // Every component completes, so the foreground stack ends by itself.
    let out = stack.expect(0, &["up"]);
    let said = common::stderr(&out);
    let line = said
        .lines()
        .find(|l| l.contains("Startup finished in "))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(line.contains("2 components, 0 restarts)"), "{line}");
    let time = stack.text(&["analyze", "time"]);
    assert!(time.contains("2 components, 0 restarts)"), "{time}");
    let chain = stack.json(&["analyze", "critical-chain"]);
    assert_eq!(chain["links"][0]["component"], "migrate");
    assert_eq!(chain["links"][0]["state"], "completed");
    assert_eq!(chain["links"][1]["component"], "certs");
}
