//! One supervisor task per component: wait for dependencies, start, judge readiness, restart,
//! follow bound dependencies, obey controls, and stop in order.
//!
//! Everything here is driven by events: dependency signals, the run's own report, its exit,
//! timers, and control messages. Nothing polls.

use crate::bus::Bus;
use crate::component::{Context, RunReport};
use crate::readiness::{Window, judge};
use crate::restart::{Restarts, Verdict};
use crate::{
    Component, ComponentSpec, EdgeKind, Failure, Graph, Kind, ReadinessError, State, Status,
};
use futures_util::future::select_all;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Extra time a run gets after `stop_timeout` to finish forcing its stop before it is aborted.
const STOP_SLACK: Duration = Duration::from_secs(1);

/// An action on one component of a running stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Start,
    Stop,
    Restart,
}

/// A control message; `done` is answered once the action has taken effect.
pub(crate) struct Control {
    pub op: Op,
    pub done: oneshot::Sender<()>,
}

/// What to do next.
enum Next {
    Start,
    Park,
    Exit,
}

/// How one start ended.
enum End {
    /// A start failed, the run failed after it was ready, or a dependency blocked it.
    Failed(ReadinessError),
    /// A service exited successfully after it was ready.
    Exited,
    /// A oneshot finished successfully.
    Completed,
    /// A bound dependency went down; the run was stopped.
    Unbound,
    /// Stopped on request; what follows.
    Stopped(Next),
}

/// The supervisor of one component.
pub(crate) struct Supervisor {
    pub idx: usize,
    pub spec: Arc<ComponentSpec>,
    pub component: Arc<dyn Component>,
    pub bus: Arc<Bus>,
    pub graph: Arc<Graph>,
    pub shutdown: CancellationToken,
}

/// What a supervisor's loop carries from one start to the next.
struct Loop {
    control: mpsc::UnboundedReceiver<Control>,
    restarts: Restarts,
    replies: Vec<oneshot::Sender<()>>,
    /// False once every control sender is gone, so a closed channel is not read in a loop.
    open: bool,
}

impl Loop {
    fn answer(&mut self) {
        for reply in self.replies.drain(..) {
            let _ = reply.send(());
        }
    }

    /// What a control asks of a running (or waiting) component: `None` to carry on.
    fn on_control(&mut self, control: Option<Control>) -> Option<Next> {
        let Some(control) = control else {
            self.open = false;
            return None;
        };
        self.replies.push(control.done);
        match control.op {
            Op::Start => None,
            Op::Stop => Some(Next::Park),
            Op::Restart => Some(Next::Start),
        }
    }
}

/// One run while it is alive.
struct Run {
    started: Instant,
    handle: Option<JoinHandle<Result<(), Failure>>>,
    stop: CancellationToken,
    report: watch::Receiver<RunReport>,
}

/// Resolves with the run's result once it has ended (pending forever afterwards).
async fn exited(handle: &mut Option<JoinHandle<Result<(), Failure>>>) -> Result<(), Failure> {
    {
        let Some(running) = handle.as_mut() else {
            return std::future::pending().await;
        };
        let result = running.await;
        *handle = None;
        result.unwrap_or_else(|e| {
            let reason = if e.is_panic() {
                "panicked"
            } else {
                "was cancelled"
            };
            Err(Failure::new(crate::CheckKind::Task, "", reason))
        })
    }
}

impl Supervisor {
    pub(crate) async fn run(self, control: mpsc::UnboundedReceiver<Control>) {
        let mut lp = Loop {
            control,
            restarts: Restarts::new(&self.spec),
            replies: Vec::new(),
            open: true,
        };
        let mut next = Next::Start;
        loop {
            lp.answer();
            next = match next {
                Next::Exit => break,
                Next::Park => self.park(&mut lp).await,
                Next::Start => {
                    let end = self.start(&mut lp).await;
                    self.settle(end, &mut lp).await
                }
            };
        }
        if !self.state().is_down() {
            self.dependents_down().await;
            self.set(State::Stopped, |s| s.pid = None);
        }
        lp.answer();
    }

    fn state(&self) -> State {
        self.bus.state(self.idx)
    }

    fn set(&self, state: State, change: impl FnOnce(&mut Status)) {
        self.bus.update(self.idx, |s| {
            s.state = state;
            change(s);
        });
    }

    fn set_down(&self, state: State, error: Option<ReadinessError>) {
        self.set(state, |s| {
            s.pid = None;
            if let Some(error) = error {
                s.error = Some(Arc::new(error));
            }
        });
    }

    /// Resolves once shutdown was asked for and every dependent is down.
    async fn stop_requested(&self) {
        self.shutdown.cancelled().await;
        self.dependents_down().await;
    }

    async fn dependents_down(&self) {
        for &(dependent, _) in self.graph.dependents(self.idx) {
            self.bus
                .signal(dependent)
                .wait_for(|s| s.state.is_down())
                .await;
        }
    }

    /// Waits for the dependencies: hard ones up, soft ones settled, ordering ones started.
    /// A hard dependency that failed for good blocks this component, with its error as cause.
    async fn dependencies(&self) -> Result<(), ReadinessError> {
        let mut deps: Vec<(watch::Receiver<Status>, EdgeKind, usize)> = self
            .graph
            .dependencies(self.idx)
            .iter()
            .map(|&(dep, kind)| (self.bus.signal(dep).watch(), kind, dep))
            .collect();
        loop {
            let mut pending = false;
            for (rx, kind, dep) in &mut deps {
                let status = rx.borrow_and_update();
                let state = status.state;
                match kind {
                    EdgeKind::Requires | EdgeKind::BindsTo if state.is_failed() => {
                        let cause = status.error.as_deref().cloned().unwrap_or_else(|| {
                            let name = self.bus.name(*dep).as_ref();
                            ReadinessError::new(name, crate::CheckKind::State, "", state.as_str())
                        });
                        let name = self.spec.name.as_str();
                        return Err(ReadinessError::blocked(name, *kind, cause));
                    }
                    EdgeKind::Requires | EdgeKind::BindsTo => pending |= !state.is_up(),
                    EdgeKind::Wants => pending |= matches!(state, State::Waiting | State::Starting),
                    EdgeKind::After => pending |= state == State::Waiting,
                }
            }
            if !pending {
                return Ok(());
            }
            let changes = deps.iter_mut().map(|(rx, ..)| Box::pin(rx.changed()));
            let _ = select_all(changes).await;
        }
    }

    /// Resolves once a bound dependency stops being up.
    async fn unbound(&self) {
        let bound: Vec<_> = self
            .graph
            .dependencies(self.idx)
            .iter()
            .filter(|(_, kind)| *kind == EdgeKind::BindsTo)
            .map(|&(dep, _)| self.bus.signal(dep))
            .collect();
        if bound.is_empty() {
            return std::future::pending().await;
        }
        let downs = bound
            .iter()
            .map(|s| Box::pin(s.wait_for(|st| !st.state.is_up())));
        select_all(downs).await;
    }

    /// Waits (while parked) for a control or for shutdown.
    async fn park(&self, lp: &mut Loop) -> Next {
        loop {
            let control = tokio::select! {
                _ = self.shutdown.cancelled() => return Next::Exit,
                control = lp.control.recv(), if lp.open => control,
            };
            let Some(control) = control else {
                lp.open = false;
                self.shutdown.cancelled().await;
                return Next::Exit;
            };
            lp.replies.push(control.done);
            match control.op {
                Op::Start | Op::Restart => {
                    lp.restarts.reset();
                    return Next::Start;
                }
                Op::Stop => {
                    if !self.state().is_down() {
                        self.set_down(State::Stopped, None);
                    }
                    lp.answer();
                }
            }
        }
    }

    /// One start: wait for dependencies, spawn, judge readiness, then run until it ends.
    async fn start(&self, lp: &mut Loop) -> End {
        self.set(State::Waiting, |s| s.pid = None);
        let waiting_since = Instant::now();
        let dependencies = self.dependencies();
        tokio::pin!(dependencies);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return End::Stopped(Next::Exit),
                control = lp.control.recv(), if lp.open => {
                    // Waiting is not running: a stop parks, a (re)start carries on waiting.
                    if let Some(Next::Park) = lp.on_control(control) {
                        return End::Stopped(Next::Park);
                    }
                    lp.answer();
                }
                result = &mut dependencies => match result {
                    Ok(()) => break,
                    Err(error) => return End::Failed(error),
                },
            }
        }
        let waited = waiting_since.elapsed();

        let (report_tx, report) = watch::channel(RunReport::default());
        let stop = CancellationToken::new();
        let activity = Arc::new(tokio::sync::Notify::new());
        let ctx = Context {
            spec: self.spec.clone(),
            stop: stop.clone(),
            report: Arc::new(report_tx),
            bus: self.bus.clone(),
            activity: activity.clone(),
        };
        let started = Instant::now();
        let window = Window {
            started,
            deadline: started + self.spec.ready.timeout,
            interval: self.spec.ready.interval,
        };
        let mut run = Run {
            started,
            handle: Some(tokio::spawn(self.component.run(ctx))),
            stop,
            report,
        };

        let view = run.report.clone();

        // Until it has spawned.
        let spawned = tokio::select! {
            biased;
            exit = exited(&mut run.handle) => return self.exited_early(&view, exit, started),
            spawned = run.report.wait_for(|r| r.spawned.is_some()) => {
                spawned.map(|r| r.spawned.flatten())
            }
        };
        let pid = spawned.unwrap_or(None);
        self.set(State::Starting, |s| {
            s.pid = pid;
            s.started_at = Some(started.into_std());
            s.waited = Some(waited);
            s.time_to_ready = None;
        });

        // Until it is ready (a service) or has finished (a oneshot).
        let oneshot = self.spec.kind == Kind::Oneshot;
        let judged = judge(
            &self.spec.name,
            self.component.readiness(),
            run.report.clone(),
            window,
            self.bus.probes_spent(self.idx),
            &activity,
        );
        tokio::pin!(judged);
        let deadline = tokio::time::sleep_until(window.deadline);
        tokio::pin!(deadline);
        let verdict = loop {
            tokio::select! {
                biased;
                exit = exited(&mut run.handle) => return self.exited_early(&view, exit, started),
                result = &mut judged, if !oneshot => break result,
                _ = &mut deadline, if oneshot => {
                    let timeout = crate::format_duration(self.spec.ready.timeout);
                    let reason = format!("did not complete within {timeout}");
                    let error = ReadinessError::new(self.spec.name.as_str(), crate::CheckKind::Exit, self.target(), reason);
                    break Err(error.with_elapsed(started.elapsed()));
                }
                _ = self.unbound() => return self.halt(&mut run, End::Unbound).await,
                _ = self.stop_requested() => {
                    return self.halt(&mut run, End::Stopped(Next::Exit)).await;
                }
                control = lp.control.recv(), if lp.open => {
                    if let Some(next) = lp.on_control(control) {
                        return self.halt(&mut run, End::Stopped(next)).await;
                    }
                    lp.answer();
                }
            }
        };
        if let Err(error) = verdict {
            return self.halt(&mut run, End::Failed(error)).await;
        }
        let report = run.report.borrow_and_update().clone();
        self.set(State::Ready, |s| {
            s.time_to_ready = Some(started.elapsed());
            s.pid = report.spawned.flatten();
            s.detail = report.detail;
        });
        self.keep_running(&mut run, lp).await
    }

    /// Runs a ready service until it exits, is unbound, or is stopped. No timer runs meanwhile:
    /// whether the run was stable (ready at least `restart_backoff.max`) is decided when it ends.
    async fn keep_running(&self, run: &mut Run, lp: &mut Loop) -> End {
        let ready_at = Instant::now();
        let end = loop {
            tokio::select! {
                biased;
                exit = exited(&mut run.handle) => {
                    break match exit {
                        Ok(()) => End::Exited,
                        Err(failure) => End::Failed(self.failure_error(failure, run.started)),
                    };
                }
                _ = self.unbound() => break End::Unbound,
                _ = self.stop_requested() => break End::Stopped(Next::Exit),
                control = lp.control.recv(), if lp.open => {
                    if let Some(next) = lp.on_control(control) {
                        break End::Stopped(next);
                    }
                    lp.answer();
                }
                changed = run.report.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let report = run.report.borrow_and_update().clone();
                    self.bus.update(self.idx, |s| {
                        s.pid = report.spawned.flatten();
                        s.detail = report.detail;
                    });
                }
            }
        };
        lp.restarts.ended_after(ready_at.elapsed());
        match end {
            End::Exited | End::Failed(_) => end,
            halted => self.halt(run, halted).await,
        }
    }

    /// Stops the run (the component signals, waits its grace, then forces) and passes `end` on.
    async fn halt(&self, run: &mut Run, end: End) -> End {
        if let Some(mut handle) = run.handle.take() {
            self.set(State::Stopping, |_| {});
            run.stop.cancel();
            let grace = self.spec.stop_timeout + STOP_SLACK;
            if tokio::time::timeout(grace, &mut handle).await.is_err() {
                handle.abort();
                let _ = handle.await;
            }
        }
        end
    }

    fn target(&self) -> String {
        self.spec
            .command
            .first()
            .cloned()
            .unwrap_or_else(|| self.spec.name.clone())
    }

    fn failure_error(&self, failure: Failure, started: Instant) -> ReadinessError {
        let Failure {
            check,
            target,
            reason,
        } = failure;
        let target = if target.is_empty() {
            self.target()
        } else {
            target
        };
        ReadinessError::new(self.spec.name.as_str(), check, target, reason)
            .with_elapsed(started.elapsed())
    }

    /// The run ended before it was judged ready: for a oneshot that is the verdict. A service
    /// that signalled readiness itself, with no probe left to pass, was ready before it exited.
    fn exited_early(
        &self,
        report: &watch::Receiver<RunReport>,
        exit: Result<(), Failure>,
        started: Instant,
    ) -> End {
        let report = report.borrow().clone();
        let signalled = report.ready && self.component.readiness().probes.is_empty();
        if self.spec.kind == Kind::Service && signalled {
            self.set(State::Ready, |s| {
                s.time_to_ready = Some(started.elapsed());
                s.detail = report.detail;
            });
            return match exit {
                Ok(()) => End::Exited,
                Err(failure) => End::Failed(self.failure_error(failure, started)),
            };
        }
        match (exit, self.spec.kind) {
            (Ok(()), Kind::Oneshot) => {
                let took = started.elapsed();
                self.bus.update(self.idx, |s| s.time_to_ready = Some(took));
                End::Completed
            }
            (Ok(()), Kind::Service) => {
                let reason = "exited successfully before it was ready";
                let error = ReadinessError::new(
                    self.spec.name.as_str(),
                    crate::CheckKind::Exit,
                    self.target(),
                    reason,
                );
                End::Failed(error.with_elapsed(started.elapsed()))
            }
            (Err(failure), _) => End::Failed(self.failure_error(failure, started)),
        }
    }

    /// Decides what follows a start's end: the restart policy, the start limit, or parking.
    async fn settle(&self, end: End, lp: &mut Loop) -> Next {
        let error = match end {
            End::Completed => {
                self.set_down(State::Completed, None);
                return Next::Park;
            }
            End::Stopped(Next::Exit) if self.state() == State::Waiting => return Next::Exit,
            End::Stopped(next) => {
                self.set_down(State::Stopped, None);
                return next;
            }
            End::Unbound => {
                self.set_down(State::Stopped, None);
                return Next::Start;
            }
            End::Exited if !lp.restarts.after_clean_exit() => {
                self.set_down(State::Stopped, None);
                return Next::Park;
            }
            End::Exited => None,
            End::Failed(error) if error.is_blocked() => {
                self.set_down(State::Blocked, Some(error));
                return Next::Park;
            }
            End::Failed(error) => Some(error),
        };

        if let Some(mut error) = error {
            match lp.restarts.failed(Instant::now()) {
                Verdict::Retry => {}
                verdict => {
                    if let Verdict::Limited(count) = verdict {
                        let window = crate::format_duration(lp.restarts.window());
                        error.reason = format!(
                            "{} (start limit reached: {count} failed starts within {window})",
                            error.reason
                        );
                    }
                    self.set_down(State::Failed, Some(error));
                    return Next::Park;
                }
            }
            let error = Arc::new(error);
            self.set(State::Restarting, |s| {
                s.pid = None;
                s.restarts += 1;
                s.error = Some(error);
            });
        } else {
            self.set(State::Restarting, |s| {
                s.pid = None;
                s.restarts += 1;
            });
        }

        let delay = lp.restarts.delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => Next::Start,
            _ = self.stop_requested() => Next::Exit,
            control = lp.control.recv(), if lp.open => match lp.on_control(control) {
                Some(Next::Park) => {
                    self.set_down(State::Stopped, None);
                    Next::Park
                }
                _ => Next::Start,
            },
        }
    }
}
