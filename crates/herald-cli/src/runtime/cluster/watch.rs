//! The other nodes' components, as etcd has them: get the prefix, then watch it from the next
//! revision.
//!
//! The watch asks for `prev_kv` and progress notifications. A watch cancelled by the server
//! (its start revision compacted, or the member lost its leader) or a broken stream is
//! followed by a fresh list, never by a guess; so is every return to health of the
//! [`Link`]. While the link is unhealthy the [`View`] says so, and nothing in it counts as
//! up: a remote dependency is never ready on stale knowledge.

use super::session::{Link, Session};
use crate::stackfile::cluster::ClusterConfig;
use etcd_client::{Client, EventType, GetOptions, KeyValue, WatchOptions};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a node published for one component.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Published {
    /// Its state: `ready`, `completed`, `reloading` or `degraded`.
    pub state: String,
    /// Since when (RFC 3339).
    #[serde(default)]
    pub since: String,
    /// Its pid on that node.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The run of that node's stack.
    #[serde(default)]
    pub run: u64,
}

impl Published {
    /// Whether the state is one a dependency may rely on.
    pub fn is_up(&self) -> bool {
        matches!(
            self.state.as_str(),
            "ready" | "completed" | "reloading" | "degraded"
        )
    }
}

/// Every node's published components, by remote name (`@node/component`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// The list and watch are current and etcd answers with a leader.
    pub healthy: bool,
    /// The published components, as of `revision`.
    pub entries: BTreeMap<String, Published>,
    /// The etcd revision the entries are at.
    pub revision: i64,
}

impl View {
    /// The published entry of `name` if it is up and the view is current.
    pub fn up(&self, name: &str) -> Option<&Published> {
        self.entries.get(name).filter(|p| self.healthy && p.is_up())
    }
}

/// Starts the watcher; gives the view it keeps.
pub fn start(
    config: Arc<ClusterConfig>,
    session: &Session,
) -> (watch::Receiver<View>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(View::default());
    let tx = Arc::new(tx);
    tokio::spawn(mirror_loss(session.link.clone(), tx.clone()));
    let task = tokio::spawn(run(
        config,
        session.client.clone(),
        session.link.clone(),
        tx,
    ));
    (rx, task)
}

/// Marks the view unhealthy the moment the link is, whatever the watcher is doing (listing,
/// backing off): only a fresh list makes it healthy again.
async fn mirror_loss(mut link: watch::Receiver<Link>, view: Arc<watch::Sender<View>>) {
    loop {
        if !link.borrow_and_update().healthy {
            view.send_if_modified(|v| std::mem::replace(&mut v.healthy, false));
        }
        if link.changed().await.is_err() {
            return;
        }
    }
}

/// The remote name of a key under `<prefix>/nodes/`.
fn name_of(prefix: &str, kv: &KeyValue) -> Option<String> {
    let key = std::str::from_utf8(kv.key()).ok()?;
    let rest = key.strip_prefix(prefix)?;
    rest.contains('/').then(|| format!("@{rest}"))
}

fn parse(kv: &KeyValue) -> Option<Published> {
    serde_json::from_slice(kv.value()).ok()
}

async fn run(
    config: Arc<ClusterConfig>,
    mut client: Client,
    mut link: watch::Receiver<Link>,
    view: Arc<watch::Sender<View>>,
) {
    let prefix = config.nodes_prefix();
    let period = super::session::period(config.ttl);
    let mut retry = Duration::from_millis(50);
    loop {
        if link.wait_for(|l| l.healthy).await.is_err() {
            return;
        }
        match follow(&prefix, period, &mut client, &mut link, &view).await {
            Ok(()) => retry = Duration::from_millis(50),
            Err(why) => {
                tracing::debug!("cluster: watch of {prefix}: {why}; listing again");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(period);
            }
        }
    }
}

/// One list and the watch that follows it, until the watch must start again (`Ok` when the
/// link went unhealthy or the server cancelled the watch).
async fn follow(
    prefix: &str,
    period: Duration,
    client: &mut Client,
    link: &mut watch::Receiver<Link>,
    view: &watch::Sender<View>,
) -> Result<(), String> {
    let epoch = link.borrow_and_update().epoch;
    let listed = tokio::time::timeout(
        period,
        client.get(prefix, Some(GetOptions::new().with_prefix())),
    )
    .await
    .map_err(|_| "no answer to the list".to_string())?
    .map_err(|e| e.to_string())?;
    let revision = listed.header().map_or(0, |h| h.revision());
    let entries: BTreeMap<String, Published> = listed
        .kvs()
        .iter()
        .filter_map(|kv| Some((name_of(prefix, kv)?, parse(kv)?)))
        .collect();
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1)
        .with_prev_key()
        .with_progress_notify();
    let mut stream = tokio::time::timeout(period, client.watch(prefix, Some(options)))
        .await
        .map_err(|_| "no answer to the watch".to_string())?
        .map_err(|e| e.to_string())?;
    view.send_replace(View {
        healthy: link.borrow().healthy,
        entries,
        revision,
    });
    loop {
        tokio::select! {
            changed = link.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let now = *link.borrow_and_update();
                if !now.healthy {
                    view.send_if_modified(|v| std::mem::replace(&mut v.healthy, false));
                    return Ok(());
                }
                if now.epoch != epoch {
                    // Back from an outage: what happened meanwhile is read afresh.
                    return Ok(());
                }
            }
            message = stream.message() => {
                let response = match message {
                    Ok(Some(response)) => response,
                    Ok(None) => return Err("the watch stream ended".into()),
                    Err(e) => return Err(e.to_string()),
                };
                if response.compact_revision() > 0 {
                    return Err(format!("revision {} was compacted", response.compact_revision()));
                }
                if response.canceled() {
                    return Err(format!("the watch was cancelled: {}", response.cancel_reason()));
                }
                view.send_if_modified(|v| {
                    let mut changed = false;
                    for event in response.events() {
                        let Some(kv) = event.kv() else { continue };
                        let Some(name) = name_of(prefix, kv) else { continue };
                        v.revision = v.revision.max(kv.mod_revision());
                        changed |= match event.event_type() {
                            EventType::Put => match parse(kv) {
                                Some(p) => v.entries.insert(name, p.clone()).as_ref() != Some(&p),
                                None => v.entries.remove(&name).is_some(),
                            },
                            EventType::Delete => v.entries.remove(&name).is_some(),
                        };
                    }
                    changed
                });
            }
        }
    }
}
