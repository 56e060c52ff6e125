//! Live progress of `herald up`.
//!
//! - [`Style::Live`] (standard error is a terminal): one line per component, redrawn in place:
//!   state, time waited on dependencies, time to ready, restarts. Failures print their error
//!   chain above the table.
//! - [`Style::Plain`] (a pipe, a file, CI): one line per state change, no escape codes:
//!   `10:00:00.123 etcd ready (pid 4242, 1.2 s)`.
//! - [`Style::Json`] (`--json`): each event-log line on standard output.

use herald::{ComponentSpec, Event, ReadinessError, State};
use std::io::Write;
use std::time::{Duration, Instant};

/// A wait on dependencies shorter than this is not worth showing.
const NOTABLE: Duration = Duration::from_millis(50);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Redrawn in place on a terminal; `color` unless `NO_COLOR` is set.
    Live {
        /// Whether to use colour.
        color: bool,
    },
    /// One plain line per state change.
    Plain,
    /// One event-log line per state change on standard output.
    Json,
}

/// Formats a duration the way progress and status show it: `0.3 s`, `12.0 s`, `3 m 02 s`.
pub fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!(
            "{} m {:02} s",
            duration.as_secs() / 60,
            duration.as_secs() % 60
        )
    } else {
        format!(
            "{} h {:02} m",
            duration.as_secs() / 3600,
            duration.as_secs() / 60 % 60
        )
    }
}

/// The wall-clock time of an event, `HH:MM:SS.mmm` (UTC).
fn clock(time: std::time::SystemTime) -> String {
    let text = humantime::format_rfc3339_millis(time).to_string();
    text.get(11..23).unwrap_or(&text).to_string()
}

#[derive(Debug, Clone)]
struct Line {
    name: String,
    /// Every dependency, of any kind.
    needs: Vec<String>,
    state: State,
    pid: Option<u32>,
    since: Instant,
    waited: Option<Duration>,
    ready_in: Option<Duration>,
    restarts: u32,
    error: Option<String>,
}

/// The progress display of one run.
#[derive(Debug)]
pub struct Progress {
    style: Style,
    lines: Vec<Line>,
    width: usize,
    drawn: usize,
}

impl Progress {
    /// A display of `specs` (every component of the run, in file order).
    pub fn new(specs: &[ComponentSpec], style: Style) -> Progress {
        let now = Instant::now();
        Progress {
            style,
            width: specs.iter().map(|s| s.name.len()).max().unwrap_or(0),
            lines: specs
                .iter()
                .map(|spec| Line {
                    name: spec.name.clone(),
                    needs: spec.dependencies().map(|(n, _)| n.to_string()).collect(),
                    state: State::Waiting,
                    pid: None,
                    since: now,
                    waited: None,
                    ready_in: None,
                    restarts: 0,
                    error: None,
                })
                .collect(),
            drawn: 0,
        }
    }

    /// Whether the display is redrawn in place and shows a running timer (waiting,
    /// starting), so it wants a regular tick.
    pub fn is_ticking(&self) -> bool {
        matches!(self.style, Style::Live { .. })
            && self
                .lines
                .iter()
                .any(|l| matches!(l.state, State::Waiting | State::Starting))
    }

    /// Whether progress is event-log lines on standard output.
    pub fn is_json(&self) -> bool {
        self.style == Style::Json
    }

    /// Whether the display is redrawn in place.
    pub fn is_live(&self) -> bool {
        matches!(self.style, Style::Live { .. })
    }

    /// Shows one state change.
    pub fn event(&mut self, event: &Event) {
        let Some(line) = self.lines.iter_mut().find(|l| l.name == *event.component) else {
            return;
        };
        // Timings and counts come with the event, as the engine measured them.
        line.since = event.at;
        line.restarts = event.restarts;
        match event.state {
            State::Waiting => {
                line.waited = None;
                line.ready_in = None;
            }
            State::Starting => {
                line.waited = event.waited;
                line.ready_in = None;
            }
            State::Ready | State::Completed => {
                line.ready_in = event.time_to_ready;
                line.error = None;
            }
            State::Restarting if event.error.is_none() => line.error = None,
            _ => {}
        }
        line.state = event.state;
        line.pid = event.pid;
        if let Some(error) = &event.error {
            line.error = Some(first_line(error));
        }
        let line = line.clone();
        match self.style {
            Style::Json => println!("{}", super::eventlog::line(event)),
            Style::Plain => {
                let mut text = format!("{} {}", clock(event.time), self.describe(&line));
                if let (Some(error), true) = (&event.error, event.state.is_failed()) {
                    text.push_str(&indent_chain(error));
                }
                eprintln!("{text}");
            }
            Style::Live { .. } => match (&event.error, event.state) {
                (Some(error), state) if state.is_failed() => self.note(&error.to_string()),
                // Each stop is written above the table, so the stop order stays visible.
                (_, State::Stopped) => self.note(&format!("■ {} stopped", line.name)),
                _ => self.redraw(),
            },
        }
    }

    /// Shows a message: above the table when live, as a plain line otherwise.
    pub fn note(&mut self, text: &str) {
        match self.style {
            Style::Live { color } => {
                let mut out = self.clear();
                let text = if color {
                    format!("\x1b[1m{text}\x1b[0m")
                } else {
                    text.to_string()
                };
                out.push_str(&text);
                out.push('\n');
                self.draw(out);
            }
            Style::Plain | Style::Json => {
                eprintln!("{} {text}", clock(std::time::SystemTime::now()));
            }
        }
    }

    /// Sets where a component is without showing anything (to start from a running stack).
    pub fn seed(&mut self, name: &str, state: State, pid: Option<u32>) {
        if let Some(line) = self.lines.iter_mut().find(|l| l.name == name) {
            line.state = state;
            line.pid = pid;
        }
    }

    /// Redraws the table (live only).
    pub fn redraw(&mut self) {
        if self.is_live() {
            let out = self.clear();
            self.draw(out);
        }
    }

    /// Leaves the last table on the screen.
    pub fn finish(&mut self) {
        self.redraw();
        self.drawn = 0;
    }

    /// Escape codes that move up over the drawn table and clear it.
    fn clear(&self) -> String {
        if self.drawn == 0 {
            String::new()
        } else {
            format!("\x1b[{}F\x1b[J", self.drawn)
        }
    }

    fn draw(&mut self, mut out: String) {
        let Style::Live { color } = self.style else {
            return;
        };
        let now = Instant::now();
        let columns = terminal_columns();
        for line in &self.lines {
            let (mark, paint) = match line.state {
                State::Ready | State::Completed => ("✔", "32"),
                State::Failed | State::Blocked => ("✖", "31"),
                State::Stopped => ("■", "2"),
                State::Stopping => ("▼", "33"),
                _ => ("…", "33"),
            };
            let mut text = format!(
                "{mark} {:<width$}  {:<11}",
                line.name,
                line.state.as_str(),
                width = self.width
            );
            text.push_str(&self.details(line, now));
            // A row that wrapped would break the redraw: cut it to the terminal's width.
            if let Some(cut) = text
                .char_indices()
                .nth(columns.saturating_sub(1))
                .map(|(i, _)| i)
            {
                text.truncate(cut);
            }
            if color {
                out.push_str(&format!("\x1b[{paint}m{text}\x1b[0m\n"));
            } else {
                out.push_str(&text);
                out.push('\n');
            }
        }
        self.drawn = self.lines.len();
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(out.as_bytes());
        let _ = stderr.flush();
    }

    /// The live row's details: timers, pid, restarts, the last error.
    fn details(&self, line: &Line, now: Instant) -> String {
        let mut parts = Vec::new();
        match line.state {
            State::Waiting => {
                let mut text = seconds(now - line.since);
                let pending: Vec<&str> = line
                    .needs
                    .iter()
                    .filter(|n| self.state(n).is_some_and(|s| !s.is_up()))
                    .map(String::as_str)
                    .collect();
                if !pending.is_empty() {
                    text.push_str(&format!(" for {}", pending.join(", ")));
                }
                parts.push(text);
            }
            State::Starting => {
                parts.push(seconds(now - line.since));
                if let Some(waited) = line.waited.filter(|w| *w >= NOTABLE) {
                    parts.push(format!("waited {}", seconds(waited)));
                }
            }
            _ => {
                if let Some(ready) = line.ready_in {
                    parts.push(format!("ready in {}", seconds(ready)));
                }
                if let Some(waited) = line.waited.filter(|w| *w >= NOTABLE) {
                    parts.push(format!("waited {}", seconds(waited)));
                }
            }
        }
        if let Some(pid) = line.pid {
            parts.push(format!("pid {pid}"));
        }
        if line.restarts > 0 {
            parts.push(format!("restarts {}", line.restarts));
        }
        if let (Some(error), false) = (&line.error, line.state.is_up()) {
            parts.push(error.clone());
        }
        parts.join("  ")
    }

    /// The state of a component of the display.
    fn state(&self, name: &str) -> Option<State> {
        self.lines.iter().find(|l| l.name == name).map(|l| l.state)
    }

    /// A plain line's text: `etcd ready (pid 4242, 1.2 s)`.
    fn describe(&self, line: &Line) -> String {
        let mut details = Vec::new();
        if let Some(pid) = line.pid {
            details.push(format!("pid {pid}"));
        }
        match line.state {
            State::Starting => {
                if let Some(waited) = line.waited.filter(|w| *w >= NOTABLE) {
                    details.push(format!("waited {}", seconds(waited)));
                }
            }
            State::Ready | State::Completed => {
                if let Some(ready) = line.ready_in {
                    details.push(seconds(ready));
                }
            }
            // The restart policy's (counted, with the failure); one asked for says nothing more.
            State::Restarting => {
                if let Some(error) = &line.error {
                    details.push(format!("restart {}", line.restarts));
                    details.push(error.clone());
                }
            }
            _ => {}
        }
        let mut text = format!("{:<width$} {}", line.name, line.state, width = self.width);
        if !details.is_empty() {
            text.push_str(&format!(" ({})", details.join(", ")));
        }
        text
    }
}

/// The width of the terminal on standard error (80 if unknown).
fn terminal_columns() -> usize {
    // SAFETY: TIOCGWINSZ fills the winsize it is given and nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

/// The first line of an error chain.
pub fn first_line(error: &ReadinessError) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The error chain on its own lines, indented under a progress line.
fn indent_chain(error: &ReadinessError) -> String {
    error
        .to_string()
        .lines()
        .map(|l| format!("\n    {l}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds(Duration::from_millis(1234)), "1.2 s");
        assert_eq!(seconds(Duration::from_secs(185)), "3 m 05 s");
        assert_eq!(seconds(Duration::from_secs(7300)), "2 h 01 m");
    }

    #[test]
    fn clock_is_hours_to_milliseconds() {
        let time = std::time::UNIX_EPOCH + Duration::from_millis(36_000_123);
        assert_eq!(clock(time), "10:00:00.123");
    }
}
