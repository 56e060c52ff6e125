//! How many connections the control server holds, and which it lets go.
//!
//! At most [`MAX_CONNECTIONS`] are open at once. A connection is *idle* while it has not sent
//! a whole request (before its first one, and between two); one that stays idle for
//! [`IDLE_TIMEOUT`] is closed. When a new connection comes while all the places are taken, the
//! connection idle for the longest is closed to make room: a client that opens thousands of
//! connections and sends nothing cannot keep `herald status` out. Only when every place is
//! busy serving a request (a `wait`, a `logs --follow`) is the new one refused.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The most connections open at once.
pub const MAX_CONNECTIONS: usize = 256;

/// How many evicted connections may be on their way out before no more are accepted: each
/// holds its descriptor until its task has run, so this keeps the count bounded under a flood.
pub const MAX_EVICTING: usize = 32;

/// How long a connection may stay without sending a whole request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The open connections. Cheap to share.
#[derive(Debug, Default)]
pub struct Admission {
    state: Mutex<State>,
    /// Told each time an evicted connection has closed.
    closed: Notify,
}

#[derive(Debug, Default)]
struct State {
    open: usize,
    next: u64,
    /// The idle connections, oldest first, each with what tells it to go.
    idle: BTreeMap<u64, Arc<Notify>>,
    /// Evicted connections not closed yet: their places are already given away.
    evicted: HashSet<u64>,
}

impl Admission {
    /// Resolves once fewer than [`MAX_EVICTING`] evicted connections are still open: the
    /// accept loop waits here, leaving newcomers in the kernel's short queue.
    pub async fn room(&self) {
        loop {
            if self.state.lock().expect("never poisoned").evicted.len() < MAX_EVICTING {
                return;
            }
            self.closed.notified().await;
        }
    }

    /// A place for a new connection, or `None` when every place serves a request. Makes room
    /// by evicting the connection idle for the longest.
    pub fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut state = self.state.lock().expect("never poisoned");
        if state.open >= MAX_CONNECTIONS {
            let (id, evict) = state.idle.pop_first()?;
            // Its place is handed over now; it closes as soon as it is told.
            evict.notify_one();
            state.evicted.insert(id);
            state.open -= 1;
        }
        state.open += 1;
        state.next += 1;
        Some(Ticket {
            id: state.next,
            admission: self.clone(),
            evict: Arc::new(Notify::new()),
        })
    }

    /// How many connections hold a place.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.state.lock().expect("never poisoned").open
    }
}

/// One connection's place; given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    admission: Arc<Admission>,
    evict: Arc<Notify>,
}

impl Ticket {
    /// Marks the connection idle (waiting for a request) and resolves if it is evicted to make
    /// room for a new one, or has been idle for [`IDLE_TIMEOUT`]. Dropping the future (a
    /// request arrived) makes it busy again.
    pub async fn idle(&mut self) {
        {
            let mut state = self.admission.state.lock().expect("never poisoned");
            state.idle.insert(self.id, self.evict.clone());
        }
        let busy = Busy(self);
        tokio::select! {
            _ = busy.0.evict.notified() => {}
            _ = tokio::time::sleep(IDLE_TIMEOUT) => {}
        }
    }
}

/// Takes a connection off the idle list when its idle wait ends, however it ends.
struct Busy<'t>(&'t mut Ticket);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut state = self.0.admission.state.lock().expect("never poisoned");
        state.idle.remove(&self.0.id);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.admission.state.lock().expect("never poisoned");
        state.idle.remove(&self.id);
        if state.evicted.remove(&self.id) {
            self.admission.closed.notify_one();
        } else {
            state.open -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_longest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let admission = Arc::new(Admission::default());
        let mut tickets: Vec<Ticket> = (0..MAX_CONNECTIONS)
            .map(|_| admission.admit().unwrap())
            .collect();
        // All busy: a new one is refused.
        assert!(admission.admit().is_none());
        // The first two go idle; the newcomer evicts the first of them.
        let mut first = tickets.remove(0);
        let mut second = tickets.remove(0);
        let first_idle = tokio::spawn(async move {
            first.idle().await;
            first
        });
        tokio::task::yield_now().await;
        let second_idle = tokio::spawn(async move {
            second.idle().await;
        });
        tokio::task::yield_now().await;
        let newcomer = admission.admit().expect("room made");
        let first = tokio::time::timeout(Duration::from_secs(1), first_idle)
            .await
            .expect("the oldest idle connection is told to go")
            .unwrap();
        drop(first);
        assert_eq!(admission.open(), MAX_CONNECTIONS);
        assert!(!second_idle.is_finished());
        drop(newcomer);
        drop(tickets);
        // The second closes by its idle timeout.
        tokio::time::timeout(IDLE_TIMEOUT * 2, second_idle)
            .await
            .expect("an idle connection times out")
            .unwrap();
        assert_eq!(admission.open(), 0);
    }
}
