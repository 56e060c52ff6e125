//! The commands that run or act on a running stack: `up`, `down`, `status`, `wait`, `logs`,
//! `start`, `stop`, `restart`.
//!
//! This is the one seam between the command line and the process layer: by the time
//! [`run_stack_command`] is called, the arguments are parsed and the stack file is loaded and
//! fully validated (a bad file has already exited 2). The process layer's own checks
//! ([`build::problems`]) run first here, and exit 2 too.
//!
//! - [`supervisor`] runs a stack (foreground `up`, or the background one of `up --detach`);
//! - [`control`] is the control socket, [`protocol`] what goes over it; [`statedir`] keeps
//!   the state folder private, [`statewatch`] notices when it goes;
//! - [`eventlog`] writes `events.jsonl`, [`progress`] shows what happens;
//! - [`detach`] starts the background supervisor, [`follow`] shows its start and streams
//!   events (for `down` too), [`logtail`] reads the log files as they grow;
//! - [`commands`] are the client side of each command.

pub mod build;
pub mod commands;
pub mod control;
pub mod detach;
pub mod eventlog;
pub mod follow;
pub mod logtail;
pub mod progress;
pub mod protocol;
pub mod statedir;
pub mod statewatch;
pub mod supervisor;

use crate::cli::StackCommand;
use crate::stackfile::StackFile;
use commands::act::{Act, run as act};
use std::io::IsTerminal;
use std::process::ExitCode;

/// A runtime command and the global options that shape its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRequest {
    /// The subcommand and its arguments.
    pub command: StackCommand,
    /// `--json`: print data (status rows, errors) as JSON.
    pub json: bool,
}

/// Runs `cmd` against `stack`. `Ok` carries the exit code (0 done; 1 a component failed, or
/// a wait failed or timed out; 2 a bad stack file or an unknown component); `Err` is a
/// runtime failure, printed as `error: ...` with exit code 1.
pub fn run_stack_command(cmd: StackRequest, stack: StackFile) -> anyhow::Result<ExitCode> {
    let problems = build::problems(&stack);
    if !problems.is_empty() {
        if cmd.json {
            println!("{}", problems.to_json());
        } else {
            eprintln!("{}", problems.render(color()));
        }
        return Ok(ExitCode::from(2));
    }
    match cmd.command {
        StackCommand::Up(args) => commands::up::run(stack, args, cmd.json),
        StackCommand::Down => commands::down::run(&stack, progress_style(cmd.json)),
        StackCommand::Status => commands::status::run(&stack, cmd.json),
        StackCommand::Wait(args) => commands::wait::run(&stack, args, cmd.json),
        StackCommand::Logs(args) => commands::logs::run(&stack, args),
        StackCommand::Start(arg) => act(&stack, Act::Start, arg.name, cmd.json),
        StackCommand::Stop(arg) => act(&stack, Act::Stop, arg.name, cmd.json),
        StackCommand::Restart(arg) => act(&stack, Act::Restart, arg.name, cmd.json),
    }
}

/// How `up` and `down` show progress: `--json` event lines on stdout, else redrawn rows on
/// a terminal, else plain lines.
pub fn progress_style(json: bool) -> progress::Style {
    if json {
        progress::Style::Json
    } else if std::io::stderr().is_terminal() {
        progress::Style::Live { color: color() }
    } else {
        progress::Style::Plain
    }
}

/// Whether to color output on standard error: it is a terminal and `NO_COLOR` is unset or
/// empty.
pub fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
