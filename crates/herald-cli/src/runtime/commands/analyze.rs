//! `herald analyze time | blame | critical-chain [NAME] | plot | trace`: where the start time
//! went, read from `<state_dir>/events.jsonl` (every event is there as it happens, so the run
//! going on is read the same way as one that ended), and the one-line summary `up` ends with.

use super::super::eventlog;
use super::{FAILURE, USAGE, connect};
use crate::cli::{AnalyzeArgs, AnalyzeCommand, BlameSort, PlotFormat};
use crate::stackfile::StackFile;
use herald::analysis::render_blame;
use herald::{BlameOrder, Event, Record, RunHeader, RunTag, State, Timeline};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Runs `herald analyze`.
pub fn run(stack: &StackFile, args: AnalyzeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let path = stack.state_dir.join(eventlog::FILE);
    let (records, found) = records_of(&stack.state_dir, args.run);
    let mut timeline = match found {
        Ok(timeline) => timeline,
        Err(e) => {
            eprintln!("error: {e} ({})", path.display());
            let code = if args.run.is_some() && !records.is_empty() {
                USAGE
            } else {
                FAILURE
            };
            return Ok(ExitCode::from(code));
        }
    };
    // The run going on: what is still open lasts until now.
    let last_run = records.last().map(|r| r.run());
    if last_run == Some(timeline.run) && connect(stack)?.is_some() {
        timeline.extend_to(SystemTime::now());
    }
    match args.what {
        AnalyzeCommand::Time => {
            let summary = timeline.summary();
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", summary.render());
            }
        }
        AnalyzeCommand::Blame { sort } => {
            let rows = timeline.blame(order(sort));
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", render_blame(&rows));
            }
        }
        AnalyzeCommand::CriticalChain { name } => {
            let name = match name.or_else(|| timeline.last_settled().map(|c| c.name.clone())) {
                Some(name) => name,
                None => {
                    eprintln!("error: run {} has no component", timeline.run);
                    return Ok(ExitCode::from(FAILURE));
                }
            };
            let Some(chain) = timeline.chain(&name) else {
                let names: Vec<&str> = timeline.components.iter().map(|c| &*c.name).collect();
                eprintln!(
                    "error: `{name}` is not part of run {} (it ran: {})",
                    timeline.run,
                    names.join(", ")
                );
                return Ok(ExitCode::from(USAGE));
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&chain)?);
            } else {
                print!("{}", chain.render());
            }
        }
        AnalyzeCommand::Plot { format, output } => {
            let text = match (json, format) {
                (true, _) => serde_json::to_string_pretty(&timeline)? + "\n",
                (false, PlotFormat::Svg) => timeline.plot_svg(),
                (false, PlotFormat::Html) => timeline.plot_html(),
            };
            write(output.as_deref(), &text)?;
        }
        AnalyzeCommand::Trace { output } => {
            let text = serde_json::to_string(&timeline.trace())? + "\n";
            write(output.as_deref(), &text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The records of the event log in `state_dir` (with the log moved aside, when run `run` is
/// only there) and the timeline of run `run` (default: the last).
pub(crate) fn records_of(
    state_dir: &Path,
    run: Option<u64>,
) -> (Vec<Record>, Result<Timeline, herald::TimelineError>) {
    let mut records = eventlog::records(&state_dir.join(eventlog::FILE));
    // An earlier run may be in the log moved aside when it grew large.
    if let Some(asked) = run
        && !records
            .iter()
            .any(|r| matches!(r, Record::Run(h) if h.run == asked))
    {
        let older = state_dir.join(format!("{}.1", eventlog::FILE));
        records.splice(0..0, eventlog::records(&older));
    }
    let timeline = Timeline::from_records(&records, run);
    (records, timeline)
}

fn order(sort: BlameSort) -> BlameOrder {
    match sort {
        BlameSort::Total => BlameOrder::Total,
        BlameSort::Waiting => BlameOrder::Waiting,
        BlameSort::Start => BlameOrder::Start,
        BlameSort::Retries => BlameOrder::Retries,
        BlameSort::Name => BlameOrder::Name,
    }
}

fn write(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The summary line of the last run in the stack's event log (`up --detach` ends with it).
pub fn summary_line(stack: &StackFile) -> Option<String> {
    let records = eventlog::records(&stack.state_dir.join(eventlog::FILE));
    let timeline = Timeline::from_records(&records, None).ok()?;
    Some(timeline.summary().line())
}

/// Watches a foreground run's events and gives the summary line once, when every
/// component's start has ended (ready, completed, failed or blocked). The run's start is
/// taken from the events: the earliest moment a component began waiting.
#[derive(Debug)]
pub struct Startup {
    count: usize,
    events: Vec<Event>,
    settled: HashSet<String>,
    done: bool,
}

impl Startup {
    /// For a run of `count` components.
    pub fn new(count: usize) -> Startup {
        Startup {
            count,
            events: Vec::new(),
            settled: HashSet::new(),
            done: false,
        }
    }

    /// Takes one event; the summary line if this one ended the start.
    pub fn feed(&mut self, event: &Event) -> Option<String> {
        if self.done {
            return None;
        }
        self.events.push(event.clone());
        if matches!(
            event.state,
            State::Ready | State::Completed | State::Failed | State::Blocked
        ) {
            self.settled.insert(event.component.to_string());
        }
        if self.settled.len() < self.count {
            return None;
        }
        self.done = true;
        let began = self
            .events
            .iter()
            .map(|e| e.time - e.waited.unwrap_or(Duration::ZERO))
            .min()?;
        let header = RunHeader {
            time: began,
            seq: 0,
            run: event.run,
            event: RunTag::Run,
            stack: String::new(),
            graph: BTreeMap::new(),
        };
        let mut timeline = Timeline::new(&header);
        for event in std::mem::take(&mut self.events) {
            timeline.push(&event);
        }
        Some(timeline.summary().line())
    }
}
