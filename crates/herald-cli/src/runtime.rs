//! The commands that run or act on a running stack: `up`, `down`, `status`, `wait`, `logs`,
//! `start`, `stop`, `restart`.
//!
//! This is the one seam between the command line and the process layer: the command line has
//! already parsed its arguments and loaded and validated the stack file when it calls
//! [`run_stack_command`].

use crate::cli::StackCommand;
use crate::stackfile::StackFile;
use std::process::ExitCode;

/// Runs `cmd` against `stack`; `Ok` carries the exit code (0 done, 1 a component failed or a
/// wait failed), `Err` is a runtime failure (exit 1).
pub fn run_stack_command(cmd: StackCommand, stack: StackFile) -> anyhow::Result<ExitCode> {
    let _ = stack;
    anyhow::bail!(
        "`herald {}` is not available in this build: the process layer is not wired in yet",
        cmd.name()
    )
}
