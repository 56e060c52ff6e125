//! Exponential backoff with jitter, a cap and an optional deadline: one small type that spaces
//! both readiness probes and restarts.

use crate::BackoffSpec;
use std::time::Duration;
use tokio::time::Instant;

/// Spaces repeated attempts: each delay doubles from `initial` up to `max`, and is spread by
/// jitter (each delay is drawn from 80 % to 100 % of its nominal value) so that many loops
/// started together do not stay in step. With a deadline, delays are cut so that no sleep
/// ends past it, and none is given once it has passed.
///
/// ```
/// use std::time::Duration;
/// use herald::{Backoff, BackoffSpec};
/// let mut b = Backoff::new(BackoffSpec { initial: Duration::from_millis(10), max: Duration::from_millis(40) });
/// let delays: Vec<Duration> = (0..4).map(|_| b.next_delay().unwrap()).collect();
/// assert!(delays[0] <= Duration::from_millis(10) && delays[0] >= Duration::from_millis(8));
/// assert!(delays[3] <= Duration::from_millis(40) && delays[3] >= Duration::from_millis(32));
/// b.reset();
/// assert!(b.next_delay().unwrap() <= Duration::from_millis(10));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    spec: BackoffSpec,
    nominal: Duration,
    deadline: Option<Instant>,
    attempts: u32,
}

impl Backoff {
    /// A backoff growing from `spec.initial` to `spec.max`, with no deadline.
    pub fn new(spec: BackoffSpec) -> Self {
        Self {
            spec,
            nominal: spec.initial,
            deadline: None,
            attempts: 0,
        }
    }

    /// Gives the backoff a deadline: no delay will end past it.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// How many delays have been handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The next delay, or `None` once the deadline has passed.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let nominal = self.nominal.min(self.spec.max);
        self.nominal = nominal
            .saturating_mul(2)
            .min(self.spec.max.max(self.spec.initial));
        self.attempts += 1;
        let delay = nominal.mul_f64(0.8 + 0.2 * fastrand::f64());
        match self.deadline {
            None => Some(delay),
            Some(deadline) => {
                let left = deadline.checked_duration_since(Instant::now())?;
                (!left.is_zero()).then(|| delay.min(left))
            }
        }
    }

    /// Starts again from `initial`.
    pub fn reset(&mut self) {
        self.nominal = self.spec.initial;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(initial: u64, max: u64) -> BackoffSpec {
        BackoffSpec {
            initial: Duration::from_millis(initial),
            max: Duration::from_millis(max),
        }
    }

    #[test]
    fn grows_to_the_cap_and_stays_there() {
        let mut b = Backoff::new(spec(5, 500));
        let mut last = Duration::ZERO;
        for i in 0..20 {
            let d = b.next_delay().unwrap();
            assert!(d <= Duration::from_millis(500), "step {i}: {d:?}");
            if i < 6 {
                assert!(d >= last.mul_f64(1.5), "step {i}: {d:?} after {last:?}");
            }
            last = d;
        }
        assert!(last >= Duration::from_millis(400));
        assert_eq!(b.attempts(), 20);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut b = Backoff::new(spec(100, 100));
        let delays: std::collections::HashSet<Duration> =
            (0..50).map(|_| b.next_delay().unwrap()).collect();
        assert!(
            delays.len() > 10,
            "jitter gave only {} distinct delays",
            delays.len()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_cuts_the_last_delay_and_then_stops() {
        let deadline = Instant::now() + Duration::from_millis(25);
        let mut b = Backoff::new(spec(10, 1000)).with_deadline(deadline);
        let mut total = Duration::ZERO;
        while let Some(d) = b.next_delay() {
            tokio::time::sleep(d).await;
            total += d;
        }
        assert!(total <= Duration::from_millis(25), "{total:?}");
        // The timer rounds each sleep up to a whole millisecond; none may end later than that.
        assert!(Instant::now() >= deadline);
        assert!(Instant::now() <= deadline + Duration::from_millis(1));
        assert_eq!(b.next_delay(), None);
    }
}
