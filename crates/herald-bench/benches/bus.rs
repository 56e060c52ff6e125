//! The readiness bus: one component's signal shared by 1, 100 and 10,000 waiters.
//!
//! Each sample starts a stack whose one in-process component is held until told to be ready,
//! parks the waiters on its signal, then measures from the component calling `ctx.ready()` to
//! the last waiter woken: the supervisor judging the signal, the bus publishing the change, and
//! every waiter resuming. The waiters run no check of their own.

use herald::{ComponentSpec, Running, Stack, task};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

fn main() {
    divan::main();
}

/// A started stack with `waiters` tasks parked on its one component's signal.
struct Parked {
    rt: tokio::runtime::Runtime,
    running: Running,
    go: Arc<Notify>,
    all_woken: oneshot::Receiver<()>,
}

fn park(waiters: usize) -> Parked {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let go = Arc::new(Notify::new());
    let (running, all_woken) = rt.block_on(async {
        let mut stack = Stack::new();
        let held = go.clone();
        stack.add(
            ComponentSpec::new("dependency"),
            task(move |ctx| {
                let held = held.clone();
                async move {
                    held.notified().await;
                    ctx.ready();
                    ctx.stopped().await;
                    Ok(())
                }
            }),
        );
        let running = stack.start().expect("a valid graph");
        let signal = running.signal("dependency").expect("known");
        let left = Arc::new(AtomicUsize::new(waiters));
        let (woken, all_woken) = oneshot::channel();
        let woken = Arc::new(std::sync::Mutex::new(Some(woken)));
        for _ in 0..waiters {
            let (signal, left, woken) = (signal.clone(), left.clone(), woken.clone());
            tokio::spawn(async move {
                signal.wait().await.expect("ready");
                if left.fetch_sub(1, Ordering::AcqRel) == 1
                    && let Some(tx) = woken.lock().expect("woken").take()
                {
                    let _ = tx.send(());
                }
            });
        }
        // Let every waiter reach its wait and the component its hold.
        tokio::time::sleep(Duration::from_millis(5)).await;
        (running, all_woken)
    });
    Parked {
        rt,
        running,
        go,
        all_woken,
    }
}

#[divan::bench(args = [1, 100, 10_000], sample_count = 30)]
fn ready_to_all_waiters_woken(bencher: divan::Bencher, waiters: usize) {
    bencher
        .with_inputs(|| park(waiters))
        .bench_local_values(|parked| {
            let Parked {
                rt,
                running,
                go,
                all_woken,
            } = parked;
            rt.block_on(async {
                go.notify_one();
                all_woken.await.expect("every waiter woken");
            });
            // Dropped after the sample: the shutdown is not measured.
            (rt, running)
        });
}
