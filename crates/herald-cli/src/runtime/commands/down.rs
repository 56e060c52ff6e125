//! `herald down`: stop the running stack, dependents first, showing each stop as it happens;
//! return once all is stopped and the supervisor has exited. Nothing running is not an error
//! (exit 0, said on stderr).

use super::super::follow::{EventStream, Since};
use super::super::progress::{Progress, Style};
use super::super::protocol::{Reply, Request};
use super::{connect, fail};
use crate::stackfile::StackFile;
use std::process::ExitCode;

/// Runs `herald down`, showing progress in `style`.
pub fn run(stack: &StackFile, style: Style) -> anyhow::Result<ExitCode> {
    let Some(mut client) = connect(stack)? else {
        eprintln!("stack {} is not running: nothing to stop", stack.name);
        return Ok(ExitCode::SUCCESS);
    };
    let rows = match client.ask(&Request::Status)? {
        Reply::Status { components, .. } => components,
        other => return Ok(fail(other)),
    };
    // A second connection streams the stops while the first waits for the answer.
    let watcher = connect(stack)?
        .and_then(|events| EventStream::subscribe(events, &stack.state_dir, Since::Now).ok());
    client.send(&Request::Down)?;
    if let Some(mut events) = watcher {
        let specs: Vec<_> = stack
            .components
            .iter()
            .filter(|s| rows.iter().any(|r| r.name == s.name))
            .cloned()
            .collect();
        let mut progress = Progress::new(&specs, style);
        for row in &rows {
            progress.seed(&row.name, row.state, row.pid);
        }
        while let Ok(Some(event)) = events.recv() {
            progress.event(&event);
        }
        progress.finish();
    }
    match client.recv()? {
        Some(Reply::Done) => {
            client.wait_closed();
            eprintln!("stack {} is down", stack.name);
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Ok(fail(other)),
        None => anyhow::bail!("the supervisor closed the connection without answering"),
    }
}
