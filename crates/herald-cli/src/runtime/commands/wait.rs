//! `herald wait NAME... [--timeout DUR]`: exit 0 once all are ready or completed; exit 1 with
//! the error chain on stderr if one fails or is blocked, or once the timeout passes.

use super::super::protocol::{Reply, Request};
use super::{check_names, connect, fail, print_json, say_not_running};
use crate::cli::WaitArgs;
use crate::stackfile::StackFile;
use std::process::ExitCode;

/// Runs `herald wait`.
pub fn run(stack: &StackFile, args: WaitArgs, json: bool) -> anyhow::Result<ExitCode> {
    if let Err(code) = check_names(stack, &args.names) {
        return Ok(code);
    }
    let Some(mut client) = connect(stack)? else {
        say_not_running(stack);
        return Ok(ExitCode::from(super::FAILURE));
    };
    let request = Request::Wait {
        names: args.names,
        timeout_ms: args
            .timeout
            .map(|t| t.as_millis().try_into().unwrap_or(u64::MAX)),
    };
    let reply = client.ask(&request)?;
    if json {
        print_json(&reply);
    }
    match reply {
        Reply::Done => Ok(ExitCode::SUCCESS),
        Reply::TimedOut { pending } => {
            let limit = herald::format_duration(args.timeout.unwrap_or_default());
            let pending: Vec<String> = pending
                .iter()
                .map(|(name, state)| format!("{name} ({state})"))
                .collect();
            eprintln!("timed out after {limit} waiting for {}", pending.join(", "));
            Ok(ExitCode::from(super::FAILURE))
        }
        other => Ok(fail(other)),
    }
}
