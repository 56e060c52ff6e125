//! `file = "path"`: ready once the path exists.

use super::{InvalidProbe, io_reason};
use crate::{BoxFuture, CheckKind, Probe};
use std::path::{Path, PathBuf};

/// Ready once `path` exists (a file, a folder, anything; a symbolic link counts once its
/// target exists).
///
/// ```
/// use herald::probe::FileProbe;
/// use herald::{CheckKind, Probe};
/// let probe = FileProbe::new("/run/etcd/ready")?;
/// assert_eq!((probe.kind(), probe.target()), (CheckKind::File, "/run/etcd/ready".to_string()));
/// assert!(FileProbe::new("").is_err());
/// # Ok::<(), herald::probe::InvalidProbe>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProbe {
    path: PathBuf,
}

impl FileProbe {
    /// A probe of `path`, which must not be empty. A relative path is taken from the
    /// process's current folder at each attempt (the stack file's reader makes it absolute).
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, InvalidProbe> {
        let path = path.into();
        if path.as_os_str().is_empty() {
            return Err(InvalidProbe::new("the path is empty"));
        }
        Ok(Self { path })
    }

    /// The path checked.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Probe for FileProbe {
    fn kind(&self) -> CheckKind {
        CheckKind::File
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
        let probe = FileProbe::new(&path).unwrap();
        assert_eq!(probe.probe().await.unwrap_err(), "does not exist");
        std::fs::write(&path, b"").unwrap();
        probe.probe().await.unwrap();
        // A folder counts too.
        FileProbe::new(dir.path()).unwrap().probe().await.unwrap();
    }

    #[test]
    fn an_empty_path_is_refused() {
        assert_eq!(FileProbe::new("").unwrap_err().reason, "the path is empty");
    }
}
