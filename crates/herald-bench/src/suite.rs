//! The harness: runs every scenario under every tool in alternation, measures each run from
//! the fixtures' own records, and reports a markdown table and a JSON file.

use crate::chaincost;
use crate::peers::{self, Launch, Layout, Programs, Tool};
use crate::procfs::{self, Usage, monotonic_ns, realtime_ns};
use crate::scenario::{self, Scenario};
use crate::stats::{Summary, median};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The process name of the fixture: the components, left out of supervisor figures.
const FIXTURE_COMM: &str = "herald-fixture";
/// How long after the last record the runner waits before measuring and stopping, so the
/// supervisor has seen every readiness it is going to see.
const SETTLE: Duration = Duration::from_millis(150);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// One repetition, 200 instead of 1,000 processes, idle100 measured over 10 s.
    pub quick: bool,
    /// Repetitions per scenario, instead of the defaults.
    pub reps: Option<usize>,
    /// The tools to compare.
    pub tools: Vec<Tool>,
    /// Only these scenarios (all when empty).
    pub only: Vec<String>,
    /// Where runs keep their files.
    pub work: PathBuf,
    /// Where the JSON goes.
    pub json: PathBuf,
    /// The programs.
    pub programs: Programs,
    /// Keep every run's folder after the suite. Without it a failed run's folder survives only
    /// until the suite ends, when the whole work folder is removed.
    pub keep: bool,
}

/// What a supervisor did over idle100's window at rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rest {
    /// The window's length.
    pub window: Duration,
    /// Context switches of every thread of the supervisor's processes over the window.
    pub wakeups: u64,
    /// CPU time those processes spent over the window, in ns.
    pub cpu_ns: u64,
}

impl Rest {
    /// Wake-ups per second.
    pub fn wakeups_per_s(&self) -> f64 {
        self.wakeups as f64 / self.window.as_secs_f64()
    }
}

/// The measurements of one run.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// Why it did not finish, if it did not.
    pub error: Option<String>,
    /// Supervisor spawn until the last component was ready.
    pub total_ms: Option<f64>,
    /// Supervisor spawn until the first component's `main` (its spawn record).
    pub first_spawn_ms: Option<f64>,
    /// Each dependent's spawn after its last dependency was ready.
    pub handoffs_ms: Vec<f64>,
    /// Each component's readiness as herald learnt it after the fact.
    pub detection_ms: Vec<f64>,
    /// herald only: its own part of each hand-off, from its event of the dependency being
    /// ready to its event of the dependent being spawned (the spawn itself included).
    pub engine_ms: Vec<f64>,
    /// Probes counted by every fixture.
    pub probes: u64,
    /// Probes counted by the first component (the shared dependency of fan50).
    pub probes_first: u64,
    /// herald (library runner) only: the probe attempts herald itself counted, in all and on
    /// the first component; refused attempts included, which the fixtures cannot count.
    pub probes_spent: Option<(u64, u64)>,
    /// Supervisor usage once everything was ready.
    pub usage: Usage,
    /// idle100 only: what the supervisor did over the window at rest.
    pub rest: Option<Rest>,
    /// Processes of the run still alive after the supervisor stopped on its own.
    pub leftovers: usize,
    /// Whether the run failed by reaching the time limit (see `ready_limit`).
    pub timed_out: bool,
    /// What the run cost the suite: from its setup until it was stopped.
    pub wall: Duration,
    /// The part of `wall` spent stopping the tool and clearing the run away.
    pub stopping: Duration,
}

fn read_ns(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn count_ready(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".ready"))
                .count()
        })
        .unwrap_or(0)
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: sending a signal to a process (group) we started.
    unsafe { libc::kill(pid, sig) };
}

/// A tool started for one run.
struct Started {
    tool: Tool,
    layout: Layout,
    children: Vec<Child>,
    pgid: i32,
    t0: u64,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC at the start, for `herald up`'s event log.
    wall_offset: i128,
}

impl Started {
    fn supervisor(&self) -> Option<u32> {
        match self.tool {
            Tool::SpawnOnly => None,
            Tool::HeraldUpDetach => background_supervisor(&self.layout.dir),
            _ => self.children.first().map(Child::id),
        }
    }

    fn exited(&mut self) -> Option<String> {
        if self.tool == Tool::SpawnOnly {
            return None;
        }
        match self.children[0].try_wait() {
            // `up --detach` returns once everything is up; its supervisor runs on.
            Ok(Some(status)) if self.tool == Tool::HeraldUpDetach && status.success() => None,
            Ok(Some(status)) => Some(format!("the supervisor exited early ({status})")),
            _ => None,
        }
    }
}

/// The background supervisor `herald up --detach` started for the run in `dir`: a process
/// referring to the run's folder that leads a session of its own and has `--detach` (a fork
/// of the command) or `--supervise-fd` (the command started again) on its command line.
fn background_supervisor(dir: &Path) -> Option<u32> {
    procfs::referring_to(dir).into_iter().find(|&pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let has = |word: &[u8]| cmdline.split(|&b| b == 0).any(|w| w == word);
        has(b"--supervise-fd") || ((has(b"--detach") || has(b"-d")) && leads_session(pid))
    })
}

/// Whether `pid` leads its session (`/proc/PID/stat`'s session field is its pid).
fn leads_session(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        fields.get(3) == Some(&pid.to_string().as_str())
    })
}

fn start(tool: Tool, programs: &Programs, layout: Layout, s: &Scenario) -> Result<Started, String> {
    let _ = std::fs::remove_dir_all(&layout.dir);
    std::fs::create_dir_all(&layout.dir).map_err(|e| e.to_string())?;
    let launch = peers::prepare(tool, programs, &layout, s).map_err(|e| e.to_string())?;
    let log = |name: &str| {
        std::fs::File::create(layout.dir.join(name))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    };
    let wall_offset = realtime_ns() as i128 - monotonic_ns() as i128;
    let spawn = |argv: &[String], pgid: i32| {
        Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&layout.dir)
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .process_group(pgid)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", argv[0]))
    };
    let t0 = monotonic_ns();
    let mut children = Vec::new();
    match launch {
        Launch::Command(argv) => children.push(spawn(&argv, 0)?),
        Launch::Direct(commands) => {
            for argv in commands {
                let pgid = children.first().map_or(0, |c: &Child| c.id() as i32);
                children.push(spawn(&argv, pgid)?);
            }
        }
    }
    let pgid = children.first().map_or(0, |c| c.id() as i32);
    Ok(Started {
        tool,
        layout,
        children,
        pgid,
        t0,
        wall_offset,
    })
}

fn wait_ready(started: &mut Started, n: usize, limit: Duration) -> Result<(), String> {
    let began = Instant::now();
    let rec = started.layout.records();
    loop {
        let ready = count_ready(&rec);
        if ready >= n {
            return Ok(());
        }
        if let Some(err) = started.exited() {
            return Err(err);
        }
        if began.elapsed() > limit {
            return Err(format!("{ready} of {n} ready after {}s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wakes supervisord while it stops. Its loop notices exited children only when a descriptor
/// is ready or after a 1 s poll (signals do not cut the poll short), and stops one priority
/// layer per turn, so with no log pipes a stop lasts about a second per layer. A connection
/// to its control socket (closed at once) makes the loop turn now; the stop itself is
/// supervisord's own, in its own order.
fn nudge(socket: &Path) {
    let _ = std::os::unix::net::UnixStream::connect(socket);
}

/// Stops the tool its own way, then makes sure nothing of the run is left; returns how many
/// processes were still there after the tool had stopped by itself.
fn stop(mut started: Started) -> usize {
    let tool = started.tool;
    // Not a child of the runner: it runs in a session of its own, stopped like `herald up`.
    let background = match tool {
        Tool::HeraldUpDetach => background_supervisor(&started.layout.dir),
        _ => None,
    };
    match tool {
        Tool::Bash | Tool::K3sStyle | Tool::SpawnOnly => signal(-started.pgid, libc::SIGTERM),
        Tool::HeraldUpDetach => {
            if let Some(pid) = background {
                signal(pid as i32, libc::SIGTERM);
            }
        }
        _ => signal(started.pgid, tool.stop_signal()),
    }
    let began = Instant::now();
    let socket = started.layout.dir.join("supervisor.sock");
    while began.elapsed() < Duration::from_secs(10) {
        let alive = started
            .children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(None)))
            || background.is_some_and(procfs::running);
        if !alive {
            break;
        }
        if tool == Tool::Supervisord {
            nudge(&socket);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Grace for the processes a supervisor signalled on its way out.
    let mut leftovers = procfs::referring_to(&started.layout.dir);
    let grace = Instant::now();
    while !leftovers.is_empty() && grace.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
        leftovers = procfs::referring_to(&started.layout.dir);
    }
    let count = leftovers.len();
    signal(-started.pgid, libc::SIGKILL);
    for child in &mut started.children {
        let _ = child.kill();
        let _ = child.wait();
    }
    for _ in 0..100 {
        let left = procfs::referring_to(&started.layout.dir);
        if left.is_empty() {
            break;
        }
        for pid in left {
            signal(pid as i32, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    count
}

/// Reads the fixtures' records and herald's events into the figures of one run.
fn measure(started: &Started, s: &Scenario, result: &mut RunResult) {
    let rec = started.layout.records();
    let ready: Vec<Option<u64>> = s
        .nodes
        .iter()
        .map(|n| read_ns(&rec.join(format!("{}.ready", n.name))))
        .collect();
    let spawn: Vec<Option<u64>> = s
        .nodes
        .iter()
        .map(|n| read_ns(&rec.join(format!("{}.spawn", n.name))))
        .collect();
    let last = ready.iter().flatten().max().copied();
    result.total_ms = last.map(|l| (l as f64 - started.t0 as f64) / 1e6);
    let first = spawn.iter().flatten().min().copied();
    result.first_spawn_ms = first.map(|f| (f as f64 - started.t0 as f64) / 1e6);
    for (i, node) in s.nodes.iter().enumerate() {
        let deps: Option<Vec<u64>> = node.deps().map(|d| ready[d]).collect();
        if let (Some(deps), Some(spawned)) = (deps, spawn[i])
            && let Some(&dep_ready) = deps.iter().max()
        {
            result
                .handoffs_ms
                .push((spawned as f64 - dep_ready as f64) / 1e6);
        }
        let probes = read_ns(&rec.join(format!("{}.probes", node.name))).unwrap_or(0);
        result.probes += probes;
        if i == 0 {
            result.probes_first = probes;
        }
    }
    let index: HashMap<&str, usize> = s
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut detected = |name: &str, at_ns: i128| {
        if let Some(&i) = index.get(name)
            && let Some(r) = ready[i]
        {
            result.detection_ms.push((at_ns - r as i128) as f64 / 1e6);
        }
    };
    match started.tool {
        Tool::Herald => {
            let text =
                std::fs::read_to_string(started.layout.dir.join("events.mono")).unwrap_or_default();
            let mut ready_at = vec![None; s.nodes.len()];
            let mut starting_at = vec![None; s.nodes.len()];
            for line in text.lines() {
                let words: Vec<&str> = line.split(' ').collect();
                if let ["probes", name, n] = words[..]
                    && let Ok(n) = n.parse::<u64>()
                    && let Some(&i) = index.get(name)
                {
                    let (all, first) = result.probes_spent.get_or_insert((0, 0));
                    *all += n;
                    if i == 0 {
                        *first = n;
                    }
                    continue;
                }
                if let [ns, name, state] = words[..]
                    && let Ok(ns) = ns.parse::<i128>()
                    && let Some(&i) = index.get(name)
                {
                    match state {
                        "ready" => {
                            ready_at[i] = Some(ns);
                            detected(name, ns);
                        }
                        "starting" => starting_at[i] = Some(ns),
                        _ => {}
                    }
                }
            }
            for (i, node) in s.nodes.iter().enumerate() {
                let deps: Option<Vec<i128>> = node.deps().map(|d| ready_at[d]).collect();
                if let (Some(deps), Some(start)) = (deps, starting_at[i])
                    && let Some(&dep) = deps.iter().max()
                {
                    result.engine_ms.push((start - dep) as f64 / 1e6);
                }
            }
        }
        Tool::HeraldUp | Tool::HeraldUpDetach => {
            let path = started.layout.dir.join("state").join("events.jsonl");
            let text = std::fs::read_to_string(path).unwrap_or_default();
            for line in text.lines() {
                let Ok(event) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                if event["state"] != "ready" {
                    continue;
                }
                let (Some(name), Some(time)) =
                    (event["component"].as_str(), event["time"].as_str())
                else {
                    continue;
                };
                if let Ok(wall) = humantime::parse_rfc3339(time) {
                    let wall = wall
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as i128);
                    detected(name, wall - started.wall_offset);
                }
            }
        }
        _ => {}
    }
}

fn run_once(opts: &Options, s: &Scenario, tool: Tool, rep: usize) -> RunResult {
    let layout = Layout {
        dir: opts
            .work
            .join(&s.name)
            .join(format!("{}-{rep}", tool.key())),
        port_base: 21000,
    };
    let began = Instant::now();
    let mut result = RunResult::default();
    let mut started = match start(tool, &opts.programs, layout, s) {
        Ok(started) => started,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let limit = ready_limit(s);
    if let Err(e) = wait_ready(&mut started, s.nodes.len(), limit) {
        result.timed_out = began.elapsed() >= limit;
        result.error = Some(e);
    }
    std::thread::sleep(SETTLE);
    if let Some(pid) = started.supervisor() {
        result.usage = procfs::supervisor_usage(pid, FIXTURE_COMM);
    }
    let dir = started.layout.dir.clone();
    let measured = Started {
        tool,
        layout: started.layout.clone(),
        children: Vec::new(),
        pgid: started.pgid,
        t0: started.t0,
        wall_offset: started.wall_offset,
    };
    let stopping = Instant::now();
    result.leftovers = stop(started);
    measure(&measured, s, &mut result);
    if result.error.is_some() {
        result.total_ms = None;
        result.first_spawn_ms = None;
    } else if !opts.keep {
        let _ = std::fs::remove_dir_all(dir);
    }
    result.stopping = stopping.elapsed();
    result.wall = began.elapsed();
    result
}

/// Repetitions of a start-up scenario for `tool`, when `--reps` does not say: 5 of the small
/// scenarios, 2 of those with 200 components or more, 1 with `--quick`. runit and
/// supervisord take seconds to start 1,000 components (their polling, not the spawns), and as
/// long again to stop them; supervisord also stops one layer a turn, so the chain of 20 costs
/// it about 20 s to stop: on those scenarios they run once, so the suite keeps to its time.
pub fn default_reps(quick: bool, s: &Scenario, tool: Tool) -> usize {
    let big = s.nodes.len() >= 200;
    let slow = matches!(tool, Tool::Runit | Tool::Supervisord);
    match (quick, big) {
        (true, _) => 1,
        (false, true) if slow => 1,
        (false, true) => 2,
        (false, false) if slow && s.depth() >= 20 => 1,
        (false, false) => 5,
    }
}

/// How long a run may take to get every component ready before it counts as failed: 20 s,
/// or 60 s with 500 components or more.
fn ready_limit(s: &Scenario) -> Duration {
    Duration::from_secs(if s.nodes.len() >= 500 { 60 } else { 20 })
}

/// How long idle100 lets every tool settle once all are up, before its window at rest opens:
/// start-up is over (the last readiness seen, helpers reaped), and what still wakes is rest.
const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// Runs the idle scenario: every tool started at once and left up together; once all are up
/// and have settled, each supervisor's wake-ups and CPU time over the same window at rest,
/// and its memory at the end of it.
fn run_idle(opts: &Options, s: &Scenario, tools: &[Tool]) -> Vec<(Tool, RunResult)> {
    let window = s.idle.unwrap_or(Duration::from_secs(10));
    let mut up = Vec::new();
    for (t, &tool) in tools.iter().enumerate() {
        let layout = Layout {
            dir: opts.work.join(&s.name).join(tool.key()),
            port_base: 30000 + 200 * t as u16,
        };
        match start(tool, &opts.programs, layout, s) {
            Ok(started) => up.push((started, RunResult::default())),
            Err(e) => eprintln!("idle: {} did not start: {e}", tool.name()),
        }
    }
    for (started, result) in &mut up {
        if let Err(e) = wait_ready(started, s.nodes.len(), Duration::from_secs(60)) {
            result.error = Some(e);
        }
    }
    std::thread::sleep(IDLE_SETTLE);
    let snapshot = |started: &Started| {
        started
            .supervisor()
            .map(|p| procfs::Snapshot::take(p, FIXTURE_COMM))
    };
    let before: Vec<_> = up.iter().map(|(st, _)| snapshot(st)).collect();
    let opened = Instant::now();
    eprintln!(
        "idle: {} tools at rest, measured over {}s",
        up.len(),
        window.as_secs()
    );
    std::thread::sleep(window);
    let after: Vec<_> = up.iter().map(|(st, _)| snapshot(st)).collect();
    let window = opened.elapsed();
    let mut out = Vec::new();
    for (((started, mut result), before), after) in up.into_iter().zip(before).zip(after) {
        if let (Some(pid), Some(before), Some(after)) = (started.supervisor(), before, after) {
            let activity = after.since(&before);
            result.rest = Some(Rest {
                window,
                wakeups: activity.wakeups,
                cpu_ns: activity.cpu_ns,
            });
            result.usage = procfs::supervisor_usage(pid, FIXTURE_COMM);
            eprintln!(
                "idle: {}: {} wake-ups, {:.2} ms of CPU",
                started.tool.name(),
                activity.wakeups,
                activity.cpu_ns as f64 / 1e6
            );
        }
        let tool = started.tool;
        let dir = started.layout.dir.clone();
        result.leftovers = stop(started);
        if !opts.keep {
            let _ = std::fs::remove_dir_all(dir);
        }
        out.push((tool, result));
    }
    out
}

/// One figure per scenario and tool, over the repetitions.
#[derive(Debug, Clone)]
pub struct Row {
    /// The tool.
    pub tool: Tool,
    /// Every run.
    pub runs: Vec<RunResult>,
}

impl Row {
    /// The runs that finished.
    pub fn ok(&self) -> impl Iterator<Item = &RunResult> {
        self.runs.iter().filter(|r| r.error.is_none())
    }

    /// The totals of the runs that finished.
    pub fn total(&self) -> Option<Summary> {
        let totals: Vec<f64> = self.ok().filter_map(|r| r.total_ms).collect();
        Summary::of(&totals)
    }

    fn pooled(&self, f: impl Fn(&RunResult) -> &Vec<f64>) -> Option<Summary> {
        let all: Vec<f64> = self.ok().flat_map(|r| f(r).iter().copied()).collect();
        Summary::of(&all)
    }

    fn median_of(&self, f: impl Fn(&RunResult) -> f64) -> Option<f64> {
        let values: Vec<f64> = self.ok().map(f).collect();
        median(&values)
    }

    fn json(&self, bound_ms: f64) -> Value {
        let total = self.total();
        json!({
            "tool": self.tool.name(),
            "runs": self.runs.len(),
            "ok": self.ok().count(),
            "errors": self.runs.iter().filter_map(|r| r.error.clone()).collect::<Vec<_>>(),
            "total_ms": total.map(|s| s.json()),
            "first_spawn_ms": Summary::of(&self.ok().filter_map(|r| r.first_spawn_ms).collect::<Vec<_>>()).map(|s| s.json()),
            "total_over_bound": total.filter(|_| bound_ms > 0.0).map(|s| s.p50 / bound_ms),
            "handoff_ms": self.pooled(|r| &r.handoffs_ms).map(|s| s.json()),
            "detection_ms": self.pooled(|r| &r.detection_ms).map(|s| s.json()),
            "engine_handoff_ms": self.pooled(|r| &r.engine_ms).map(|s| s.json()),
            "probes_median": self.median_of(|r| r.probes as f64),
            "probes_first_median": self.median_of(|r| r.probes_first as f64),
            "probes_spent_median": median(&self.ok().filter_map(|r| r.probes_spent.map(|p| p.0 as f64)).collect::<Vec<_>>()),
            "probes_spent_first_median": median(&self.ok().filter_map(|r| r.probes_spent.map(|p| p.1 as f64)).collect::<Vec<_>>()),
            "supervisor_cpu_ms_median": self.median_of(|r| r.usage.cpu_ns as f64 / 1e6),
            "supervisor_peak_rss_kib_max": self.ok().map(|r| r.usage.peak_rss_kb).max(),
            "supervisor_processes": self.ok().map(|r| r.usage.processes).max(),
            // Measured at rest only (idle100); absent elsewhere, never a made-up zero.
            "wakeups_per_s": median(&self.ok().filter_map(|r| r.rest.map(|w| w.wakeups_per_s())).collect::<Vec<_>>()),
            "rest_wakeups": self.ok().find_map(|r| r.rest.map(|w| w.wakeups)),
            "rest_cpu_ms": self.ok().find_map(|r| r.rest.map(|w| w.cpu_ns as f64 / 1e6)),
            "rest_window_s": self.ok().find_map(|r| r.rest.map(|w| w.window.as_secs_f64())),
            "rss_kib_at_rest": self.ok().map(|r| r.usage.rss_kb).max(),
            "leftovers": self.runs.iter().map(|r| r.leftovers).sum::<usize>(),
            "early_starts": self.ok().flat_map(|r| &r.handoffs_ms).filter(|&&h| h < 0.0).count(),
        })
    }
}

/// One scenario's results.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The scenario.
    pub name: String,
    /// Components.
    pub nodes: usize,
    /// The critical path, in ms.
    pub critical_ms: f64,
    /// The bound totals are compared with: the critical path, or the cost of spawning
    /// alone where that is larger.
    pub bound_ms: f64,
    /// Whether it is the idle scenario.
    pub idle: bool,
    /// Each tool's results.
    pub rows: Vec<Row>,
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt(v: Option<String>) -> String {
    v.unwrap_or_else(|| "—".into())
}

/// The markdown tables of a suite's results.
pub fn markdown(results: &[ScenarioResult], tasks: Option<&TasksResult>) -> String {
    let mut out = String::from(
        "| scenario (critical path) | tool | total ms: median (min–max) | total / bound | \
         hand-off ms p50 / p99 | detection ms p50 / p99 | probes (hub) | supervisor CPU ms | \
         supervisor peak RSS MiB | runs ok |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in results.iter().filter(|s| !s.idle) {
        for row in &s.rows {
            let total = row.total();
            let ok = row.ok().count();
            // Dependents that started before their dependency was ready.
            let early = row
                .ok()
                .flat_map(|r| &r.handoffs_ms)
                .filter(|&&h| h < 0.0)
                .count();
            let ratio = total
                .filter(|_| s.bound_ms > 0.0)
                .map(|t| format!("{:.2}", t.p50 / s.bound_ms));
            let pair =
                |x: Option<Summary>| x.map(|x| format!("{} / {}", fmt_ms(x.p50), fmt_ms(x.p99)));
            let probes = row
                .median_of(|r| r.probes as f64)
                .filter(|&p| p > 0.0)
                .map(|p| {
                    let hub = row.median_of(|r| r.probes_first as f64).unwrap_or(0.0);
                    format!("{p:.0} ({hub:.0})")
                });
            let cpu = row
                .median_of(|r| r.usage.cpu_ns as f64 / 1e6)
                .filter(|_| row.tool != Tool::SpawnOnly);
            let rss = row
                .ok()
                .map(|r| r.usage.peak_rss_kb)
                .max()
                .filter(|_| row.tool != Tool::SpawnOnly);
            out.push_str(&format!(
                "| {} ({} ms) | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |\n",
                s.name,
                fmt_ms(s.critical_ms),
                row.tool.name(),
                opt(total.map(|t| format!(
                    "{} ({}–{})",
                    fmt_ms(t.p50),
                    fmt_ms(t.min),
                    fmt_ms(t.max)
                ))),
                opt(ratio),
                opt(pair(row.pooled(|r| &r.handoffs_ms)).map(|h| {
                    match row.pooled(|r| &r.engine_ms) {
                        Some(e) => format!("{h} (engine {})", fmt_ms(e.p50)),
                        None => h,
                    }
                })),
                opt(pair(row.pooled(|r| &r.detection_ms))),
                opt(probes),
                opt(cpu.map(fmt_ms)),
                opt(rss.map(|k| format!("{:.1}", k as f64 / 1024.0))),
                ok,
                row.runs.len(),
            ));
            if early > 0 {
                // Before the row's closing " |\n".
                let last = out.len() - 3;
                out.insert_str(last, &format!(", {early} started early"));
            }
        }
    }
    out.push_str(&chaincost::markdown(&chaincost::of(results), fmt_ms));
    for s in results.iter().filter(|s| s.idle) {
        let window = s
            .rows
            .iter()
            .find_map(|row| row.runs.first()?.rest)
            .map_or(0.0, |r| r.window.as_secs_f64());
        out.push_str(&format!(
            "\n{} components at rest, every tool up at once, measured over the same {window:.0} s:\n\n\
             | tool | wake-ups / s | wake-ups | supervisor CPU ms | supervisor RSS MiB | \
             supervisor processes |\n|---|---|---|---|---|---|\n",
            s.nodes
        ));
        for row in &s.rows {
            let r = &row.runs[0];
            let rest = r.rest.filter(|_| r.error.is_none());
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {} |\n",
                row.tool.name(),
                opt(rest.map(|w| format!("{:.2}", w.wakeups_per_s()))),
                opt(rest.map(|w| w.wakeups.to_string())),
                opt(rest.map(|w| fmt_ms(w.cpu_ns as f64 / 1e6))),
                r.usage.rss_kb as f64 / 1024.0,
                r.usage.processes,
            ));
        }
    }
    if let Some(t) = tasks {
        out.push_str(&format!(
            "\ntasks10k (herald library, {} in-process tasks in a random DAG, ready at once): \
             start until all ready {} ms median ({}–{}), {:.1} µs per component.\n",
            t.components,
            fmt_ms(t.total.p50),
            fmt_ms(t.total.min),
            fmt_ms(t.total.max),
            t.total.p50 * 1000.0 / t.components as f64
        ));
    }
    out
}

/// The in-process scenario's result.
#[derive(Debug, Clone, Copy)]
pub struct TasksResult {
    /// Components.
    pub components: usize,
    /// Start until all ready, ms.
    pub total: Summary,
}

/// `n` in-process tasks in the layered random DAG of [`Scenario::dag`] (depth 20), each ready
/// as soon as it runs: the engine's own cost.
pub fn tasks_stack(n: usize, seed: u64) -> herald::Stack {
    tasks(Scenario::dag(n, 20, Duration::ZERO, seed).specs(), |_| {
        Duration::ZERO
    })
}

/// In-process tasks for `specs`, the `i`-th ready `delay(i)` after it starts.
pub fn tasks(
    specs: Vec<herald::ComponentSpec>,
    delay: impl Fn(usize) -> Duration,
) -> herald::Stack {
    let mut stack = herald::Stack::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let delay = delay(i);
        stack.add(
            spec,
            herald::task(move |ctx| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                ctx.ready();
                ctx.stopped().await;
                Ok(())
            }),
        );
    }
    stack
}

fn run_tasks(n: usize, reps: usize) -> TasksResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut totals = Vec::new();
    for rep in 0..reps {
        let stack = tasks_stack(n, rep as u64);
        let ms = runtime.block_on(async {
            let began = Instant::now();
            let running = stack.start().expect("acyclic");
            running.wait_all().await.expect("all ready");
            let took = began.elapsed();
            running.shutdown().await;
            took.as_secs_f64() * 1000.0
        });
        totals.push(ms);
    }
    TasksResult {
        components: n,
        total: Summary::of(&totals).expect("samples"),
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string());
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu": model,
        "kernel": read("/proc/sys/kernel/osrelease"),
        "debian": read("/etc/debian_version"),
    })
}

/// Whether `herald up` runs a stack here (the command may predate its runtime).
pub fn herald_up_works(programs: &Programs, work: &Path) -> bool {
    let dir = work.join("probe-herald-up");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let s = Scenario::chain(1, Duration::ZERO);
    let layout = Layout {
        dir: dir.clone(),
        port_base: 20900,
    };
    let Ok(mut started) = start(Tool::HeraldUp, programs, layout, &s) else {
        return false;
    };
    let works = wait_ready(&mut started, 1, Duration::from_secs(5)).is_ok();
    stop(started);
    let _ = std::fs::remove_dir_all(&dir);
    works
}

/// Runs the suite, prints the tables and writes the JSON.
pub fn run(opts: &Options) -> Result<String, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&opts.work)?;
    let scenarios: Vec<Scenario> = scenario::suite(opts.quick)
        .into_iter()
        .filter(|s| {
            opts.only.is_empty() || opts.only.iter().any(|o| s.name.starts_with(o.as_str()))
        })
        .collect();
    let mut results = Vec::new();
    for s in &scenarios {
        let big = s.nodes.len() >= 200;
        let tools: Vec<Tool> = opts
            .tools
            .iter()
            .copied()
            .filter(|&t| t != Tool::SpawnOnly || (big && s.idle.is_none()))
            .collect();
        let critical_ms = s.critical_path().as_secs_f64() * 1000.0;
        if s.idle.is_some() {
            let rows = run_idle(opts, s, &tools)
                .into_iter()
                .map(|(tool, r)| Row {
                    tool,
                    runs: vec![r],
                })
                .collect();
            results.push(ScenarioResult {
                name: s.name.clone(),
                nodes: s.nodes.len(),
                critical_ms,
                bound_ms: critical_ms,
                idle: true,
                rows,
            });
            continue;
        }
        let reps = |tool: Tool| {
            opts.reps
                .unwrap_or_else(|| default_reps(opts.quick, s, tool))
        };
        let rounds = tools.iter().map(|&t| reps(t)).max().unwrap_or(0);
        let mut rows: Vec<Row> = tools
            .iter()
            .map(|&tool| Row {
                tool,
                runs: Vec::new(),
            })
            .collect();
        for rep in 0..rounds {
            for row in &mut rows {
                // A tool that ran out of time would only do so again: once is the finding.
                if rep >= reps(row.tool) || row.runs.iter().any(|r| r.timed_out) {
                    continue;
                }
                let r = run_once(opts, s, row.tool, rep);
                eprintln!(
                    "{} {} #{rep}: {} (run {:.1} s, of which stopping {:.1} s)",
                    s.name,
                    row.tool.name(),
                    match (&r.error, r.total_ms) {
                        (Some(e), _) => format!("failed: {e}"),
                        (None, Some(t)) => format!("{t:.1} ms"),
                        (None, None) => "no records".into(),
                    },
                    r.wall.as_secs_f64(),
                    r.stopping.as_secs_f64(),
                );
                row.runs.push(r);
            }
        }
        let spawn_cost = rows
            .iter()
            .find(|r| r.tool == Tool::SpawnOnly)
            .and_then(|r| r.total())
            .map_or(0.0, |t| t.p50);
        results.push(ScenarioResult {
            name: s.name.clone(),
            nodes: s.nodes.len(),
            critical_ms,
            bound_ms: critical_ms.max(spawn_cost),
            idle: false,
            rows,
        });
    }
    let tasks = (opts.only.is_empty() || opts.only.iter().any(|o| o.starts_with("tasks")))
        .then(|| run_tasks(10_000, if opts.quick { 3 } else { 7 }));
    let table = markdown(&results, tasks.as_ref());
    let report = json!({
        "machine": machine(),
        "quick": opts.quick,
        "scenarios": results.iter().map(|s| json!({
            "name": s.name,
            "components": s.nodes,
            "critical_path_ms": s.critical_ms,
            "bound_ms": s.bound_ms,
            "tools": s.rows.iter().map(|r| r.json(s.bound_ms)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "chain_costs": chaincost::of(&results).iter().map(|c| c.json()).collect::<Vec<_>>(),
        "tasks10k": tasks.map(|t| json!({
            "components": t.components,
            "total_ms": t.total.json(),
            "per_component_us": t.total.p50 * 1000.0 / t.components as f64,
        })),
        "table": table,
    });
    std::fs::write(&opts.json, serde_json::to_string_pretty(&report)?)?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_table_shows_wakeups_per_second_over_the_window() {
        let rest = |wakeups| RunResult {
            rest: Some(Rest {
                window: Duration::from_secs(60),
                wakeups,
                cpu_ns: 1_500_000,
            }),
            ..RunResult::default()
        };
        let results = [ScenarioResult {
            name: "idle100".into(),
            nodes: 100,
            critical_ms: 0.0,
            bound_ms: 0.0,
            idle: true,
            rows: vec![
                Row {
                    tool: Tool::Herald,
                    runs: vec![rest(0)],
                },
                Row {
                    tool: Tool::Supervisord,
                    runs: vec![rest(60)],
                },
            ],
        }];
        let table = markdown(&results, None);
        assert!(table.contains("measured over the same 60 s"), "{table}");
        assert!(
            table.contains("| herald (library) | 0.00 | 0 | 1.50 | 0.0 | 0 |"),
            "{table}"
        );
        assert!(
            table.contains("| supervisord | 1.00 | 60 | 1.50 | 0.0 | 0 |"),
            "{table}"
        );
        let json = results[0].rows[1].json(0.0);
        assert_eq!(json["wakeups_per_s"], 1.0);
        assert_eq!(json["rest_wakeups"], 60);
        assert_eq!(json["rest_window_s"], 60.0);
    }

    #[test]
    fn slow_peers_run_once_on_the_big_scenarios() {
        let small = Scenario::chain(5, Duration::ZERO);
        let deep = Scenario::chain(20, Duration::ZERO);
        let big = Scenario::wide(200, Duration::ZERO);
        assert_eq!(default_reps(false, &small, Tool::Runit), 5);
        assert_eq!(default_reps(false, &big, Tool::Runit), 1);
        assert_eq!(default_reps(false, &big, Tool::Supervisord), 1);
        assert_eq!(default_reps(false, &deep, Tool::Supervisord), 1);
        assert_eq!(default_reps(false, &deep, Tool::Dinit), 5);
        assert_eq!(default_reps(false, &big, Tool::Herald), 2);
        assert_eq!(default_reps(true, &small, Tool::Herald), 1);
    }

    #[test]
    fn task_stacks_are_valid_dags() {
        let stack = tasks_stack(500, 1);
        let graph = stack.graph().expect("acyclic");
        assert_eq!(graph.len(), 500);
        assert!(graph.edges().all(|e| e.from > e.to));
    }

    #[test]
    fn the_table_shows_ratios_against_the_bound() {
        let run = |total: f64| RunResult {
            total_ms: Some(total),
            handoffs_ms: vec![0.2, 0.4],
            ..RunResult::default()
        };
        let results = [ScenarioResult {
            name: "chain5-200ms".into(),
            nodes: 5,
            critical_ms: 1000.0,
            bound_ms: 1000.0,
            idle: false,
            rows: vec![Row {
                tool: Tool::Herald,
                runs: vec![run(1010.0), run(1020.0), run(1030.0)],
            }],
        }];
        let table = markdown(&results, None);
        let row = table.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| chain5-200ms (1000 ms) | herald (library) | 1020 (1010–1030) | 1.02 | \
             0.30 / 0.40 | — | — | 0.00 | 0.0 | 3/3 |"
        );
    }
}
