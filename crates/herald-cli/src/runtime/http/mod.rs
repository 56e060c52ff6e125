//! The HTTP interface: one router, served on `<state_dir>/api.sock` always and on TCP with
//! `herald up --listen ADDR`.
//!
//! - [`router`]: the routes, the state every handler shares, and the table the OpenAPI
//!   document is made from ([`openapi`]);
//! - [`server`]: the accept loops: bounded connections, bounded requests, the unix socket's
//!   owner check; nothing runs while nobody is connected;
//! - [`auth`]: who may do what: the unix socket is trusted, TCP needs the bearer token (except
//!   `/livez` and `/readyz`), `--read-only` refuses every action;
//! - [`readyz`]: `/livez` and `/readyz` in the Kubernetes format;
//! - [`metrics`]: `/metrics` in the Prometheus text format or OpenMetrics;
//! - [`api`]: `/api/v1`: components, controls, the graph, log tails;
//! - [`sse`]: the Server-Sent Event streams: events (resumable by `seq`) and followed logs;
//! - [`ui`]: the dashboard, one page embedded in the binary.

pub mod analyze;
pub mod api;
pub mod auth;
pub mod metrics;
pub mod openapi;
pub mod readyz;
pub mod router;
pub mod server;
pub mod sse;
pub mod ui;

pub use auth::Token;
pub use server::bind;

use std::net::SocketAddr;

/// The unix socket's file name in the state folder.
pub const SOCKET: &str = "api.sock";

/// How the HTTP interface is served beyond the unix socket.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `--listen ADDR`: also serve on this TCP address.
    pub listen: Option<SocketAddr>,
    /// The bearer token TCP clients must present.
    pub token: Option<Token>,
    /// `--read-only`: refuse every action.
    pub read_only: bool,
}

impl Config {
    /// The configuration for `--listen` (if any) and `--read-only`, with the token from
    /// `HERALD_TOKEN` or the file `HERALD_TOKEN_FILE` names, else from `token_file` (the stack
    /// file's `[stack] token_file`). Listening on TCP without a token is refused: everything
    /// but `/livez` and `/readyz` would be open to anyone who can connect.
    pub fn from_env(
        listen: Option<SocketAddr>,
        read_only: bool,
        token_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Config> {
        let token = match Token::from_env()? {
            Some(token) => Some(token),
            None => token_file.map(Token::from_file).transpose()?,
        };
        if let Some(addr) = listen
            && token.is_none()
        {
            anyhow::bail!(
                "--listen {addr} needs a bearer token: set HERALD_TOKEN, or HERALD_TOKEN_FILE \
                 (or [stack] token_file) to a file that holds one"
            );
        }
        Ok(Config {
            listen,
            token,
            read_only,
        })
    }
}
