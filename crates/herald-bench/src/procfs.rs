//! Clocks and what `/proc` says about a supervisor and its processes.

use std::path::Path;

/// CLOCK_MONOTONIC in nanoseconds (the fixtures' clock).
pub fn monotonic_ns() -> u64 {
    clock(libc::CLOCK_MONOTONIC)
}

/// CLOCK_REALTIME in nanoseconds.
pub fn realtime_ns() -> u64 {
    clock(libc::CLOCK_REALTIME)
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The fields of `/proc/<pid>/stat` after the command name.
fn stat_fields(pid: u32) -> Option<(String, Vec<String>)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest = text[close + 1..]
        .split_whitespace()
        .map(String::from)
        .collect();
    Some((comm, rest))
}

/// The parent of a process and its command name.
pub fn parent(pid: u32) -> Option<(u32, String)> {
    let (comm, rest) = stat_fields(pid)?;
    Some((rest.get(1)?.parse().ok()?, comm))
}

/// Whether `pid` is a live process (neither gone nor a zombie waiting to be reaped).
pub fn running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(_, rest)| rest.first().is_some_and(|state| state != "Z"))
}

/// Every process id now.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and all its descendants, with their command names.
pub fn tree(root: u32) -> Vec<(u32, String)> {
    let all: Vec<(u32, u32, String)> = pids()
        .into_iter()
        .filter_map(|pid| parent(pid).map(|(ppid, comm)| (pid, ppid, comm)))
        .collect();
    let mut out: Vec<(u32, String)> = all
        .iter()
        .filter(|(pid, ..)| *pid == root)
        .map(|(pid, _, comm)| (*pid, comm.clone()))
        .collect();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].0;
        for (pid, ppid, comm) in &all {
            if *ppid == parent && !out.iter().any(|(p, _)| p == pid) {
                out.push((*pid, comm.clone()));
            }
        }
        i += 1;
    }
    out
}

fn status_kb(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What a set of processes has used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU time of the live threads (schedstat) plus that of reaped children (cutime).
    pub cpu_ns: u64,
    /// Sum of each process's peak resident set (VmHWM).
    pub peak_rss_kb: u64,
    /// Sum of each process's resident set now (VmRSS).
    pub rss_kb: u64,
    /// Voluntary plus involuntary context switches of every thread: its wake-ups.
    pub switches: u64,
    /// How many processes were counted.
    pub processes: usize,
}

/// The usage of one process (all its threads).
pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let (_, stat) = stat_fields(pid)?;
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks = |i: usize| stat.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // After the command name: state is field 0; cutime 13, cstime 14.
    let mut cpu_ns = (ticks(13) + ticks(14)) * 1_000_000_000 / tick;
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let dir = task.path();
            if let Ok(text) = std::fs::read_to_string(dir.join("schedstat")) {
                cpu_ns += text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            if let Ok(text) = std::fs::read_to_string(dir.join("status")) {
                switches += status_kb(&text, "voluntary_ctxt_switches:")
                    + status_kb(&text, "nonvoluntary_ctxt_switches:");
            }
        }
    }
    Some(Usage {
        cpu_ns,
        peak_rss_kb: status_kb(&status, "VmHWM:"),
        rss_kb: status_kb(&status, "VmRSS:"),
        switches,
        processes: 1,
    })
}

/// The usage of a supervisor and its descendants, leaving out the components themselves
/// (processes named `component_comm`).
pub fn supervisor_usage(root: u32, component_comm: &str) -> Usage {
    let mut total = Usage::default();
    for (pid, comm) in tree(root) {
        if comm == component_comm {
            continue;
        }
        if let Some(u) = usage(pid) {
            total.cpu_ns += u.cpu_ns;
            total.peak_rss_kb += u.peak_rss_kb;
            total.rss_kb += u.rss_kb;
            total.switches += u.switches;
            total.processes += 1;
        }
    }
    total
}

/// What one thread had used when a [`Snapshot`] was taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ThreadUse {
    /// Voluntary plus involuntary context switches.
    switches: u64,
    /// Run time (`schedstat`), in ns.
    cpu_ns: u64,
}

/// Every thread of a supervisor's processes (the components left out) at one moment, for
/// counting what happened between two moments: see [`Snapshot::since`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// By (pid, tid).
    threads: std::collections::HashMap<(u32, u32), ThreadUse>,
    /// Reaped children's CPU time (`cutime` + `cstime`), in ns, by pid.
    reaped_ns: std::collections::HashMap<u32, u64>,
}

/// What a supervisor did between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Context switches (each a wake-up, give or take the one that ends a run on the CPU):
    /// the change for threads seen both times, all of a thread's for one that appeared, and
    /// one (its exit) for a thread that was gone.
    pub wakeups: u64,
    /// CPU time spent by those threads, and by children reaped meanwhile, in ns.
    pub cpu_ns: u64,
}

fn thread_use(dir: &Path) -> Option<ThreadUse> {
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let cpu_ns = std::fs::read_to_string(dir.join("schedstat"))
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some(ThreadUse {
        switches: status_kb(&status, "voluntary_ctxt_switches:")
            + status_kb(&status, "nonvoluntary_ctxt_switches:"),
        cpu_ns,
    })
}

impl Snapshot {
    /// Every thread of `root` and its descendants but the processes named `component_comm`.
    pub fn take(root: u32, component_comm: &str) -> Snapshot {
        // SAFETY: sysconf has no preconditions.
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let mut snap = Snapshot::default();
        for (pid, comm) in tree(root) {
            if comm == component_comm {
                continue;
            }
            if let Some((_, stat)) = stat_fields(pid) {
                let ticks = |i: usize| stat.get(i).and_then(|v| v.parse::<u64>().ok());
                let reaped = ticks(13).unwrap_or(0) + ticks(14).unwrap_or(0);
                snap.reaped_ns.insert(pid, reaped * 1_000_000_000 / tick);
            }
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                    continue;
                };
                if let Some(used) = thread_use(&task.path()) {
                    snap.threads.insert((pid, tid), used);
                }
            }
        }
        snap
    }

    /// What happened from `earlier` to this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Activity {
        let mut activity = Activity::default();
        for (key, now) in &self.threads {
            let then = earlier.threads.get(key).copied().unwrap_or_default();
            activity.wakeups += now.switches.saturating_sub(then.switches);
            activity.cpu_ns += now.cpu_ns.saturating_sub(then.cpu_ns);
        }
        activity.wakeups += earlier
            .threads
            .keys()
            .filter(|key| !self.threads.contains_key(key))
            .count() as u64;
        for (pid, now) in &self.reaped_ns {
            let then = earlier.reaped_ns.get(pid).copied().unwrap_or(0);
            activity.cpu_ns += now.saturating_sub(then);
        }
        activity
    }

    /// How many threads it holds.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }
}

/// Processes that refer to `dir`: their command line names it or they run in it.
pub fn referring_to(dir: &Path) -> Vec<u32> {
    let me = std::process::id();
    // With the separator, so `.../herald` does not match `.../herald-up`.
    let needle = format!("{}/", dir.display());
    pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            cmdline.contains(&needle) || cwd.starts_with(dir)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_does_not_match_its_longer_namesakes() {
        let dir = std::env::temp_dir().join(format!("hb-ref-{}", std::process::id()));
        let long = dir.with_file_name(format!("hb-ref-{}-up", std::process::id()));
        std::fs::create_dir_all(&long).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .current_dir(&long)
            .spawn()
            .unwrap();
        assert!(referring_to(&long).contains(&child.id()));
        assert!(!referring_to(&dir).contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::remove_dir_all(&long).unwrap();
    }

    #[test]
    fn the_clocks_move_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a);
        assert!(realtime_ns() > 1_700_000_000_000_000_000);
    }

    #[test]
    fn a_process_sees_itself_and_its_children() {
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = tree(me);
        assert_eq!(found[0].0, me);
        assert!(found.iter().any(|(p, c)| *p == child.id() && c == "sleep"));
        let u = usage(me).unwrap();
        assert!(u.cpu_ns > 0 && u.peak_rss_kb > 0 && u.switches > 0);
        let without = supervisor_usage(me, "sleep");
        // Other tests may start and end children of this process meanwhile.
        assert!(without.processes >= 1);
        assert!(!tree(me).is_empty());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn snapshots_count_the_switches_and_time_in_between() {
        let me = std::process::id();
        let before = Snapshot::take(me, "no-such-program");
        assert!(before.threads() >= 1);
        // A thread that runs and sleeps a few times: new, so all its switches count.
        std::thread::spawn(|| {
            for _ in 0..5 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
        .join()
        .unwrap();
        let helper = std::thread::spawn(|| {
            for _ in 0..5 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::thread::park_timeout(std::time::Duration::from_secs(5));
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let after = Snapshot::take(me, "no-such-program");
        helper.thread().unpark();
        helper.join().unwrap();
        let activity = after.since(&before);
        assert!(activity.wakeups >= 5, "{activity:?}");
        assert!(activity.cpu_ns > 0, "{activity:?}");
        assert_eq!(after.since(&after), Activity::default());
    }
}
