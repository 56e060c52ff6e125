//! `unix = "path"`: ready once a connect to the unix socket succeeds.

use super::io_reason;
use crate::{BoxFuture, Probe};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UnixStream;

/// Ready once a connect to the unix stream socket at `path` succeeds; the connection is closed
/// at once. Each attempt is bounded by a connect timeout (1 s by default).
///
/// ```
/// use herald::probe::UnixProbe;
/// use herald::Probe;
/// let probe = UnixProbe::new("/run/containerd/containerd.sock");
/// assert_eq!(probe.kind(), "unix");
/// ```
#[derive(Debug, Clone)]
pub struct UnixProbe {
    path: PathBuf,
    connect_timeout: Duration,
}

impl UnixProbe {
    /// A probe of the socket at `path`. A relative path is taken from the process's current
    /// folder ([`probes_for`](crate::probes_for) resolves it against the stack file's folder).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            connect_timeout: Duration::from_secs(1),
        }
    }

    /// Bounds each connect attempt (1 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

impl Probe for UnixProbe {
    fn kind(&self) -> &str {
        "unix"
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        let connect = async {
            UnixStream::connect(&self.path)
                .await
                .map(drop)
                .map_err(|e| io_reason(&e))
        };
        Box::pin(super::bounded(
            self.connect_timeout,
            "connect timed out after",
            connect,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    #[tokio::test]
    async fn missing_then_refused_then_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let probe = UnixProbe::new(&path);
        assert_eq!(
            probe.probe().await.unwrap_err(),
            "no such file or directory"
        );

        // A socket file nobody listens on any more is refused.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert_eq!(probe.probe().await.unwrap_err(), "connection refused");

        std::fs::remove_file(&path).unwrap();
        let _listener = UnixListener::bind(&path).unwrap();
        probe.probe().await.unwrap();
    }

    #[tokio::test]
    async fn a_plain_file_is_not_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            UnixProbe::new(&path).probe().await.unwrap_err(),
            "connection refused"
        );
    }
}
