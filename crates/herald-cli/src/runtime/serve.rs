//! Serving a stack: the supervisor runs it in this process, for a foreground `herald up` or in the
//! background for `herald up --detach`.
//!
//! 1. claims the state folder and its control socket (another live supervisor: exit 1);
//! 2. only then creates the [`ProcessHost`] (which recreates `notify.sock`) and the components;
//! 3. subscribes to events before starting, so the event log and progress miss nothing;
//! 4. serves the control socket and the HTTP interface (`runtime::http`, bound in step 1)
//!    while the stack runs;
//! 5. stops the stack in reverse dependency order on SIGINT, SIGTERM or SIGHUP, on `down`, or
//!    (in the foreground) once every component has settled for good by itself (completed,
//!    failed, blocked): a component stopped by `herald stop`, or all of them down for an
//!    instant during a restart, keeps the stack up; a second signal stops at once;
//! 6. removes the socket, answers `down`, and exits: 0, or 1 if a component had failed or
//!    been blocked.

use super::build;
use super::control::{self, Claim};
use super::eventlog::EventLog;
use super::progress::{Progress, Style};
use crate::stackfile::StackFile;
use crate::stackfile::cluster::is_remote;
use anyhow::Context;
use herald::{ComponentSpec, Event, Events, ProcessHost, Running, State};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// How many events an `events` subscriber may fall behind before it is told it missed some
/// (every reader then reads them from `events.jsonl`). Small: tokio's broadcast channel
/// allocates and touches every slot when it is made, on the path to the first spawn (16 Ki
/// slots cost about 2 ms there).
const EVENT_BACKLOG: usize = 256;

/// The running stack as the control socket and the HTTP interface see it.
pub struct StackHandle {
    /// The stack's name.
    pub name: String,
    /// The running stack.
    pub running: Running,
    /// Its process host (for live logs).
    pub host: ProcessHost,
    /// The components of this run, in file order.
    pub names: Vec<String>,
    /// Every event, as the event log has it.
    pub events: broadcast::Sender<Event>,
    /// `down` requests: the connection to answer once all is stopped.
    pub down: mpsc::UnboundedSender<OwnedWriteHalf>,
    /// Set once the stack has stopped and the socket is gone.
    pub finished: watch::Receiver<bool>,
    /// The state folder (the event log, `logs/`).
    pub state_dir: std::path::PathBuf,
}

/// How this supervisor runs.
#[derive(Debug)]
pub struct Options {
    /// The components to run: the selection of `up [NAME...]` ([`build::select`]).
    pub specs: Vec<ComponentSpec>,
    /// How to show progress.
    pub style: Style,
    /// Detached: the pipe to write one byte to once the socket listens.
    pub ready_fd: Option<OwnedFd>,
    /// The HTTP interface beyond `api.sock`: `--listen`, the token, `--read-only`.
    pub http: super::http::Config,
}

/// Runs the stack until it is stopped; gives the exit code.
pub fn run(stack: StackFile, options: Options) -> anyhow::Result<ExitCode> {
    // Every child finds its stack without `-f`, so a start script can `herald wait` for what
    // it `uses`.
    // SAFETY: no other thread exists yet: the runtime and everything else start below.
    unsafe { std::env::set_var("HERALD_FILE", &stack.path) };
    // The HTTP token was read (`options.http`); no component inherits it.
    // SAFETY: as above.
    unsafe { std::env::remove_var("HERALD_TOKEN") };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(supervise(stack, options))
}

/// Why the stack stops.
enum Cause {
    Signal(&'static str),
    Down(OwnedWriteHalf),
    Finished,
}

async fn supervise(stack: StackFile, options: Options) -> anyhow::Result<ExitCode> {
    let specs = options.specs;
    let claimed = match control::claim(&stack.state_dir)? {
        Claim::Claimed(claimed) => claimed,
        Claim::Running { pid } => {
            eprintln!("{}", already_running(&stack, pid));
            return Ok(ExitCode::from(1));
        }
    };
    let listener = tokio::net::UnixListener::from_std(claimed.listener.try_clone()?)?;
    crate::logging::install(&stack.state_dir);
    let api = super::http::bind(options.http, &stack.state_dir)?;
    let host = ProcessHost::new(&stack.state_dir)
        .with_context(|| format!("cannot set up {}", stack.state_dir.display()))?;
    let cluster = match &stack.cluster {
        Some(config) => Some(super::cluster::Cluster::start(config).await?),
        None => None,
    };
    let mut components = build::stack(&specs, &host, cluster.as_ref())?;
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let graph = components.graph().context("cannot start the stack")?;
    let (mut eventlog, numbering) = EventLog::begin(&claimed.dir, &stack.name, &graph)?;
    components.numbering(numbering.run, numbering.first_seq);
    let events = components.subscribe();
    let published = cluster.map(|cluster| {
        let events = components.subscribe();
        tokio::spawn(cluster.publish(events, Duration::from_secs(2)))
    });
    let mut signals = Signals::new()?;
    let mut watch = super::statewatch::Watch::new(&stack.state_dir)?;
    let running = components.start().context("cannot start the stack")?;
    eventlog.write_header();

    let (events_tx, _) = broadcast::channel(EVENT_BACKLOG);
    let (down_tx, mut down_rx) = mpsc::unbounded_channel();
    let (finished_tx, finished_rx) = watch::channel(false);
    let (notes_tx, notes_rx) = mpsc::unbounded_channel();
    let (settled_tx, mut settled_rx) = watch::channel(false);
    let shared = Arc::new(StackHandle {
        name: stack.name.clone(),
        running,
        host,
        names: names.clone(),
        events: events_tx.clone(),
        down: down_tx,
        finished: finished_rx,
        state_dir: stack.state_dir.clone(),
    });
    let pump = EventFanout {
        eventlog,
        progress: Progress::new(&specs, options.style),
        subscribers: events_tx,
        settled: settled_tx,
        count: names.iter().filter(|n| !is_remote(n)).count(),
        host: shared.host.clone(),
    };
    let pump = tokio::spawn(pump.run(events, notes_rx));
    let server = tokio::spawn(control::server::serve(listener, shared.clone()));
    let api = api.serve(shared.clone())?;

    let detached = options.ready_fd.is_some();
    if let Some(fd) = options.ready_fd {
        let _ = rustix::io::write(&fd, b"1");
    }

    let cause = tokio::select! {
        name = signals.recv() => Cause::Signal(name),
        removed = watch.removed() => Cause::Signal(removed),
        Some(write) = down_rx.recv() => Cause::Down(write),
        _ = settled_rx.wait_for(|settled| *settled), if !detached => Cause::Finished,
    };
    let reclaimed = watch.reclaim(&shared);
    let failed = shared
        .running
        .statuses()
        .iter()
        .any(|(_, status)| status.state.is_failed());
    let mut down_writers = Vec::new();
    let note = match cause {
        Cause::Signal(name) => format!("{name}: stopping the stack, dependents first"),
        Cause::Down(write) => {
            down_writers.push(write);
            "down: stopping the stack, dependents first".to_string()
        }
        Cause::Finished => "nothing is left running".to_string(),
    };
    // Shown before the first stop event: the pump acknowledges once it has printed it.
    let (shown_tx, shown) = oneshot::channel();
    if notes_tx.send((note, Some(shown_tx))).is_ok() {
        let _ = shown.await;
    }
    let state_dir = stack.state_dir.clone();
    tokio::spawn(async move {
        let name = signals.recv().await;
        eprintln!("{name} again: stopping at once");
        control::remove_sockets(&state_dir);
        std::process::exit(1);
    });
    shared.running.shutdown().await;
    // The keys go as their components stop; then the lease is revoked.
    if let Some(published) = published {
        let _ = published.await;
    }
    // Nothing is left to guard: the guardian goes before `down` is answered.
    shared.host.close();
    drop(notes_tx);
    let _ = pump.await;
    server.abort();
    api.stop();
    // The lock and the identity go before `down` is answered: a new `up` right after works.
    drop((claimed, reclaimed));
    let _ = finished_tx.send(true);
    // A `down` that comes later is answered by its own connection.
    down_rx.close();
    while let Ok(write) = down_rx.try_recv() {
        down_writers.push(write);
    }
    for write in &mut down_writers {
        let _ = write.write_all(b"{\"reply\":\"done\"}\n").await;
    }
    Ok(ExitCode::from(if failed { 1 } else { 0 }))
}

/// "stack NAME is already running (pid N, control socket PATH)".
pub fn already_running(stack: &StackFile, pid: Option<u32>) -> String {
    let socket = control::socket_path(&stack.state_dir);
    let pid = pid.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"));
    format!(
        "stack {} is already running ({pid}, control socket {})",
        stack.name,
        socket.display()
    )
}

/// A message for the progress display, and who to tell once it is shown.
type Note = (String, Option<oneshot::Sender<()>>);

/// Fans each event out to the event log, the progress display and the `events` subscribers;
/// says when every component has settled for good by itself.
struct EventFanout {
    eventlog: EventLog,
    progress: Progress,
    subscribers: broadcast::Sender<Event>,
    settled: watch::Sender<bool>,
    count: usize,
    host: ProcessHost,
}

/// Whether a component got to `state` by itself and stays there: nothing but a control can
/// change it. A component `stopped` (by a control, or a clean exit) is not: it can be
/// started again, so a foreground stack with one stays up.
fn settled(state: State) -> bool {
    matches!(state, State::Completed | State::Failed | State::Blocked)
}

/// How many of a failed component's last output lines progress shows.
const TAIL_LINES: usize = 5;

impl EventFanout {
    async fn run(mut self, mut events: Events, mut notes: mpsc::UnboundedReceiver<Note>) {
        let mut states: HashMap<String, State> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut notes_open = true;
        let mut startup = super::commands::analyze::Startup::new(self.count);
        loop {
            tokio::select! {
                biased;
                event = events.recv() => {
                    let Some(event) = event else { break };
                    self.eventlog.append(&event);
                    self.progress.event(&event);
                    if let Some(line) = startup.feed(&event) { self.progress.note(&line) }
                    if event.state == State::Failed {
                        self.show_tail(&event.component);
                    }
                    // Other nodes' components never settle here: they follow their node.
                    if !is_remote(&event.component) {
                        states.insert(event.component.to_string(), event.state);
                    }
                    if self.subscribers.receiver_count() > 0 {
                        let _ = self.subscribers.send(event);
                    }
                    if states.len() == self.count && states.values().all(|s| settled(*s)) {
                        self.settled.send_replace(true);
                    }
                }
                note = notes.recv(), if notes_open => match note {
                    Some((text, shown)) => {
                        self.progress.note(&text);
                        if let Some(shown) = shown {
                            let _ = shown.send(());
                        }
                    }
                    None => notes_open = false,
                },
                _ = tick.tick(), if self.progress.is_ticking() => self.progress.redraw(),
            }
        }
        while let Ok((text, _)) = notes.try_recv() {
            self.progress.note(&text);
        }
        self.progress.finish();
    }

    /// Shows the last lines a failed component printed: usually the reason in its own words.
    fn show_tail(&mut self, component: &str) {
        if self.progress.is_json() {
            return;
        }
        let lines = tail(&self.host.log_path(component), TAIL_LINES);
        if lines.is_empty() {
            return;
        }
        let mut text = format!("last output of {component}:");
        for line in lines {
            text.push_str(&format!("\n    | {line}"));
        }
        self.progress.note(&text);
    }
}

/// The text of the last `count` lines of a log file (read from its last 16 KiB).
fn tail(path: &std::path::Path, count: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = herald::process::open_private(path, rustix::fs::OFlags::RDONLY) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.split_once(" | ")
                .map(|(_, t)| super::commands::logs::make_visible(t))
        })
        .collect();
    lines[lines.len().saturating_sub(count)..].to_vec()
}

/// SIGINT, SIGTERM and SIGHUP, registered before anything starts.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
