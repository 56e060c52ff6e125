//! herald starts interdependent components as fast as their dependency graph allows.
//!
//! # Theory of operation
//!
//! A [`Stack`] is a set of components, each described by a plain-data [`ComponentSpec`]
//! (what it needs, how its readiness is judged, how it restarts and stops) and run by a
//! [`Component`]: an in-process async [`task`] or a child process. Starting a stack:
//!
//! 1. **Validates the graph** ([`Graph`]) before anything runs: duplicate names, unknown and
//!    self dependencies, and every cycle with its full path, all reported at once
//!    ([`ConfigError`]).
//! 2. **Spawns one supervisor per component** and returns a [`Running`] handle at once.
//!    Each supervisor waits on its dependencies' [`Signal`]s: `requires` and `binds_to` until
//!    ready (or completed), `wants` until settled either way, `after` until started. The
//!    instant they hold, it starts its component; independent components start together.
//! 3. **Judges readiness once per component.** The component's own signal (an in-process
//!    [`Context::ready`], a process's `READY=1`) is awaited; outside checks ([`Probe`]s) are
//!    probed in one loop until they pass or the deadline passes, spaced with jitter so that
//!    detection stays a small fraction of the time already waited ([`ProbeSpacing`]); a
//!    process's output or a new status lets a pending probe run early. However many
//!    components wait on it, the check runs once.
//! 4. **Publishes every change** on the readiness bus: each component's [`Signal`] (a watch
//!    value any number of waiters share, resolving to ready or to a structured
//!    [`ReadinessError`]) and an ordered [`Event`] stream for logs and progress.
//! 5. **Fails precisely.** A component that fails for good makes its hard dependents
//!    [`State::Blocked`], transitively, each error carrying its cause, so the chain names the
//!    component that really failed and why. Restarts follow the restart policy with backoff
//!    and a start limit; `binds_to` dependents stop and start again with their dependency.
//! 6. **Stops in reverse order.** On shutdown a component stops only after everything that
//!    depends on it has stopped; each stop is bounded by its `stop_timeout`.
//!
//! Nothing in the engine polls: it is driven by signals, exits, timers and controls.
//!
//! # Lifecycle
//!
//! Each component's supervisor is the only writer of its state, and writes it in one place,
//! checked against the table of [`lifecycle::legal`] steps:
//!
//! ```text
//!  waiting ──► starting ──► ready ──► stopping ──► stopped
//!     ▲           │           │          │
//!     │           ▼           ▼          ▼
//!     └──────  restarting ◄───┴──────────┘      a crash, a restart, an unbinding
//!
//!  waiting ──► blocked                          a hard dependency failed for good
//!  starting ──► completed                       a oneshot exited 0
//!  waiting, starting, ready, stopping ──► failed   start limit reached, or restart = "no"
//!  stopped, failed, blocked, completed ──► waiting  started again by a control
//!  ready ◄──► reloading                         RELOADING=1, then READY=1
//!  ready ◄──► degraded                          a failing `live` check with action degrade
//! ```
//!
//! `stopped`, `failed`, `blocked` and `completed` are final: only a control (or the end of
//! the stack) leaves them. A restart of any kind (asked for, a `binds_to` dependency's, the
//! restart policy's) shows `stopping` or `restarting` and never a final state before the new
//! run is `starting`, so [`Signal::wait`] during a restart waits for the new run.
//!
//! # Controls
//!
//! [`Running::act`] takes an [`Action`] on one component and resolves once the state it
//! causes is published on the component's signal: [`Action::Start`] once it is `waiting`
//! again (at once if it was not down), [`Action::Stop`] once it is `stopped`,
//! [`Action::Restart`] once it is `restarting` (the old run is gone). The same `Action`
//! travels the command's control socket and names its `start`, `stop` and `restart`.
//!
//! # Events
//!
//! Every change is an [`Event`], numbered (`seq`) in the order waiters could see them and
//! tagged with its `run`; a `starting` event names the dependency that released it
//! ([`Release`]), and an event carries only its own error. The command's event log writes the
//! same type, one JSON line each, after a [`RunHeader`] with the graph; [`Record`] reads a
//! line back.
//!
//! # Module map
//!
//! The engine:
//! - `spec` (what a component is), `graph` (validation, order, critical path);
//! - `bus` (one [`Signal`] per component), `event` (the ordered stream and the log's records);
//! - `supervisor` (one task per component: the lifecycle's moves, its controls, one start's
//!   phases), [`lifecycle`] (the table), `readiness` (judging one start: the signal and the
//!   probes), `restart` (backoff and start limit), `state`, `action`;
//! - `component` (what the engine runs: [`Component`], [`Context`], [`task`]).
//!
//! Reading a run back: [`analysis`] (the start-up timeline, its critical chain, blame, a
//! trace and a plot, from the events).
//!
//! Processes and checks, on top of the engine:
//! - [`process`] (a child process as a component: output capture, logs, the notify socket);
//! - [`probe`] (tcp, http, exec, file, unix, grpc checks).
//!
//! The system layer, shared by processes and `exec` probes (`sys`): spawning, process
//! groups, signals, the reaper of orphans, the guardian that kills every group if herald dies.
//!
//! # Components
//!
//! - In-process tasks ([`task`]): an async function that receives a [`Context`], marks itself
//!   ready, reads other components' signals and sees its stop as a cancellation.
//! - Child processes ([`Process`], built by a [`ProcessHost`] that one stack's processes
//!   share): each in its own process group, its output captured to per-component logs, its
//!   readiness from `READY=1` on the stack's notify socket, a log line, or [`probe`]s (tcp,
//!   http, exec, file, unix socket, gRPC health): the [`Check`]s of its [`ReadySpec`], each
//!   checked once, when the spec is made. Children never outlive herald, even when herald is
//!   killed.
//!
//! Both live in one graph; the engine does not care which is which.
//!
//! # Example
//!
//! ```
//! use herald::{task, ComponentSpec, Stack, State};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut stack = Stack::new();
//! stack.add(ComponentSpec::new("etcd"), task(|ctx| async move {
//!     tokio::time::sleep(Duration::from_millis(20)).await; // open the database...
//!     ctx.ready();
//!     ctx.stopped().await;
//!     Ok(())
//! }));
//! stack.add(ComponentSpec::new("apiserver").requires(["etcd"]), task(|ctx| async move {
//!     ctx.ready();
//!     ctx.stopped().await;
//!     Ok(())
//! }));
//! // Several components wait on the one apiserver signal; none runs a check of its own.
//! for name in ["scheduler", "controller-manager"] {
//!     stack.add(ComponentSpec::new(name).requires(["apiserver"]), task(|ctx| async move {
//!         ctx.ready();
//!         ctx.stopped().await;
//!         Ok(())
//!     }));
//! }
//! let running = stack.start().expect("a valid graph");
//! running.wait_all().await.expect("everything ready");
//! assert_eq!(running.signal("scheduler").unwrap().state(), State::Ready);
//! running.shutdown().await; // scheduler and controller-manager first, etcd last
//! # }
//! ```

#![warn(missing_docs)]

mod action;
pub mod analysis;
mod backoff;
mod bus;
mod component;
mod duration;
mod error;
mod event;
mod graph;
pub mod lifecycle;
pub mod probe;
pub mod process;
mod readiness;
mod restart;
mod spec;
mod stack;
mod state;
mod supervisor;
mod sys;

pub use action::{Action, UnknownAction};
pub use analysis::{Blame, BlameOrder, Chain, Link, Summary, Timeline, TimelineError};
pub use backoff::{Backoff, ProbeSpacing};
pub use bus::Signal;
pub use component::{
    BoxError, BoxFuture, Component, Context, Failure, NeedError, Probe, Readiness, Task, task,
};
pub use duration::{format_duration, parse_duration};
pub use error::{CheckKind, ConfigError, ConfigProblem, ReadinessError};
pub use event::{Dependencies, Event, Events, Record, Release, RunHeader, RunTag};
pub use graph::{CriticalPath, Edge, EdgeKind, Graph};
pub use process::{LogHub, LogLine, LogRetention, Process, ProcessHost, RunAs, Stream, Usage};
pub use spec::{
    BackoffSpec, Check, ComponentSpec, Kind, LiveAction, LiveSpec, LogPattern, ReadySpec,
    RestartPolicy, StartLimit, UnixSignal, UnknownSignal,
};
pub use stack::{Running, Stack, UnknownComponent};
pub use state::{State, Status};
