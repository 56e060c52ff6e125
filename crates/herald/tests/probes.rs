//! Probes in a running stack: an in-process task judged by a TCP probe.

use herald::probe::{FileProbe, TcpProbe};
use herald::{ComponentSpec, RestartPolicy, Stack, State, task};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A port nothing listens on (bound, then released).
async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_task_becomes_ready_once_its_listener_accepts() {
    let port = free_port().await;
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("db").ready_timeout(Duration::from_secs(60)),
        task(move |ctx| async move {
            // Open the database first...
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _listener = TcpListener::bind(("127.0.0.1", port)).await?;
            ctx.stopped().await;
            Ok(())
        })
        .ready_on_start()
        .probe(TcpProbe::new(format!("127.0.0.1:{port}"))),
    );
    stack.add(
        ComponentSpec::new("app").requires(["db"]),
        task(|ctx| async move {
            ctx.ready();
            ctx.stopped().await;
            Ok(())
        }),
    );
    let started = Instant::now();
    let running = stack.start().unwrap();
    running.signal("app").unwrap().wait().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(running.signal("db").unwrap().state(), State::Ready);

    // Refused at least once before the bind, then accepted; with backoff up to 500 ms that is
    // a handful of attempts, not hundreds, however slow the machine made the wait.
    let spent = running.probes_spent("db").unwrap();
    let bound = 12 + 3 * elapsed.as_secs() as u32;
    assert!(
        (2..=bound).contains(&spent),
        "{spent} probes in {elapsed:?}"
    );
    // Nothing is probed once ready, and waiters run no checks of their own.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(running.probes_spent("db").unwrap(), spent);
    assert_eq!(running.probes_spent("app").unwrap(), 0);
    running.shutdown().await;
}

#[tokio::test]
async fn a_probe_that_never_passes_fails_with_its_reason() {
    let port = free_port().await;
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("never");
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("db")
            .ready_timeout(Duration::from_secs(1))
            .restart(RestartPolicy::No),
        task(|ctx| async move {
            ctx.stopped().await;
            Ok(())
        })
        .ready_on_start()
        .probe(TcpProbe::new(format!("127.0.0.1:{port}")))
        .probe(FileProbe::new(&flag)),
    );
    stack.add(
        ComponentSpec::new("app").requires(["db"]),
        task(|ctx| async move {
            ctx.ready();
            ctx.stopped().await;
            Ok(())
        }),
    );
    let running = stack.start().unwrap();
    let err = running.signal("app").unwrap().wait().await.unwrap_err();
    let root = err.root();
    assert_eq!(root.component, "db");
    match root.check.as_str() {
        "tcp" => {
            assert_eq!(root.target, format!("127.0.0.1:{port}"));
            assert_eq!(root.reason, "connection refused");
        }
        "file" => {
            assert_eq!(root.target, flag.display().to_string());
            assert_eq!(root.reason, "does not exist");
        }
        other => panic!("unexpected check {other}: {err}"),
    }
    assert!(root.attempts >= 1, "{err}");
    assert_eq!(running.signal("db").unwrap().state(), State::Failed);
    running.shutdown().await;
}
