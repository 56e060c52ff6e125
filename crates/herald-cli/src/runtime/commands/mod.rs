//! The client side of each command: find the running stack, ask, print, give the exit code.

pub mod act;
pub mod analyze;
pub mod down;
pub mod logs;
pub mod status;
pub mod up;
pub mod wait;

use super::build;
use super::control::{self, client::Client};
use super::protocol::Reply;
use crate::stackfile::StackFile;
use std::process::ExitCode;

/// Exit code 1: a runtime failure.
pub const FAILURE: u8 = 1;
/// Exit code 2: a bad stack file or command line.
pub const USAGE: u8 = 2;

/// A connection to the stack's supervisor, or `None` when it is not running.
pub fn connect(stack: &StackFile) -> anyhow::Result<Option<Client>> {
    Client::connect(&control::socket_path(&stack.state_dir))
}

/// "stack NAME is not running", on stderr.
pub fn say_not_running(stack: &StackFile) {
    eprintln!(
        "stack {} is not running (no supervisor answers on {})",
        stack.name,
        control::socket_path(&stack.state_dir).display()
    );
}

/// Checks names against the stack file: unknown ones exit 2 with the list of names.
pub fn check_names(stack: &StackFile, names: &[String]) -> Result<(), ExitCode> {
    build::check_names(names, stack.components.iter().map(|s| s.name.as_str())).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(USAGE)
    })
}

/// With `--json`: a failure as data on stdout, besides the words on stderr:
/// `{"error": {...}}` (the structured error), `{"timed_out": true, "pending": [{"name",
/// "state"}]}`, or `{"unknown": name, "names": [...]}`.
pub fn print_json(reply: &Reply) {
    let value = match reply {
        Reply::Failed { error } => serde_json::json!({ "error": error }),
        Reply::TimedOut { pending } => {
            let pending: Vec<_> = pending
                .iter()
                .map(|(name, state)| serde_json::json!({"name": name, "state": state}))
                .collect();
            serde_json::json!({"timed_out": true, "pending": pending})
        }
        Reply::Unknown { name, names } => serde_json::json!({"unknown": name, "names": names}),
        _ => return,
    };
    println!("{value}");
}

/// Prints a reply that is not the hoped-for one and gives its exit code. A timed-out `wait`
/// is told by [`wait`] itself, which knows the limit.
pub fn fail(reply: Reply) -> ExitCode {
    match reply {
        Reply::Failed { error } => eprintln!("{error}"),
        Reply::Unknown { name, names } => eprintln!(
            "error: `{name}` is not part of the running stack (it runs: {})",
            names.join(", ")
        ),
        Reply::Error { message } => eprintln!("error: {message}"),
        other => eprintln!("error: unexpected reply {other:?}"),
    }
    ExitCode::from(FAILURE)
}
