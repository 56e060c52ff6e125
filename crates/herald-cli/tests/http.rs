//! The HTTP interface over real HTTP: health, authentication, controls and limits, on a
//! stack started with `herald up --detach --listen`, over `api.sock` and 127.0.0.1.

mod common;
mod http_common;

use common::{alive, eventually, stderr};
use http_common::*;
use std::io::{BufReader, Read};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

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

#[test]
fn no_component_inherits_the_token() {
    // `$$` keeps the stack file from substituting the variable itself: the shell reads it.
    let stack = Stack::up_with(
        "[components.peek]\ncommand = [\"sh\", \"-c\", \"echo token=$${HERALD_TOKEN:-none}; exec sleep 1000\"]\n\
         ready = { log = \"token=\" }\n",
        &[],
    );
    let lines = stack.local("GET", "/api/v1/logs/peek").json();
    assert_eq!(lines[0]["text"], "token=none", "{lines}");
}

#[test]
fn the_stack_file_can_name_the_address_and_the_token_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let addr = http_common::free_addr();
    std::fs::write(
        dir.path().join("herald.toml"),
        format!(
            "[stack]\nlisten = \"{addr}\"\ntoken_file = \"secret/token\"\n\n\
             [components.db]\ncommand = [\"sh\", \"-c\", \"exec sleep 1000\"]\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("secret")).unwrap();
    let token = dir.path().join("secret/token");
    std::fs::write(&token, format!("{}\n", http_common::TOKEN)).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("HERALD_FILE")
            .env_remove("HERALD_TOKEN")
            .env_remove("HERALD_TOKEN_FILE")
            .output()
            .unwrap()
    };
    let out = run(&["up", "-d"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains(&format!("dashboard: http://{addr}/ui")));
    let stack = http_common::Stack {
        dir: tempfile::tempdir().unwrap(),
        addr,
    };
    assert_eq!(stack.tcp("GET", "/api/v1/components", &[]).status, 401);
    assert_eq!(stack.authed("GET", "/api/v1/components").status, 200);
    assert!(run(&["down"]).status.success());
    // A bad address is placed in the file.
    std::fs::write(
        dir.path().join("herald.toml"),
        "[stack]\nlisten = \"7070\"\n\n[components.db]\ncommand = [\"true\"]\n",
    )
    .unwrap();
    let out = run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("`stack.listen` must be an address"),
        "{}",
        common::stderr(&out)
    );
}
