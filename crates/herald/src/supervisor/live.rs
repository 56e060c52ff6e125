//! The `live` check of a ready run: probed every period, each attempt bounded by its timeout;
//! a run of consecutive failures, and the first pass after it, are what the supervisor hears.
//! Nothing here exists (and nothing wakes) for a component without `live`.

use crate::{CheckKind, Component, LiveSpec, Probe, ReadinessError};
use std::sync::Arc;
use tokio::time::Instant;

/// What the supervisor is told.
pub(super) enum Change {
    /// `failures` consecutive attempts failed; the last one's error.
    Failing(ReadinessError),
    /// An attempt passed after a run of failures that counted.
    Passing,
}

/// The liveness of one run.
pub(super) struct Liveness {
    component: String,
    probe: Arc<dyn Probe>,
    spec: LiveSpec,
    /// When the next attempt is due.
    due: Instant,
    /// Consecutive failures so far.
    failed: u32,
    /// Whether the failures counted (and were reported).
    failing: bool,
}

impl Liveness {
    /// The liveness of a run of `component` that became ready now; `None` without `live`.
    pub(super) fn new(
        component: &str,
        spec: Option<&LiveSpec>,
        runs: &dyn Component,
    ) -> Option<Liveness> {
        let spec = spec?.clone();
        let probe = runs.live_probe(&spec.check)?;
        Some(Liveness {
            component: component.to_string(),
            probe,
            due: Instant::now() + spec.period,
            spec,
            failed: 0,
            failing: false,
        })
    }

    /// Resolves with the next change: after each attempt that changes nothing it waits for
    /// the next period.
    ///
    /// # Cancel safety
    /// Cancel-safe: an attempt dropped halfway is made again at once by the next call.
    pub(super) async fn change(&mut self) -> Change {
        loop {
            tokio::time::sleep_until(self.due).await;
            let attempt = tokio::time::timeout(self.spec.timeout, self.probe.probe()).await;
            self.due = Instant::now() + self.spec.period;
            let reason = match attempt {
                Ok(Ok(())) => {
                    self.failed = 0;
                    if std::mem::replace(&mut self.failing, false) {
                        return Change::Passing;
                    }
                    continue;
                }
                Ok(Err(reason)) => reason,
                Err(_) => format!(
                    "no answer within {}",
                    crate::format_duration(self.spec.timeout)
                ),
            };
            self.failed += 1;
            if self.failed >= self.spec.failures && !self.failing {
                self.failing = true;
                let target = format!("{} {}", self.probe.kind(), self.probe.target());
                let error =
                    ReadinessError::new(self.component.as_str(), CheckKind::Live, target, reason)
                        .with_attempts(self.failed);
                return Change::Failing(error);
            }
        }
    }
}
