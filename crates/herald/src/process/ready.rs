//! A process's own readiness signal: `READY=1` on the notify socket, a log line matching
//! `ready.log`, or both. The [`Gate`] marks the run ready once every event asked for has
//! happened; it is driven by those events and never polls.

use crate::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// Marks a run ready once the notify and log events it waits for have both happened.
pub(crate) struct Gate {
    ctx: Context,
    notified: AtomicBool,
    logged: AtomicBool,
    open: watch::Sender<bool>,
}

impl Gate {
    /// A gate for one run; an event that is not asked for counts as already happened.
    pub(crate) fn new(ctx: Context, notify: bool, log: bool) -> Self {
        Self {
            ctx,
            notified: AtomicBool::new(!notify),
            logged: AtomicBool::new(!log),
            open: watch::Sender::new(!notify && !log),
        }
    }

    /// `READY=1` arrived.
    pub(crate) fn notified(&self) {
        self.notified.store(true, Ordering::SeqCst);
        self.check();
    }

    /// A line matched `ready.log`.
    pub(crate) fn logged(&self) {
        self.logged.store(true, Ordering::SeqCst);
        self.check();
    }

    /// Whether the log event is still awaited (so lines need matching).
    pub(crate) fn awaits_log(&self) -> bool {
        !self.logged.load(Ordering::Relaxed)
    }

    /// Whether every event asked for has happened.
    pub(crate) fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// Resolves once every event asked for has happened.
    pub(crate) async fn opened(&self) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
    }

    fn check(&self) {
        if self.notified.load(Ordering::SeqCst) && self.logged.load(Ordering::SeqCst) {
            self.open.send_replace(true);
            self.ctx.ready();
        }
    }
}
