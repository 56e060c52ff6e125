//! One start of a component, in the order it happens: wait for the dependencies, launch the
//! run, await its spawn, judge its readiness, serve it until it ends, and stop it if it is
//! still alive. Each phase is a function of its own; any of them may be interrupted
//! ([`Supervisor::interruption`]).

use super::live::{Change, Liveness};
use super::mailbox::Mailbox;
use super::{Cause, End, Listen, STOP_SLACK, Supervisor};
use crate::component::{Context, RunReport};
use crate::event::Release;
use crate::readiness::{Window, await_ready};
use crate::restart::Restarts;
use crate::{EdgeKind, Failure, Kind, LiveAction, ReadinessError, State, Status};
use futures_util::future::select_all;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One run while it may be alive.
struct Run {
    started: Instant,
    /// `None` once the run has ended.
    handle: Option<JoinHandle<Result<(), Failure>>>,
    stop: CancellationToken,
    report: watch::Receiver<RunReport>,
    /// False once the run dropped its context: its report can no longer change.
    reporting: bool,
    activity: Arc<Notify>,
    ready_at: Option<Instant>,
}

/// Resolves with the run's result once it has ended (pending forever afterwards).
async fn exited(handle: &mut Option<JoinHandle<Result<(), Failure>>>) -> Result<(), Failure> {
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

/// Resolves once the run reports its spawn, with its pid; never if it ends without one.
async fn spawned(report: &mut watch::Receiver<RunReport>) -> Option<u32> {
    let pid = report
        .wait_for(|r| r.spawned.is_some())
        .await
        .map(|r| r.spawned.flatten());
    match pid {
        Ok(pid) => pid,
        Err(_) => std::future::pending().await,
    }
}

impl Supervisor {
    /// One start, from waiting to the end of the run. The run is stopped before this returns.
    pub(super) async fn start(&self, mailbox: &mut Mailbox, restarts: &mut Restarts) -> End {
        if self.state() != State::Waiting {
            self.enter(mailbox, State::Waiting, Cause::default(), |s| s.pid = None);
        }
        let waiting_since = Instant::now();
        let released_by = tokio::select! {
            biased;
            interrupt = self.interruption(mailbox, Listen::Waiting) => {
                return End::Interrupted(interrupt);
            }
            result = self.dependencies() => match result {
                Ok(released_by) => released_by,
                Err(error) => return End::Blocked(error),
            },
        };
        let waited = waiting_since.elapsed();
        let mut run = self.launch();
        let end = self.drive(&mut run, mailbox, waited, released_by).await;
        if let Some(ready_at) = run.ready_at {
            restarts.ended_after(ready_at.elapsed());
        }
        self.stop_run(&mut run, mailbox).await;
        end
    }

    /// Waits for the dependencies: hard ones up, soft ones settled, ordering ones started.
    /// A hard dependency that failed for good blocks this component, with its error as
    /// cause. Returns the dependency that released the start: the last to get where its edge
    /// waits for.
    async fn dependencies(&self) -> Result<Option<Release>, ReadinessError> {
        let mut deps: Vec<(watch::Receiver<Status>, EdgeKind, usize)> = self
            .graph
            .dependencies(self.idx)
            .iter()
            .map(|&(dep, kind)| (self.bus.signal(dep).watch(), kind, dep))
            .collect();
        loop {
            let mut pending = false;
            let mut last: Option<(std::time::Instant, Release)> = None;
            for (rx, kind, dep) in &mut deps {
                let status = rx.borrow_and_update();
                let state = status.state;
                let holds = match kind {
                    EdgeKind::Requires | EdgeKind::BindsTo if state.is_failed() => {
                        let cause = status.error.as_deref().cloned().unwrap_or_else(|| {
                            let name = self.bus.name(*dep).as_ref();
                            ReadinessError::new(name, crate::CheckKind::State, "", state.as_str())
                        });
                        let name = self.spec.name.as_str();
                        return Err(ReadinessError::blocked(name, *kind, cause));
                    }
                    EdgeKind::Requires | EdgeKind::BindsTo => state.is_up(),
                    EdgeKind::Wants => !matches!(state, State::Waiting | State::Starting),
                    EdgeKind::After => state != State::Waiting,
                    // Waited for where it is needed, never before the start.
                    EdgeKind::Uses => continue,
                };
                pending |= !holds;
                if holds
                    && last
                        .as_ref()
                        .is_none_or(|(since, _)| status.since >= *since)
                {
                    let release = Release {
                        component: self.bus.name(*dep).to_string(),
                        state,
                        edge: *kind,
                    };
                    last = Some((status.since, release));
                }
            }
            if !pending {
                return Ok(last.map(|(_, release)| release));
            }
            let changes = deps.iter_mut().map(|(rx, ..)| Box::pin(rx.changed()));
            let _ = select_all(changes).await;
        }
    }

    /// Starts the component's run with a fresh context.
    fn launch(&self) -> Run {
        let (report_tx, report) = watch::channel(RunReport::default());
        let stop = CancellationToken::new();
        let activity = Arc::new(Notify::new());
        let ctx = Context {
            spec: self.spec.clone(),
            stop: stop.clone(),
            report: Arc::new(report_tx),
            bus: self.bus.clone(),
            activity: activity.clone(),
        };
        Run {
            started: Instant::now(),
            handle: Some(tokio::spawn(self.component.run(ctx))),
            stop,
            report,
            reporting: true,
            activity,
            ready_at: None,
        }
    }

    /// Awaits the spawn, judges readiness, then serves the run until it ends or is
    /// interrupted.
    async fn drive(
        &self,
        run: &mut Run,
        mailbox: &mut Mailbox,
        waited: Duration,
        released_by: Option<Release>,
    ) -> End {
        let pid = match self.await_spawn(run, mailbox).await {
            Ok(pid) => pid,
            Err(end) => return end,
        };
        let cause = Cause {
            released_by,
            ..Cause::default()
        };
        let started = run.started.into_std();
        self.enter(mailbox, State::Starting, cause, |s| {
            s.pid = pid;
            s.started_at = Some(started);
            s.waited = Some(waited);
            s.time_to_ready = None;
        });
        if let Err(end) = self.judge_readiness(run, mailbox).await {
            return end;
        }
        self.serve(run, mailbox).await
    }

    /// Until the run reports its spawn (bounded by the ready timeout, so a component that
    /// never reports one fails instead of hanging its supervisor).
    async fn await_spawn(&self, run: &mut Run, mailbox: &mut Mailbox) -> Result<Option<u32>, End> {
        let deadline = run.started + self.spec.ready.timeout;
        tokio::select! {
            biased;
            // First: a run that spawned and ended at once still counts as started.
            pid = spawned(&mut run.report) => Ok(pid),
            exit = exited(&mut run.handle) => Err(self.ended_early(run, mailbox, exit)),
            interrupt = self.interruption(mailbox, Listen::Running) => {
                Err(End::Interrupted(interrupt))
            }
            _ = tokio::time::sleep_until(deadline) => {
                let timeout = crate::format_duration(self.spec.ready.timeout);
                let reason = format!("did not report its spawn within {timeout}");
                let error = ReadinessError::new(self.spec.name.as_str(), crate::CheckKind::Spawn, self.target(), reason);
                Err(End::Failed(error.with_elapsed(run.started.elapsed())))
            }
        }
    }

    /// Until the run is ready (a service: every check passed) or has finished (a oneshot).
    async fn judge_readiness(&self, run: &mut Run, mailbox: &mut Mailbox) -> Result<(), End> {
        let oneshot = self.spec.kind == Kind::Oneshot;
        let window = Window {
            started: run.started,
            deadline: run.started + self.spec.ready.timeout,
            interval: self.spec.ready.interval,
        };
        let activity = run.activity.clone();
        let verdict_of = await_ready(
            &self.spec.name,
            self.component.readiness(),
            run.report.clone(),
            window,
            self.bus.probes_spent(self.idx),
            &activity,
        );
        tokio::pin!(verdict_of);
        let deadline = tokio::time::sleep_until(window.deadline);
        tokio::pin!(deadline);
        let verdict = loop {
            tokio::select! {
                biased;
                exit = exited(&mut run.handle) => return Err(self.ended_early(run, mailbox, exit)),
                result = &mut verdict_of, if !oneshot => break result,
                _ = &mut deadline, if oneshot => {
                    let timeout = crate::format_duration(self.spec.ready.timeout);
                    let reason = format!("did not complete within {timeout}");
                    let error = ReadinessError::new(self.spec.name.as_str(), crate::CheckKind::Exit, self.target(), reason);
                    break Err(error.with_elapsed(run.started.elapsed()));
                }
                changed = run.report.changed(), if run.reporting => {
                    self.follow(run, mailbox, changed);
                }
                interrupt = self.interruption(mailbox, Listen::Running) => {
                    return Err(End::Interrupted(interrupt));
                }
            }
        };
        verdict.map_err(End::Failed)?;
        let report = run.report.borrow_and_update().clone();
        let took = run.started.elapsed();
        self.enter(mailbox, State::Ready, Cause::default(), |s| {
            s.time_to_ready = Some(took);
            s.pid = report.spawned.flatten();
            s.detail = report.detail;
        });
        run.ready_at = Some(Instant::now());
        Ok(())
    }

    /// Serves a ready service until it exits, is interrupted, or its `live` check fails for
    /// a restart. No timer runs meanwhile unless `live` is set: whether the run was stable is
    /// decided when it ends.
    async fn serve(&self, run: &mut Run, mailbox: &mut Mailbox) -> End {
        let mut live = Liveness::new(&self.spec.name, self.spec.live.as_ref(), &*self.component);
        loop {
            tokio::select! {
                biased;
                exit = exited(&mut run.handle) => {
                    return match exit {
                        Ok(()) => End::Exited,
                        Err(failure) => End::Failed(self.failure_error(failure, run.started)),
                    };
                }
                changed = run.report.changed(), if run.reporting => {
                    self.follow(run, mailbox, changed);
                }
                change = async { live.as_mut().expect("guarded").change().await }, if live.is_some() => {
                    if let Some(end) = self.live_change(mailbox, change) {
                        return end;
                    }
                }
                interrupt = self.interruption(mailbox, Listen::Running) => {
                    return End::Interrupted(interrupt);
                }
            }
        }
    }

    /// What a change of the `live` check does: a restart ends the run (a failure, so the
    /// restart policy and the start limit decide); a degrade is a state, left when it passes.
    fn live_change(&self, mailbox: &mut Mailbox, change: Change) -> Option<End> {
        let action = self.spec.live.as_ref().map(|l| l.action);
        match (change, action) {
            (Change::Failing(error), Some(LiveAction::Restart)) => Some(End::Failed(error)),
            (Change::Failing(error), _) => {
                if self.state() == State::Ready {
                    self.enter(mailbox, State::Degraded, Cause::error(error), |_| {});
                }
                None
            }
            (Change::Passing, _) => {
                if self.state() == State::Degraded {
                    self.enter(mailbox, State::Ready, Cause::default(), |_| {});
                }
                None
            }
        }
    }

    /// Takes a change of the run's report into the status (a new main pid, a status text) and
    /// the state (a reload begins or ends). A run that dropped its context reports no more,
    /// and is no longer listened to.
    fn follow(
        &self,
        run: &mut Run,
        mailbox: &mut Mailbox,
        changed: Result<(), watch::error::RecvError>,
    ) {
        if changed.is_err() {
            run.reporting = false;
            return;
        }
        let report = run.report.borrow_and_update().clone();
        self.bus.amend(self.idx, |s| {
            if s.state != State::Waiting {
                s.pid = report.spawned.flatten();
            }
            s.detail = report.detail;
        });
        match self.state() {
            State::Ready | State::Degraded if report.reloading => {
                self.enter(mailbox, State::Reloading, Cause::default(), |_| {});
            }
            State::Reloading if !report.reloading => {
                self.enter(mailbox, State::Ready, Cause::default(), |_| {});
            }
            _ => {}
        }
    }

    /// Stops the run if it is still alive: `stopping`, the component's own stop (its signal,
    /// its grace, then force), then an abort if it overruns its grace and [`STOP_SLACK`].
    async fn stop_run(&self, run: &mut Run, mailbox: &mut Mailbox) {
        let Some(mut handle) = run.handle.take() else {
            return;
        };
        self.enter(mailbox, State::Stopping, Cause::default(), |_| {});
        run.stop.cancel();
        let grace = self.spec.stop_timeout + STOP_SLACK;
        if tokio::time::timeout(grace, &mut handle).await.is_err() {
            handle.abort();
            let _ = handle.await;
        }
    }

    /// The run ended before it was judged ready: for a oneshot that is the verdict. A service
    /// that signalled readiness itself, with no probe left to pass, was ready before it exited.
    fn ended_early(&self, run: &mut Run, mailbox: &mut Mailbox, exit: Result<(), Failure>) -> End {
        let report = run.report.borrow().clone();
        let took = run.started.elapsed();
        if self.state() == State::Waiting && exit.is_ok() {
            // It ran without reporting its spawn: it did start.
            let started = run.started.into_std();
            self.enter(mailbox, State::Starting, Cause::default(), |s| {
                s.started_at = Some(started);
            });
        }
        let signalled = report.ready && self.component.readiness().probes.is_empty();
        if self.spec.kind == Kind::Service && signalled && self.state() == State::Starting {
            self.enter(mailbox, State::Ready, Cause::default(), |s| {
                s.time_to_ready = Some(took);
                s.detail = report.detail;
            });
            run.ready_at = Some(Instant::now());
            return match exit {
                Ok(()) => End::Exited,
                Err(failure) => End::Failed(self.failure_error(failure, run.started)),
            };
        }
        match (exit, self.spec.kind) {
            (Ok(()), Kind::Oneshot) => End::Completed(took),
            (Ok(()), Kind::Service) => {
                let reason = "exited successfully before it was ready";
                let error = ReadinessError::new(
                    self.spec.name.as_str(),
                    crate::CheckKind::Exit,
                    self.target(),
                    reason,
                );
                End::Failed(error.with_elapsed(took))
            }
            (Err(failure), _) => End::Failed(self.failure_error(failure, run.started)),
        }
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
}
