//! The engine with in-process task components: readiness, blocking, restarts, controls, stop.
//! Time is Tokio's paused clock, so delays are exact and tests do not depend on machine load.

mod common;

use common::{ms, service};

use herald::{
    BoxFuture, ComponentSpec, Event, Events, Kind, Probe, RestartPolicy, Running, Stack, State,
    task,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A task that fails before it is ready.
fn failing(reason: &'static str) -> herald::Task {
    task(move |_ctx| async move { Err(reason.into()) })
}

async fn drain(mut events: Events) -> Vec<Event> {
    let mut all = Vec::new();
    while let Some(event) = events.recv().await {
        all.push(event);
    }
    all
}

fn states_of(events: &[Event], name: &str) -> Vec<State> {
    events
        .iter()
        .filter(|e| &*e.component == name)
        .map(|e| e.state)
        .collect()
}

async fn settle(running: &Running) {
    for signal in running.signals() {
        signal
            .wait_for(|s| s.state.is_up() || s.state.is_failed())
            .await;
    }
}

#[tokio::test(start_paused = true)]
async fn blocked_propagates_with_its_cause_and_wants_never_blocks() {
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("etcd").restart(RestartPolicy::No),
        failing("connection refused"),
    );
    stack.add(
        ComponentSpec::new("apiserver").requires(["etcd"]),
        service(ms(5)),
    );
    stack.add(
        ComponentSpec::new("scheduler").binds_to(["apiserver"]),
        service(ms(5)),
    );
    stack.add(
        ComponentSpec::new("kubelet").wants(["apiserver"]),
        service(ms(5)),
    );
    let running = stack.start().unwrap();
    settle(&running).await;

    let state = |n: &str| running.signal(n).unwrap().state();
    assert_eq!(state("etcd"), State::Failed);
    assert_eq!(state("apiserver"), State::Blocked);
    assert_eq!(state("scheduler"), State::Blocked);
    assert_eq!(state("kubelet"), State::Ready);

    let err = running
        .signal("scheduler")
        .unwrap()
        .wait()
        .await
        .unwrap_err();
    let chain: Vec<&str> = err.chain().map(|e| e.component.as_str()).collect();
    assert_eq!(chain, ["scheduler", "apiserver", "etcd"]);
    assert_eq!(err.root().reason, "connection refused");
    assert_eq!(
        err.to_string(),
        "scheduler blocked: binds_to apiserver, which is blocked\n  \
         apiserver blocked: requires etcd, which failed\n    \
         etcd failed: task check etcd: connection refused"
    );
    let all = running.wait_all().await.unwrap_err();
    assert_eq!(all.root().component, "etcd");
    running.shutdown().await;
}

/// A probe that counts attempts and how many run at once; passes from the `after`-th attempt.
struct CountingProbe {
    calls: AtomicU32,
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
    after: u32,
}

impl Probe for CountingProbe {
    fn kind(&self) -> herald::CheckKind {
        herald::CheckKind::other("counting")
    }
    fn target(&self) -> String {
        "apiserver/readyz".into()
    }
    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(ms(1)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= self.after {
                Ok(())
            } else {
                Err(format!("503 ({n})"))
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_thousand_waiters_share_one_check_loop() {
    let probe = Arc::new(CountingProbe {
        calls: AtomicU32::new(0),
        in_flight: AtomicU32::new(0),
        max_in_flight: AtomicU32::new(0),
        after: 6,
    });
    struct Shared(Arc<CountingProbe>);
    impl Probe for Shared {
        fn kind(&self) -> herald::CheckKind {
            self.0.kind()
        }
        fn target(&self) -> String {
            self.0.target()
        }
        fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
            self.0.probe()
        }
    }
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("apiserver"),
        service(Duration::ZERO)
            .ready_on_start()
            .probe(Shared(probe.clone())),
    );
    let running = stack.start().unwrap();
    let signal = running.signal("apiserver").unwrap();
    let mut waiters = Vec::new();
    for _ in 0..1000 {
        let s = signal.clone();
        waiters.push(tokio::spawn(async move { s.wait().await }));
    }
    for w in waiters {
        w.await.unwrap().unwrap();
    }
    // Late waiters get the current state at once.
    tokio::time::sleep(Duration::from_secs(10)).await;
    for _ in 0..1000 {
        signal.wait().await.unwrap();
    }
    assert_eq!(
        probe.calls.load(Ordering::SeqCst),
        6,
        "one loop of 6 attempts"
    );
    assert_eq!(
        probe.max_in_flight.load(Ordering::SeqCst),
        1,
        "never two attempts at once"
    );
    assert_eq!(running.probes_spent("apiserver"), Some(6));
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn waiting_is_cancel_safe() {
    let mut stack = Stack::new();
    stack.add(ComponentSpec::new("slow"), service(ms(100)));
    let running = stack.start().unwrap();
    let signal = running.signal("slow").unwrap();
    for _ in 0..5 {
        assert!(tokio::time::timeout(ms(10), signal.wait()).await.is_err());
    }
    signal.wait().await.unwrap();
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn subscribers_see_every_state_change_in_order() {
    let mut stack = Stack::new();
    let events = stack.subscribe();
    stack.add(ComponentSpec::new("db"), service(ms(10)));
    stack.add(
        ComponentSpec::new("job")
            .kind(Kind::Oneshot)
            .requires(["db"]),
        task(|_| async { Ok(()) }),
    );
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    running.shutdown().await;
    let events = drain(events).await;
    assert_eq!(
        states_of(&events, "db"),
        [
            State::Starting,
            State::Ready,
            State::Stopping,
            State::Stopped
        ]
    );
    assert_eq!(
        states_of(&events, "job"),
        [State::Starting, State::Completed]
    );
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["component"], "db");
    assert_eq!(json["state"], "starting");
    assert!(json["time"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(start_paused = true)]
async fn restarts_back_off_and_the_start_limit_makes_failure_final() {
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let mut stack = Stack::new();
    let events = stack.subscribe();
    stack.add(
        ComponentSpec::new("flappy")
            .restart_backoff(ms(100), Duration::from_secs(10))
            .start_limit(3, Duration::from_secs(60)),
        task(move |_ctx| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err("crashed".into()) }
        }),
    );
    let running = stack.start().unwrap();
    let err = running.signal("flappy").unwrap().wait().await.unwrap_err();
    assert!(
        err.reason
            .contains("start limit reached: 4 failed starts within 1m"),
        "{err}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(running.signal("flappy").unwrap().status().restarts, 3);
    running.shutdown().await;

    let events = drain(events).await;
    let starts: Vec<_> = events
        .iter()
        .filter(|e| e.state == State::Starting)
        .map(|e| e.at)
        .collect();
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.len(), 3);
    for pair in gaps.windows(2) {
        assert!(pair[1] > pair[0], "restart delays must grow: {gaps:?}");
    }
    assert!(gaps[0] >= ms(80) && gaps[0] <= ms(101), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_crash_after_ready_restarts_and_dependents_keep_waiting_on_one_signal() {
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let mut stack = Stack::new();
    let events = stack.subscribe();
    stack.add(
        ComponentSpec::new("etcd").restart_backoff(ms(50), ms(500)),
        task(move |ctx| {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                ctx.ready();
                if run == 0 {
                    tokio::time::sleep(ms(20)).await;
                    return Err("crashed".into());
                }
                ctx.stopped().await;
                Ok(())
            }
        }),
    );
    stack.add(
        ComponentSpec::new("apiserver").requires(["etcd"]),
        service(ms(1)),
    );
    let running = stack.start().unwrap();
    let etcd = running.signal("etcd").unwrap();
    etcd.wait_for(|s| s.state == State::Ready).await.unwrap();
    etcd.wait_for(|s| s.state == State::Restarting)
        .await
        .unwrap();
    // A waiter that comes during the restart waits for the new run, on the same signal.
    etcd.wait().await.unwrap();
    running.wait_all().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let status = etcd.status();
    assert_eq!(status.restarts, 1);
    assert_eq!(status.error.unwrap().reason, "crashed");
    // A restart asked for is not one the restart policy made: not counted (as docker's
    // RestartCount and systemd's NRestarts).
    running.restart("etcd").await.unwrap();
    running.wait_all().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(etcd.status().restarts, 1);
    running.shutdown().await;
    let events = drain(events).await;
    use State::*;
    assert_eq!(
        states_of(&events, "etcd"),
        [
            Starting, Ready, Restarting, Waiting, Starting, Ready, Stopping, Restarting, Waiting,
            Starting, Ready, Stopping, Stopped
        ]
    );
    // The crash carried its own error; the ready lines after it carry none.
    let errors: Vec<(State, &str)> = events
        .iter()
        .filter(|e| &*e.component == "etcd")
        .filter_map(|e| Some((e.state, e.error.as_deref()?.reason.as_str())))
        .collect();
    assert_eq!(errors, [(Restarting, "crashed")]);
    // The plain `requires` dependent kept running through both.
    assert_eq!(
        states_of(&events, "apiserver"),
        [Starting, Ready, Stopping, Stopped]
    );
}

#[tokio::test(start_paused = true)]
async fn binds_to_follows_its_dependency_through_a_restart() {
    let mut stack = Stack::new();
    let events = stack.subscribe();
    stack.add(ComponentSpec::new("containerd"), service(ms(5)));
    stack.add(
        ComponentSpec::new("kubelet").binds_to(["containerd"]),
        service(ms(5)),
    );
    stack.add(
        ComponentSpec::new("logger").requires(["containerd"]),
        service(ms(5)),
    );
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    running.restart("containerd").await.unwrap();
    running.wait_all().await.unwrap();
    // Neither the restart asked for nor the one it carried along counts as a restart.
    for name in ["containerd", "kubelet"] {
        assert_eq!(running.signal(name).unwrap().status().restarts, 0, "{name}");
    }
    running.shutdown().await;
    let events = drain(events).await;
    use State::*;
    assert_eq!(
        states_of(&events, "kubelet"),
        [
            Starting, Ready, Stopping, Restarting, Waiting, Starting, Ready, Stopping, Stopped
        ]
    );
    // A plain `requires` dependent is not restarted.
    assert_eq!(
        states_of(&events, "logger"),
        [Starting, Ready, Stopping, Stopped]
    );
}

#[tokio::test(start_paused = true)]
async fn stop_and_start_one_component() {
    let mut stack = Stack::new();
    stack.add(ComponentSpec::new("redis"), service(ms(5)));
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    running.stop("redis").await.unwrap();
    assert_eq!(running.signal("redis").unwrap().state(), State::Stopped);
    running.start("redis").await.unwrap();
    running.signal("redis").unwrap().wait().await.unwrap();
    assert!(running.stop("nope").await.is_err());
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_that_ignores_stop_is_aborted_after_its_stop_timeout() {
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("stubborn").stop_timeout(ms(200)),
        task(|ctx| async move {
            ctx.ready();
            std::future::pending::<()>().await;
            Ok(())
        }),
    );
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    let before = tokio::time::Instant::now();
    running.shutdown().await;
    let took = before.elapsed();
    // Its grace, then the slack every run gets to finish its stop (2 s), then the abort.
    assert_eq!(took, ms(2200), "{took:?}");
    assert_eq!(running.signal("stubborn").unwrap().state(), State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_missing_ready_signal_fails_at_the_deadline() {
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("mute")
            .restart(RestartPolicy::No)
            .ready_timeout(ms(300)),
        task(|ctx| async move {
            ctx.stopped().await;
            Ok(())
        }),
    );
    let running = stack.start().unwrap();
    let err = running.signal("mute").unwrap().wait().await.unwrap_err();
    assert_eq!(err.check, "task");
    assert_eq!(err.reason, "no readiness signal within 300ms");
    assert_eq!(err.elapsed_ms, 300);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_service_that_exits_cleanly_stops_and_always_restarts() {
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("cron")
            .restart(RestartPolicy::Always)
            .restart_backoff(ms(10), ms(10)),
        task(move |ctx| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                ctx.ready();
                if n < 2 {
                    return Ok(());
                }
                ctx.stopped().await;
                Ok(())
            }
        }),
    );
    stack.add(
        ComponentSpec::new("once"),
        task(|ctx| async move {
            ctx.ready();
            Ok(())
        }),
    );
    let running = stack.start().unwrap();
    running
        .signal("cron")
        .unwrap()
        .wait_for(|s| s.restarts == 2 && s.state == State::Ready)
        .await;
    running
        .signal("once")
        .unwrap()
        .wait_for(|s| s.state == State::Stopped)
        .await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_that_stayed_ready_for_the_backoff_max_restarts_the_backoff_afresh() {
    // Runs 0 and 1 fail at once; run 2 is ready for 2 s (longer than the 1 s max) and then
    // crashes; run 3 is ready for 10 ms and crashes; run 4 stays up.
    let runs = Arc::new(AtomicU32::new(0));
    let counter = runs.clone();
    let mut stack = Stack::new();
    let events = stack.subscribe();
    stack.add(
        ComponentSpec::new("flappy")
            .restart_backoff(ms(100), Duration::from_secs(1))
            .start_limit(100, Duration::from_secs(60)),
        task(move |ctx| {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let up_for = match run {
                    0 | 1 => return Err("crashed at start".into()),
                    2 => Duration::from_secs(2),
                    3 => ms(10),
                    _ => {
                        ctx.ready();
                        ctx.stopped().await;
                        return Ok(());
                    }
                };
                ctx.ready();
                tokio::time::sleep(up_for).await;
                Err("crashed later".into())
            }
        }),
    );
    let running = stack.start().unwrap();
    running
        .signal("flappy")
        .unwrap()
        .wait_for(|s| s.restarts == 4 && s.state == State::Ready)
        .await;
    running.shutdown().await;

    // Each restart delay: from `restarting` to the next `waiting`.
    let events = drain(events).await;
    let mut delays = Vec::new();
    let mut restarting = None;
    for e in &events {
        match e.state {
            State::Restarting => restarting = Some(e.at),
            State::Waiting => {
                if let Some(at) = restarting.take() {
                    delays.push(e.at - at);
                }
            }
            _ => {}
        }
    }
    assert_eq!(delays.len(), 4, "{delays:?}");
    // Nominal 100 and 200 ms (80 % to 100 % with jitter); after the stable run 100 ms again,
    // then 200 ms after the short one.
    let within = |d: Duration, nominal: u64| d >= ms(nominal * 8 / 10) && d <= ms(nominal);
    assert!(within(delays[0], 100), "{delays:?}");
    assert!(within(delays[1], 200), "{delays:?}");
    assert!(within(delays[2], 100), "{delays:?}");
    assert!(within(delays[3], 200), "{delays:?}");
}
