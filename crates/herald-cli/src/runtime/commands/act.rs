//! `herald start|stop|restart NAME`: act on one component of the running stack. `start` and
//! `restart` answer once it is ready (exit 0) or failed (exit 1, the error chain on stderr).

use super::super::protocol::{Reply, Request};
use super::{check_names, connect, fail, print_json, say_not_running};
use crate::stackfile::StackFile;
use std::process::ExitCode;

/// Which action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `herald start`.
    Start,
    /// `herald stop`.
    Stop,
    /// `herald restart`.
    Restart,
}

/// Runs the action on `name`.
pub fn run(stack: &StackFile, act: Act, name: String, json: bool) -> anyhow::Result<ExitCode> {
    if let Err(code) = check_names(stack, std::slice::from_ref(&name)) {
        return Ok(code);
    }
    let Some(mut client) = connect(stack)? else {
        say_not_running(stack);
        return Ok(ExitCode::from(super::FAILURE));
    };
    let request = match act {
        Act::Start => Request::Start { name },
        Act::Stop => Request::Stop { name },
        Act::Restart => Request::Restart { name },
    };
    let reply = client.ask(&request)?;
    if json {
        print_json(&reply);
    }
    match reply {
        Reply::Done => Ok(ExitCode::SUCCESS),
        other => Ok(fail(other)),
    }
}
