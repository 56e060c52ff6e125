//! The start-up benchmark of `benchmarks.md`: scenarios, the setups of the tools compared,
//! the harness that runs them in alternation, and the statistics it reports.
//!
//! Everything is measured from the fixtures' own records (CLOCK_MONOTONIC): each fixture
//! writes when its `main` began and when it truly became ready, so every tool is measured the
//! same way.

pub mod chaincost;
pub mod dinit;
pub mod peers;
pub mod procfs;
pub mod scenario;
pub mod stackrun;
pub mod stats;
pub mod suite;
