//! Judging one start: the component's own signal and its probes, against the deadline.
//!
//! Exactly one of these runs per start of a component, inside its supervisor; waiters never
//! run checks. Probes are polled with backoff (there is no event to wait for); the signal is
//! awaited, never polled. Dropping the future stops every probe at once, so nothing is probed
//! after the component is ready or has failed.

use crate::component::RunReport;
use crate::{Backoff, BackoffSpec, Probe, Readiness, ReadinessError};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::watch;
use tokio::time::Instant;

/// The deadline and spacing for one start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub started: Instant,
    pub deadline: Instant,
    pub interval: BackoffSpec,
}

impl Window {
    fn timeout_text(&self) -> String {
        crate::format_duration(self.deadline - self.started)
    }
}

/// Resolves `Ok` once every check of `readiness` has passed, or with the first check's error.
pub(crate) async fn judge(
    component: &str,
    readiness: Readiness,
    mut report: watch::Receiver<RunReport>,
    window: Window,
    probes_spent: &AtomicU32,
) -> Result<(), ReadinessError> {
    let mut checks = FuturesUnordered::new();
    for probe in readiness.probes {
        checks.push(futures_util::future::Either::Left(probe_loop(
            component,
            probe,
            window,
            probes_spent,
        )));
    }
    if let Some((kind, target)) = readiness.signal {
        let report = &mut report;
        checks.push(futures_util::future::Either::Right(async move {
            tokio::select! {
                signalled = async { report.wait_for(|r| r.ready).await.is_ok() } => {
                    if !signalled {
                        // The run has ended; its exit, not this check, tells why.
                        std::future::pending::<()>().await;
                    }
                    Ok(())
                }
                _ = tokio::time::sleep_until(window.deadline) => {
                    let reason = format!("no readiness signal within {}", window.timeout_text());
                    Err(ReadinessError::new(component, kind, target, reason)
                        .with_elapsed(window.started.elapsed()))
                }
            }
        }));
    }
    while let Some(result) = checks.next().await {
        result?;
    }
    Ok(())
}

/// Probes until the probe passes or the deadline passes, with backoff between attempts.
async fn probe_loop(
    component: &str,
    probe: Arc<dyn Probe>,
    window: Window,
    probes_spent: &AtomicU32,
) -> Result<(), ReadinessError> {
    let mut backoff = Backoff::new(window.interval).with_deadline(window.deadline);
    let mut attempts = 0u32;
    let mut last = None;
    loop {
        attempts += 1;
        probes_spent.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout_at(window.deadline, probe.probe()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(reason)) => last = Some(reason),
            Err(_) => {
                last.get_or_insert_with(|| "the attempt did not finish".to_string());
                break;
            }
        }
        match backoff.next_delay() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => break,
        }
    }
    let reason = last.unwrap_or_else(|| format!("not ready within {}", window.timeout_text()));
    Err(
        ReadinessError::new(component, probe.kind(), probe.target(), reason)
            .with_attempts(attempts)
            .with_elapsed(window.started.elapsed()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use std::time::Duration;

    struct ReadyAfter {
        calls: AtomicU32,
        after: u32,
    }

    impl Probe for ReadyAfter {
        fn kind(&self) -> &str {
            "count"
        }
        fn target(&self) -> String {
            "n".into()
        }
        fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n >= self.after {
                    Ok(())
                } else {
                    Err(format!("not yet ({n})"))
                }
            })
        }
    }

    fn window(timeout_ms: u64) -> Window {
        let started = Instant::now();
        Window {
            started,
            deadline: started + Duration::from_millis(timeout_ms),
            interval: BackoffSpec::PROBE,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probes_stop_the_moment_they_pass() {
        let probe = Arc::new(ReadyAfter {
            calls: AtomicU32::new(0),
            after: 4,
        });
        let readiness = Readiness {
            signal: None,
            probes: vec![probe.clone()],
        };
        let spent = AtomicU32::new(0);
        let (_tx, rx) = watch::channel(RunReport::default());
        judge("c", readiness, rx, window(10_000), &spent)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(probe.calls.load(Ordering::SeqCst), 4);
        assert_eq!(spent.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_never_passes_reports_its_last_reason_and_attempts() {
        let probe = Arc::new(ReadyAfter {
            calls: AtomicU32::new(0),
            after: u32::MAX,
        });
        let readiness = Readiness {
            signal: None,
            probes: vec![probe],
        };
        let spent = AtomicU32::new(0);
        let (_tx, rx) = watch::channel(RunReport::default());
        let err = judge("c", readiness, rx, window(2_000), &spent)
            .await
            .unwrap_err();
        assert_eq!(err.check, "count");
        assert!(err.reason.starts_with("not yet"), "{}", err.reason);
        assert_eq!(err.attempts, spent.load(Ordering::SeqCst));
        // Backoff from 5 ms to 500 ms over 2 s: a handful of attempts, not hundreds.
        assert!(
            (5..=15).contains(&err.attempts),
            "{} attempts",
            err.attempts
        );
        assert_eq!(err.elapsed_ms, 2_000);
    }

    #[tokio::test(start_paused = true)]
    async fn the_signal_is_awaited_not_polled() {
        let readiness = Readiness {
            signal: Some(("notify".into(), "sock".into())),
            probes: vec![],
        };
        let spent = AtomicU32::new(0);
        let (tx, rx) = watch::channel(RunReport::default());
        let judged = tokio::spawn(async move {
            let spent = AtomicU32::new(0);
            judge("c", readiness, rx, window(1_000), &spent).await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.send_modify(|r| r.ready = true);
        judged.await.unwrap().unwrap();
        assert_eq!(spent.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_signal_times_out_with_its_kind() {
        let readiness = Readiness {
            signal: Some(("notify".into(), "sock".into())),
            probes: vec![],
        };
        let spent = AtomicU32::new(0);
        let (_tx, rx) = watch::channel(RunReport::default());
        let err = judge("c", readiness, rx, window(1_000), &spent)
            .await
            .unwrap_err();
        assert_eq!(
            (err.check.as_str(), err.target.as_str()),
            ("notify", "sock")
        );
        assert!(
            err.reason.contains("no readiness signal within 1s"),
            "{}",
            err.reason
        );
    }
}
