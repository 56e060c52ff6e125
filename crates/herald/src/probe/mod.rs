//! The outside readiness checks of `ready`: `tcp`, `http`, `exec`, `file`, `unix` and `grpc`.
//!
//! Each check is a [`Probe`](crate::Probe): one call makes one bounded attempt and says why it did not pass.
//! The engine spaces attempts with backoff and stops at the deadline, dropping an attempt that
//! is still running; every probe here is safe to drop mid-attempt (an `exec` attempt kills its
//! whole process group).
//!
//! Each probe refuses a bad value when it is made (an address that is not `host:port`, a URL
//! that is not `http`/`https`, an empty command or path), so a probe that exists can run. The
//! checks of a [`ReadySpec`](crate::ReadySpec) hold these probes ([`Check`](crate::Check));
//! in-process tasks can use them too:
//!
//! ```
//! use herald::probe::TcpProbe;
//! use herald::{task, ComponentSpec, Stack};
//!
//! let mut stack = Stack::new();
//! stack.add(
//!     ComponentSpec::new("cache"),
//!     task(|ctx| async move {
//!         // bind 127.0.0.1:6379 and serve until told to stop...
//!         ctx.stopped().await;
//!         Ok(())
//!     })
//!     .ready_on_start()
//!     .probe(TcpProbe::new("127.0.0.1:6379")?),
//! );
//! # Ok::<(), herald::probe::InvalidProbe>(())
//! ```

mod exec;
mod file;
mod grpc;
mod http;
mod tcp;
mod unix;

pub use exec::ExecProbe;
pub use file::FileProbe;
pub use grpc::GrpcProbe;
pub use http::HttpProbe;
pub use tcp::TcpProbe;
pub use unix::UnixProbe;

/// A probe could not be built from the values given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidProbe {
    /// What is wrong, in words.
    pub reason: String,
}

impl InvalidProbe {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// One attempt bounded by `limit`: its own result, or `"{overrun} {limit}"` when it runs over.
pub(crate) async fn bounded(
    limit: std::time::Duration,
    overrun: &str,
    attempt: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("{overrun} {}", crate::format_duration(limit))),
    }
}

/// An I/O error as a short reason: `connection refused`, not `Connection refused (os error 111)`.
pub(crate) fn io_reason(error: &std::io::Error) -> String {
    let text = io_reason_text(&error.to_string());
    if text.is_empty() {
        format!("{:?}", error.kind())
    } else {
        text
    }
}

/// An error's text without ` (os error N)`, starting lower case.
pub(crate) fn io_reason_text(text: &str) -> String {
    let text = match text.find(" (os error ") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The text of `bytes` as one short line: lossy UTF-8, whitespace runs folded to one space,
/// cut to about `max` bytes (on a character boundary) with `...` when cut.
pub(crate) fn one_line(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.len() <= max {
        return folded;
    }
    let mut cut = max;
    while !folded.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &folded[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(io_reason(&e), "connection refused");
        assert_eq!(one_line(b"a\n b\t\tc ", 100), "a b c");
        assert_eq!(one_line("ééé".as_bytes(), 3), "é...");
    }
}
