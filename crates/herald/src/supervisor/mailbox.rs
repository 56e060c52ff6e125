//! A supervisor's controls: the [`Action`]s sent to one component, and the replies that are
//! owed until the state an action causes has been published.

use crate::{Action, State};
use tokio::sync::{mpsc, oneshot};

/// An action on one component; `done` is answered once the state it causes is published.
pub(crate) struct Control {
    pub action: Action,
    pub done: oneshot::Sender<()>,
}

/// The controls of one component, and the replies still owed.
pub(crate) struct Mailbox {
    controls: mpsc::UnboundedReceiver<Control>,
    /// False once every sender is gone, so a closed channel is not read in a loop.
    open: bool,
    owed: Vec<Control>,
}

impl Mailbox {
    pub(crate) fn new(controls: mpsc::UnboundedReceiver<Control>) -> Mailbox {
        Mailbox {
            controls,
            open: true,
            owed: Vec::new(),
        }
    }

    /// The next control; pending forever once no sender is left.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`mpsc::UnboundedReceiver::recv`] is.
    pub(crate) async fn next(&mut self) -> Control {
        if self.open {
            if let Some(control) = self.controls.recv().await {
                return control;
            }
            self.open = false;
        }
        std::future::pending().await
    }

    /// Keeps `control`'s reply until the state it asks for is published.
    pub(crate) fn owe(&mut self, control: Control) {
        self.owed.push(control);
    }

    /// The component has entered `state`: answers every reply that state settles.
    pub(crate) fn entered(&mut self, state: State) {
        let (settled, owed): (Vec<_>, Vec<_>) = std::mem::take(&mut self.owed)
            .into_iter()
            .partition(|control| settles(control.action, state));
        self.owed = owed;
        settled.into_iter().for_each(Control::answer);
    }
}

/// Whether entering `state` is what `action` waits for.
fn settles(action: Action, state: State) -> bool {
    match action {
        // Left its parked state.
        Action::Start => !state.is_down(),
        Action::Stop => state.is_down(),
        // The old run is gone: the next state belongs to the new run (or it was down).
        Action::Restart => matches!(state, State::Restarting | State::Waiting) || state.is_down(),
    }
}

impl Control {
    /// Answers at once: the action causes no change.
    pub(crate) fn answer(self) {
        let _ = self.done.send(());
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        for control in self.owed.drain(..) {
            control.answer();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_is_settled_by_the_state_it_asks_for() {
        for state in State::ALL {
            assert_eq!(settles(Action::Stop, state), state.is_down(), "{state}");
        }
        assert!(settles(Action::Restart, State::Restarting));
        assert!(!settles(Action::Restart, State::Stopping));
        assert!(settles(Action::Start, State::Waiting));
        assert!(!settles(Action::Start, State::Stopped));
    }

    #[tokio::test]
    async fn a_reply_is_sent_once_its_state_is_entered_and_not_before() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut mailbox = Mailbox::new(rx);
        let (done, mut answered) = oneshot::channel();
        tx.send(Control {
            action: Action::Stop,
            done,
        })
        .unwrap();
        let control = mailbox.next().await;
        mailbox.owe(control);
        mailbox.entered(State::Stopping);
        assert!(
            answered.try_recv().is_err(),
            "answered before it was stopped"
        );
        mailbox.entered(State::Stopped);
        assert_eq!(answered.try_recv(), Ok(()));
    }
}
