//! Lazy dependencies (`uses`): the start is not delayed, [`Context::need`] waits where the
//! component needs it, and shutdown stops a user before what it uses.

mod common;

use common::{ms, service};

use herald::{ComponentSpec, Event, NeedError, RestartPolicy, Stack, State, task};
use std::time::Duration;

fn position(events: &[Event], name: &str, state: State) -> usize {
    events
        .iter()
        .position(|e| &*e.component == name && e.state == state)
        .unwrap_or_else(|| panic!("{name} was never {state}: {events:?}"))
}

#[tokio::test(start_paused = true)]
async fn a_user_starts_at_once_and_needs_its_dependency_only_when_it_says_so() {
    let mut stack = Stack::new();
    let mut events = stack.subscribe();
    stack.add(ComponentSpec::new("apiserver"), service(ms(200)));
    stack.add(
        ComponentSpec::new("kubelet").uses(["apiserver"]),
        task(|ctx| async move {
            ctx.ready();
            ctx.set_detail("waiting for the API server");
            ctx.need("apiserver").await?;
            ctx.set_detail("registered");
            ctx.stopped().await;
            Ok(())
        }),
    );
    let running = stack.start().unwrap();
    let kubelet = running.signal("kubelet").unwrap();
    kubelet.wait().await.unwrap();
    assert_eq!(
        running.signal("apiserver").unwrap().state(),
        State::Starting
    );
    kubelet
        .wait_for(|s| s.detail.as_deref() == Some("registered"))
        .await
        .unwrap();
    running.shutdown().await;
    let mut all = Vec::new();
    while let Some(event) = events.recv().await {
        all.push(event);
    }
    // kubelet was ready before the API server, and stopped before it.
    assert!(position(&all, "kubelet", State::Ready) < position(&all, "apiserver", State::Ready));
    assert!(
        position(&all, "kubelet", State::Stopped) < position(&all, "apiserver", State::Stopping)
    );
    let start = &all[position(&all, "kubelet", State::Starting)];
    assert_eq!(start.waited, Some(Duration::ZERO));
    assert_eq!(
        start.released_by, None,
        "a lazy dependency releases nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn need_refuses_what_was_not_declared_and_passes_on_a_failure() {
    let mut stack = Stack::new();
    stack.add(
        ComponentSpec::new("etcd").restart(RestartPolicy::No),
        task(|_ctx| async { Err("disk full".into()) }),
    );
    stack.add(ComponentSpec::new("cache"), service(ms(1)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    stack.add(
        ComponentSpec::new("api").uses(["etcd"]).after(["cache"]),
        task(move |ctx| {
            let tx = tx.clone();
            async move {
                ctx.ready();
                let _ = tx.send(("cache", ctx.need("cache").await));
                let _ = tx.send(("scheduler", ctx.need("scheduler").await));
                let _ = tx.send(("etcd", ctx.need("etcd").await));
                ctx.stopped().await;
                Ok(())
            }
        }),
    );
    let running = stack.start().unwrap();
    // `after` orders the start but is no dependency to wait for.
    let (name, after) = rx.recv().await.unwrap();
    assert_eq!(name, "cache");
    assert!(
        matches!(after, Err(NeedError::Undeclared { .. })),
        "{after:?}"
    );
    let (_, unknown) = rx.recv().await.unwrap();
    let Err(NeedError::Undeclared { component, name }) = unknown else {
        panic!("{unknown:?}");
    };
    assert_eq!((component.as_str(), name.as_str()), ("api", "scheduler"));
    let (_, failed) = rx.recv().await.unwrap();
    let Err(NeedError::Failed(error)) = failed else {
        panic!("{failed:?}");
    };
    assert_eq!(
        (error.component.as_str(), error.reason.as_str()),
        ("etcd", "disk full")
    );
    running.shutdown().await;
}

#[test]
fn a_cycle_through_uses_is_a_warning_and_a_hard_cycle_stays_an_error() {
    let lazy = [
        ComponentSpec::new("a").requires(["b"]),
        ComponentSpec::new("b").uses(["a"]),
    ];
    let graph = herald::Graph::new(&lazy).expect("a cycle through `uses` is allowed");
    assert_eq!(graph.lazy_cycles(), [vec!["a", "b", "a"]]);
    // Start order ignores the lazy edge; the stop order keeps the hard one.
    assert_eq!(graph.topological_order(), [1, 0]);
    assert_eq!(graph.stops_after(1).collect::<Vec<_>>(), [0]);
    assert_eq!(graph.stops_after(0).count(), 0);

    let hard = [
        ComponentSpec::new("a").requires(["b"]),
        ComponentSpec::new("b").wants(["a"]),
    ];
    let error = herald::Graph::new(&hard).unwrap_err();
    assert!(error.to_string().contains("a -> b -> a"), "{error}");
}
