//! The HTTP interface over real HTTP: a stack started with `herald up --detach --listen`,
//! asked over `api.sock` and over TCP on 127.0.0.1.

mod common;

use common::{alive, eventually, herald_in, stderr};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const TOKEN: &str = "test-token-0123456789abcdef";

/// A stack of stand-ins running in the background, taken down when dropped.
struct Stack {
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

const STACK: &str = r#"
[stack]
name = "web-demo"

[components.db]
command = ["sh", "-c", "echo db is up; exec sleep 1000"]

[components.web]
command = ["sh", "-c", "echo web listening; exec sleep 1000"]
requires = ["db"]

[components.migrate]
kind = "oneshot"
command = ["sh", "-c", "echo migrated"]
requires = ["db"]
"#;

/// A free port on 127.0.0.1.
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl Stack {
    fn up(extra: &[&str]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("herald.toml"), STACK).unwrap();
        let addr = free_addr();
        let listen = addr.to_string();
        let mut args = vec!["up", "--detach", "--listen", &listen];
        args.extend_from_slice(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("HERALD_FILE")
            .env("HERALD_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "up: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("dashboard: http://{addr}/ui")),
            "{}",
            stderr(&out)
        );
        Stack { dir, addr }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join(".herald/api.sock")
    }

    /// A request over the unix socket.
    fn local(&self, method: &str, path: &str) -> Answer {
        let stream = UnixStream::connect(self.socket()).unwrap();
        exchange(stream, method, path, &[])
    }

    /// A request over TCP with `headers`.
    fn tcp(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let stream = TcpStream::connect(self.addr).unwrap();
        exchange(stream, method, path, headers)
    }

    /// A request over TCP with the token.
    fn authed(&self, method: &str, path: &str) -> Answer {
        let bearer = format!("Bearer {TOKEN}");
        self.tcp(method, path, &[("Authorization", &bearer)])
    }

    fn state(&self, name: &str) -> String {
        let row = self.local("GET", &format!("/api/v1/components/{name}"));
        assert_eq!(row.status, 200, "{}", row.body);
        row.json()["state"].as_str().unwrap().to_string()
    }

    fn supervisor_pid(&self) -> u32 {
        let lock = std::fs::read_to_string(self.dir.path().join(".herald/herald.lock")).unwrap();
        lock.trim().parse().unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = herald_in(self.dir.path(), &["down"]);
    }
}

/// A response: status, headers (lowercase names) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Writes the request line and headers of one request.
fn send(stream: &mut impl Write, method: &str, path: &str, headers: &[(&str, &str)]) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
}

/// Reads the status line and headers.
fn head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            return (status, headers);
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
}

fn exchange<S: Read + Write>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    send(&mut stream, method, path, headers);
    let mut reader = BufReader::new(stream);
    let (status, headers) = head(&mut reader);
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        while let Some(chunk) = next_chunk(&mut reader) {
            body.extend(chunk);
        }
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    Answer {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// One chunk of a chunked body; `None` at its end.
fn next_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    Some(chunk)
}

/// A Server-Sent Event stream being read.
struct Stream {
    reader: BufReader<UnixStream>,
    buffer: String,
}

/// One event: its id and data.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    data: serde_json::Value,
}

impl Stream {
    fn open(socket: &Path, path: &str, headers: &[(&str, &str)]) -> Stream {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        send(&mut stream, "GET", path, headers);
        let mut reader = BufReader::new(stream);
        let (status, headers) = head(&mut reader);
        assert_eq!(status, 200);
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream")),
            "{headers:?}"
        );
        Stream {
            reader,
            buffer: String::new(),
        }
    }

    /// The next event with data (keep-alive comments skipped).
    fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str(v.trim()).unwrap());
                    }
                }
                if let Some(data) = data {
                    return Sse { id, data };
                }
                continue;
            }
            let chunk = next_chunk(&mut self.reader).expect("the stream ended");
            self.buffer.push_str(&String::from_utf8(chunk).unwrap());
        }
    }

    /// Events until one for `component` in `state` (inclusive).
    fn until(&mut self, component: &str, state: &str) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next();
            let hit = event.data["component"] == component && event.data["state"] == state;
            seen.push(event);
            if hit {
                return seen;
            }
        }
    }
}

#[test]
fn readyz_answers_200_and_503_in_the_kubernetes_format() {
    let stack = Stack::up(&[]);
    let ok = stack.local("GET", "/readyz");
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok"));
    let verbose = stack.local("GET", "/readyz?verbose");
    assert_eq!(verbose.status, 200);
    assert_eq!(
        verbose.body,
        "[+]ping ok\n[+]component/db ok\n[+]component/web ok\n[+]component/migrate ok\n\
         readyz check passed\n"
    );
    assert_eq!(
        verbose.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // Anyone may ask /readyz on TCP.
    assert_eq!(stack.tcp("GET", "/readyz", &[]).status, 200);
    assert_eq!(stack.tcp("GET", "/livez", &[]).body, "ok");

    // Stopped through the API: the control answers once it has run.
    let stopped = stack.local("POST", "/api/v1/components/web/stop");
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    assert_eq!(stopped.json()["state"], "stopped");

    // A failure lists every check, verbose or not, with the reason over the socket...
    let failed = stack.local("GET", "/readyz");
    assert_eq!(failed.status, 503);
    let expected = "[+]ping ok\n[+]component/db ok\n[-]component/web failed: stopped\n\
                    [+]component/migrate ok\nreadyz check failed\n";
    assert_eq!(failed.body, expected);
    assert_eq!(stack.local("GET", "/readyz?verbose").body, expected);
    // ... and on TCP with the token; withheld without it.
    assert_eq!(stack.authed("GET", "/readyz").body, expected);
    let withheld = stack.tcp("GET", "/readyz?verbose", &[]);
    assert_eq!(withheld.status, 503);
    assert!(
        withheld
            .body
            .contains("[-]component/web failed: reason withheld\n"),
        "{}",
        withheld.body
    );
    assert!(!withheld.body.contains("stopped"), "{}", withheld.body);
    // The same checks as JSON, when asked for.
    let json = stack.tcp("GET", "/readyz", &[("Accept", "application/json")]);
    assert_eq!(json.status, 503);
    let json = json.json();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["checks"][2]["name"], "component/web");
    assert_eq!(json["checks"][2]["reason"], "reason withheld");
    assert_eq!(json["checks"][1]["status"], "ok");

    // Excluded, repeatably; a name that matches nothing is warned about.
    let excluded = stack.local(
        "GET",
        "/readyz?verbose&exclude=component/web&exclude=component%2Fnope",
    );
    assert_eq!(excluded.status, 200, "{}", excluded.body);
    assert_eq!(
        excluded.body,
        "[+]ping ok\n[+]component/db ok\n[+]component/web excluded: ok\n\
         [+]component/migrate ok\nwarn: some health checks cannot be excluded: no matches for \
         \"component/nope\"\nreadyz check passed\n"
    );
    assert_eq!(
        stack.local("GET", "/readyz?exclude=component/web").body,
        "ok"
    );

    // One check at a time.
    let one = stack.local("GET", "/readyz/component/db");
    assert_eq!((one.status, one.body.as_str()), (200, "ok"));
    let one = stack.local("GET", "/readyz/component/web");
    assert_eq!(
        (one.status, one.body.as_str()),
        (503, "internal server error: stopped\n")
    );
    let one = stack.tcp("GET", "/readyz/component/web", &[]);
    assert_eq!(
        (one.status, one.body.as_str()),
        (503, "internal server error: reason withheld\n")
    );
    assert_eq!(stack.local("GET", "/readyz/ping").body, "ok");
    assert_eq!(stack.local("GET", "/readyz/component/nope").status, 404);

    // Started again: ready again.
    assert_eq!(
        stack.local("POST", "/api/v1/components/web/start").status,
        200
    );
    assert!(eventually(Duration::from_secs(20), || stack
        .local("GET", "/readyz")
        .status
        == 200));
}

#[test]
fn tcp_needs_the_token_and_the_socket_does_not() {
    let stack = Stack::up(&[]);
    for path in [
        "/api/v1/components",
        "/metrics",
        "/openapi.json",
        "/api/v1/graph",
    ] {
        let refused = stack.tcp("GET", path, &[]);
        assert_eq!(refused.status, 401, "{path}: {}", refused.body);
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer realm=\"herald\"")
        );
        let wrong = stack.tcp(
            "GET",
            path,
            &[("Authorization", "Bearer not-the-token-at-all")],
        );
        assert_eq!(wrong.status, 401, "{path}");
        assert_eq!(stack.authed("GET", path).status, 200, "{path}");
        assert_eq!(stack.local("GET", path).status, 200, "{path}");
    }
    let refused = stack.tcp("POST", "/api/v1/components/web/restart", &[]);
    assert_eq!(refused.status, 401);

    // The dashboard: a sign-in form without the token; with it, a cookie that lets the
    // page's own requests through.
    let form = stack.tcp("GET", "/ui", &[]);
    assert_eq!(form.status, 401);
    assert!(form.body.contains("<form"), "{}", form.body);
    assert_eq!(
        stack
            .tcp("GET", "/ui?token=wrong-token-0123456789", &[])
            .status,
        401
    );
    let signed = stack.tcp("GET", &format!("/ui?token={TOKEN}"), &[]);
    assert_eq!(signed.status, 303);
    let cookie = signed.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap();
    let page = stack.tcp("GET", "/ui", &[("Cookie", cookie)]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("web-demo"));
    assert_eq!(
        stack
            .tcp("GET", "/api/v1/components", &[("Cookie", cookie)])
            .status,
        200
    );

    // The socket is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(stack.socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_control_through_the_api_answers_once_it_has_run() {
    let stack = Stack::up(&[]);
    let before = stack.local("GET", "/api/v1/components/web").json();
    let old_pid = before["pid"].as_u64().unwrap();
    let answer = stack.authed("POST", "/api/v1/components/web/restart");
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Answered once the old run is gone: the row belongs to the restart.
    let state = answer.json()["state"].as_str().unwrap().to_string();
    assert!(
        ["restarting", "waiting", "starting", "ready"].contains(&state.as_str()),
        "{state}"
    );
    assert!(!alive(old_pid as u32), "the old web still runs");
    assert!(eventually(Duration::from_secs(20), || stack.state("web") == "ready"));
    let after = stack.local("GET", "/api/v1/components/web").json();
    assert_ne!(after["pid"], before["pid"]);

    let unknown = stack.local("POST", "/api/v1/components/nope/restart");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["components"][0], "db");
    assert_eq!(
        stack.local("POST", "/api/v1/components/web/reload").status,
        404
    );
    assert_eq!(
        stack.local("GET", "/api/v1/components").json()[2]["name"],
        "migrate"
    );
    let graph = stack.local("GET", "/api/v1/graph").json();
    assert_eq!(graph["components"][1], "web");
}

#[test]
fn read_only_refuses_every_action() {
    let stack = Stack::up(&["--read-only"]);
    for action in ["start", "stop", "restart"] {
        for answer in [
            stack.local("POST", &format!("/api/v1/components/db/{action}")),
            stack.authed("POST", &format!("/api/v1/components/db/{action}")),
        ] {
            assert_eq!(answer.status, 403, "{action}: {}", answer.body);
            assert!(
                answer.json()["error"]
                    .as_str()
                    .unwrap()
                    .contains("read-only")
            );
        }
    }
    assert_eq!(stack.state("db"), "ready");
    // The dashboard shows no buttons.
    assert!(
        stack
            .local("GET", "/ui")
            .body
            .contains("const READ_ONLY = true;")
    );
}

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

#[test]
fn connections_and_requests_are_bounded() {
    let stack = Stack::up(&[]);
    // A request head past 64 KiB is refused.
    let big = "x".repeat(100 * 1024);
    let stream = UnixStream::connect(stack.socket()).unwrap();
    let answer = exchange(stream, "GET", "/livez", &[("X-Padding", &big)]);
    assert_eq!(answer.status, 431, "{}", answer.body);

    // 64 connections that say nothing fill the listener: the next waits for a free slot.
    let idle: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(stack.socket()).unwrap())
        .collect();
    let mut waiting = UnixStream::connect(stack.socket()).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    send(&mut waiting, "GET", "/livez", &[]);
    let mut byte = [0u8; 1];
    let err = waiting.read(&mut byte).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    // One closes: the waiting one is served.
    drop(idle);
    waiting
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(waiting);
    assert_eq!(head(&mut reader).0, 200);
}

#[test]
fn listen_is_refused_without_a_token_or_on_a_port_in_use() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("herald.toml"), STACK).unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let up = |token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .args(["up", "--detach", "--listen", &addr])
            .current_dir(dir.path())
            .env_remove("HERALD_FILE")
            .env_remove("HERALD_TOKEN")
            .env_remove("HERALD_TOKEN_FILE");
        if let Some(token) = token {
            command.env("HERALD_TOKEN", token);
        }
        command.output().unwrap()
    };
    let out = up(None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs a bearer token"),
        "{}",
        stderr(&out)
    );
    let out = up(Some("short"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("HERALD_TOKEN: the token is shorter than 16"),
        "{}",
        stderr(&out)
    );
    // The port is taken: refused before any component starts.
    let out = up(Some(TOKEN));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("--listen {addr}: cannot listen")),
        "{}",
        stderr(&out)
    );
    let events =
        std::fs::read_to_string(dir.path().join(".herald/events.jsonl")).unwrap_or_default();
    assert!(!events.contains("\"starting\""), "{events}");
}
