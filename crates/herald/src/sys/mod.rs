//! The system layer: what the engine needs from the operating system to run child processes,
//! shared by process components and `exec` probes.
//!
//! - [`spawn`]: starting a child without copying herald (`clone(CLONE_VM | CLONE_VFORK)` on
//!   long-lived spawner threads), in its own process group and cgroup, with a
//!   parent-death signal;
//! - [`group`]: a spawned child's process group, from spawn to reaping (through a pidfd);
//! - [`cgroup`]: one cgroup v2 leaf per component run, where the host allows it;
//! - [`token`]: the run token in every child's environment, where there are no cgroups;
//! - [`signals`]: signal names and numbers, signalling a group, describing an exit;
//! - [`reaper`]: herald as child subreaper, reaping adopted orphans;
//! - [`guardian`]: the tiny process that kills every process of the stack if herald dies;
//! - [`limits`]: the open-file limit herald raises for itself and restores in children.
//!
//! [`Containment`] ties them together: one per [`ProcessHost`](crate::ProcessHost), it
//! gives each run its cgroup (or, without cgroups, its token) and watches its group for as
//! long as the group may have members. Nothing here knows about readiness or the graph.

pub(crate) mod cgroup;
pub(crate) mod clone3;
pub(crate) mod group;
pub(crate) mod guardian;
pub(crate) mod limits;
pub(crate) mod peer;
pub(crate) mod reaper;
pub(crate) mod signals;
pub(crate) mod sockdir;
pub(crate) mod spawn;
pub(crate) mod token;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The containment most recently started: `exec` probes, spawned without one, are guarded
/// by it.
static CURRENT: Mutex<Weak<Containment>> = Mutex::new(Weak::new());

/// What keeps one stack's processes from outliving it: the cgroup tree (or run tokens), the
/// guardian (kills everything if herald dies) and the reaper of adopted orphans (stopped
/// when this is dropped).
#[derive(Debug)]
pub(crate) struct Containment {
    tree: Option<cgroup::Tree>,
    token: String,
    runs: AtomicU64,
    guardian: guardian::Guardian,
    reaper: tokio::task::JoinHandle<()>,
}

/// How one run is contained.
#[derive(Debug)]
pub(crate) struct RunBox {
    /// The run's cgroup, where there are cgroups.
    pub leaf: Option<cgroup::Leaf>,
    /// The run's token (`HERALD_RUN_TOKEN`), always given.
    pub token: String,
}

impl Containment {
    /// Makes herald the child subreaper of its descendants (a warning where it cannot),
    /// creates the stack's cgroup where it can, starts the guardian and the reaper. Needs a
    /// Tokio runtime.
    pub(crate) fn start() -> std::io::Result<Arc<Containment>> {
        if let Err(e) = reaper::become_subreaper() {
            tracing::warn!("cannot become the child subreaper ({e}); orphans go to init");
        }
        let tree = match cgroup::detect() {
            Ok(tree) => {
                tracing::info!(cgroup = %tree.dir().display(), "each run gets a cgroup");
                Some(tree)
            }
            Err(reason) => {
                tracing::info!("no cgroups ({reason}): runs are contained by token");
                None
            }
        };
        // The first spawn finds the spawner threads running.
        spawn::start_spawner()?;
        let token = token::stack_token();
        let cgroup = tree.as_ref().map(|t| t.dir().display().to_string());
        let containment = Arc::new(Containment {
            guardian: guardian::Guardian::start(cgroup, Some(token.clone()))?,
            tree,
            token,
            runs: AtomicU64::new(0),
            reaper: reaper::start()?,
        });
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&containment);
        Ok(containment)
    }

    /// The containment most recently started, if it is still alive.
    pub(crate) fn current() -> Option<Arc<Containment>> {
        CURRENT.lock().unwrap_or_else(|e| e.into_inner()).upgrade()
    }

    /// `cgroup` or `process-group` (with run tokens): how runs are contained, as
    /// `status --json` says it.
    pub(crate) fn kind(&self) -> &'static str {
        if self.tree.is_some() {
            "cgroup"
        } else {
            "process-group"
        }
    }

    /// After a clean stop of every component: dismisses the guardian (see
    /// [`guardian::Guardian::dismiss`]).
    pub(crate) fn dismiss_guardian(&self) {
        self.guardian.dismiss();
    }

    /// The guardian's process id.
    pub(crate) fn guardian_pid(&self) -> u32 {
        self.guardian.pid()
    }

    /// A new run of `component`: its cgroup (a warning, and none, if it cannot be made) and
    /// its token.
    pub(crate) fn run(&self, component: &str) -> RunBox {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let leaf = self.tree.as_ref().and_then(|tree| {
            tree.leaf(component)
                .inspect_err(|e| tracing::warn!(component, "runs without its cgroup: {e}"))
                .ok()
        });
        RunBox {
            leaf,
            token: token::run_token(&self.token, n),
        }
    }

    /// Holds the guardian while a child is spawned (see [`guardian::Spawning`]).
    pub(crate) fn spawning(&self) -> guardian::Spawning<'_> {
        self.guardian.spawning()
    }

    /// Every live process outside the component groups that carries `token`, with its
    /// descendants (see `token.rs`).
    pub(crate) fn escaped(&self, token: &str) -> Vec<u32> {
        let guardian = self.guardian.pid();
        token::carrying(token, &|pid| pid == guardian || reaper::is_owned(pid))
    }

    /// A component's group has started: the guardian lists it, the reaper leaves its leader to
    /// the run that collects its status.
    pub(crate) fn watch(&self, pgid: u32) {
        self.guardian.watch(pgid);
        reaper::own(pgid);
    }

    /// The group has ended and its leader was reaped.
    pub(crate) fn release(&self, pgid: u32) {
        self.guardian.release(pgid);
        reaper::disown(pgid);
    }
}

impl Drop for Containment {
    fn drop(&mut self) {
        self.reaper.abort();
    }
}
