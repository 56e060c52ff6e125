//! Cluster-wide readiness on etcd: this supervisor publishes its ready components and mirrors
//! those of other nodes that its components depend on (`@node/component`).
//!
//! - [`session`]: one etcd client and one lease per supervisor, granted at start and kept alive
//!   every `ttl/3`; its [`Link`](session::Link) says whether etcd answers with a leader (a
//!   keepalive answered within the last `ttl`) and counts each new lease or recovery (`epoch`),
//!   so that the others start afresh;
//! - [`publish`]: from the engine's event stream, a key per ready (or completed) component at
//!   `<prefix>/nodes/<node>/<component>` on the lease, deleted when it is no longer up, all
//!   of it republished after an outage or a lost lease; every write is fenced by the create
//!   revision of the node's owner key, so a stale supervisor never overwrites a newer one;
//! - [`watch`]: gets the prefix, then watches it from the next revision (prev_kv, progress
//!   notifications), listing again after a compaction or a broken stream, into a
//!   [`View`](watch::View) of every node's components;
//! - [`remote`]: the stand-in component of each remote dependency, ready while the view says
//!   its key is up and etcd is reachable; when the key goes it fails and waits again, so the
//!   engine's edge kinds apply (`requires`: a waiting dependent keeps waiting; `binds_to`:
//!   the dependent stops, and starts again once the key is back).
//!
//! - [`direct`]: `herald wait @node/component` on etcd itself, for a remote component the
//!   running stack does not know.
//!
//! Detection bound: a remote supervisor killed outright is seen once its lease expires, at
//! most `ttl` after its last keepalive, plus up to one election timeout of etcd (a new leader
//! extends every lease). Losing etcd's quorum, or every endpoint, is seen within `ttl` of
//! the last keepalive answered: remote dependencies then count as not ready, never as ready, until
//! etcd answers again and the prefix has been read afresh.
//!
//! Nothing here polls: the keepalive is the only timer at rest.

pub mod direct;
pub mod publish;
pub mod remote;
pub mod session;
pub mod watch;

use crate::stackfile::cluster::ClusterConfig;
use std::sync::Arc;
use std::time::Duration;

/// The running cluster side of one supervisor.
pub struct Cluster {
    config: Arc<ClusterConfig>,
    session: session::Session,
    view: tokio::sync::watch::Receiver<watch::View>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Cluster {
    /// Connects (lazily: nothing fails if etcd is not there yet), starts the lease and the
    /// watch of every node's components.
    pub async fn start(config: &ClusterConfig) -> anyhow::Result<Cluster> {
        let config = Arc::new(config.clone());
        let session = session::Session::start(config.clone()).await?;
        let (view, watcher) = watch::start(config.clone(), &session);
        Ok(Cluster {
            config,
            session,
            view,
            watcher,
        })
    }

    /// The stand-in component for the remote `name` (`@node/component`).
    pub fn remote(&self, name: &str) -> remote::Remote {
        remote::Remote::new(name, self.view.clone())
    }

    /// What is known of the other nodes' components.
    pub fn view(&self) -> tokio::sync::watch::Receiver<watch::View> {
        self.view.clone()
    }

    /// Publishes the stack's components from `events` until the stack has finished; then
    /// deletes what is left and revokes the lease (bounded by `grace`, so that an etcd that
    /// does not answer cannot hold the supervisor up: the lease then expires by itself).
    pub async fn publish(self, events: herald::Events, grace: Duration) {
        let publisher = publish::Publisher::new(self.config.clone(), &self.session);
        publisher.run(events).await;
        self.watcher.abort();
        let _ = tokio::time::timeout(grace, self.session.revoke()).await;
    }
}
