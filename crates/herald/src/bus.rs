//! The readiness bus: one signal per component, shared by every waiter, and the event stream.
//!
//! Each component's status lives in a [`tokio::sync::watch`] channel written only by that
//! component's supervisor. A [`Signal`] is a cloneable reader of it: any number of waiters share
//! the one value, a late waiter sees the current state at once, and no waiter ever triggers a
//! check of its own. Every state change is also pushed, in order, to each [`Events`] subscriber.

use crate::{ReadinessError, State, Status};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::sync::{mpsc, watch};

/// One component's readiness signal: the generalised, explainable ready channel.
///
/// [`wait`](Signal::wait) resolves to `Ok(())` once the component is ready or completed, or
/// to the structured error once it has failed for good or been blocked. A component that is
/// restarting is waited for. Waiting is cancel-safe: dropping the future loses nothing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use herald::{task, ComponentSpec, Stack};
/// let mut stack = Stack::new();
/// stack.add(ComponentSpec::new("db"), task(|ctx| async move {
///     ctx.ready();
///     ctx.stopped().await;
///     Ok(())
/// }));
/// let running = stack.start().unwrap();
/// let db = running.signal("db").unwrap();
/// let waiters: Vec<_> = (0..3).map(|_| { let s = db.clone(); tokio::spawn(async move { s.wait().await }) }).collect();
/// for w in waiters { w.await.unwrap().unwrap(); }
/// running.shutdown().await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Signal {
    name: Arc<str>,
    rx: watch::Receiver<Status>,
}

impl Signal {
    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A copy of the current status.
    pub fn status(&self) -> Status {
        self.rx.borrow().clone()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.rx.borrow().state
    }

    /// Resolves once the component is ready or completed (`Ok`), or has failed for good, been
    /// blocked, or been stopped before it was ready (`Err` with the reason).
    pub async fn wait(&self) -> Result<(), ReadinessError> {
        let mut rx = self.rx.clone();
        let status = rx
            .wait_for(|s| s.state.is_up() || s.state.is_failed() || s.state == State::Stopped)
            .await
            .map(|s| s.clone())
            .unwrap_or_else(|_| self.rx.borrow().clone());
        match status.state {
            state if state.is_up() => Ok(()),
            _ => Err(status.error.as_deref().cloned().unwrap_or_else(|| {
                ReadinessError::new(
                    self.name.as_ref(),
                    crate::CheckKind::State,
                    "",
                    format!("{} before it was ready", status.state),
                )
            })),
        }
    }

    /// Resolves once every one of `signals` is ready or completed, or with the first error
    /// seen. Cancel-safe.
    pub async fn wait_all(signals: impl IntoIterator<Item = Signal>) -> Result<(), ReadinessError> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let mut waits: FuturesUnordered<_> = signals
            .into_iter()
            .map(|s| async move { s.wait().await })
            .collect();
        while let Some(result) = waits.next().await {
            result?;
        }
        Ok(())
    }

    /// Resolves with the status once `predicate` holds for it (at once if it already does).
    /// Cancel-safe.
    pub async fn wait_for(&self, mut predicate: impl FnMut(&Status) -> bool) -> Status {
        let mut rx = self.rx.clone();
        let result = rx.wait_for(|s| predicate(s)).await.map(|s| s.clone());
        result.unwrap_or_else(|_| self.rx.borrow().clone())
    }

    /// A receiver that follows the latest status; intermediate states may be coalesced
    /// (use [`Events`] to see every change).
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.rx.clone()
    }
}

/// One state change of one component.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Wall-clock time of the change.
    #[serde(serialize_with = "serialize_time")]
    pub time: SystemTime,
    /// Monotonic time of the change, for measuring.
    #[serde(skip)]
    pub at: Instant,
    /// The component.
    pub component: Arc<str>,
    /// The state it entered.
    pub state: State,
    /// Its process id, where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The error, for `failed`, `blocked` and `restarting` after a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Arc<ReadinessError>>,
}

fn serialize_time<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_micros(*time))
}

/// A subscription to every state change, in the order they happened. Nothing is dropped:
/// the queue is unbounded, so a slow reader delays only itself.
#[derive(Debug)]
pub struct Events(mpsc::UnboundedReceiver<Event>);

impl Events {
    pub(crate) fn channel() -> (mpsc::UnboundedSender<Event>, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Events(rx))
    }

    /// The next event, or `None` once the stack has finished and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

/// The signals of every component of a stack, indexed by position, and the event fan-out.
#[derive(Debug)]
pub(crate) struct Bus {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, usize>,
    senders: Vec<watch::Sender<Status>>,
    probes: Vec<AtomicU32>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
}

impl Bus {
    pub(crate) fn new(names: Vec<Arc<str>>) -> Self {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let senders = names
            .iter()
            .map(|_| watch::channel(Status::new()).0)
            .collect();
        let probes = names.iter().map(|_| AtomicU32::new(0)).collect();
        Self {
            names,
            index,
            senders,
            probes,
            subscribers: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn name(&self, idx: usize) -> &Arc<str> {
        &self.names[idx]
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The current state of a component, read in place.
    pub(crate) fn state(&self, idx: usize) -> State {
        self.senders[idx].borrow().state
    }

    pub(crate) fn signal(&self, idx: usize) -> Signal {
        Signal {
            name: self.names[idx].clone(),
            rx: self.senders[idx].subscribe(),
        }
    }

    /// The counter of readiness probes spent on a component.
    pub(crate) fn probes_spent(&self, idx: usize) -> &AtomicU32 {
        &self.probes[idx]
    }

    pub(crate) fn subscribe(&self) -> Events {
        let (tx, rx) = Events::channel();
        self.attach(tx);
        rx
    }

    pub(crate) fn attach(&self, tx: mpsc::UnboundedSender<Event>) {
        self.subscribers.lock().expect("event subscribers").push(tx);
    }

    /// Closes every subscription once all events have been sent.
    pub(crate) fn close(&self) {
        self.subscribers.lock().expect("event subscribers").clear();
    }

    /// Changes a component's status; a change of state becomes an event.
    ///
    /// The subscriber lock is held across the change, so the event order matches the order
    /// in which waiters could observe the states: a dependent woken by this change cannot
    /// queue its own event ahead of this one.
    pub(crate) fn update(&self, idx: usize, change: impl FnOnce(&mut Status)) {
        let mut subscribers = self.subscribers.lock().expect("event subscribers");
        let mut event = None;
        self.senders[idx].send_if_modified(|status| {
            let before = status.clone();
            change(status);
            if *status == before {
                // Nothing changed: wake no waiter.
                return false;
            }
            if status.state != before.state {
                status.since = tokio::time::Instant::now().into_std();
                event = Some(Event {
                    time: SystemTime::now(),
                    at: status.since,
                    component: self.names[idx].clone(),
                    state: status.state,
                    pid: status.pid,
                    error: status.error.clone(),
                });
            }
            true
        });
        if let Some(event) = event {
            subscribers.retain(|tx| tx.send(event.clone()).is_ok());
        }
    }
}
