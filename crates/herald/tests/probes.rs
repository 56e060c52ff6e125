//! Probes in a running stack: an in-process task judged by a TCP probe.

use herald::probe::{FileProbe, TcpProbe};
use herald::{BackoffSpec, ComponentSpec, ProbeSpacing, RestartPolicy, Stack, State, task};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A port nothing listens on (bound, then released).
async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// The most attempts the default probe spacing makes over `elapsed`: every delay at the
/// jitter's shortest (80 %), plus the first attempt and the one that passes.
fn most_attempts(elapsed: Duration) -> u32 {
    let mut t = Duration::ZERO;
    let mut attempts = 2;
    while t < elapsed {
        t += ProbeSpacing::nominal(BackoffSpec::PROBE, t).mul_f64(0.8);
        attempts += 1;
    }
    attempts
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
        .probe(TcpProbe::new(format!("127.0.0.1:{port}")).unwrap()),
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

    // Refused at least once before the bind, then accepted; never more attempts than the
    // spacing allows over the time it took, however slow the machine made the wait (about 40
    // over 300 ms, not the 60 of probing every 5 ms).
    let spent = running.probes_spent("db").unwrap();
    let bound = most_attempts(elapsed);
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
        .probe(TcpProbe::new(format!("127.0.0.1:{port}")).unwrap())
        .probe(FileProbe::new(&flag).unwrap()),
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
