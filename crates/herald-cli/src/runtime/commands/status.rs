//! `herald status`: one row per component of the running stack, then the components of other
//! nodes it depends on, each with its node and what that node published. Not running: exit 1.

use super::super::progress::seconds;
use super::super::protocol::{Reply, Request, Row};
use super::{connect, fail, say_not_running};
use crate::stackfile::StackFile;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `herald status`.
pub fn run(stack: &StackFile, json: bool) -> anyhow::Result<ExitCode> {
    let Some(mut client) = connect(stack)? else {
        say_not_running(stack);
        return Ok(ExitCode::from(super::FAILURE));
    };
    match client.ask(&Request::Status)? {
        Reply::Status { components, .. } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&components)?);
            } else {
                print!("{}", table(&components));
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Ok(fail(other)),
    }
}

fn millis(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| seconds(Duration::from_millis(ms)))
}

/// The rows as an aligned table with a header: the stack's own components, then (if any)
/// the remote ones, with their node.
pub fn table(rows: &[Row]) -> String {
    let (remote, local): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.node.is_some());
    let mut out = local_table(&local);
    if !remote.is_empty() {
        let mut cells = vec![
            [
                "REMOTE DEPENDENCY",
                "NODE",
                "STATE",
                "PUBLISHED",
                "LAST ERROR",
            ]
            .map(str::to_string),
        ];
        for row in remote {
            cells.push([
                row.name.clone(),
                row.node.clone().unwrap_or_default(),
                row.state.to_string(),
                row.status_text.clone().unwrap_or_else(|| "-".into()),
                row.last_error.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        out.push('\n');
        out.push_str(&align(&cells));
    }
    out
}

fn local_table(rows: &[&Row]) -> String {
    let header = [
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "READY IN",
        "RESTARTS",
        "LAST ERROR",
    ];
    let mut cells: Vec<[String; 7]> = vec![header.map(str::to_string)];
    for row in rows {
        cells.push([
            row.name.clone(),
            row.state.to_string(),
            row.pid.map_or_else(|| "-".into(), |p| p.to_string()),
            millis(row.uptime_ms),
            millis(row.time_to_ready_ms),
            row.restarts.to_string(),
            row.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    align(&cells)
}

/// Cells as columns aligned on their widest cell, the last column left ragged.
fn align<const N: usize>(cells: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for line in cells {
        for (i, cell) in line.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in cells {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i + 1 == line.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::State;

    #[test]
    fn the_table_is_aligned() {
        let row = |name: &str, state, pid| Row {
            name: name.into(),
            state,
            pid,
            uptime_ms: pid.map(|_| 1500),
            waited_ms: None,
            time_to_ready_ms: Some(200),
            restarts: 0,
            probes: 0,
            last_error: None,
            error: None,
            containment: None,
            cpu_ms: None,
            memory_bytes: None,
            node: None,
            status_text: None,
        };
        let mut remote = row("@server-1/apiserver", State::Ready, None);
        remote.node = Some("server-1".into());
        remote.status_text = Some("ready on server-1 (pid 7) since 10:00".into());
        let text = table(&[
            row("etcd", State::Ready, Some(42)),
            remote,
            row("certs", State::Completed, None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "NAME   STATE      PID  UPTIME  READY IN  RESTARTS  LAST ERROR"
        );
        assert_eq!(
            lines[1],
            "etcd   ready      42   1.5 s   0.2 s     0         -"
        );
        assert_eq!(
            lines[2],
            "certs  completed  -    -       0.2 s     0         -"
        );
        assert_eq!(lines[3], "");
        assert_eq!(
            lines[4],
            "REMOTE DEPENDENCY    NODE      STATE  PUBLISHED                              LAST ERROR"
        );
        assert_eq!(
            lines[5],
            "@server-1/apiserver  server-1  ready  ready on server-1 (pid 7) since 10:00  -"
        );
    }
}
