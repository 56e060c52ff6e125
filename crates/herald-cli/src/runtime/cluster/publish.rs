//! Publishing this node's components, from the engine's event stream.
//!
//! Each component that is up (ready, reloading, degraded) or completed has a key at
//! `<prefix>/nodes/<node>/<component>` holding `{"state", "since", "pid", "run"}`, on the
//! supervisor's lease; any other state deletes it. The wanted keys are kept here; each change
//! is written as it happens while the link is healthy, and everything is written again
//! (extra keys of this node deleted) after each new lease or return to health.
//!
//! Fencing: before publishing, the supervisor holds `<prefix>/owners/<node>` (created on its
//! lease if absent). Every write is a transaction on that key's create revision: a supervisor
//! whose ownership has lapsed (its lease expired while it was cut off, and another supervisor
//! took the node) finds the revision changed and writes nothing, instead of overwriting the
//! newer one's keys. It tries to take the node again at each new lease or recovery, and
//! every `ttl/3` while a write is owed (a write failed, or another supervisor holds the node).

use super::session::{Link, Session};
use crate::stackfile::cluster::{ClusterConfig, is_remote};
use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};
use herald::{Event, Events, State};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The publisher of one supervisor.
pub struct Publisher {
    config: Arc<ClusterConfig>,
    client: Client,
    link: watch::Receiver<Link>,
    /// The value each key should have, by component.
    wanted: BTreeMap<String, String>,
    /// The owner key's create revision while this supervisor holds the node, and the epoch
    /// of the link everything was last written in.
    held: Option<(i64, u64)>,
    /// The last reason the node could not be taken, once said.
    refused: Option<String>,
}

/// Whether a component in `state` is published.
fn published(state: State) -> bool {
    state.is_up()
}

impl Publisher {
    /// A publisher over the session's client and link.
    pub fn new(config: Arc<ClusterConfig>, session: &Session) -> Publisher {
        Publisher {
            config,
            client: session.client.clone(),
            link: session.link.clone(),
            wanted: BTreeMap::new(),
            held: None,
            refused: None,
        }
    }

    /// Publishes until `events` ends (the stack has finished), then deletes every key left.
    pub async fn run(mut self, mut events: Events) {
        // Only while something is left to write (a failed write, a node held by another).
        let mut retry = tokio::time::interval(super::session::period(self.config.ttl));
        retry.reset();
        loop {
            let link = *self.link.borrow();
            let behind = link.healthy && self.held.is_none_or(|(_, epoch)| epoch != link.epoch);
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(event) => self.event(&event).await,
                    None => break,
                },
                changed = self.link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let link = *self.link.borrow_and_update();
                    if link.healthy && self.held.is_none_or(|(_, epoch)| epoch != link.epoch) {
                        self.republish(link).await;
                    }
                }
                _ = retry.tick(), if behind => {
                    let link = *self.link.borrow();
                    self.republish(link).await;
                }
            }
        }
        self.wanted.clear();
        if let Some((owner, _)) = self.held {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.delete_extras(owner)).await;
        }
    }

    fn key(&self, component: &str) -> String {
        self.config.key(&self.config.node, component)
    }

    /// Takes one event into the wanted keys, and writes the change if the node is held.
    async fn event(&mut self, event: &Event) {
        if is_remote(&event.component) {
            return;
        }
        let name = event.component.to_string();
        let value = published(event.state).then(|| {
            serde_json::json!({
                "state": event.state.as_str(),
                "since": humantime::format_rfc3339_micros(event.time).to_string(),
                "pid": event.pid,
                "run": event.run,
            })
            .to_string()
        });
        let changed = match &value {
            Some(v) => self.wanted.insert(name.clone(), v.clone()).as_ref() != Some(v),
            None => self.wanted.remove(&name).is_some(),
        };
        let Some((owner, epoch)) = self.held else {
            return;
        };
        // Behind (a write failed, or etcd came back and all is about to be written again):
        // nothing is written one by one, so that a `down` while etcd is failing is not held
        // up by one timeout per component.
        let link = *self.link.borrow();
        if !changed || !link.healthy || epoch != link.epoch {
            return;
        }
        let key = self.key(&name);
        let op = match value {
            Some(value) => TxnOp::put(key, value, Some(self.put_options())),
            None => TxnOp::delete(key, None),
        };
        if let Err(why) = self.fenced(owner, vec![op]).await {
            tracing::warn!("cluster: cannot publish {name}: {why}");
            // Written again in full once the link is back.
            self.held = Some((owner, epoch.wrapping_sub(1)));
            if why.contains("fenced") {
                self.held = None;
            }
        }
    }

    fn put_options(&self) -> PutOptions {
        PutOptions::new().with_lease(self.link.borrow().lease)
    }

    /// A transaction of `ops` that runs only while the owner key still has revision `owner`.
    async fn fenced(&mut self, owner: i64, ops: Vec<TxnOp>) -> Result<(), String> {
        let owner_key = self.config.owner_key(&self.config.node);
        let txn = Txn::new()
            .when([Compare::create_revision(owner_key, CompareOp::Equal, owner)])
            .and_then(ops);
        let period = super::session::period(self.config.ttl);
        let answer = tokio::time::timeout(period, self.client.txn(txn))
            .await
            .map_err(|_| "no answer".to_string())?
            .map_err(|e| e.to_string())?;
        if answer.succeeded() {
            Ok(())
        } else {
            Err("fenced: another supervisor holds this node".into())
        }
    }

    /// Takes the node (or finds it held by this lease) and writes every wanted key.
    async fn republish(&mut self, link: Link) {
        match self.claim(link.lease).await {
            Ok(owner) => {
                if let Err(why) = self.write_all(owner).await {
                    tracing::warn!("cluster: cannot republish: {why}");
                    self.held = Some((owner, link.epoch.wrapping_sub(1)));
                    return;
                }
                if self.held.is_none_or(|(o, _)| o != owner) {
                    tracing::info!(
                        "cluster: publishing node {} (owner revision {owner})",
                        self.config.node
                    );
                }
                self.held = Some((owner, link.epoch));
                self.refused = None;
            }
            Err(why) => {
                // Said once per refusal, not at every retry.
                if self.refused.as_deref() != Some(why.as_str()) {
                    tracing::warn!("cluster: node {}: {why}", self.config.node);
                    self.refused = Some(why);
                }
                self.held = None;
            }
        }
    }

    /// The owner key's create revision, once this lease holds it.
    async fn claim(&mut self, lease: i64) -> Result<i64, String> {
        let key = self.config.owner_key(&self.config.node);
        let value = serde_json::json!({"pid": std::process::id(), "lease": format!("{lease:x}")});
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                value.to_string(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(key.clone(), None)]);
        let period = super::session::period(self.config.ttl);
        tokio::time::timeout(period, self.client.txn(txn))
            .await
            .map_err(|_| "no answer".to_string())?
            .map_err(|e| e.to_string())?;
        let got = tokio::time::timeout(period, self.client.get(key, None))
            .await
            .map_err(|_| "no answer".to_string())?
            .map_err(|e| e.to_string())?;
        let kv = got.kvs().first().ok_or("the owner key went at once")?;
        if kv.lease() == lease {
            Ok(kv.create_revision())
        } else {
            Err(format!(
                "another supervisor holds it ({}); publishing nothing until its lease goes",
                String::from_utf8_lossy(kv.value())
            ))
        }
    }

    /// Deletes this node's keys that are not wanted, then writes every wanted one.
    async fn write_all(&mut self, owner: i64) -> Result<(), String> {
        self.delete_extras(owner).await?;
        let puts: Vec<TxnOp> = self
            .wanted
            .iter()
            .map(|(name, value)| {
                TxnOp::put(self.key(name), value.clone(), Some(self.put_options()))
            })
            .collect();
        if puts.is_empty() {
            return Ok(());
        }
        self.fenced(owner, puts).await
    }

    /// Deletes this node's keys that are not wanted.
    async fn delete_extras(&mut self, owner: i64) -> Result<(), String> {
        let prefix = self.key("");
        let period = super::session::period(self.config.ttl);
        let got = tokio::time::timeout(
            period,
            self.client.get(
                prefix.clone(),
                Some(GetOptions::new().with_prefix().with_keys_only()),
            ),
        )
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| e.to_string())?;
        let extras: Vec<TxnOp> = got
            .kvs()
            .iter()
            .filter_map(|kv| {
                let key = std::str::from_utf8(kv.key()).ok()?;
                let name = key.strip_prefix(&prefix)?;
                (!self.wanted.contains_key(name)).then(|| TxnOp::delete(key, None))
            })
            .collect();
        if extras.is_empty() {
            return Ok(());
        }
        self.fenced(owner, extras).await
    }
}
