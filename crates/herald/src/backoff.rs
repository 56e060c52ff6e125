//! Spacing repeated attempts, with jitter, a cap and an optional deadline: [`Backoff`] doubles
//! each delay (restarts), [`ProbeSpacing`] keeps each delay a small fraction of the time already
//! spent probing (readiness probes).

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

/// Spaces readiness probes so that detection stays a small fraction of the time already waited.
///
/// Each delay is `initial` plus the time since probing began divided by
/// [`DIVISOR`](Self::DIVISOR) (a thirtieth of it), capped at `max`, and spread by the same jitter as [`Backoff`] (80 % to 100 % of the
/// nominal value). Probes still back off: the delay grows steadily with the time waited, so a
/// component that takes minutes sees about two probes a second with the default cap, not
/// hundreds. With a deadline, delays are cut so that no sleep ends past it, and none is given
/// once it has passed.
///
/// # The trade-off
///
/// A component that becomes ready at `t` is seen at the next probe, on average half a gap
/// later: about `(initial + t / 30) / 2`, so 1.7 % of the time waited plus a few milliseconds.
/// Probing over `t` costs about `30 × ln(1 + t / (30 × initial))` attempts (a tenth more with the
/// jitter), until the cap is reached, then about two a second by default. A larger share spends
/// fewer probes and detects later. With the default `interval` (5 ms to 500 ms), in a simulation
/// of the law with its jitter (median detection, mean probes until detection):
///
/// | ready after | doubling (before) | this law (1/30) | share 1/20 | share 1/10 |
/// |---|---|---|---|---|
/// | 20 ms | 11 ms, 4 probes | 4 ms, 6 probes | 4 ms, 6 probes | 1 ms, 5 probes |
/// | 300 ms | 263 ms, 8 probes | 7 ms, 39 probes | 9 ms, 33 probes | 15 ms, 24 probes |
/// | 2 s | 331 ms, 12 probes | 32 ms, 92 probes | 47 ms, 71 probes | 91 ms, 45 probes |
/// | 30 s | 224 ms, 74 probes | 224 ms, 191 probes | 225 ms, 151 probes | 228 ms, 111 probes |
///
/// A thirtieth, not a twentieth: measured end to end (the timer rounds each sleep up to a
/// millisecond, and an attempt takes time), a start of 300 ms is seen about 1.5 ms later than
/// the simulation says, and the target is a median under 10 ms there.
///
/// Doubling spends the fewest probes but, once its gap is as long as the time already waited,
/// detects up to that much late (a start of 300 ms is seen at about 570 ms). Past
/// `30 × (max − initial)` (about 15 s by default) the cap sets the pace for every law.
///
/// The delay grows from `initial` at once rather than staying at `initial` until `t / 30`
/// catches up with it (a clamp): for the same detection at 300 ms a clamp spends about 10 more
/// probes, all in the first tens of milliseconds, where detection is already a few
/// milliseconds.
///
/// ```
/// use std::time::Duration;
/// use herald::{BackoffSpec, ProbeSpacing};
/// let spec = BackoffSpec { initial: Duration::from_millis(5), max: Duration::from_millis(500) };
/// let ms = |n| Duration::from_millis(n);
/// assert_eq!(ProbeSpacing::nominal(spec, ms(0)), ms(5));
/// assert_eq!(ProbeSpacing::nominal(spec, ms(300)), ms(15));
/// assert_eq!(ProbeSpacing::nominal(spec, ms(60_000)), ms(500));
/// ```
#[derive(Debug, Clone)]
pub struct ProbeSpacing {
    spec: BackoffSpec,
    started: Instant,
    deadline: Option<Instant>,
}

impl ProbeSpacing {
    /// The next delay is `initial` plus the time already spent probing divided by this.
    pub const DIVISOR: u32 = 30;

    /// How many times closer than the spacing an event (output, a status) may bring the next
    /// probe: see [`early`](Self::early).
    pub const EARLY_DIVISOR: u32 = 4;

    /// Spacing from `spec.initial` to `spec.max` for probing that began at `started`, with no
    /// deadline.
    pub fn new(spec: BackoffSpec, started: Instant) -> Self {
        Self {
            spec,
            started,
            deadline: None,
        }
    }

    /// Gives the spacing a deadline: no delay will end past it.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The delay before the next probe, without jitter, once probing has gone on for
    /// `elapsed`: `initial + elapsed / DIVISOR`, at most `max` (`max` alone if it is below
    /// `initial`).
    pub fn nominal(spec: BackoffSpec, elapsed: Duration) -> Duration {
        spec.initial
            .saturating_add(elapsed / Self::DIVISOR)
            .min(spec.max)
    }

    /// How soon after an attempt an event may bring the next one, once probing has gone on
    /// for `elapsed`: a [quarter](Self::EARLY_DIVISOR) of the [nominal](Self::nominal) delay,
    /// never less than `initial` (nor more than the nominal delay). A component that keeps
    /// writing output is so probed at most about four times as often as a quiet one, never in
    /// a busy loop.
    pub fn early(spec: BackoffSpec, elapsed: Duration) -> Duration {
        let nominal = Self::nominal(spec, elapsed);
        (nominal / Self::EARLY_DIVISOR)
            .max(spec.initial)
            .min(nominal)
    }

    /// The next delay, from now, or `None` once the deadline has passed.
    pub fn next_delay(&self) -> Option<Duration> {
        let now = Instant::now();
        let nominal = Self::nominal(self.spec, now.saturating_duration_since(self.started));
        self.cut(nominal.mul_f64(0.8 + 0.2 * fastrand::f64()), now)
    }

    /// The [early](Self::early) delay, from now, or `None` once the deadline has passed.
    pub fn early_delay(&self) -> Option<Duration> {
        let now = Instant::now();
        self.cut(
            Self::early(self.spec, now.saturating_duration_since(self.started)),
            now,
        )
    }

    fn cut(&self, delay: Duration, now: Instant) -> Option<Duration> {
        match self.deadline {
            None => Some(delay),
            Some(deadline) => {
                let left = deadline.checked_duration_since(now)?;
                (!left.is_zero()).then(|| delay.min(left))
            }
        }
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

#[cfg(test)]
mod probe_spacing_tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const PROBE: BackoffSpec = BackoffSpec::PROBE;

    #[test]
    fn the_delay_is_initial_plus_a_thirtieth_of_the_time_waited_up_to_the_cap() {
        let nominal = |elapsed| ProbeSpacing::nominal(PROBE, elapsed);
        assert_eq!(nominal(ms(0)), ms(5));
        assert_eq!(nominal(ms(30)), ms(6));
        assert_eq!(nominal(ms(300)), ms(15));
        assert_eq!(nominal(ms(3_000)), ms(105));
        assert_eq!(nominal(ms(14_820)), ms(499));
        assert_eq!(nominal(ms(14_850)), ms(500));
        assert_eq!(nominal(ms(30_000)), ms(500));
        assert_eq!(nominal(Duration::MAX), ms(500));
        let mut last = Duration::ZERO;
        for step in 0..2_000 {
            let d = nominal(ms(step * 10));
            assert!(d >= last && (ms(5)..=ms(500)).contains(&d), "{step}: {d:?}");
            last = d;
        }
    }

    #[test]
    fn the_interval_keeps_its_meaning() {
        let spec = BackoffSpec {
            initial: ms(50),
            max: ms(80),
        };
        assert_eq!(ProbeSpacing::nominal(spec, ms(0)), ms(50));
        assert_eq!(ProbeSpacing::nominal(spec, ms(300)), ms(60));
        assert_eq!(ProbeSpacing::nominal(spec, ms(10_000)), ms(80));
        // A cap below the first delay wins, as it does for `Backoff`.
        let inverted = BackoffSpec {
            initial: ms(100),
            max: ms(10),
        };
        assert_eq!(ProbeSpacing::nominal(inverted, ms(0)), ms(10));
        assert_eq!(ProbeSpacing::early(inverted, ms(0)), ms(10));
        let constant = BackoffSpec {
            initial: ms(20),
            max: ms(20),
        };
        assert_eq!(ProbeSpacing::nominal(constant, ms(60_000)), ms(20));
    }

    /// The attempts the law makes until `ready_after` with every delay scaled by `jitter`, and
    /// the gap it leaves around that instant (how late it can be seen).
    fn walk(ready_after: Duration, jitter: f64) -> (u32, Duration) {
        let mut t = Duration::ZERO;
        let mut attempts = 1;
        loop {
            let gap = ProbeSpacing::nominal(PROBE, t).mul_f64(jitter);
            if t + gap >= ready_after {
                return (attempts + 1, gap);
            }
            t += gap;
            attempts += 1;
        }
    }

    #[test]
    fn detection_stays_a_small_fraction_of_the_wait_for_tens_of_probes() {
        // (ready after, the attempts with every delay at the jitter's shortest, with none
        // shortened): the trade-off table's probe counts lie between the two.
        for (ready_after, most, fewest) in [
            (ms(20), 6, 5),
            (ms(300), 43, 35),
            (ms(2_000), 103, 83),
            (ms(30_000), 214, 172),
        ] {
            let (short, gap_short) = walk(ready_after, 0.8);
            let (long, gap_long) = walk(ready_after, 1.0);
            assert!(short <= most, "{ready_after:?}: {short} attempts");
            assert!(long >= fewest, "{ready_after:?}: {long} attempts");
            // Seen at most one gap late: 5 ms plus a thirtieth of the wait, never over the cap.
            for gap in [gap_short, gap_long] {
                assert!(gap <= ms(5) + ready_after / 30, "{ready_after:?}: {gap:?}");
                assert!(gap <= ms(500));
            }
        }
        // Where doubling leaves a gap about as long as the wait (280 ms around 300 ms).
        let (_, gap) = walk(ms(300), 1.0);
        assert!(gap <= ms(15), "{gap:?}");
    }

    #[test]
    fn an_event_brings_a_probe_at_most_four_times_closer_never_under_initial() {
        let early = |elapsed| ProbeSpacing::early(PROBE, elapsed);
        assert_eq!(early(ms(0)), ms(5));
        assert_eq!(early(ms(300)), ms(5));
        assert_eq!(early(ms(3_000)), Duration::from_micros(26_250));
        assert_eq!(early(ms(60_000)), ms(125));
        for step in 0..2_000 {
            let elapsed = ms(step * 10);
            let (e, n) = (early(elapsed), ProbeSpacing::nominal(PROBE, elapsed));
            assert!(
                e >= ms(5) && e <= n && e >= n / 4,
                "{elapsed:?}: {e:?} of {n:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn delays_follow_the_time_waited_with_jitter_and_stop_at_the_deadline() {
        let started = Instant::now();
        let spacing = ProbeSpacing::new(PROBE, started).with_deadline(started + ms(3_100));
        let first = spacing.next_delay().unwrap();
        assert!((ms(4)..=ms(5)).contains(&first), "{first:?}");
        tokio::time::sleep(ms(3_000)).await;
        let delays: Vec<Duration> = (0..50).map(|_| spacing.next_delay().unwrap()).collect();
        for d in &delays {
            assert!((ms(84)..=ms(100)).contains(d), "{d:?}");
        }
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "jitter gave {} delays", distinct.len());
        // 100 ms are left: the delay (nominal 105 ms) and the early one fit or are cut.
        assert_eq!(spacing.early_delay(), Some(Duration::from_micros(26_250)));
        tokio::time::sleep(ms(90)).await;
        assert!(spacing.next_delay().unwrap() <= ms(10));
        assert!(spacing.early_delay().unwrap() <= ms(10));
        tokio::time::sleep(ms(10)).await;
        assert_eq!(spacing.next_delay(), None);
        assert_eq!(spacing.early_delay(), None);
    }
}
