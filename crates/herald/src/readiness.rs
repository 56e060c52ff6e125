//! Judging one start: the component's own signal and its probes, against the deadline.
//!
//! Exactly one of these runs per start of a component, inside its supervisor; waiters never
//! run checks. Probes are polled, spaced by [`ProbeSpacing`] so that detection stays a small
//! fraction of the time already waited; the signal is awaited, never polled. Signs of life from
//! the run (a process's output, a new status) let a pending probe run early, no sooner than
//! [`ProbeSpacing::early`] allows. Dropping the future stops every probe at once, so nothing is
//! probed after the component is ready or has failed.

use crate::component::RunReport;
use crate::{BackoffSpec, Probe, ProbeSpacing, Readiness, ReadinessError};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{Notify, watch};
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

/// Resolves at `deadline`, or later if the run extended it (`EXTEND_TIMEOUT_USEC=`, see
/// `Context::extend_timeout`).
async fn signal_deadline(mut deadline: Instant, report: &watch::Receiver<RunReport>) {
    loop {
        tokio::time::sleep_until(deadline).await;
        match report.borrow().extended {
            Some(later) if later > deadline => deadline = later,
            _ => return,
        }
    }
}

/// Resolves `Ok` once every check of `readiness` has passed, or with the first check's error.
/// `activity` is woken by the run's signs of life (see `Context::stir`).
pub(crate) async fn await_ready(
    component: &str,
    readiness: Readiness,
    mut report: watch::Receiver<RunReport>,
    window: Window,
    probes_spent: &AtomicU32,
    activity: &Notify,
) -> Result<(), ReadinessError> {
    let mut checks = FuturesUnordered::new();
    for probe in readiness.probes {
        checks.push(futures_util::future::Either::Left(probe_loop(
            component,
            probe,
            window,
            probes_spent,
            activity,
        )));
    }
    if let Some((kind, target)) = readiness.signal {
        // A second view of the report: the deadline the run extended, and its note.
        let extended = report.clone();
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
                _ = signal_deadline(window.deadline, &extended) => {
                    let mut reason =
                        format!("no readiness signal within {}", window.timeout_text());
                    if let Some(note) = &extended.borrow().signal_note {
                        reason.push_str(&format!(" ({note})"));
                    }
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

/// Probes until the probe passes or the deadline passes, spaced by [`ProbeSpacing`]; a sign of
/// life on `activity` (also one during an attempt) brings the next attempt forward to the
/// early delay after the last one, if that is sooner.
async fn probe_loop(
    component: &str,
    probe: Arc<dyn Probe>,
    window: Window,
    probes_spent: &AtomicU32,
    activity: &Notify,
) -> Result<(), ReadinessError> {
    let spacing = ProbeSpacing::new(window.interval, Instant::now()).with_deadline(window.deadline);
    let mut attempts = 0u32;
    let mut last = None;
    loop {
        // Registered before the attempt, so that output written while it runs counts.
        let stirred = activity.notified();
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
        let (Some(delay), Some(early)) = (spacing.next_delay(), spacing.early_delay()) else {
            break;
        };
        let attempted = Instant::now();
        let due = attempted + delay;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = stirred => tokio::time::sleep_until(due.min(attempted + early)).await,
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
        fn kind(&self) -> crate::CheckKind {
            crate::CheckKind::other("count")
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
        await_ready("c", readiness, rx, window(10_000), &spent, &Notify::new())
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
        let err = await_ready("c", readiness, rx, window(2_000), &spent, &Notify::new())
            .await
            .unwrap_err();
        assert_eq!(err.check, "count");
        assert!(err.reason.starts_with("not yet"), "{}", err.reason);
        assert_eq!(err.attempts, spent.load(Ordering::SeqCst));
        // Over 2 s the spacing grows from 5 ms to about 70 ms: 83 attempts with no jitter,
        // 103 with every delay at the jitter's shortest (fewer as the timer rounds sleeps up
        // to a millisecond). Tens of attempts, not the 400 of probing every 5 ms.
        assert!(
            (70..=104).contains(&err.attempts),
            "{} attempts",
            err.attempts
        );
        assert_eq!(err.elapsed_ms, 2_000);
    }

    #[tokio::test(start_paused = true)]
    async fn the_signal_is_awaited_not_polled() {
        let readiness = Readiness {
            signal: Some((crate::CheckKind::Notify, "sock".into())),
            probes: vec![],
        };
        let spent = Arc::new(AtomicU32::new(0));
        let (tx, rx) = watch::channel(RunReport::default());
        let counted = spent.clone();
        let judged = tokio::spawn(async move {
            await_ready("c", readiness, rx, window(1_000), &counted, &Notify::new()).await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!judged.is_finished(), "ready before the signal");
        tx.send_modify(|r| r.ready = true);
        // The clock is paused and does not move from here: a check that polled would need
        // time to pass before it saw the signal; an awaited one sees it at once.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            judged.is_finished(),
            "the signal was not seen without time passing"
        );
        judged.await.unwrap().unwrap();
        assert_eq!(spent.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_signal_times_out_with_its_kind() {
        let readiness = Readiness {
            signal: Some((crate::CheckKind::Notify, "sock".into())),
            probes: vec![],
        };
        let spent = AtomicU32::new(0);
        let (_tx, rx) = watch::channel(RunReport::default());
        let err = await_ready("c", readiness, rx, window(1_000), &spent, &Notify::new())
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

    /// Never passes; records when each attempt ran, and may stir the run while it runs.
    struct Recorder {
        at: std::sync::Mutex<Vec<Instant>>,
        stirs: Option<Arc<Notify>>,
    }

    impl Probe for Recorder {
        fn kind(&self) -> crate::CheckKind {
            crate::CheckKind::other("record")
        }
        fn target(&self) -> String {
            "r".into()
        }
        fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
            self.at.lock().unwrap().push(Instant::now());
            if let Some(activity) = &self.stirs {
                activity.notify_waiters();
            }
            Box::pin(async { Err("no".to_string()) })
        }
    }

    /// Starts judging `probe` with a 60 s deadline; returns the stirring handle.
    fn start_judging(probe: Arc<Recorder>, activity: Arc<Notify>) {
        let readiness = Readiness {
            signal: None,
            probes: vec![probe],
        };
        tokio::spawn(async move {
            let spent = AtomicU32::new(0);
            let (_tx, rx) = watch::channel(RunReport::default());
            let _ = await_ready("c", readiness, rx, window(60_000), &spent, &activity).await;
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_sign_of_life_brings_the_pending_probe_forward() {
        let activity = Arc::new(Notify::new());
        let probe = Arc::new(Recorder {
            at: Default::default(),
            stirs: None,
        });
        start_judging(probe.clone(), activity.clone());
        // 16 s in, the spacing is at its 500 ms cap (400 ms at the jitter's shortest).
        tokio::time::sleep(Duration::from_secs(16)).await;
        let last = *probe.at.lock().unwrap().last().unwrap();
        let count = probe.at.lock().unwrap().len();
        tokio::time::sleep_until(last + Duration::from_millis(200)).await;
        assert_eq!(
            probe.at.lock().unwrap().len(),
            count,
            "probed before it was due"
        );
        let stirred = Instant::now();
        activity.notify_waiters();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let at = probe.at.lock().unwrap().clone();
        assert_eq!(
            at.len(),
            count + 1,
            "the stir did not bring a probe forward"
        );
        assert!(at[count] >= stirred && at[count] - stirred <= Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_output_is_probed_at_a_quarter_of_the_spacing_not_busily() {
        let activity = Arc::new(Notify::new());
        // The probe stirs on every attempt: a sign of life during an attempt counts too, and
        // the run looks as busy as a logger that never stops.
        let probe = Arc::new(Recorder {
            at: Default::default(),
            stirs: Some(activity.clone()),
        });
        start_judging(probe.clone(), activity);
        tokio::time::sleep(Duration::from_secs(25)).await;
        let at = probe.at.lock().unwrap().clone();
        // Early on, every 5 ms (the initial spacing is the floor); 15 s in, every 125 ms (a
        // quarter of the 500 ms cap), where a quiet run is probed every 400 to 500 ms.
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| *g >= Duration::from_millis(5)),
            "{gaps:?}"
        );
        let late: Vec<&Duration> = at
            .windows(2)
            .zip(&gaps)
            .filter(|(w, _)| w[0] - at[0] >= Duration::from_secs(15))
            .map(|(_, g)| g)
            .collect();
        assert!(!late.is_empty());
        for gap in late {
            assert!(
                (Duration::from_millis(125)..=Duration::from_millis(126)).contains(gap),
                "{gap:?}"
            );
        }
    }
}
