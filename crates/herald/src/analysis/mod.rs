//! Where a run's start time went: a [`Timeline`] made from its events, and what is read from
//! it: the [`Chain`] that bounded a component's start (exact: each link is the dependency
//! whose change released the start, as the `starting` event says), [`Blame`] per component,
//! the [`Summary`] line, a Chrome/Perfetto trace and an SVG or HTML plot.
//!
//! The same analysis serves a stack run by the library (feed it the events of
//! [`Running::subscribe`](crate::Running::subscribe)) and the command's event log read back
//! ([`Timeline::from_records`]).
//!
//! ```
//! use herald::{task, ComponentSpec, RunHeader, Stack, Timeline};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut stack = Stack::new();
//! let slow = |ms| task(move |ctx| async move {
//!     tokio::time::sleep(Duration::from_millis(ms)).await;
//!     ctx.ready();
//!     ctx.stopped().await;
//!     Ok(())
//! });
//! stack.add(ComponentSpec::new("etcd"), slow(30));
//! stack.add(ComponentSpec::new("cache"), slow(1));
//! stack.add(ComponentSpec::new("apiserver").requires(["etcd"]).wants(["cache"]), slow(20));
//!
//! let header = RunHeader::new("demo", &stack.graph().unwrap(), 1, 0);
//! let mut events = stack.subscribe();
//! let running = stack.start().unwrap();
//! running.wait_all().await.unwrap();
//! let mut timeline = Timeline::new(&header);
//! while let Some(event) = events.try_recv() {
//!     timeline.push(&event);
//! }
//!
//! // apiserver waited on etcd, the slower of its two dependencies.
//! let chain = timeline.chain("apiserver").unwrap();
//! let names: Vec<&str> = chain.links.iter().map(|l| l.component.as_str()).collect();
//! assert_eq!(names, ["apiserver", "etcd"]);
//! assert!(chain.critical_path() >= Duration::from_millis(50));
//! assert!(timeline.summary().line().starts_with("Startup finished in "));
//! running.shutdown().await;
//! # }
//! ```

mod blame;
mod chain;
mod plot;
mod timeline;
mod trace;

pub use blame::{Blame, BlameOrder, Summary, render_blame};
pub use chain::{Chain, Link};
pub use timeline::{Attempt, Change, ComponentTimeline, Timeline, TimelineError};
pub use trace::Phase;

use std::time::Duration;

/// A duration as systemd-analyze writes it: `312ms`, `4.812s`, `2min 3.100s`.
pub fn span(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{}us", d.as_micros())
    } else if ms < 1000.0 {
        format!("{}ms", ms.round() as u64)
    } else if d.as_secs() < 60 {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        let mins = d.as_secs() / 60;
        format!("{mins}min {:.3}s", d.as_secs_f64() - (mins * 60) as f64)
    }
}

/// Durations and times in JSON, as the event log writes them: milliseconds with three
/// decimals.
pub(crate) mod ms {
    use serde::Serializer;
    use std::time::{Duration, SystemTime};

    fn value(d: Duration) -> f64 {
        d.as_micros() as f64 / 1000.0
    }

    pub fn one<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value(*d))
    }

    pub fn opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(value(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_micros(*t))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod span_tests {
    use super::*;

    #[test]
    fn spans_read_as_systemd_writes_them() {
        assert_eq!(span(Duration::from_micros(420)), "420us");
        assert_eq!(span(Duration::from_micros(312_400)), "312ms");
        assert_eq!(span(Duration::from_micros(4_812_000)), "4.812s");
        assert_eq!(span(Duration::from_millis(123_100)), "2min 3.100s");
    }
}
