//! The system layer: what the engine needs from the operating system to run child processes,
//! shared by process components and `exec` probes.
//!
//! - [`spawn`]: starting a child without copying herald (`clone(CLONE_VM | CLONE_VFORK)` on
//!   one long-lived spawner thread), in its own process group, with a parent-death signal;
//! - [`group`]: a spawned child's process group, from spawn to reaping (through a pidfd);
//! - [`signals`]: signal names and numbers, signalling a group, describing an exit;
//! - [`reaper`]: herald as child subreaper, reaping adopted orphans;
//! - [`guardian`]: the tiny process that kills every component's group if herald dies;
//! - [`limits`]: the open-file limit herald raises for itself and restores in children.
//!
//! [`Containment`] ties the guardian and the reaper together: one per
//! [`ProcessHost`](crate::ProcessHost), it watches a component's group for as long as the
//! group may have members. Nothing here knows about components, readiness or the graph.

pub(crate) mod group;
pub(crate) mod guardian;
pub(crate) mod limits;
pub(crate) mod reaper;
pub(crate) mod signals;
pub(crate) mod spawn;

/// What keeps one stack's processes from outliving it: the guardian (kills every listed group
/// if herald dies) and the reaper of adopted orphans (stopped when this is dropped).
#[derive(Debug)]
pub(crate) struct Containment {
    guardian: guardian::Guardian,
    reaper: tokio::task::JoinHandle<()>,
}

impl Containment {
    /// Makes herald the child subreaper of its descendants (a warning where it cannot), starts
    /// the guardian and the reaper. Needs a Tokio runtime.
    pub(crate) fn start() -> std::io::Result<Containment> {
        if let Err(e) = reaper::become_subreaper() {
            tracing::warn!("cannot become the child subreaper ({e}); orphans go to init");
        }
        Ok(Containment {
            guardian: guardian::Guardian::start()?,
            reaper: reaper::start()?,
        })
    }

    /// The guardian's process id.
    pub(crate) fn guardian_pid(&self) -> u32 {
        self.guardian.pid()
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
