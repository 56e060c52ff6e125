//! `herald logs [NAME...] [--follow]`: the captured output, each line prefixed with its
//! component (`etcd       | ...`, aligned), merged by time.
//!
//! What was captured is read from `<state_dir>/logs/<name>.log` (after the rotated
//! `<name>.log.1`), so it works when the stack is not running too. `--follow` on a running
//! stack first subscribes to live lines, then prints the files, then reads on in the files
//! each time a live line says they grew ([`logtail`](super::super::logtail)): no line is lost,
//! even by a reader that falls far behind a flood, and none is printed twice.
//!
//! The state folder is checked first (ours, nobody else can write it) and a log file that is
//! a symlink or another user's is refused (exit 1), never followed. On a terminal, control
//! characters other than tab are shown as `^[`, `^M`... (`\u{9b}` for the C1 ones), so a
//! component cannot move the cursor or rewrite what is shown.

use super::super::logtail::Tails;
use super::super::protocol::{LogRecord, Reply, Request};
use super::{check_names, connect, fail};
use crate::cli::LogsArgs;
use crate::stackfile::StackFile;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
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
    super::super::statedir::StateDir::existing(&stack.state_dir)?;
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let visible = std::io::stdout().is_terminal();
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
    let mut tails = Tails::new(&stack.state_dir.join("logs"), &names);
    let mut out = std::io::stdout().lock();
    let (records, notes) = tails.read_all();
    let print = |out: &mut _, records: &[LogRecord], notes: &[String]| {
        print(out, records, notes, width, visible)
    };
    if !print(&mut out, &records, &notes) {
        return Ok(ExitCode::SUCCESS);
    }
    let Some(mut client) = live else {
        let refused = !tails.refused().is_empty();
        return Ok(ExitCode::from(u8::from(refused)));
    };
    // Each live line says its file has grown: the file is read on from where it was left,
    // once per batch of lines herald read together (they share a time), so a reader that
    // falls behind skips nothing and a line is never printed twice.
    let mut read_at: HashMap<(String, String), String> = HashMap::new();
    loop {
        let (records, notes) = match client.recv()? {
            Some(Reply::Log(record)) => {
                let batch = (record.component, record.stream);
                if read_at.get(&batch) == Some(&record.time) {
                    continue;
                }
                read_at.insert(batch.clone(), record.time);
                let (records, note) = tails.read_one(&batch.0);
                (records, Vec::from_iter(note))
            }
            // Live lines were skipped: they are in the files.
            Some(Reply::Skipped { .. }) => tails.read_all(),
            Some(_) => continue,
            // The stack stopped: whatever came last is in the files.
            None => {
                let (records, notes) = tails.read_all();
                print(&mut out, &records, &notes);
                return Ok(ExitCode::SUCCESS);
            }
        };
        if !print(&mut out, &records, &notes) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Prints `records` on `out` (flushed; control characters made `visible`) and `notes` on
/// stderr; false once `out` is closed.
fn print(
    out: &mut impl Write,
    records: &[LogRecord],
    notes: &[String],
    width: usize,
    visible: bool,
) -> bool {
    for note in notes {
        eprintln!("{note}");
    }
    records.iter().all(|record| {
        let line = line(record, width);
        let line = if visible { make_visible(&line) } else { line };
        writeln!(out, "{line}").is_ok()
    }) && out.flush().is_ok()
}

/// `text` with every control character but tab shown in caret notation (`^[` for ESC, `^M`
/// for CR, `^?` for DEL) and the C1 controls as `\u{9b}`: nothing a terminal would act on.
pub fn make_visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\u{0}'..='\u{1f}' => {
                out.push('^');
                out.push(char::from(c as u8 + 0x40));
            }
            '\u{7f}' => out.push_str("^?"),
            '\u{80}'..='\u{9f}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

/// `name | text`, the name padded to `width`.
pub fn line(record: &LogRecord, width: usize) -> String {
    format!("{:<width$} | {}", record.component, record.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_made_visible_but_tabs_kept() {
        assert_eq!(
            make_visible("a\u{1b}[2Jb\rc\td\u{7f}\u{9b}e é"),
            "a^[[2Jb^Mc\td^?\\u{9b}e é"
        );
    }

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
        let names = ["etcd".into(), "api".into(), "none".into()];
        let records = Tails::new(dir.path(), &names).read_all().0;
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
