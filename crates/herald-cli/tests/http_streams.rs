//! The HTTP interface over real HTTP: the event and log streams, metrics, the OpenAPI
//! document, the cost at rest, and the dashboard in a browser.

mod common;
mod http_common;

use common::eventually;
use http_common::*;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn the_event_stream_resumes_with_nothing_lost_across_a_restart() {
    let stack = Stack::up(&[]);
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(stack.dir.path().join(".herald/events.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let header_seq = records[0]["seq"].as_u64().unwrap();

    // A new client gets the run from its header on.
    let mut first = Stream::open(&stack.socket(), "/api/v1/events", &[]);
    let mut seen = vec![first.next()];
    assert_eq!(seen[0].data["event"], "run");
    assert_eq!(seen[0].id, Some(header_seq));
    seen.extend(first.until("web", "ready"));
    let last = seen.last().unwrap().id.unwrap();
    drop(first);

    // While nobody listens, web restarts (the control answers once the old run is gone),
    // and is ready again.
    assert_eq!(
        stack.local("POST", "/api/v1/components/web/restart").status,
        200
    );
    assert!(eventually(Duration::from_secs(20), || stack.state("web") == "ready"));

    // Resumed after the last id seen: every event since, once, in order; then live.
    let resume = last.to_string();
    let mut second = Stream::open(
        &stack.socket(),
        "/api/v1/events",
        &[("Last-Event-ID", &resume)],
    );
    let replayed = second.until("web", "ready");
    let states: Vec<&str> = replayed
        .iter()
        .filter(|e| e.data["component"] == "web")
        .map(|e| e.data["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["stopping", "restarting", "waiting", "starting", "ready"],
        "{replayed:?}"
    );
    seen.extend(replayed);
    // Live now: one more restart comes through the same stream.
    assert_eq!(
        stack.local("POST", "/api/v1/components/db/restart").status,
        200
    );
    seen.extend(second.until("db", "ready"));
    let ids: Vec<u64> = seen.iter().map(|e| e.id.unwrap()).collect();
    let expected: Vec<u64> = (header_seq..header_seq + ids.len() as u64).collect();
    assert_eq!(ids, expected, "a gap or a repeat");
    // Each event's data is its event-log line.
    for event in &seen {
        assert_eq!(event.data["seq"].as_u64(), event.id);
    }

    // `?since=` resumes as Last-Event-ID does.
    let mut third = Stream::open(
        &stack.socket(),
        &format!("/api/v1/events?since={}", ids[ids.len() - 2]),
        &[],
    );
    assert_eq!(third.next().id, Some(ids[ids.len() - 1]));
}

#[test]
fn logs_are_tailed_and_followed() {
    let stack = Stack::up(&[]);
    let tail = stack.local("GET", "/api/v1/logs/web?tail=1");
    assert_eq!(tail.status, 200);
    let lines = tail.json();
    assert_eq!(lines.as_array().unwrap().len(), 1);
    assert_eq!(lines[0]["text"], "web listening");
    assert_eq!(stack.local("GET", "/api/v1/logs/nope").status, 404);

    let mut follow = Stream::open(&stack.socket(), "/api/v1/logs/web?follow=1", &[]);
    assert_eq!(follow.next().data["text"], "web listening");
    // The restarted web prints its line again: it comes through the open stream.
    assert_eq!(
        stack.local("POST", "/api/v1/components/web/restart").status,
        200
    );
    let line = follow.next();
    assert_eq!(line.data["text"], "web listening");
    assert_eq!(line.data["component"], "web");
}

/// Whether a tool the test needs is missing: skipped with the reason, except in CI.
fn missing(tool: &str, why: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is missing in CI ({why})"
    );
    eprintln!("skipped: {tool} is not installed ({why})");
    true
}

#[test]
fn metrics_pass_promtool_in_both_formats() {
    let stack = Stack::up(&[]);
    let text = stack.local("GET", "/metrics");
    assert_eq!(text.status, 200);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    for needed in [
        "herald_build_info{version=\"",
        "herald_component_state{component=\"web\",state=\"ready\"} 1\n",
        "herald_component_state{component=\"web\",state=\"failed\"} 0\n",
        "herald_component_ready{component=\"migrate\"} 1\n",
        "# TYPE herald_component_restarts_total counter\n",
        "herald_component_restarts_total{component=\"db\"} 0\n",
        "herald_component_startup_seconds{component=\"db\"} ",
        "herald_component_dependency_wait_seconds{component=\"web\"} ",
        "herald_probes_total{component=\"db\",check=\"ready\"} 0\n",
        "herald_stack_startup_seconds ",
        "herald_stack_critical_path_seconds ",
        "herald_stack_ready 1\n",
    ] {
        assert!(text.body.contains(needed), "{needed} in\n{}", text.body);
    }
    let open = stack.tcp(
        "GET",
        "/metrics",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Accept", "application/openmetrics-text; version=1.0.0"),
        ],
    );
    assert_eq!(
        open.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
    assert!(
        open.body
            .contains("# TYPE herald_component_restarts counter\nherald_component_restarts_total{"),
        "{}",
        open.body
    );

    if missing("promtool", "Debian's prometheus package") {
        return;
    }
    let check = |body: &str| {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = check(&text.body);
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool reads OpenMetrics with the text parser: it parses, and its only complaints
    // are about counter samples (`_total`) read apart from their family's help.
    let out = check(&open.body);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("error"), "{said}");
    assert!(
        said.lines().all(|l| l.ends_with("_total no help text")),
        "{said}"
    );
}

#[test]
fn openapi_lists_every_route_the_router_has() {
    let stack = Stack::up(&[]);
    let doc = stack.local("GET", "/openapi.json").json();
    assert_eq!(doc["openapi"], "3.0.3");
    let listed: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let table: BTreeSet<(String, String)> = herald_cli::runtime::http::router::table()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(listed, table);
    // Every route listed is served.
    for (method, path) in &listed {
        let path = path
            .replace("{name}", "db")
            .replace("{check}", "ping")
            .replace("{action}", "start");
        let answer = if path.ends_with("/events") {
            // Streams: the head is enough.
            let stream = Stream::open(&stack.socket(), &path, &[]);
            drop(stream);
            continue;
        } else {
            stack.local(method, &path)
        };
        assert!(
            answer.status == 200,
            "{method} {path}: {} {}",
            answer.status,
            answer.body
        );
    }
    assert_eq!(stack.local("GET", "/api/v1/nothing").status, 404);
    // The analysis answers as `herald analyze --json` does, for this run.
    let blame = stack.local("GET", "/api/v1/analyze/blame?sort=name").json();
    assert!(
        blame
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["component"] == "db"),
        "{blame}"
    );
    let time = stack.local("GET", "/api/v1/analyze/time").json();
    assert!(time["components"].as_u64().unwrap() >= 1, "{time}");
    assert_eq!(
        stack.local("GET", "/api/v1/analyze/time?run=99").status,
        404
    );
}

/// Wake-ups of every thread of `pid` so far.
fn wakeups(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status =
            std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

#[test]
fn with_listen_and_nobody_connected_nothing_wakes() {
    let stack = Stack::up(&[]);
    let pid = stack.supervisor_pid();
    // Settle: the start and the `up` client's connection are over.
    std::thread::sleep(Duration::from_millis(500));
    let before = wakeups(pid);
    std::thread::sleep(Duration::from_secs(2));
    let after = wakeups(pid);
    assert_eq!(after - before, 0, "the supervisor woke at rest");
}

#[test]
fn the_dashboard_shows_the_stack_and_restarts_a_component() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    if missing("node", "runs the browser test") || missing("chromium", "the browser") {
        return;
    }
    if !web.join("node_modules/playwright-core").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "run `npm ci --prefix web` first"
        );
        eprintln!("skipped: web/node_modules is missing (`npm ci --prefix web`)");
        return;
    }
    let stack = Stack::up(&[]);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let out = Command::new("node")
        .arg(web.join("ui-test.mjs"))
        .arg(format!("http://{}", stack.addr))
        .arg(TOKEN)
        .arg(r#"{"db":"ready","web":"ready","migrate":"completed"}"#)
        .arg("web")
        .arg(&shot)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("web: ") && said.contains("restarting"),
        "{said}"
    );
    eprintln!("{said}screenshot: {}", shot.display());
}
