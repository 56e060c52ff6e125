//! The public runtime: a [`Stack`] collects components; [`Stack::start`] validates the graph,
//! starts a supervisor per component and returns a [`Running`] handle at once.

use crate::bus::Bus;
use crate::event::Events;
use crate::supervisor::{Control, Supervisor};
use crate::{Action, Component, ComponentSpec, ConfigError, Graph, ReadinessError, Signal, Status};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// A set of components to start together.
pub struct Stack {
    entries: Vec<(ComponentSpec, Arc<dyn Component>)>,
    subscribers: Vec<mpsc::UnboundedSender<crate::Event>>,
    run: u64,
    first_seq: u64,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(s, _)| s.name.as_str()).collect();
        f.debug_struct("Stack").field("components", &names).finish()
    }
}

impl Default for Stack {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            subscribers: Vec::new(),
            run: 1,
            first_seq: 1,
        }
    }
}

impl Stack {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Numbers this start's events: they belong to run `run` and their `seq` counts from
    /// `first_seq` (by default run 1, from 1). The command uses it to number events across
    /// every run kept in its event log.
    pub fn numbering(&mut self, run: u64, first_seq: u64) -> &mut Self {
        self.run = run;
        self.first_seq = first_seq;
        self
    }

    /// Adds a component described by `spec` and run by `component`.
    pub fn add(&mut self, spec: ComponentSpec, component: impl Component) -> &mut Self {
        self.entries.push((spec, Arc::new(component)));
        self
    }

    /// Adds an already shared component.
    pub fn add_shared(&mut self, spec: ComponentSpec, component: Arc<dyn Component>) -> &mut Self {
        self.entries.push((spec, component));
        self
    }

    /// The specs added so far.
    pub fn specs(&self) -> impl Iterator<Item = &ComponentSpec> {
        self.entries.iter().map(|(spec, _)| spec)
    }

    /// Subscribes to every state change from the very first one.
    pub fn subscribe(&mut self) -> Events {
        let (tx, events) = Events::channel();
        self.subscribers.push(tx);
        events
    }

    /// Validates the graph, reporting every problem at once.
    pub fn graph(&self) -> Result<Graph, ConfigError> {
        let specs: Vec<ComponentSpec> = self.specs().cloned().collect();
        Graph::new(&specs)
    }

    /// Validates the graph and starts every component as soon as its dependencies allow.
    /// Returns at once; readiness arrives through the signals.
    ///
    /// # Panics
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn start(self) -> Result<Running, ConfigError> {
        let graph = Arc::new(self.graph()?);
        let names = self
            .entries
            .iter()
            .map(|(s, _)| Arc::from(s.name.as_str()))
            .collect();
        let bus = Arc::new(Bus::new(names, self.run, self.first_seq));
        for tx in self.subscribers {
            bus.attach(tx);
        }
        let shutdown = CancellationToken::new();
        let mut controls = Vec::with_capacity(self.entries.len());
        let mut tasks = Vec::with_capacity(self.entries.len());
        for (idx, (spec, component)) in self.entries.into_iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            controls.push(tx);
            let supervisor = Supervisor {
                idx,
                spec: Arc::new(spec),
                component,
                bus: bus.clone(),
                graph: graph.clone(),
                shutdown: shutdown.clone(),
            };
            tasks.push(tokio::spawn(supervisor.run(rx)));
        }
        let (finished_tx, finished) = watch::channel(false);
        // Ends the event subscriptions and marks the stack finished once every supervisor is.
        tokio::spawn({
            let bus = bus.clone();
            async move {
                for task in tasks {
                    let _ = task.await;
                }
                bus.close();
                let _ = finished_tx.send(true);
            }
        });
        Ok(Running {
            bus,
            graph,
            shutdown,
            controls,
            finished,
        })
    }
}

/// The handle of a started stack: signals, status, events, controls and shutdown.
///
/// Dropping it asks the stack to shut down (in order, in the background).
#[derive(Debug)]
pub struct Running {
    bus: Arc<Bus>,
    graph: Arc<Graph>,
    shutdown: CancellationToken,
    controls: Vec<mpsc::UnboundedSender<Control>>,
    finished: watch::Receiver<bool>,
}

/// A control named a component the stack does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no component named {0:?} in the stack")]
pub struct UnknownComponent(pub String);

impl Running {
    /// The validated graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The readiness signal of a component.
    pub fn signal(&self, name: &str) -> Option<Signal> {
        self.bus.index_of(name).map(|idx| self.bus.signal(idx))
    }

    /// Every component's signal, in insertion order.
    pub fn signals(&self) -> Vec<Signal> {
        (0..self.bus.len())
            .map(|idx| self.bus.signal(idx))
            .collect()
    }

    /// Every component's name and current status, in insertion order.
    pub fn statuses(&self) -> Vec<(String, Status)> {
        (0..self.bus.len())
            .map(|idx| {
                (
                    self.bus.name(idx).to_string(),
                    self.bus.signal(idx).status(),
                )
            })
            .collect()
    }

    /// How many readiness probes have been spent on a component since the stack started.
    pub fn probes_spent(&self, name: &str) -> Option<u32> {
        let idx = self.bus.index_of(name)?;
        Some(self.bus.probes_spent(idx).load(Ordering::Relaxed))
    }

    /// Subscribes to every state change from now on.
    pub fn subscribe(&self) -> Events {
        self.bus.subscribe()
    }

    /// Resolves once every component is ready or completed, or with the first error seen.
    pub async fn wait_all(&self) -> Result<(), ReadinessError> {
        Signal::wait_all(self.signals()).await
    }

    /// Takes `action` on the component `name` and resolves once the state it causes has been
    /// published on its signal (see [`Action`] for which state each action waits for).
    ///
    /// # Errors
    /// [`UnknownComponent`] when the stack has no such component.
    ///
    /// # Cancel safety
    /// The action is taken whether or not the future is polled to completion once it has
    /// been polled once; dropping it only stops waiting for the answer.
    pub async fn act(&self, name: &str, action: Action) -> Result<(), UnknownComponent> {
        let idx = self
            .bus
            .index_of(name)
            .ok_or_else(|| UnknownComponent(name.to_string()))?;
        let (done, answered) = oneshot::channel();
        if self.controls[idx].send(Control { action, done }).is_ok() {
            // A supervisor that has finished answers by dropping the reply.
            let _ = answered.await;
        }
        Ok(())
    }

    /// [`Action::Start`]: starts a stopped, failed, blocked or completed component again
    /// (after its dependencies); resolves once it is `waiting`. Wait on its signal for
    /// readiness.
    ///
    /// # Errors
    /// [`UnknownComponent`] when the stack has no such component.
    pub async fn start(&self, name: &str) -> Result<(), UnknownComponent> {
        self.act(name, Action::Start).await
    }

    /// [`Action::Stop`]: stops one component (its stop signal, grace, then force); its
    /// `binds_to` dependents follow. Resolves once it is `stopped`.
    ///
    /// # Errors
    /// [`UnknownComponent`] when the stack has no such component.
    pub async fn stop(&self, name: &str) -> Result<(), UnknownComponent> {
        self.act(name, Action::Stop).await
    }

    /// [`Action::Restart`]: stops a component's run and starts it again; resolves once it is
    /// `restarting`, so a wait on its signal after this waits for the new run.
    ///
    /// # Errors
    /// [`UnknownComponent`] when the stack has no such component.
    pub async fn restart(&self, name: &str) -> Result<(), UnknownComponent> {
        self.act(name, Action::Restart).await
    }

    /// Asks the stack to stop without waiting: dependents stop before their dependencies.
    pub fn request_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Stops the whole stack in reverse dependency order and resolves once all is stopped.
    /// Event subscriptions end after the last event.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.finished().await;
    }

    /// Resolves once every supervisor has finished (after a shutdown).
    pub async fn finished(&self) {
        let mut finished = self.finished.clone();
        let _ = finished.wait_for(|done| *done).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
