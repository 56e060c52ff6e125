//! `herald logs [NAME...] [--follow]`: the captured output, each line prefixed with its
//! component (`etcd       | ...`, aligned), merged by time.
//!
//! What was captured is read from `<state_dir>/logs/<name>.log` (after the rotated
//! `<name>.log.1`), so it works when the stack is not running too. `--follow` on a running
//! stack first subscribes to live lines, then prints the files, then the live lines the files
//! did not have yet, so no line is lost or printed twice.

use super::super::protocol::{LogRecord, Reply, Request};
use super::{check_names, connect, fail};
use crate::cli::LogsArgs;
use crate::stackfile::StackFile;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Runs `herald logs`.
pub fn run(stack: &StackFile, args: LogsArgs) -> anyhow::Result<ExitCode> {
    if let Err(code) = check_names(stack, &args.names) {
        return Ok(code);
    }
    let names: Vec<String> = if args.names.is_empty() {
        stack.components.iter().map(|s| s.name.clone()).collect()
    } else {
        args.names.clone()
    };
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut live = None;
    if args.follow {
        match connect(stack)? {
            Some(mut client) => match client.ask(&Request::Logs {
                names: args.names.clone(),
            })? {
                Reply::Subscribed => live = Some(client),
                other => return Ok(fail(other)),
            },
            None => eprintln!(
                "stack {} is not running: printing what was captured",
                stack.name
            ),
        }
    }
    let records = read(&stack.state_dir.join("logs"), &names);
    let mut last: HashMap<String, String> = HashMap::new();
    let mut out = std::io::stdout().lock();
    for record in records {
        if writeln!(out, "{}", line(&record, width)).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        last.insert(record.component.clone(), record.time.clone());
    }
    let _ = out.flush();
    if let Some(mut client) = live {
        while let Some(reply) = client.recv()? {
            let Reply::Log(record) = reply else { continue };
            if last
                .get(&record.component)
                .is_some_and(|seen| record.time <= *seen)
            {
                continue;
            }
            if writeln!(out, "{}", line(&record, width)).is_err() || out.flush().is_err() {
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `name | text`, the name padded to `width`.
pub fn line(record: &LogRecord, width: usize) -> String {
    format!("{:<width$} | {}", record.component, record.text)
}

/// Every captured line of `names`, merged by time (each file's own order kept).
pub fn read(logs_dir: &Path, names: &[String]) -> Vec<LogRecord> {
    let mut records = Vec::new();
    for name in names {
        for file in [format!("{name}.log.1"), format!("{name}.log")] {
            let Ok(bytes) = std::fs::read(logs_dir.join(file)) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            records.extend(text.lines().map(|l| parse(name, l)));
        }
    }
    records.sort_by(|a, b| a.time.cmp(&b.time));
    records
}

/// One log-file line: `2026-11-26T10:00:00.123456Z out | text`.
fn parse(component: &str, line: &str) -> LogRecord {
    let parsed = line.split_once(' ').and_then(|(time, rest)| {
        let (stream, text) = rest.split_once(" | ")?;
        Some((time, stream, text))
    });
    let (time, stream, text) = parsed.unwrap_or(("", "out", line));
    LogRecord {
        time: time.to_string(),
        component: component.to_string(),
        stream: stream.to_string(),
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_merge_by_time_with_aligned_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("etcd.log"),
            "2026-11-26T10:00:00.000002Z out | two\n2026-11-26T10:00:00.000004Z err | four\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("api.log.1"),
            "2026-11-26T10:00:00.000001Z out | one\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("api.log"),
            "2026-11-26T10:00:00.000003Z out | three | with a bar\n",
        )
        .unwrap();
        let records = read(dir.path(), &["etcd".into(), "api".into(), "none".into()]);
        let lines: Vec<String> = records.iter().map(|r| line(r, 4)).collect();
        assert_eq!(
            lines,
            [
                "api  | one",
                "etcd | two",
                "api  | three | with a bar",
                "etcd | four"
            ]
        );
        assert_eq!(records[3].stream, "err");
    }
}
