//! `herald up [NAME...] [--detach]`.
//!
//! In the foreground this process is the supervisor: live progress on standard error, Ctrl-C
//! or SIGTERM stops the stack in reverse dependency order. With `--detach` a background
//! supervisor is started ([`detach`](super::super::detach)); this process waits, through the
//! control socket, until every started component is ready or completed (exit 0) or one failed
//! or was blocked (exit 1, the error chain on stderr), and leaves the stack running.

use super::super::detach::{self, Started};
use super::super::progress::Style;
use super::super::protocol::{Reply, Request};
use super::super::{build, color, supervisor};
use super::{FAILURE, USAGE, connect, fail};
use crate::cli::UpArgs;
use crate::stackfile::StackFile;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Runs `herald up`.
pub fn run(stack: StackFile, args: UpArgs, json: bool) -> anyhow::Result<ExitCode> {
    if let Err(unknown) = build::select(&stack, &args.names) {
        eprintln!("error: {unknown}");
        return Ok(ExitCode::from(USAGE));
    }
    if let Some(fd) = args.supervise_fd {
        let ready_fd = Some(detach::take_ready_fd(fd)?);
        let options = supervisor::Options {
            names: args.names,
            style: Style::Plain,
            ready_fd,
        };
        return supervisor::run(stack, options);
    }
    if args.detach {
        return detached(&stack, &args.names);
    }
    let style = if json {
        Style::Json
    } else if std::io::stderr().is_terminal() {
        Style::Live { color: color() }
    } else {
        Style::Plain
    };
    let options = supervisor::Options {
        names: args.names,
        style,
        ready_fd: None,
    };
    supervisor::run(stack, options)
}

fn detached(stack: &StackFile, names: &[String]) -> anyhow::Result<ExitCode> {
    if let Some(mut client) = connect(stack)? {
        let pid = match client.ask(&Request::Status) {
            Ok(Reply::Status { pid, .. }) => Some(pid),
            _ => None,
        };
        eprintln!("{}", supervisor::already_running(stack, pid));
        return Ok(ExitCode::from(FAILURE));
    }
    match detach::start(stack, names)? {
        Started::Listening => {}
        Started::Exited { code, output } => {
            eprint!("{output}");
            if !output.ends_with('\n') && !output.is_empty() {
                eprintln!();
            }
            return Ok(ExitCode::from(code));
        }
    }
    let Some(mut client) = connect(stack)? else {
        anyhow::bail!(
            "the background supervisor stopped answering; see {}",
            detach::log_path(stack).display()
        );
    };
    let pid = match client.ask(&Request::Status)? {
        Reply::Status { pid, .. } => pid,
        other => return Ok(fail(other)),
    };
    match client.ask(&Request::Wait {
        names: Vec::new(),
        timeout_ms: None,
    })? {
        Reply::Done => {
            eprintln!(
                "stack {} is up (supervisor pid {pid}; `herald status`, `herald down`)",
                stack.name
            );
            Ok(ExitCode::SUCCESS)
        }
        other => {
            let code = fail(other);
            eprintln!(
                "stack {} keeps running in the background (supervisor pid {pid}; \
                 `herald status`, `herald down`)",
                stack.name
            );
            Ok(code)
        }
    }
}
