//! `herald wait @node/component` straight on etcd, for a remote component the running stack
//! does not depend on (or with no stack running): get the keys, then watch them from the
//! next revision until each is up or the time is out. No lease is taken, nothing is written.

use super::watch::Published;
use crate::stackfile::cluster::{ClusterConfig, split_remote};
use etcd_client::{Client, ConnectOptions, EventType, GetOptions, WatchOptions};
use std::collections::BTreeMap;
use std::time::Duration;

/// What `wait` found: `Ok` once every name is up, else each pending name with what is known
/// of it (`not up`, or why etcd could not be reached).
pub type Outcome = Result<(), Vec<(String, String)>>;

/// Waits for every remote `name` to be up, at most `limit` (none: forever).
pub fn wait(
    config: &ClusterConfig,
    names: &[String],
    limit: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let last_error = std::sync::Mutex::new(None);
    let outcome = runtime.block_on(async {
        let waiting = retrying(config, names, &last_error);
        match limit {
            Some(limit) => tokio::time::timeout(limit, waiting).await.ok(),
            None => Some(waiting.await),
        }
    });
    Ok(outcome.unwrap_or_else(|| {
        let why = match last_error.lock().ok().and_then(|e| e.clone()) {
            Some(error) => format!("etcd: {error}"),
            None => "not up".to_string(),
        };
        Err(names.iter().map(|n| (n.clone(), why.clone())).collect())
    }))
}

/// [`until_up`] again after each failure to reach etcd (backing off from 100 ms to 1 s), the
/// last failure kept for the message.
async fn retrying(
    config: &ClusterConfig,
    names: &[String],
    last_error: &std::sync::Mutex<Option<String>>,
) -> Outcome {
    let mut retry = Duration::from_millis(100);
    loop {
        match until_up(config, names).await {
            Ok(outcome) => return outcome,
            Err(e) => {
                if let Ok(mut last) = last_error.lock() {
                    *last = Some(e.to_string());
                }
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(Duration::from_secs(1));
    }
}

async fn until_up(config: &ClusterConfig, names: &[String]) -> anyhow::Result<Outcome> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(1))
        .with_require_leader(true);
    let mut client = Client::connect(config.urls(), Some(options)).await?;
    let prefix = config.nodes_prefix();
    let keys: BTreeMap<String, String> = names
        .iter()
        .filter_map(|n| {
            let (node, component) = split_remote(n)?;
            Some((config.key(node, component), n.clone()))
        })
        .collect();
    let mut known: BTreeMap<String, Published> = BTreeMap::new();
    let listed = client
        .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
        .await?;
    for kv in listed.kvs() {
        let key = String::from_utf8_lossy(kv.key()).into_owned();
        if let (Some(name), Ok(p)) = (keys.get(&key), serde_json::from_slice(kv.value())) {
            known.insert(name.clone(), p);
        }
    }
    let revision = listed.header().map_or(0, |h| h.revision());
    let all_up = |known: &BTreeMap<String, Published>| {
        names
            .iter()
            .all(|n| known.get(n).is_some_and(Published::is_up))
    };
    if all_up(&known) {
        return Ok(Ok(()));
    }
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let mut stream = client.watch(prefix, Some(options)).await?;
    while let Some(response) = stream.message().await? {
        if response.canceled() {
            anyhow::bail!("the watch was cancelled: {}", response.cancel_reason());
        }
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let Some(name) = keys.get(&key) else { continue };
            match (event.event_type(), serde_json::from_slice(kv.value())) {
                (EventType::Put, Ok(p)) => known.insert(name.clone(), p),
                _ => known.remove(name),
            };
        }
        if all_up(&known) {
            return Ok(Ok(()));
        }
    }
    anyhow::bail!("the watch stream ended")
}
