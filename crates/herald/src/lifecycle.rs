//! The lifecycle of a component as data: which state may follow which.
//!
//! Every state a component's signal shows is written by one function, the supervisor's
//! `enter`, which checks each change against [`legal`] (a debug assertion), so
//! the table below is the whole truth about the order in which states can be seen:
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
//! Read as a list (the table in [`legal`] is the reference):
//! - `waiting` → `starting` (spawned), `blocked`, `stopped` (stopped or shut down before it
//!   ran), `stopping` (a run that never reported its spawn is stopped), `restarting` or
//!   `failed` (the spawn itself failed);
//! - `starting` → `ready`, `completed` (a oneshot), `stopping`, `restarting`, `failed`;
//! - `ready` → `stopping`, `restarting` (it exited, or its `live` check failed, and the
//!   restart policy starts it again), `failed` (it may not restart), `stopped` (a clean exit
//!   the policy accepts), `reloading`, `degraded`;
//! - `stopping` → `stopped`, `restarting` (a restart: the old run is gone, the new one comes),
//!   `failed` (a failed start whose run had to be stopped, with no restart left);
//! - `reloading` and `degraded` → `ready` (the reload is over; the check passes again), and
//!   the ways out of `ready`: they are still up, so dependents keep running;
//! - `restarting` → `waiting` (the next run), `stopped` (stopped during the backoff);
//! - `stopped`, `failed`, `blocked`, `completed` → `waiting` (started again by a control).
//!
//! So a restart (`restart`, a `binds_to` dependency's restart, the restart policy) shows
//! `stopping` or `restarting`, never a final state, until the new run is `starting`: a waiter
//! that arrives meanwhile waits for the new run. The final states are `stopped`, `failed`,
//! `blocked` and `completed`; only a control or the end of the stack leaves them.

use crate::State;

/// Whether a component may go from `from` to `to`.
pub fn legal(from: State, to: State) -> bool {
    use State::*;
    match from {
        Waiting => matches!(
            to,
            Starting | Blocked | Stopped | Stopping | Restarting | Failed
        ),
        Starting => matches!(to, Ready | Completed | Stopping | Restarting | Failed),
        Ready => matches!(
            to,
            Stopping | Restarting | Failed | Stopped | Reloading | Degraded
        ),
        // A ready service: the same ways out as `ready`, and back to it.
        Reloading | Degraded => matches!(to, Ready | Stopping | Restarting | Failed | Stopped),
        Stopping => matches!(to, Stopped | Restarting | Failed),
        Restarting => matches!(to, Waiting | Stopped),
        Stopped | Failed | Blocked | Completed => to == Waiting,
    }
}

/// The state every component starts in; every legal sequence starts here.
pub const INITIAL: State = State::Waiting;

/// Checks a whole sequence of states, as one component's events show it: it starts at
/// `waiting` (or with the first state seen after it, for a subscription made late) and every
/// step is legal. Returns the first illegal step.
pub fn check_sequence(states: &[State]) -> Result<(), (State, State)> {
    let mut from = INITIAL;
    for &to in states {
        if !legal(from, to) {
            return Err((from, to));
        }
        from = to;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_passes_through_no_final_state() {
        use State::*;
        let restart = [
            Starting, Ready, Stopping, Restarting, Waiting, Starting, Ready,
        ];
        assert_eq!(check_sequence(&restart), Ok(()));
        for state in State::ALL {
            if legal(Stopping, state) && legal(state, Waiting) {
                // Only restarting, or a final state after which a control is needed.
                assert!(state == Restarting || state.is_down(), "{state}");
            }
        }
    }

    #[test]
    fn final_states_are_left_only_for_waiting() {
        for from in State::ALL.into_iter().filter(|s| s.is_down()) {
            for to in State::ALL {
                assert_eq!(legal(from, to), to == State::Waiting, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn no_state_follows_itself() {
        for state in State::ALL {
            assert!(!legal(state, state), "{state}");
        }
    }

    #[test]
    fn an_illegal_step_is_named() {
        use State::*;
        assert_eq!(
            check_sequence(&[Starting, Ready, Waiting]),
            Err((Ready, Waiting))
        );
        assert_eq!(check_sequence(&[Ready]), Err((Waiting, Ready)));
    }
}
