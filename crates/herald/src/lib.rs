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
//! # Components
//!
//! - In-process tasks ([`task`]): an async function that receives a [`Context`], marks itself
//!   ready, reads other components' signals and sees its stop as a cancellation.
//! - Child processes ([`Process`], built by a [`ProcessHost`] that one stack's processes
//!   share): each in its own process group, its output captured to per-component logs, its
//!   readiness from `READY=1` on the stack's notify socket, a log line, or [`probe`]s (tcp,
//!   http, exec, file, unix socket, gRPC health) built from its [`ReadySpec`] by
//!   [`probes_for`]. Children never outlive herald, even when herald is killed.
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

mod backoff;
mod bus;
mod component;
mod duration;
mod error;
mod graph;
pub mod probe;
pub mod process;
mod readiness;
mod restart;
mod spec;
mod stack;
mod state;
mod supervisor;
mod sys;

pub use backoff::{Backoff, ProbeSpacing};
pub use bus::{Event, Events, Signal};
pub use component::{
    BoxError, BoxFuture, Component, Context, Failure, Probe, Readiness, Task, task,
};
pub use duration::{format_duration, parse_duration};
pub use error::{ConfigError, ConfigProblem, ReadinessError};
pub use graph::{CriticalPath, Edge, EdgeKind, Graph};
pub use probe::probes_for;
pub use process::{LogHub, LogLine, Process, ProcessHost, Stream, Usage};
pub use spec::{BackoffSpec, ComponentSpec, Kind, ReadySpec, RestartPolicy, StartLimit};
pub use stack::{Running, Stack, UnknownComponent};
pub use state::{State, Status};
