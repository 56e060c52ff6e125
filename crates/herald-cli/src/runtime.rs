//! The commands that run or act on a running stack: `up`, `down`, `status`, `wait`, `logs`,
//! `start`, `stop`, `restart`.
//!
//! This is the one seam between the command line and the process layer: by the time
//! [`run_stack_command`] is called, the arguments are parsed and the stack file is loaded and
//! fully validated (a bad file has already exited 2).

use crate::cli::StackCommand;
use crate::stackfile::StackFile;
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
/// a wait failed or timed out); `Err` is a runtime failure, printed as `error: ...` with
/// exit code 1.
pub fn run_stack_command(cmd: StackRequest, stack: StackFile) -> anyhow::Result<ExitCode> {
    let _ = stack;
    anyhow::bail!(
        "`herald {}` is not available in this build: the process layer is not wired in yet",
        cmd.command.name()
    )
}
