//! `herald up [NAME...] [--detach]`.
//!
//! In the foreground this process is the supervisor: live progress on standard error, Ctrl-C
//! or SIGTERM stops the stack in reverse dependency order. With `--detach` a background
//! supervisor is started (`runtime::detach`); this process waits, through the
//! control socket, until every started component is ready or completed (exit 0) or one failed
//! or was blocked (exit 1, the error chain on stderr), and leaves the stack running.

use super::super::detach::{self, Started};
use super::super::follow::{self, Outcome};
use super::super::progress::{Progress, Style};
use super::super::protocol::{Reply, Request};
use super::super::{build, http, progress_style, serve};
use super::{FAILURE, USAGE, connect, fail};
use crate::cli::UpArgs;
use crate::stackfile::StackFile;
use herald::{ComponentSpec, RunAs};
use std::process::ExitCode;

/// Runs `herald up`. The components are selected once, here, for whichever way it runs.
pub fn run(stack: StackFile, args: UpArgs, json: bool) -> anyhow::Result<ExitCode> {
    let specs = match build::select(&stack, &args.names) {
        Ok(specs) => specs,
        Err(unknown) => {
            eprintln!("error: {unknown}");
            return Ok(ExitCode::from(USAGE));
        }
    };
    // Who each component runs as is settled before anything starts: a user that does not
    // exist, or a switch herald may not make (it is not root), stops `up` here.
    let accounts: Vec<_> = specs.iter().filter_map(|s| RunAs::of(s).err()).collect();
    if !accounts.is_empty() {
        for problem in accounts {
            eprintln!("error: {problem}");
        }
        return Ok(ExitCode::from(USAGE));
    }
    let listen = args.listen.or(stack.listen);
    let http = match http::Config::from_env(listen, args.read_only, stack.token_file.as_deref()) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(USAGE));
        }
    };
    let (style, ready_fd) = match args.supervise_fd {
        Some(fd) => (Style::Plain, Some(detach::take_ready_fd(fd)?)),
        None if args.detach => {
            let style = progress_style(json);
            return detached(&stack, &args, specs, http, style);
        }
        None => (progress_style(json), None),
    };
    if let Some(addr) = listen {
        eprintln!("dashboard: http://{addr}/ui (sign in with the token)");
    }
    let options = serve::Options {
        specs,
        style,
        ready_fd,
        http,
    };
    serve::run(stack, options)
}

/// Starts the background supervisor for `names` (whose selection is `specs`) and follows its
/// start.
fn detached(
    stack: &StackFile,
    args: &UpArgs,
    specs: Vec<ComponentSpec>,
    http: http::Config,
    style: Style,
) -> anyhow::Result<ExitCode> {
    if let Some(mut client) = connect(stack)? {
        let pid = match client.ask(&Request::Status) {
            Ok(Reply::Status { pid, .. }) => Some(pid),
            _ => None,
        };
        eprintln!("{}", serve::already_running(stack, pid));
        return Ok(ExitCode::from(FAILURE));
    }
    let options = serve::Options {
        specs: specs.clone(),
        style: Style::Plain,
        ready_fd: None,
        http,
    };
    match detach::start(stack, args, options)? {
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
    let progress = Progress::new(&specs, style);
    let hint = format!("supervisor pid {pid}; `herald status`, `herald down`");
    match follow::start(client, &stack.state_dir, &specs, progress)? {
        Outcome::Up => {
            eprintln!("stack {} is up ({hint})", stack.name);
            summary(stack);
            if let Some(addr) = args.listen.or(stack.listen) {
                eprintln!("dashboard: http://{addr}/ui (sign in with the token)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Failed(error) => {
            eprintln!("{error}");
            eprintln!(
                "stack {} keeps running in the background ({hint})",
                stack.name
            );
            summary(stack);
            Ok(ExitCode::from(FAILURE))
        }
        Outcome::Ended => {
            eprintln!(
                "stack {} stopped before it was up; see {}",
                stack.name,
                detach::log_path(stack).display()
            );
            Ok(ExitCode::from(FAILURE))
        }
    }
}

/// The one-line start summary (`Startup finished in ...`), from the event log.
fn summary(stack: &StackFile) {
    if let Some(line) = super::analyze::summary_line(stack) {
        eprintln!("{line}");
    }
}
