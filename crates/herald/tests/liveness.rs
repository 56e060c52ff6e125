//! After ready: `live` checks against a real socket (restart or degrade, and back), and
//! `reloading` while a component says it reloads. Real time, short periods; no figure is
//! asserted, only what happens and in which order.

use herald::probe::TcpProbe;
use herald::{
    Check, CheckKind, ComponentSpec, Event, Events, LiveAction, LiveSpec, Running, Stack, State,
    task,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A service task, ready at once, running until stopped.
fn service() -> herald::Task {
    task(|ctx| async move {
        ctx.ready();
        ctx.stopped().await;
        Ok(())
    })
}

fn live(port: u16, action: LiveAction) -> LiveSpec {
    let check = Check::Tcp(TcpProbe::new(format!("127.0.0.1:{port}")).unwrap());
    LiveSpec::new(check)
        .unwrap()
        .period(ms(50))
        .timeout(ms(500))
        .failures(2)
        .action(action)
}

async fn until(events: &mut Events, seen: &mut Vec<Event>, name: &str, state: State) {
    tokio::time::timeout(LIMIT, async {
        while let Some(event) = events.recv().await {
            let hit = &*event.component == name && event.state == state;
            seen.push(event);
            if hit {
                return;
            }
        }
        panic!("the stream ended before {name} was {state}");
    })
    .await
    .unwrap_or_else(|_| panic!("{name} never became {state}: {seen:?}"));
}

fn states(seen: &[Event], name: &str) -> Vec<State> {
    seen.iter()
        .filter(|e| &*e.component == name)
        .map(|e| e.state)
        .collect()
}

fn start(specs: Vec<ComponentSpec>) -> (Running, Events) {
    let mut stack = Stack::new();
    let events = stack.subscribe();
    for spec in specs {
        stack.add(spec, service());
    }
    (stack.start().unwrap(), events)
}

#[tokio::test]
async fn a_failing_live_check_restarts_the_run_and_its_bound_dependents() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (running, mut events) = start(vec![
        ComponentSpec::new("db").live(live(port, LiveAction::Restart)),
        ComponentSpec::new("api").binds_to(["db"]),
    ]);
    running.wait_all().await.unwrap();
    let mut seen = Vec::new();
    // Passing checks change nothing; then the port closes.
    tokio::time::sleep(ms(200)).await;
    assert_eq!(running.signal("db").unwrap().state(), State::Ready);
    drop(listener);
    until(&mut events, &mut seen, "db", State::Restarting).await;
    let failed = seen.iter().find(|e| e.state == State::Restarting).unwrap();
    let error = failed.error.as_deref().expect("the failure's error");
    assert_eq!(error.check, CheckKind::Live);
    assert_eq!(error.attempts, 2);
    assert!(error.target.contains(&port.to_string()), "{}", error.target);
    // Counted as a restart of the policy's; api followed db through it.
    assert_eq!(running.signal("db").unwrap().status().restarts, 1);
    until(&mut events, &mut seen, "api", State::Restarting).await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_degraded_component_keeps_its_dependents_and_comes_back() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (running, mut events) = start(vec![
        ComponentSpec::new("db").live(live(port, LiveAction::Degrade)),
        ComponentSpec::new("api").binds_to(["db"]),
    ]);
    running.wait_all().await.unwrap();
    let mut seen = Vec::new();
    drop(listener);
    until(&mut events, &mut seen, "db", State::Degraded).await;
    let degraded = seen.last().unwrap();
    assert_eq!(degraded.error.as_deref().unwrap().check, CheckKind::Live);
    // Still up: a wait resolves, and the bound dependent was left alone.
    running.signal("db").unwrap().wait().await.unwrap();
    let _back = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    until(&mut events, &mut seen, "db", State::Ready).await;
    assert_eq!(states(&seen, "api"), [State::Starting, State::Ready]);
    assert_eq!(running.signal("db").unwrap().status().restarts, 0);
    running.shutdown().await;
}

#[tokio::test]
async fn a_reload_is_a_state_of_its_own_that_dependents_ride_out() {
    let mut stack = Stack::new();
    let mut events = stack.subscribe();
    let (reload_tx, reload_rx) = tokio::sync::watch::channel(false);
    stack.add(
        ComponentSpec::new("nginx"),
        task(move |ctx| {
            let mut reload = reload_rx.clone();
            async move {
                ctx.ready();
                loop {
                    tokio::select! {
                        _ = ctx.stopped() => return Ok(()),
                        changed = reload.changed() => {
                            if changed.is_err() {
                                ctx.stopped().await;
                                return Ok(());
                            }
                            ctx.set_reloading(*reload.borrow_and_update());
                        }
                    }
                }
            }
        }),
    );
    stack.add(ComponentSpec::new("app").binds_to(["nginx"]), service());
    let running = stack.start().unwrap();
    running.wait_all().await.unwrap();
    let mut seen = Vec::new();
    reload_tx.send(true).unwrap();
    until(&mut events, &mut seen, "nginx", State::Reloading).await;
    reload_tx.send(false).unwrap();
    until(&mut events, &mut seen, "nginx", State::Ready).await;
    assert_eq!(
        states(&seen, "app"),
        [State::Starting, State::Ready],
        "a reload restarts no dependent"
    );
    running.shutdown().await;
}

#[test]
fn live_takes_exactly_one_check() {
    let spec = ComponentSpec::new("quiet");
    assert!(spec.live.is_none());
    let bad = serde_json::from_str::<ComponentSpec>(
        r#"{"live": {"exec": ["true"], "tcp": "127.0.0.1:1"}}"#,
    );
    let error = bad.unwrap_err().to_string();
    assert!(error.contains("exactly one check"), "{error}");
    let none = serde_json::from_str::<ComponentSpec>(r#"{"live": {"period": "1s"}}"#);
    assert!(none.unwrap_err().to_string().contains("not 0"));
}
