//! The stand-in of a remote component (`@node/component`): an in-process component whose
//! state mirrors the key that node publishes.
//!
//! One run: it waits (the engine shows `waiting`) until the [`View`] has the key up and is
//! current, reports its spawn and is ready at once; then it waits until the key is no longer
//! up (deleted, its lease expired, another state) or etcd is lost, and ends with a failure
//! that says which. The engine then restarts it (`restarting`, then `waiting` again), so a
//! `binds_to` dependent stops and starts again once the key is back, and a `requires`
//! dependent that is still waiting keeps waiting. Its spec (`stackfile::cluster::stand_in`)
//! never lets it fail for good.

use super::watch::{Published, View};
use herald::{BoxFuture, CheckKind, Component, Context, Failure};
use tokio::sync::watch;

/// The stand-in of one remote component.
pub struct Remote {
    name: String,
    view: watch::Receiver<View>,
}

impl Remote {
    /// The stand-in of `name` over `view`.
    pub fn new(name: &str, view: watch::Receiver<View>) -> Remote {
        Remote {
            name: name.to_string(),
            view,
        }
    }
}

/// The check kind a remote component's errors carry.
pub fn check_kind() -> CheckKind {
    CheckKind::Other("remote".into())
}

fn describe(name: &str, published: &Published) -> String {
    let node = crate::stackfile::cluster::split_remote(name).map_or("", |(n, _)| n);
    match published.pid {
        Some(pid) => format!(
            "{} on {node} (pid {pid}) since {}",
            published.state, published.since
        ),
        None => format!("{} on {node} since {}", published.state, published.since),
    }
}

/// Why `name` is no longer up, as `view` shows it.
fn gone(name: &str, view: &View) -> String {
    if !view.healthy {
        return "etcd is unreachable or has lost its quorum: the remote state is unknown".into();
    }
    match view.entries.get(name) {
        None => "its key is gone from etcd (stopped, or its supervisor's lease expired)".into(),
        Some(p) => format!("it is {} on its node", p.state),
    }
}

impl Component for Remote {
    fn run(&self, ctx: Context) -> BoxFuture<'static, Result<(), Failure>> {
        let name = self.name.clone();
        let mut view = self.view.clone();
        Box::pin(async move {
            let detail = tokio::select! {
                _ = ctx.stopped() => return Ok(()),
                up = view.wait_for(|v| v.up(&name).is_some()) => {
                    up.ok().and_then(|v| v.up(&name).map(|p| describe(&name, p)))
                }
            };
            let Some(detail) = detail else {
                ctx.stopped().await;
                return Ok(());
            };
            ctx.set_detail(detail);
            ctx.spawned(None);
            let reason = tokio::select! {
                _ = ctx.stopped() => return Ok(()),
                down = view.wait_for(|v| v.up(&name).is_none()) => {
                    down.ok().map(|v| gone(&name, &v))
                }
            };
            let Some(reason) = reason else {
                ctx.stopped().await;
                return Ok(());
            };
            Err(Failure::new(check_kind(), name, reason))
        })
    }
}
