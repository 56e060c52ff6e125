//! `herald down`: stop the running stack, dependents first; return once all is stopped and
//! the supervisor has exited. Nothing running is not an error (exit 0, said on stderr).

use super::super::protocol::{Reply, Request};
use super::{connect, fail};
use crate::stackfile::StackFile;
use std::process::ExitCode;

/// Runs `herald down`.
pub fn run(stack: &StackFile) -> anyhow::Result<ExitCode> {
    let Some(mut client) = connect(stack)? else {
        eprintln!("stack {} is not running: nothing to stop", stack.name);
        return Ok(ExitCode::SUCCESS);
    };
    match client.ask(&Request::Down)? {
        Reply::Done => {
            client.wait_closed();
            eprintln!("stack {} is down", stack.name);
            Ok(ExitCode::SUCCESS)
        }
        other => Ok(fail(other)),
    }
}
