//! The readiness bus: one signal per component, shared by every waiter, and the event stream.
//!
//! Each component's status lives in a [`tokio::sync::watch`] channel written only by that
//! component's supervisor. A [`Signal`] is a cloneable reader of it: any number of waiters share
//! the one value, a late waiter sees the current state at once, and no waiter ever triggers a
//! check of its own. Every state change is also pushed, in order, to each [`Events`] subscriber.

use crate::event::{Event, Events, Release};
use crate::{ReadinessError, State, Status};
use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
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
    /// blocked, or been stopped before it was ready (`Err` with the reason). A restart (any
    /// kind) passes through no final state, so a wait during one waits for the new run.
    ///
    /// # Errors
    /// The component's structured error when it failed or was blocked; a `state` error when
    /// it was stopped before it was ready.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future loses nothing.
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

    /// Resolves with the status once `predicate` holds for it (at once if it already does),
    /// or `None` if the stack is gone before it does: the status returned always satisfies
    /// the predicate.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn wait_for(&self, mut predicate: impl FnMut(&Status) -> bool) -> Option<Status> {
        let mut rx = self.rx.clone();
        rx.wait_for(|s| predicate(s)).await.map(|s| s.clone()).ok()
    }

    /// A receiver that follows the latest status; intermediate states may be coalesced
    /// (use [`Events`] to see every change).
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.rx.clone()
    }
}

/// The signals of every component of a stack, indexed by position, and the event fan-out.
#[derive(Debug)]
pub(crate) struct Bus {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, usize>,
    senders: Vec<watch::Sender<Status>>,
    probes: Vec<AtomicU32>,
    subscribers: Mutex<Subscribers>,
    run: u64,
}

/// The event subscribers and the number of the next event, under one lock.
#[derive(Debug)]
struct Subscribers {
    senders: Vec<mpsc::UnboundedSender<Event>>,
    next_seq: u64,
}

impl Bus {
    /// The bus of `names`, whose events belong to `run` and are numbered from `first_seq`.
    pub(crate) fn new(names: Vec<Arc<str>>, run: u64, first_seq: u64) -> Self {
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
            subscribers: Mutex::new(Subscribers {
                senders: Vec::new(),
                next_seq: first_seq,
            }),
            run,
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
        self.subscribers
            .lock()
            .expect("event subscribers")
            .senders
            .push(tx);
    }

    /// Closes every subscription once all events have been sent.
    pub(crate) fn close(&self) {
        self.subscribers
            .lock()
            .expect("event subscribers")
            .senders
            .clear();
    }

    /// Moves a component to `to`: the one way a state is written (the supervisor checks the
    /// step against the lifecycle first). `change` updates the other fields of the status;
    /// `error` (also kept as the status's last error) and `released_by` go into this event
    /// only, so no event carries an older error along.
    ///
    /// The subscriber lock is held across the change, so the event order (and `seq`) matches
    /// the order in which waiters could observe the states: a dependent woken by this change
    /// cannot queue its own event ahead of this one.
    pub(crate) fn transition(
        &self,
        idx: usize,
        to: State,
        error: Option<Arc<ReadinessError>>,
        released_by: Option<Release>,
        change: impl FnOnce(&mut Status),
    ) {
        let mut subscribers = self.subscribers.lock().expect("event subscribers");
        let mut event = None;
        self.senders[idx].send_modify(|status| {
            change(status);
            status.state = to;
            if error.is_some() {
                status.error = error.clone();
            }
            status.since = tokio::time::Instant::now().into_std();
            event = Some(Event {
                time: SystemTime::now(),
                at: status.since,
                seq: subscribers.next_seq,
                run: self.run,
                component: self.names[idx].clone(),
                state: to,
                pid: status.pid,
                error,
                released_by,
                waited: status.waited.filter(|_| to == State::Starting),
                time_to_ready: status.time_to_ready.filter(|_| to.is_up()),
                restarts: status.restarts,
            });
        });
        subscribers.next_seq += 1;
        if let Some(event) = event {
            subscribers
                .senders
                .retain(|tx| tx.send(event.clone()).is_ok());
        }
    }

    /// Changes fields of a component's status other than its state (a new pid, a status
    /// text). Waiters are woken only if something changed; no event is made.
    pub(crate) fn amend(&self, idx: usize, change: impl FnOnce(&mut Status)) {
        self.senders[idx].send_if_modified(|status| {
            let before = status.clone();
            change(status);
            debug_assert_eq!(status.state, before.state, "amend changes no state");
            *status != before
        });
    }
}
