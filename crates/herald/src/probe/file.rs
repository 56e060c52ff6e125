//! `file = "path"`: ready once the path exists.

use super::io_reason;
use crate::{BoxFuture, Probe};
use std::path::PathBuf;

/// Ready once `path` exists (a file, a folder, anything; a symbolic link counts once its
/// target exists).
///
/// ```
/// use herald::probe::FileProbe;
/// use herald::Probe;
/// let probe = FileProbe::new("/run/etcd/ready");
/// assert_eq!((probe.kind(), probe.target()), ("file", "/run/etcd/ready".to_string()));
/// ```
#[derive(Debug, Clone)]
pub struct FileProbe {
    path: PathBuf,
}

impl FileProbe {
    /// A probe of `path`. A relative path is taken from the process's current folder
    /// ([`probes_for`](crate::probes_for) resolves it against the stack file's folder).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl Probe for FileProbe {
    fn kind(&self) -> &str {
        "file"
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match tokio::fs::try_exists(&self.path).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("does not exist".to_string()),
                Err(e) => Err(io_reason(&e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_once_the_path_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready");
        let probe = FileProbe::new(&path);
        assert_eq!(probe.probe().await.unwrap_err(), "does not exist");
        std::fs::write(&path, b"").unwrap();
        probe.probe().await.unwrap();
        // A folder counts too.
        FileProbe::new(dir.path()).probe().await.unwrap();
    }

    #[tokio::test]
    async fn relative_paths_resolve_against_the_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("flag"), b"").unwrap();
        let ready = crate::ReadySpec {
            file: Some("flag".into()),
            ..crate::ReadySpec::default()
        };
        let probes = crate::probes_for("c", &ready, dir.path()).unwrap();
        probes[0].probe().await.unwrap();
    }
}
