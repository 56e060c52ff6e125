//! `herald start|stop|restart NAME`: act on one component of the running stack. `start` and
//! `restart` answer once it is ready (exit 0) or failed (exit 1, the error chain on stderr).

use super::super::protocol::{Reply, Request};
use super::{check_names, connect, fail, print_json, say_not_running};
use crate::stackfile::StackFile;
use herald::Action;
use std::process::ExitCode;

/// Runs `action` on `name`.
pub fn run(
    stack: &StackFile,
    action: Action,
    name: String,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Err(code) = check_names(stack, std::slice::from_ref(&name)) {
        return Ok(code);
    }
    let Some(mut client) = connect(stack)? else {
        say_not_running(stack);
        return Ok(ExitCode::from(super::FAILURE));
    };
    let reply = client.ask(&Request::Control { action, name })?;
    if json {
        print_json(&reply);
    }
    match reply {
        Reply::Done => Ok(ExitCode::SUCCESS),
        other => Ok(fail(other)),
    }
}
