//! The actions a running stack takes on one component: one vocabulary for the library
//! ([`Running::act`](crate::Running::act)), the control protocol and the command line.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What to do to one component of a running stack.
///
/// Each action resolves once the state it causes has been published on the component's
/// signal, so a waiter that looks right after it sees that state or a later one:
/// - [`Start`](Action::Start) a stopped, failed, blocked or completed component: resolves once
///   it is `waiting` (for its dependencies) again; on a component that is already on its way
///   (waiting, starting, ready, restarting) it does nothing and resolves at once;
/// - [`Stop`](Action::Stop): resolves once it is `stopped` (or already was down);
/// - [`Restart`](Action::Restart): stops the run and resolves once it is `restarting`, so the
///   next state a waiter sees belongs to the new run; on a component that is down it is a
///   start.
///
/// ```
/// use herald::Action;
/// let action: Action = "restart".parse().unwrap();
/// assert_eq!(action, Action::Restart);
/// assert_eq!(action.to_string(), "restart");
/// assert_eq!(serde_json::to_string(&Action::Stop).unwrap(), "\"stop\"");
/// assert!("reload".parse::<Action>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start it again (after its dependencies).
    Start,
    /// Stop it: its stop signal, its grace, then force.
    Stop,
    /// Stop it and start it again.
    Restart,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 3] = [Action::Start, Action::Stop, Action::Restart];

    /// The lowercase name, as the protocol and the command line spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`Action`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?} (start, stop or restart)")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Action, UnknownAction> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}
