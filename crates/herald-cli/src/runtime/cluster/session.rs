//! One etcd client and one lease per supervisor, kept alive every `ttl/3`.
//!
//! The client is made once, over every endpoint (tonic balances between them and reconnects),
//! with no request timeout of its own (it would end the watch and keepalive streams: each
//! call here is bounded by a timer instead), with `require_leader`: a member that has lost its leader refuses requests instead of
//! answering from a stale state. The keepalive task grants the lease, then renews it each
//! period; its [`Link`] is the supervisor's view of etcd:
//! - `healthy` while a keepalive was answered within the last `ttl` (three periods): etcd
//!   has a leader and this supervisor reaches it;
//! - `lease`, the current lease (0 before the first grant);
//! - `epoch`, bumped on every new lease and every return to health, so that the publisher
//!   republishes and the watcher lists afresh.
//!
//! A lease found gone (an answer with TTL 0: it expired while this supervisor was cut off) is
//! granted anew. After a failed attempt the next one comes sooner than a period, backing off
//! from 100 ms to one period, so that a lost member or a leader election is ridden out.

use crate::stackfile::cluster::ClusterConfig;
use etcd_client::{Client, ConnectOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What the supervisor knows of etcd now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// The lease the supervisor's keys live on (0: none yet).
    pub lease: i64,
    /// Bumped on each new lease and each return to health.
    pub epoch: u64,
    /// A keepalive was answered within the last `ttl` (three periods).
    pub healthy: bool,
}

/// The client and the keepalive task.
pub struct Session {
    /// The etcd client (cheap to clone).
    pub client: Client,
    /// The link, as the keepalive task sees it.
    pub link: watch::Receiver<Link>,
    keepalive: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Makes the client (no connection is needed yet) and starts the keepalive task.
    pub async fn start(config: Arc<ClusterConfig>) -> anyhow::Result<Session> {
        let period = period(config.ttl);
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1).min(period))
            .with_keep_alive(period, period)
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        let endpoints = config.urls();
        let client = Client::connect(&endpoints, Some(options))
            .await
            .map_err(|e| anyhow::anyhow!("cannot set up the etcd client for {endpoints:?}: {e}"))?;
        let (tx, link) = watch::channel(Link::default());
        let keepalive = tokio::spawn(keep_alive(client.clone(), config, tx));
        Ok(Session {
            client,
            link,
            keepalive,
        })
    }

    /// Stops the keepalive and revokes the lease: every key still on it goes at once.
    pub async fn revoke(self) {
        self.keepalive.abort();
        let lease = self.link.borrow().lease;
        if lease != 0 {
            let mut client = self.client.clone();
            match client.lease_revoke(lease).await {
                Ok(_) => tracing::info!("cluster: revoked lease {lease:x}"),
                Err(e) => tracing::warn!("cluster: cannot revoke lease {lease:x}: {e}"),
            }
        }
    }
}

/// Whether an etcd error says the lease no longer exists (it expired while this supervisor
/// was cut off): then a new one is granted.
fn lease_gone(why: &str) -> bool {
    why.contains("lease not found")
}

/// How many keepalive periods without an answer lose the link's health: a whole `ttl`.
const STALE: u32 = 3;

/// The keepalive period: a third of the time to live.
pub fn period(ttl: Duration) -> Duration {
    ttl / 3
}

/// Grants the lease and keeps it alive, forever (aborted at the end).
async fn keep_alive(mut client: Client, config: Arc<ClusterConfig>, link: watch::Sender<Link>) {
    let ttl = config.ttl.as_secs() as i64;
    let mut period = period(config.ttl);
    let mut retry = Duration::from_millis(100);
    let mut last_answer: Option<Instant> = None;
    let unhealthy =
        |link: &watch::Sender<Link>, last: Option<Instant>, period: Duration, why: &str| {
            if last.is_none_or(|t| t.elapsed() >= STALE * period)
                && link.send_if_modified(|l| std::mem::replace(&mut l.healthy, false))
            {
                tracing::warn!(
                    "cluster: etcd has not answered a keepalive for {} ({why}): remote \
                 dependencies count as not ready until it does",
                    herald::format_duration(STALE * period)
                );
            }
        };
    loop {
        // A lease.
        let granted = tokio::time::timeout(period, client.lease_grant(ttl, None)).await;
        let lease = match granted {
            Ok(Ok(granted)) => granted,
            outcome => {
                let why = outcome.map_or_else(
                    |_| "no answer".to_string(),
                    |r| r.err().map(|e| e.to_string()).unwrap_or_default(),
                );
                tracing::debug!("cluster: cannot grant a lease: {why}");
                unhealthy(&link, last_answer, period, &why);
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(period);
                continue;
            }
        };
        period = self::period(Duration::from_secs(lease.ttl().max(1) as u64));
        last_answer = Some(Instant::now());
        retry = Duration::from_millis(100);
        tracing::info!(
            "cluster: lease {:x} granted, ttl {}s",
            lease.id(),
            lease.ttl()
        );
        link.send_modify(|l| {
            l.lease = lease.id();
            l.epoch += 1;
            l.healthy = true;
        });
        // Kept alive until it is found gone.
        renew(
            &mut client,
            lease.id(),
            period,
            &link,
            &mut last_answer,
            &unhealthy,
        )
        .await;
        tracing::warn!(
            "cluster: lease {:x} is gone; granting a new one",
            lease.id()
        );
    }
}

/// Renews `lease` every `period` until it is found gone.
async fn renew(
    client: &mut Client,
    lease: i64,
    period: Duration,
    link: &watch::Sender<Link>,
    last_answer: &mut Option<Instant>,
    unhealthy: &impl Fn(&watch::Sender<Link>, Option<Instant>, Duration, &str),
) {
    let mut stream = None;
    let mut wait = Duration::ZERO;
    let mut retry = Duration::from_millis(100);
    let failed = |wait: &mut Duration, retry: &mut Duration| {
        *wait = *retry;
        *retry = (*retry * 2).min(period);
    };
    loop {
        tokio::time::sleep(wait).await;
        if stream.is_none() {
            match tokio::time::timeout(period, client.lease_keep_alive(lease)).await {
                Ok(Ok(opened)) => stream = Some(opened),
                outcome => {
                    let why = outcome.map_or_else(
                        |_| "no answer".to_string(),
                        |r| r.err().map(|e| e.to_string()).unwrap_or_default(),
                    );
                    tracing::debug!("cluster: keepalive stream: {why}");
                    if lease_gone(&why) {
                        return;
                    }
                    unhealthy(link, *last_answer, period, &why);
                    failed(&mut wait, &mut retry);
                    continue;
                }
            }
        }
        let answer = {
            let (keeper, answers) = stream.as_mut().expect("opened above");
            let answer = tokio::time::timeout(period, async {
                keeper.keep_alive().await?;
                answers.message().await
            });
            // Health is lost `STALE` periods after the last answer, even while this one
            // is pending.
            let stale_at = last_answer.map_or_else(Instant::now, |t| t + STALE * period);
            tokio::pin!(answer);
            loop {
                tokio::select! {
                    answer = &mut answer => break answer,
                    _ = tokio::time::sleep_until(stale_at), if link.borrow().healthy => {
                        unhealthy(link, *last_answer, period, "no answer");
                    }
                }
            }
        };
        match answer {
            Ok(Ok(Some(answer))) if answer.ttl() > 0 => {
                *last_answer = Some(Instant::now());
                wait = period;
                retry = Duration::from_millis(100);
                link.send_if_modified(|l| {
                    let recovered = !l.healthy;
                    if recovered {
                        tracing::info!("cluster: etcd answers again");
                        l.healthy = true;
                        l.epoch += 1;
                    }
                    recovered
                });
            }
            Ok(Ok(Some(_))) => return,
            outcome => {
                let why = match outcome {
                    Err(_) => "no answer".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Ok(_) => "the stream ended".to_string(),
                };
                tracing::debug!("cluster: keepalive of lease {lease:x}: {why}");
                if lease_gone(&why) {
                    return;
                }
                stream = None;
                unhealthy(link, *last_answer, period, &why);
                failed(&mut wait, &mut retry);
            }
        }
    }
}
