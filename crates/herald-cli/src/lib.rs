//! The `herald` command: read a stack file, check it, draw its graph, run it.
//!
//! - [`stackfile`] reads `herald.toml` or `herald.yaml` into specs, every problem placed;
//! - [`cli`] is the command line;
//! - [`graph_view`] draws the dependency graph as text, dot, mermaid or JSON;
//! - [`import`] writes a Procfile or a process-compose file as a stack file;
//! - [`runtime`] runs the commands that act on a running stack;
//! - [`logging`] writes the supervisor's own log, `herald.log`.

pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph_view;
pub mod import;
pub mod logging;
pub mod runtime;
pub mod stackfile;
