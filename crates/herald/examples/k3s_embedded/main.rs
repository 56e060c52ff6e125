//! The K3s component graph as in-process tasks, with start delays scaled down from a real node.
//!
//! Run it with `cargo run --example k3s_embedded`; add `-- --fail etcd` (or any component) to
//! see how a failure blocks its dependents and how the error chain names the culprit.
//!
//! Several components (scheduler, controller managers, kube-proxy, add-ons, and kubelet softly)
//! wait on the one apiserver signal; the apiserver's readiness is judged once. A metrics agent
//! `uses` the apiserver lazily: it starts at once, off the critical path, and waits for the
//! apiserver only when it has metrics to push (`Context::need`).

use herald::{ComponentSpec, RestartPolicy, Stack, State, task};
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod graph;
use graph::COMPONENTS;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fail = match args.as_slice() {
        [] => None,
        [flag, name] if flag == "--fail" => Some(name.clone()),
        _ => return Err("usage: k3s_embedded [--fail COMPONENT]".into()),
    };

    let mut stack = Stack::new();
    let mut delays = HashMap::new();
    for &(name, delay_ms, requires, wants) in COMPONENTS {
        let delay = Duration::from_millis(delay_ms);
        delays.insert(name, delay);
        let fails = fail.as_deref() == Some(name);
        let spec = ComponentSpec::new(name)
            .requires(requires.iter().copied())
            .wants(wants.iter().copied())
            .restart(if fails {
                RestartPolicy::No
            } else {
                RestartPolicy::OnFailure
            });
        stack.add(
            spec,
            task(move |ctx| async move {
                tokio::time::sleep(delay).await;
                if fails {
                    return Err("health check: connection refused".into());
                }
                ctx.ready();
                ctx.stopped().await;
                Ok(())
            }),
        );
    }
    let began = Instant::now();
    let (pushed_tx, mut pushed) = tokio::sync::oneshot::channel();
    let pushed_tx = std::sync::Mutex::new(Some(pushed_tx));
    delays.insert("metrics-agent", Duration::ZERO);
    stack.add(
        ComponentSpec::new("metrics-agent").uses(["apiserver"]),
        task(move |ctx| {
            let tx = pushed_tx.lock().unwrap().take();
            async move {
                ctx.ready();
                let ready_at = began.elapsed();
                let apiserver_ready = ctx.signal("apiserver").map(|s| s.state().is_up());
                // Collecting needs nothing; pushing needs the API server.
                ctx.need("apiserver").await?;
                if let Some(tx) = tx {
                    let _ = tx.send((ready_at, apiserver_ready, began.elapsed()));
                }
                ctx.stopped().await;
                Ok(())
            }
        }),
    );
    if let Some(name) = fail.as_ref().filter(|n| !delays.contains_key(n.as_str())) {
        return Err(format!("no component named {name:?}").into());
    }

    let graph = stack.graph()?;
    let critical = graph.critical_path(|name| delays[name]);
    let running = stack.start()?;
    let outcome = running.wait_all().await;
    // Let soft dependents of a failure settle before reporting.
    for signal in running.signals() {
        signal
            .wait_for(|s| s.state.is_up() || s.state.is_failed())
            .await;
    }
    let total = began.elapsed();

    println!(
        "{:<26} {:>9} {:>9} {:>9}  state",
        "component", "ready at", "waited", "own"
    );
    let mut rows: Vec<_> = running.statuses();
    rows.sort_by_key(|(_, s)| s.since);
    for (name, status) in &rows {
        let at = status.since.saturating_duration_since(began);
        let waited = status.waited.map(ms).unwrap_or_default();
        let own = status.time_to_ready.map(ms).unwrap_or_default();
        let at = if status.state == State::Ready {
            ms(at)
        } else {
            String::from("-")
        };
        println!("{name:<26} {at:>9} {waited:>9} {own:>9}  {}", status.state);
    }
    println!();
    if let Ok((ready_at, apiserver_ready, pushed_at)) = pushed.try_recv() {
        let before = if apiserver_ready == Some(false) {
            "before the API server was ready"
        } else {
            "with the API server already ready"
        };
        println!(
            "metrics-agent: ready at {}, {before}; it needed the API server and had it at {}",
            ms(ready_at),
            ms(pushed_at)
        );
    }
    let path: Vec<&str> = critical.path.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "critical path: {} ({})",
        ms(critical.total),
        path.join(" -> ")
    );
    match outcome {
        Ok(()) => {
            println!("total start:   {}", ms(total));
            println!(
                "over the path: {}",
                ms(total.saturating_sub(critical.total))
            );
            // Each task's own sleep overshoots a little (timer resolution); the critical path
            // of the measured own start times leaves only the engine's hand-offs.
            let own: HashMap<String, Duration> = rows
                .iter()
                .map(|(n, s)| (n.clone(), s.time_to_ready.unwrap_or_default()))
                .collect();
            let measured = graph.critical_path(|name| own[name]);
            println!(
                "engine:        {} of hand-offs along the path (measured own times sum to {})",
                ms(total.saturating_sub(measured.total)),
                ms(measured.total)
            );
        }
        Err(first) => {
            println!("start failed after {}:", ms(total));
            let deepest = rows
                .iter()
                .filter_map(|(_, s)| s.error.as_deref())
                .filter(|e| e.is_blocked())
                .max_by_key(|e| e.chain().count())
                .unwrap_or(&first);
            for line in deepest.to_string().lines() {
                println!("  {line}");
            }
        }
    }
    running.shutdown().await;
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
