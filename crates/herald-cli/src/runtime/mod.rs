//! The commands that run or act on a running stack: `up`, `down`, `status`, `wait`, `logs`,
//! `start`, `stop`, `restart`, `analyze`.
//!
//! This is the one seam between the command line and the process layer: by the time
//! [`run_stack_command`] is called, the arguments are parsed and the stack file is loaded and
//! fully validated, its values typed (a bad file has already exited 2, as `herald check` would).
//!
//! - `serve` runs a stack in this process: the supervisor of a foreground `up`, or the
//!   background one of `up --detach`;
//! - `control` is the control socket, `protocol` what goes over it; `statedir` keeps the
//!   state folder private, `statewatch` notices when it goes;
//! - `cluster` publishes the stack's components on etcd and mirrors those of other nodes;
//! - `http` is the HTTP interface (`api.sock`, `--listen`): health, metrics, the API, `/ui`;
//! - `eventlog` writes `events.jsonl`, `progress` shows what happens;
//! - `detach` starts the background supervisor, `follow` shows its start and streams
//!   events (for `down` too), `logtail` reads the log files as they grow;
//! - `commands` are the client side of each command.

pub mod build;
pub mod cluster;
pub(crate) mod commands;
pub(crate) mod control;
pub(crate) mod detach;
pub(crate) mod eventlog;
pub(crate) mod follow;
pub mod http;
pub(crate) mod logtail;
pub(crate) mod progress;
pub(crate) mod protocol;
pub(crate) mod serve;
pub(crate) mod statedir;
pub(crate) mod statewatch;

use crate::cli::StackCommand;
use crate::stackfile::StackFile;
use commands::act::run as act;
use herald::Action;
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
    match cmd.command {
        StackCommand::Up(args) => commands::up::run(stack, args, cmd.json),
        StackCommand::Down => commands::down::run(&stack, progress_style(cmd.json)),
        StackCommand::Status => commands::status::run(&stack, cmd.json),
        StackCommand::Wait(args) => commands::wait::run(&stack, args, cmd.json),
        StackCommand::Logs(args) => commands::logs::run(&stack, args),
        StackCommand::Start(arg) => act(&stack, Action::Start, arg.name, cmd.json),
        StackCommand::Stop(arg) => act(&stack, Action::Stop, arg.name, cmd.json),
        StackCommand::Restart(arg) => act(&stack, Action::Restart, arg.name, cmd.json),
        StackCommand::Analyze(args) => commands::analyze::run(&stack, args, cmd.json),
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
