//! What a component is to the engine: something that runs, reports when it has spawned and
//! (if it signals readiness itself) when it is ready, and stops when told to.
//!
//! In-process tasks ([`task`]) and child processes ([`Process`](crate::Process)) both implement
//! [`Component`], so they live in one graph. Readiness that must be probed from outside (TCP,
//! HTTP, ...) is described by [`Probe`]s that the engine runs, one loop per component, however
//! many waiters there are.

use crate::bus::Bus;
use crate::{Check, CheckKind, ComponentSpec, Signal};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed error, as in-process tasks return it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why one run of a component ended badly, as the component itself tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed: `exit` for a process that exited, `spawn` when it could not start, `task`
    /// for an in-process task's error.
    pub check: CheckKind,
    /// What it concerns: the program, or the task's name.
    pub target: String,
    /// Why, in words (`exited with status 1`, `killed by SIGKILL`, the task's error).
    pub reason: String,
}

impl Failure {
    /// A failure of `check` on `target` for `reason`.
    pub fn new(check: CheckKind, target: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            check,
            target: target.into(),
            reason: reason.into(),
        }
    }
}

/// A readiness check that is probed from outside: each call makes one attempt.
///
/// The engine calls [`probe`](Probe::probe) in one loop per component, spacing attempts by
/// [`ProbeSpacing`](crate::ProbeSpacing) (`ready.interval`: from `initial`, growing with the time
/// already waited, up to `max`, with jitter), until it passes or `ready.timeout` passes. Output
/// from a process component, or a new status ([`Context::set_detail`], `STATUS=`), lets a
/// pending attempt run early. A probe that passed is not called again in that start.
pub trait Probe: Send + Sync + 'static {
    /// The check kind, as errors name it: `tcp`, `http`, `exec`, ...
    fn kind(&self) -> CheckKind;
    /// What is probed: an address, a URL, a path.
    fn target(&self) -> String;
    /// One attempt: `Ok` once ready, otherwise the reason it is not (yet).
    fn probe(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// How a component's readiness is judged, beyond having been spawned.
#[derive(Default, Clone)]
pub struct Readiness {
    /// The event-driven check the component settles itself through [`Context::ready`]
    /// (`notify`, `log`, `task`), as `(kind, target)`; `None` when it does not signal.
    pub signal: Option<(CheckKind, String)>,
    /// The probes the engine runs. All must pass, and the signal too if there is one.
    pub probes: Vec<Arc<dyn Probe>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let probes: Vec<String> = self
            .probes
            .iter()
            .map(|p| format!("{} {}", p.kind(), p.target()))
            .collect();
        f.debug_struct("Readiness")
            .field("signal", &self.signal)
            .field("probes", &probes)
            .finish()
    }
}

/// Something the engine can start: an in-process task or a child process.
pub trait Component: Send + Sync + 'static {
    /// One run, from spawn to exit. It must call [`Context::spawned`] once it is running (a
    /// process: right after spawn, with its pid), and return soon after
    /// [`Context::stopped`] resolves, having stopped what it runs within
    /// [`Context::stop_timeout`]. `Ok` is a successful exit.
    fn run(&self, ctx: Context) -> BoxFuture<'static, Result<(), Failure>>;

    /// How readiness is judged for this component.
    fn readiness(&self) -> Readiness {
        Readiness::default()
    }

    /// The probe of a `live` check after ready: by default the check's own
    /// ([`Check::probe`]); a component may run it its own way (a process as its `user`).
    fn live_probe(&self, check: &Check) -> Option<Arc<dyn Probe>> {
        check.probe()
    }
}

/// What a run reports to its supervisor.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunReport {
    /// `Some(pid)` once spawned (`Some(None)` for a task).
    pub spawned: Option<Option<u32>>,
    /// The component's own readiness signal.
    pub ready: bool,
    /// Free-form status text.
    pub detail: Option<String>,
    /// A reload is under way (`RELOADING=1`, until the next `READY=1`).
    pub reloading: bool,
    /// A ready deadline later than the start's, set through [`Context::extend_timeout`]
    /// (`EXTEND_TIMEOUT_USEC=`); the signal is awaited until then.
    pub extended: Option<tokio::time::Instant>,
    /// Why the signal may not have come (a notify message dropped, an `ERRNO=`), set through
    /// [`Context::note_signal`]: added to the reason of a start that fails for want of one.
    pub signal_note: Option<String>,
}

/// The handle a run receives: mark readiness, read other components' signals, see shutdown.
#[derive(Clone)]
pub struct Context {
    pub(crate) spec: Arc<ComponentSpec>,
    pub(crate) stop: CancellationToken,
    pub(crate) report: Arc<watch::Sender<RunReport>>,
    pub(crate) bus: Arc<Bus>,
    /// Woken by signs of life (output, a status) so that pending probes can run early.
    pub(crate) activity: Arc<tokio::sync::Notify>,
}

impl Context {
    /// The component's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The component's spec.
    pub fn spec(&self) -> &ComponentSpec {
        &self.spec
    }

    /// Reports that the run has spawned (a process with its pid; a task with `None`).
    pub fn spawned(&self, pid: Option<u32>) {
        self.report
            .send_if_modified(|r| r.spawned.replace(pid) != Some(pid));
    }

    /// Marks the component ready (its own readiness signal; probes, if any, must pass too).
    pub fn ready(&self) {
        self.report
            .send_if_modified(|r| !std::mem::replace(&mut r.ready, true));
    }

    /// Sets the free-form status text (what `STATUS=` carries for notify). A component whose
    /// status changes is likely changing state, so a pending readiness probe may run early.
    pub fn set_detail(&self, detail: impl Into<String>) {
        let detail = detail.into();
        self.report.send_modify(|r| r.detail = Some(detail));
        self.stir();
    }

    /// Says that the run began (`true`) or finished (`false`) reloading its configuration:
    /// a ready component is `reloading` meanwhile, and its dependents are left alone.
    pub fn set_reloading(&self, reloading: bool) {
        self.report
            .send_if_modified(|r| std::mem::replace(&mut r.reloading, reloading) != reloading);
    }

    /// Extends the ready deadline to at least `by` from now, as `EXTEND_TIMEOUT_USEC=` does
    /// in systemd; never shortens it.
    pub(crate) fn extend_timeout(&self, by: std::time::Duration) {
        let until = tokio::time::Instant::now() + by;
        self.report.send_if_modified(|r| {
            let later = r.extended.is_none_or(|t| t < until);
            if later {
                r.extended = Some(until);
            }
            later
        });
    }

    /// Notes why the readiness signal may not have come, for the failure's reason.
    pub(crate) fn note_signal(&self, note: impl Into<String>) {
        let note = note.into();
        self.report.send_if_modified(|r| {
            let changed = r.signal_note.as_deref() != Some(note.as_str());
            r.signal_note = Some(note);
            changed
        });
    }

    /// Tells the probes of this run that it shows signs of life (output, a status): a pending
    /// attempt may run early, as [`ProbeSpacing::early`](crate::ProbeSpacing::early) allows.
    /// Costs next to nothing when no probe is waiting.
    pub(crate) fn stir(&self) {
        self.activity.notify_waiters();
    }

    /// Resolves when the run must stop. Cancel-safe.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    /// Whether the run has been told to stop.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// The token cancelled when the run must stop, for passing to other code.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// How long the run has, once told to stop, before it is forced.
    pub fn stop_timeout(&self) -> std::time::Duration {
        self.spec.stop_timeout
    }

    /// The signal of any component in the stack, by name: for observing it (its state, its
    /// status text). To wait for a component this one depends on, declare the dependency and
    /// use [`need`](Context::need), so that the engine knows the edge (shutdown order, the
    /// graph, validation).
    pub fn signal(&self, name: &str) -> Option<Signal> {
        self.bus.index_of(name).map(|idx| self.bus.signal(idx))
    }

    /// Waits, where this component needs it, for a dependency it declared (`uses`, or any of
    /// `requires`, `wants`, `binds_to`): resolves once `name` is ready or completed. A
    /// dependency that is stopped or restarting is waited for.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use herald::{task, ComponentSpec, Stack};
    /// let mut stack = Stack::new();
    /// stack.add(ComponentSpec::new("apiserver"), task(|ctx| async move {
    ///     tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    ///     ctx.ready();
    ///     ctx.stopped().await;
    ///     Ok(())
    /// }));
    /// // Starts at once; waits for the API server only when it has work for it.
    /// stack.add(ComponentSpec::new("kubelet").uses(["apiserver"]), task(|ctx| async move {
    ///     ctx.ready();
    ///     ctx.need("apiserver").await?;
    ///     ctx.stopped().await;
    ///     Ok(())
    /// }));
    /// let running = stack.start().unwrap();
    /// running.wait_all().await.unwrap();
    /// running.shutdown().await; // kubelet first, then the apiserver it uses
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NeedError::Undeclared`] for a name this component did not declare (nothing is
    /// reached without being declared); [`NeedError::Failed`] with the dependency's
    /// structured error once it has failed for good or been blocked; [`NeedError::Gone`] if
    /// the stack ends first.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn need(&self, name: &str) -> Result<(), NeedError> {
        let declared = self
            .spec
            .dependencies()
            .any(|(dep, kind)| dep == name && kind != crate::EdgeKind::After);
        let signal =
            self.signal(name)
                .filter(|_| declared)
                .ok_or_else(|| NeedError::Undeclared {
                    component: self.spec.name.clone(),
                    name: name.to_string(),
                })?;
        let status = signal
            .wait_for(|s| s.state.is_up() || s.state.is_failed())
            .await
            .ok_or(NeedError::Gone)?;
        if status.state.is_up() {
            return Ok(());
        }
        let error = status.error.as_deref().cloned().unwrap_or_else(|| {
            crate::ReadinessError::new(name, crate::CheckKind::State, "", status.state.as_str())
        });
        Err(NeedError::Failed(error))
    }
}

/// Why [`Context::need`] did not resolve with a ready dependency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedError {
    /// The component did not declare `name` in `uses`, `requires`, `wants` or `binds_to`.
    #[error("{component} needs {name}, which it does not declare (add it to `uses`)")]
    Undeclared {
        /// The component that asked.
        component: String,
        /// The name it asked for.
        name: String,
    },
    /// The dependency failed for good or was blocked.
    #[error("{0}")]
    Failed(crate::ReadinessError),
    /// The stack ended before the dependency was ready.
    #[error("the stack stopped before the dependency was ready")]
    Gone,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.spec.name)
            .finish()
    }
}

type TaskFn = dyn Fn(Context) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync;

/// An in-process async task component. Build one with [`task`].
pub struct Task {
    run: Box<TaskFn>,
    signals: bool,
    probes: Vec<Arc<dyn Probe>>,
}

/// An in-process task: `f` receives the [`Context`], calls [`Context::ready`] once it is
/// ready, and returns after [`Context::stopped`] resolves (a oneshot simply returns).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use herald::{task, ComponentSpec, Stack, Kind};
/// let mut stack = Stack::new();
/// stack.add(ComponentSpec::new("migrate").kind(Kind::Oneshot), task(|_ctx| async { Ok(()) }));
/// let running = stack.start().unwrap();
/// running.signal("migrate").unwrap().wait().await.unwrap();
/// running.shutdown().await;
/// # }
/// ```
pub fn task<F, Fut>(f: F) -> Task
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    Task {
        run: Box::new(move |ctx| Box::pin(f(ctx))),
        signals: true,
        probes: Vec::new(),
    }
}

impl Task {
    /// Counts the task ready as soon as it runs, instead of waiting for [`Context::ready`].
    pub fn ready_on_start(mut self) -> Self {
        self.signals = false;
        self
    }

    /// Adds a probe that must pass before the task counts as ready.
    pub fn probe(mut self, probe: impl Probe) -> Self {
        self.probes.push(Arc::new(probe));
        self
    }
}

impl Component for Task {
    fn run(&self, ctx: Context) -> BoxFuture<'static, Result<(), Failure>> {
        ctx.spawned(None);
        let name = ctx.name().to_string();
        let fut = (self.run)(ctx);
        Box::pin(async move {
            fut.await
                .map_err(|e| Failure::new(CheckKind::Task, name, e.to_string()))
        })
    }

    fn readiness(&self) -> Readiness {
        Readiness {
            signal: self.signals.then(|| (CheckKind::Task, String::new())),
            probes: self.probes.clone(),
        }
    }
}
