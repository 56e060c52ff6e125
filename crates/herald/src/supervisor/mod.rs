//! One supervisor task per component: it owns the component's lifecycle.
//!
//! The supervisor is the only writer of its component's state, and writes it in one place,
//! [`Supervisor::enter`], which checks every step against the lifecycle table
//! ([`crate::lifecycle`]) and then answers the controls that the new state settles. Its loop
//! has three moves ([`Next`]):
//! - **start** ([`run`](self::run)): wait for the dependencies, launch the run, await its
//!   spawn, judge its readiness, serve it until it ends; then [`conclude`](Supervisor::conclude)
//!   decides what follows from how it ended ([`End`]): park, start again (a restart, an
//!   unbinding), or back off and retry under the restart policy;
//! - **park** in a final state (stopped, failed, blocked, completed) until a control or the
//!   end of the stack;
//! - **exit** once the stack shuts down, after every dependent is down.
//!
//! Everything here is driven by events: dependency signals, the run's own report, its exit,
//! timers, and controls ([`mailbox`]). Nothing polls.

mod live;
mod mailbox;
mod run;

pub(crate) use mailbox::Control;

use crate::bus::Bus;
use crate::event::Release;
use crate::restart::{Restarts, Verdict};
use crate::{Action, Component, ComponentSpec, Graph, ReadinessError, State, Status, lifecycle};
use futures_util::future::select_all;
use mailbox::Mailbox;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Extra time a run gets after `stop_timeout` to finish its stop (a process drains its
/// output, flushes its log) before it is aborted. Longer than any drain a component does.
pub(crate) const STOP_SLACK: Duration = Duration::from_secs(2);

/// The supervisor of one component.
pub(crate) struct Supervisor {
    pub idx: usize,
    pub spec: Arc<ComponentSpec>,
    pub component: Arc<dyn Component>,
    pub bus: Arc<Bus>,
    pub graph: Arc<Graph>,
    pub shutdown: CancellationToken,
}

/// What the supervisor does next.
enum Next {
    Start,
    Park,
    Exit,
}

/// How a start ended (or the wait before it).
enum End {
    /// A start failed, or a run failed after it was ready.
    Failed(ReadinessError),
    /// A hard dependency failed for good.
    Blocked(ReadinessError),
    /// A service exited successfully after it was ready.
    Exited,
    /// A oneshot finished successfully, this long after its spawn.
    Completed(Duration),
    /// Something from outside ended it.
    Interrupted(Interrupt),
}

/// What can end a run from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    /// A `stop` control.
    Stop,
    /// A `restart` control.
    Restart,
    /// A `binds_to` dependency stopped being up.
    Unbound,
    /// The stack shuts down (and every dependent is down).
    Shutdown,
}

/// What an interruption listens for, by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listen {
    /// Waiting for dependencies: a restart has nothing to restart.
    Waiting,
    /// A run is alive: a restart and an unbinding end it.
    Running,
    /// Backing off before the next start: a restart starts it now.
    Backoff,
}

/// What a state change carries into its event, besides the state.
#[derive(Default)]
struct Cause {
    error: Option<ReadinessError>,
    released_by: Option<Release>,
}

impl Cause {
    fn error(error: ReadinessError) -> Cause {
        Cause {
            error: Some(error),
            ..Cause::default()
        }
    }
}

impl Supervisor {
    pub(crate) async fn run(self, controls: mpsc::UnboundedReceiver<Control>) {
        let mut mailbox = Mailbox::new(controls);
        let mut restarts = Restarts::new(&self.spec);
        let mut next = Next::Start;
        loop {
            next = match next {
                Next::Start => {
                    let end = self.start(&mut mailbox, &mut restarts).await;
                    self.conclude(end, &mut mailbox, &mut restarts).await
                }
                Next::Park => self.park(&mut mailbox, &mut restarts).await,
                Next::Exit => break,
            };
        }
        if !self.state().is_down() {
            self.dependents_down().await;
            self.enter(&mut mailbox, State::Stopped, Cause::default(), |s| {
                s.pid = None
            });
        }
    }

    fn state(&self) -> State {
        self.bus.state(self.idx)
    }

    /// The one place a state is written: checks the step, publishes it (with `cause` in its
    /// event and `change` applied to the status), then answers the controls it settles.
    fn enter(
        &self,
        mailbox: &mut Mailbox,
        to: State,
        cause: Cause,
        change: impl FnOnce(&mut Status),
    ) {
        let from = self.state();
        debug_assert!(
            lifecycle::legal(from, to),
            "{}: {from} -> {to} is not a step of the lifecycle",
            self.spec.name
        );
        let error = cause.error.map(Arc::new);
        self.bus
            .transition(self.idx, to, error, cause.released_by, change);
        mailbox.entered(to);
    }

    /// Decides what follows a start's end: park, start again at once, or back off.
    async fn conclude(&self, end: End, mailbox: &mut Mailbox, restarts: &mut Restarts) -> Next {
        let down = |s: &mut Status| s.pid = None;
        match end {
            End::Completed(took) => {
                self.enter(mailbox, State::Completed, Cause::default(), |s| {
                    s.pid = None;
                    s.time_to_ready = Some(took);
                });
                Next::Park
            }
            End::Blocked(error) => {
                self.enter(mailbox, State::Blocked, Cause::error(error), down);
                Next::Park
            }
            End::Interrupted(Interrupt::Stop) => {
                self.enter(mailbox, State::Stopped, Cause::default(), down);
                Next::Park
            }
            End::Interrupted(Interrupt::Shutdown) => Next::Exit,
            // Asked for, not the policy's doing: not counted, no backoff.
            End::Interrupted(Interrupt::Restart | Interrupt::Unbound) => {
                self.enter(mailbox, State::Restarting, Cause::default(), down);
                Next::Start
            }
            End::Exited if !restarts.after_clean_exit() => {
                self.enter(mailbox, State::Stopped, Cause::default(), down);
                Next::Park
            }
            End::Exited => self.back_off(None, mailbox, restarts).await,
            End::Failed(mut error) => match restarts.failed(Instant::now()) {
                Verdict::Retry => self.back_off(Some(error), mailbox, restarts).await,
                verdict => {
                    if let Verdict::Limited(count) = verdict {
                        let window = crate::format_duration(restarts.window());
                        error.reason = format!(
                            "{} (start limit reached: {count} failed starts within {window})",
                            error.reason
                        );
                    }
                    self.enter(mailbox, State::Failed, Cause::error(error), down);
                    Next::Park
                }
            },
        }
    }

    /// `restarting` under the restart policy: counted, then the backoff delay, which a stop,
    /// a restart or the end of the stack cuts short.
    async fn back_off(
        &self,
        error: Option<ReadinessError>,
        mailbox: &mut Mailbox,
        restarts: &mut Restarts,
    ) -> Next {
        let cause = Cause {
            error,
            ..Cause::default()
        };
        self.enter(mailbox, State::Restarting, cause, |s| {
            s.pid = None;
            s.restarts += 1;
        });
        let delay = restarts.delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => Next::Start,
            interrupt = self.interruption(mailbox, Listen::Backoff) => match interrupt {
                Interrupt::Stop => {
                    self.enter(mailbox, State::Stopped, Cause::default(), |_| {});
                    Next::Park
                }
                Interrupt::Shutdown => Next::Exit,
                Interrupt::Restart | Interrupt::Unbound => Next::Start,
            },
        }
    }

    /// Waits in a final state for a control or the end of the stack.
    async fn park(&self, mailbox: &mut Mailbox, restarts: &mut Restarts) -> Next {
        loop {
            let control = tokio::select! {
                _ = self.shutdown.cancelled() => return Next::Exit,
                control = mailbox.next() => control,
            };
            match control.action {
                Action::Start | Action::Restart => {
                    restarts.reset();
                    mailbox.owe(control);
                    self.enter(mailbox, State::Waiting, Cause::default(), |s| s.pid = None);
                    return Next::Start;
                }
                Action::Stop => control.answer(),
            }
        }
    }

    /// Resolves with what interrupts the current phase: a control that asks for a change, an
    /// unbinding, or the end of the stack. Controls that change nothing are answered here.
    ///
    /// # Cancel safety
    /// Cancel-safe: a control is either returned, owed or answered within the poll that
    /// received it.
    async fn interruption(&self, mailbox: &mut Mailbox, listen: Listen) -> Interrupt {
        loop {
            let control = tokio::select! {
                biased;
                _ = self.stop_requested() => return Interrupt::Shutdown,
                _ = self.unbound(), if listen == Listen::Running => return Interrupt::Unbound,
                control = mailbox.next() => control,
            };
            match control.action {
                Action::Stop => {
                    mailbox.owe(control);
                    return Interrupt::Stop;
                }
                Action::Restart if listen != Listen::Waiting => {
                    mailbox.owe(control);
                    return Interrupt::Restart;
                }
                Action::Start | Action::Restart => control.answer(),
            }
        }
    }

    /// Resolves once shutdown was asked for and every dependent is down.
    async fn stop_requested(&self) {
        self.shutdown.cancelled().await;
        self.dependents_down().await;
    }

    async fn dependents_down(&self) {
        for dependent in self.graph.stops_after(self.idx) {
            self.bus
                .signal(dependent)
                .wait_for(|s| s.state.is_down())
                .await;
        }
    }

    /// Resolves once a bound dependency stops being up.
    async fn unbound(&self) {
        let bound: Vec<_> = self
            .graph
            .dependencies(self.idx)
            .iter()
            .filter(|(_, kind)| *kind == crate::EdgeKind::BindsTo)
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
}
