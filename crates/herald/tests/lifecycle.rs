//! The lifecycle's contract, each part against what once broke it: controls resolve after the
//! state they cause is published, a restart shows no final state, a run that drops its
//! context or never reports its spawn cannot stall or spin its supervisor, a forced stop
//! leaves no reader behind, and events carry only their own cause.

mod common;

use common::{ms, service};

use herald::{
    Action, BoxFuture, Component, ComponentSpec, Context, EdgeKind, Failure, ProcessHost, Stack,
    State, task,
};
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn controls_resolve_once_the_state_they_cause_is_published() {
    let mut stack = Stack::new();
    stack.add(ComponentSpec::new("db"), service(ms(10)));
    let running = stack.start().unwrap();
    let db = running.signal("db").unwrap();
    db.wait().await.unwrap();

    running.act("db", Action::Restart).await.unwrap();
    // The old run is gone and the new one is on its way: never a final state.
    let state = db.state();
    assert!(
        matches!(state, State::Restarting | State::Waiting | State::Starting),
        "{state}"
    );
    db.wait().await.unwrap();

    running.act("db", Action::Stop).await.unwrap();
    assert_eq!(db.state(), State::Stopped);
    assert!(
        db.wait().await.is_err(),
        "a stopped component is not waited for"
    );

    running.act("db", Action::Start).await.unwrap();
    assert!(!db.state().is_down(), "{}", db.state());
    // So a wait right after a start waits for the new run, as it does after a restart.
    db.wait().await.unwrap();

    // A restart of a stopped component is a start.
    running.act("db", Action::Stop).await.unwrap();
    running.act("db", Action::Restart).await.unwrap();
    db.wait().await.unwrap();
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_wait_during_a_restart_waits_for_the_new_run() {
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("web").stop_timeout(ms(500)),
        task(|ctx| async move {
            ctx.ready();
            ctx.stopped().await;
            // A slow stop, so that waiters arrive while it lasts.
            tokio::time::sleep(ms(100)).await;
            Ok(())
        }),
    );
    let running = stack.start().unwrap();
    let web = running.signal("web").unwrap();
    web.wait().await.unwrap();
    let restart = running.act("web", Action::Restart);
    tokio::pin!(restart);
    tokio::select! {
        _ = &mut restart => panic!("the restart resolved before the old run stopped"),
        _ = tokio::time::sleep(ms(50)) => {}
    }
    assert_eq!(web.state(), State::Stopping);
    // Lands in the middle of the restart: resolves with the new run, not with the old stop.
    let waiter = tokio::spawn({
        let web = web.clone();
        async move { web.wait().await }
    });
    restart.await.unwrap();
    waiter.await.unwrap().unwrap();
    assert_eq!(web.state(), State::Ready);
    running.shutdown().await;
}

/// A component that never reports its spawn.
struct Silent;

impl Component for Silent {
    fn run(&self, ctx: Context) -> BoxFuture<'static, Result<(), Failure>> {
        Box::pin(async move {
            ctx.stopped().await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_component_that_never_reports_its_spawn_cannot_hang_the_stack() {
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("silent").ready_timeout(Duration::from_secs(5)),
        Silent,
    );
    let running = stack.start().unwrap();
    let silent = running.signal("silent").unwrap();
    // Its ready timeout bounds the wait for a spawn report: a failed start, said so.
    let failed = silent
        .wait_for(|s| s.error.is_some())
        .await
        .expect("the stack runs");
    let error = failed.error.unwrap();
    assert_eq!(error.check, "spawn");
    assert!(
        error.reason.contains("did not report its spawn within 5s"),
        "{}",
        error.reason
    );
    // And it can be stopped at any moment, shutdown included.
    tokio::time::timeout(Duration::from_secs(60), running.shutdown())
        .await
        .expect("shutdown returns");
    assert_eq!(silent.state(), State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_component_that_never_reported_its_spawn_stops() {
    let mut stack = Stack::new();
    stack.add(ComponentSpec::new("silent"), Silent);
    let running = stack.start().unwrap();
    tokio::time::sleep(ms(10)).await;
    tokio::time::timeout(Duration::from_secs(5), running.act("silent", Action::Stop))
        .await
        .expect("the stop resolves")
        .unwrap();
    assert_eq!(running.signal("silent").unwrap().state(), State::Stopped);
    tokio::time::timeout(Duration::from_secs(5), running.shutdown())
        .await
        .expect("shutdown returns");
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Real time, on this test's own thread: the runtime runs here, so a supervisor that spun
/// would show as this thread's CPU time.
#[tokio::test(flavor = "current_thread")]
async fn a_run_that_drops_its_context_costs_nothing_while_it_runs() {
    let mut stack = Stack::new();
    // The context is dropped as soon as the run begins: its report can change no more.
    stack.add(
        ComponentSpec::new("server"),
        task(|_ctx| std::future::pending::<Result<(), herald::BoxError>>()).ready_on_start(),
    );
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    let before = thread_cpu();
    tokio::time::sleep(ms(500)).await;
    let used = thread_cpu() - before;
    assert!(
        used < ms(100),
        "the supervisor used {used:?} of CPU in 500 ms at rest"
    );
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn events_are_numbered_and_name_what_released_each_start() {
    let mut stack = Stack::new();
    stack.numbering(4, 100);
    let mut events = stack.subscribe();
    stack.add(ComponentSpec::new("containerd"), service(ms(30)));
    stack.add(ComponentSpec::new("etcd"), service(ms(10)));
    stack.add(
        ComponentSpec::new("apiserver")
            .requires(["etcd"])
            .wants(["containerd"]),
        service(ms(5)),
    );
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    running.shutdown().await;
    let mut all = Vec::new();
    while let Some(event) = events.recv().await {
        all.push(event);
    }
    for (k, event) in all.iter().enumerate() {
        assert_eq!((event.run, event.seq), (4, 100 + k as u64));
    }
    let start = all
        .iter()
        .find(|e| &*e.component == "apiserver" && e.state == State::Starting)
        .unwrap();
    // containerd was ready last (30 ms, after etcd's 10 ms): it released the start.
    let released = start
        .released_by
        .as_ref()
        .expect("released by a dependency");
    assert_eq!(
        (released.component.as_str(), released.state, released.edge),
        ("containerd", State::Ready, EdgeKind::Wants)
    );
    let first = all
        .iter()
        .find(|e| &*e.component == "etcd" && e.state == State::Starting)
        .unwrap();
    assert_eq!(first.released_by, None, "etcd has no dependency");
}

#[tokio::test(start_paused = true)]
async fn wait_for_never_returns_a_status_that_does_not_hold() {
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("once").kind(herald::Kind::Oneshot),
        task(|_| async { Ok(()) }),
    );
    let running = stack.start().unwrap();
    let once = running.signal("once").unwrap();
    once.wait().await.unwrap();
    running.shutdown().await;
    drop(running);
    // The stack is gone: the status can never become `failed`.
    let seen = tokio::time::timeout(
        Duration::from_secs(60),
        once.wait_for(|s| s.state == State::Failed),
    )
    .await
    .expect("resolves once the stack is gone");
    assert_eq!(seen, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_stop_leaves_no_reader_on_a_strays_output() {
    let dir = tempfile::tempdir().unwrap();
    let host = ProcessHost::new(dir.path().join("state")).unwrap();
    let pidfile = dir.path().join("stray.pid");
    // The leader ignores SIGTERM; the stray leaves the group (a new session) and keeps
    // writing to the inherited output pipe.
    let script = format!(
        "trap '' TERM; setsid sh -c 'echo $$ > {}; while :; do echo tick; sleep 0.02; done' & \
         echo started; while :; do sleep 1; done",
        pidfile.display()
    );
    let spec = ComponentSpec::new("stubborn")
        .command(["sh", "-c", &script])
        .stop_timeout(ms(100));
    let mut stack = Stack::new();
    stack.add(spec.clone(), host.process(&spec).unwrap());
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    let stray = common::read_pids(&pidfile, 1)[0];
    let log = host.log_path("stubborn");
    assert!(common::eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("tick"))
    }));
    running.act("stubborn", Action::Stop).await.unwrap();
    // The stop is over: nothing reads the stray's output into the log any more.
    let size = std::fs::metadata(&log).unwrap().len();
    tokio::time::sleep(ms(500)).await;
    let later = std::fs::metadata(&log).unwrap().len();
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(stray as i32).unwrap(),
        rustix::process::Signal::KILL,
    );
    assert_eq!(size, later, "the log grew after the stop");
    running.shutdown().await;
}
