//! `unix = "path"`: ready once a connect to the unix socket succeeds.

use super::{InvalidProbe, io_reason};
use crate::{BoxFuture, CheckKind, Probe};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;

/// Ready once a connect to the unix stream socket at `path` succeeds; the connection is closed
/// at once. Each attempt is bounded by a connect timeout (1 s by default).
///
/// ```
/// use herald::probe::UnixProbe;
/// use herald::{CheckKind, Probe};
/// let probe = UnixProbe::new("/run/containerd/containerd.sock")?;
/// assert_eq!(probe.kind(), CheckKind::Unix);
/// # Ok::<(), herald::probe::InvalidProbe>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixProbe {
    path: PathBuf,
    connect_timeout: Duration,
}

impl UnixProbe {
    /// A probe of the socket at `path`, which must not be empty. A relative path is taken
    /// from the process's current folder at each attempt (the stack file's reader makes it
    /// absolute).
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, InvalidProbe> {
        let path = path.into();
        if path.as_os_str().is_empty() {
            return Err(InvalidProbe::new("the path is empty"));
        }
        Ok(Self {
            path,
            connect_timeout: Duration::from_secs(1),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bounds each connect attempt (1 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

impl Probe for UnixProbe {
    fn kind(&self) -> CheckKind {
        CheckKind::Unix
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
        let probe = UnixProbe::new(&path).unwrap();
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
            UnixProbe::new(&path).unwrap().probe().await.unwrap_err(),
            "connection refused"
        );
    }
}
