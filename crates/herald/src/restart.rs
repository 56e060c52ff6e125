//! Restart bookkeeping for one component: the backoff between starts, and the start limit
//! (more failed starts than `burst` within `interval` make a failure final).
//!
//! Whether a component stayed up long enough for its backoff to start afresh is decided when
//! its run ends, from how long it had been ready, so nothing waits on a timer while it runs.

use crate::{Backoff, ComponentSpec, RestartPolicy, StartLimit};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// What a failed start leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Start again after the backoff delay.
    Retry,
    /// The policy says never restart: the failure is final.
    Final,
    /// Too many failed starts: the failure is final. Carries how many fell in the window.
    Limited(usize),
}

#[derive(Debug)]
pub(crate) struct Restarts {
    policy: RestartPolicy,
    limit: StartLimit,
    backoff: Backoff,
    /// How long a run must stay ready for the backoff to reset (`restart_backoff.max`).
    stable_after: Duration,
    failures: VecDeque<Instant>,
}

impl Restarts {
    pub(crate) fn new(spec: &ComponentSpec) -> Self {
        Self {
            policy: spec.restart,
            limit: spec.start_limit,
            backoff: Backoff::new(spec.restart_backoff),
            stable_after: spec.restart_backoff.max,
            failures: VecDeque::new(),
        }
    }

    /// Records a failed start at `now` and says what follows.
    pub(crate) fn failed(&mut self, now: Instant) -> Verdict {
        self.failures.push_back(now);
        let window = self.limit.interval;
        while self
            .failures
            .front()
            .is_some_and(|&t| now.duration_since(t) > window)
        {
            self.failures.pop_front();
        }
        if self.failures.len() > self.limit.burst as usize {
            Verdict::Limited(self.failures.len())
        } else if self.policy == RestartPolicy::No {
            Verdict::Final
        } else {
            Verdict::Retry
        }
    }

    /// Whether a successful exit of a service is followed by a restart.
    pub(crate) fn after_clean_exit(&self) -> bool {
        self.policy == RestartPolicy::Always
    }

    /// The delay before the next start.
    pub(crate) fn delay(&mut self) -> Duration {
        self.backoff.next_delay().unwrap_or_default()
    }

    /// A run that had been ready for `ready_for` has ended (however it ended). If it stayed
    /// ready at least `restart_backoff.max`, it was stable: the next delay starts the backoff
    /// afresh. The start limit is not touched: its window forgets old failures by itself.
    pub(crate) fn ended_after(&mut self, ready_for: Duration) {
        if ready_for >= self.stable_after {
            self.backoff.reset();
        }
    }

    /// Started again by hand: forget past failures.
    pub(crate) fn reset(&mut self) {
        self.backoff.reset();
        self.failures.clear();
    }

    /// The start limit's window, for messages.
    pub(crate) fn window(&self) -> Duration {
        self.limit.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restarts(policy: RestartPolicy, burst: u32, secs: u64) -> Restarts {
        let spec = ComponentSpec::new("x")
            .restart(policy)
            .start_limit(burst, Duration::from_secs(secs));
        Restarts::new(&spec)
    }

    #[tokio::test(start_paused = true)]
    async fn more_failures_than_burst_within_the_window_are_final() {
        let mut r = restarts(RestartPolicy::OnFailure, 2, 10);
        let t = Instant::now();
        assert_eq!(r.failed(t), Verdict::Retry);
        assert_eq!(r.failed(t + Duration::from_secs(1)), Verdict::Retry);
        assert_eq!(r.failed(t + Duration::from_secs(2)), Verdict::Limited(3));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_older_than_the_window_are_forgotten() {
        let mut r = restarts(RestartPolicy::Always, 1, 10);
        let t = Instant::now();
        assert_eq!(r.failed(t), Verdict::Retry);
        assert_eq!(r.failed(t + Duration::from_secs(11)), Verdict::Retry);
        assert_eq!(r.failed(t + Duration::from_secs(12)), Verdict::Limited(2));
        r.reset();
        assert_eq!(r.failed(t + Duration::from_secs(13)), Verdict::Retry);
    }

    #[tokio::test(start_paused = true)]
    async fn no_restart_policy_makes_the_first_failure_final() {
        let mut r = restarts(RestartPolicy::No, 5, 60);
        assert_eq!(r.failed(Instant::now()), Verdict::Final);
        assert!(!r.after_clean_exit());
        assert!(restarts(RestartPolicy::Always, 5, 60).after_clean_exit());
    }

    #[tokio::test(start_paused = true)]
    async fn delays_grow_until_a_run_stays_ready_for_the_backoff_max() {
        // The default backoff: 100 ms doubling up to 30 s.
        let mut r = restarts(RestartPolicy::OnFailure, 5, 60);
        let first = r.delay();
        let second = r.delay();
        assert!(second > first, "{first:?} then {second:?}");
        r.ended_after(Duration::from_secs(30));
        assert!(r.delay() <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_run_keeps_the_backoff_growing() {
        let mut r = restarts(RestartPolicy::OnFailure, 5, 60);
        for _ in 0..3 {
            r.delay();
        }
        // Nominal delays 100, 200, 400 ms; the fourth is 800 ms (640 to 800 with jitter).
        r.ended_after(Duration::from_secs(30) - Duration::from_millis(1));
        assert!(r.delay() >= Duration::from_millis(640));
        r.ended_after(Duration::from_secs(31));
        assert!(r.delay() <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stable_run_leaves_the_start_limit_to_its_window() {
        let mut r = restarts(RestartPolicy::OnFailure, 1, 600);
        let t = Instant::now();
        assert_eq!(r.failed(t), Verdict::Retry);
        r.ended_after(Duration::from_secs(60));
        assert_eq!(r.failed(t + Duration::from_secs(61)), Verdict::Limited(2));
    }
}
