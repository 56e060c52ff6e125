//! The outside readiness checks of `ready`: `tcp`, `http`, `exec`, `file`, `unix` and `grpc`.
//!
//! Each check is a [`Probe`]: one call makes one bounded attempt and says why it did not pass.
//! The engine spaces attempts with backoff and stops at the deadline, dropping an attempt that
//! is still running; every probe here is safe to drop mid-attempt (an `exec` attempt kills its
//! whole process group).
//!
//! [`probes_for`] builds the probes of a component's [`ReadySpec`], reporting every bad value
//! at once. The probe types are public too, so in-process tasks can use them:
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
//!     .probe(TcpProbe::new("127.0.0.1:6379")),
//! );
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

use crate::{ConfigProblem, Probe, ReadySpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The outside checks of `ready` (tcp, http, exec, file, unix, grpc), validated.
///
/// `base_dir` resolves relative paths (file, unix, a relative `unix:` gRPC address, exec's
/// working folder and a relative exec program such as `./check.sh`). `notify` and `log` are
/// not probes (the component signals them itself) and are ignored here.
///
/// Every bad value is reported at once, as [`ConfigProblem::Invalid`] naming the field
/// (`ready.http`, `ready.status`, ...). The probes come back in the order tcp, http, exec,
/// file, unix, grpc. Building them needs no runtime and does no I/O.
///
/// ```
/// use herald::{probes_for, ConfigProblem, ReadySpec};
/// use std::path::Path;
///
/// let ready = ReadySpec { tcp: Some("127.0.0.1:2379".into()), ..ReadySpec::default() };
/// let probes = probes_for("etcd", &ready, Path::new("/srv")).unwrap();
/// assert_eq!(probes[0].kind(), "tcp");
///
/// let bad = ReadySpec { tcp: Some("2379".into()), status: Some(200), ..ReadySpec::default() };
/// let Err(problems) = probes_for("etcd", &bad, Path::new("/srv")) else { unreachable!() };
/// assert_eq!(problems.len(), 2);
/// assert!(matches!(&problems[0], ConfigProblem::Invalid { field, .. } if field == "ready.tcp"));
/// ```
pub fn probes_for(
    component: &str,
    ready: &ReadySpec,
    base_dir: &Path,
) -> Result<Vec<Arc<dyn Probe>>, Vec<ConfigProblem>> {
    let mut probes: Vec<Arc<dyn Probe>> = Vec::new();
    let mut problems = Vec::new();
    let mut invalid = |field: &str, reason: String| {
        problems.push(ConfigProblem::Invalid {
            component: component.to_string(),
            field: field.to_string(),
            reason,
        })
    };

    if let Some(addr) = &ready.tcp {
        match tcp::check_host_port(addr) {
            Ok(()) => probes.push(Arc::new(TcpProbe::new(addr.clone()))),
            Err(e) => invalid("ready.tcp", e.reason),
        }
    }

    if let Some(status) = ready.status {
        if !(100..=599).contains(&status) {
            invalid(
                "ready.status",
                format!("{status} is not an HTTP status (100 to 599)"),
            );
        }
        if ready.http.is_none() {
            invalid("ready.status", "is set without ready.http".to_string());
        }
    }
    if ready.insecure_tls && ready.http.is_none() {
        invalid(
            "ready.insecure_tls",
            "is set without ready.http".to_string(),
        );
    }
    if let Some(url) = &ready.http {
        match HttpProbe::new(url) {
            Ok(probe) => {
                let mut probe = probe.insecure_tls(ready.insecure_tls);
                if let Some(status) = ready.status {
                    probe = probe.status(status);
                }
                probes.push(Arc::new(probe));
            }
            Err(e) => invalid("ready.http", e.reason),
        }
    }

    if let Some(argv) = &ready.exec {
        match ExecProbe::new(argv.iter().cloned()) {
            Ok(probe) => probes.push(Arc::new(probe.cwd(base_dir))),
            Err(e) => invalid("ready.exec", e.reason),
        }
    }

    if let Some(path) = &ready.file {
        match resolve(path, base_dir) {
            Ok(path) => probes.push(Arc::new(FileProbe::new(path))),
            Err(e) => invalid("ready.file", e.reason),
        }
    }

    if let Some(path) = &ready.unix {
        match resolve(path, base_dir) {
            Ok(path) => probes.push(Arc::new(UnixProbe::new(path))),
            Err(e) => invalid("ready.unix", e.reason),
        }
    }

    if ready.service.is_some() && ready.grpc.is_none() {
        invalid("ready.service", "is set without ready.grpc".to_string());
    }
    if let Some(addr) = &ready.grpc {
        match GrpcProbe::with_base_dir(addr, base_dir) {
            Ok(probe) => {
                let service = ready.service.clone().unwrap_or_default();
                probes.push(Arc::new(probe.service(service)));
            }
            Err(e) => invalid("ready.grpc", e.reason),
        }
    }

    if problems.is_empty() {
        Ok(probes)
    } else {
        Err(problems)
    }
}

/// `path` against `base_dir` when relative; an empty path is an error.
fn resolve(path: &Path, base_dir: &Path) -> Result<PathBuf, InvalidProbe> {
    if path.as_os_str().is_empty() {
        return Err(InvalidProbe::new("the path is empty"));
    }
    Ok(base_dir.join(path))
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
    use std::collections::BTreeMap;

    fn problems(ready: &ReadySpec) -> Vec<ConfigProblem> {
        match probes_for("web", ready, Path::new("/")) {
            Ok(probes) => panic!("{} probes for {ready:?}", probes.len()),
            Err(problems) => problems,
        }
    }

    fn fields(problems: &[ConfigProblem]) -> BTreeMap<String, String> {
        problems
            .iter()
            .map(|p| match p {
                ConfigProblem::Invalid {
                    component,
                    field,
                    reason,
                } => {
                    assert_eq!(component, "web");
                    (field.clone(), reason.clone())
                }
                other => panic!("unexpected problem {other:?}"),
            })
            .collect()
    }

    #[test]
    fn every_check_becomes_a_probe_in_order() {
        let ready = ReadySpec {
            notify: true,
            log: Some("ready".into()),
            tcp: Some("127.0.0.1:80".into()),
            http: Some("https://localhost:8443/healthz".into()),
            status: Some(204),
            insecure_tls: true,
            exec: Some(vec!["./check.sh".into(), "--quick".into()]),
            file: Some("run/ready".into()),
            unix: Some("/run/web.sock".into()),
            grpc: Some("unix:///run/web-grpc.sock".into()),
            service: Some("web.v1.Web".into()),
            ..ReadySpec::default()
        };
        let probes = probes_for("web", &ready, Path::new("/srv/web")).unwrap();
        let seen: Vec<(String, String)> = probes
            .iter()
            .map(|p| (p.kind().to_string(), p.target()))
            .collect();
        let want = [
            ("tcp", "127.0.0.1:80"),
            ("http", "https://localhost:8443/healthz"),
            ("exec", "./check.sh --quick"),
            ("file", "/srv/web/run/ready"),
            ("unix", "/run/web.sock"),
            ("grpc", "unix:///run/web-grpc.sock web.v1.Web"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn no_outside_checks_no_probes() {
        let ready = ReadySpec {
            notify: true,
            log: Some("x".into()),
            ..ReadySpec::default()
        };
        assert!(
            probes_for("web", &ready, Path::new("/"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let ready = ReadySpec {
            tcp: Some("localhost".into()),
            status: Some(600),
            insecure_tls: true,
            exec: Some(vec![]),
            file: Some(PathBuf::new()),
            unix: Some(PathBuf::new()),
            service: Some("svc".into()),
            ..ReadySpec::default()
        };
        let problems = problems(&ready);
        let fields = fields(&problems);
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "ready.exec",
                "ready.file",
                "ready.insecure_tls",
                "ready.service",
                "ready.status",
                "ready.tcp",
                "ready.unix",
            ]
        );
        // Both status problems are reported.
        let status: Vec<_> = problems
            .iter()
            .filter(
                |p| matches!(p, ConfigProblem::Invalid { field, .. } if field == "ready.status"),
            )
            .collect();
        assert_eq!(status.len(), 2, "{problems:?}");
        assert!(fields["ready.tcp"].contains("host:port"), "{fields:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains("600 is not an HTTP status")),
            "{problems:?}"
        );
    }

    #[test]
    fn bad_urls_and_addresses_name_their_field() {
        let cases = [
            (
                ReadySpec {
                    http: Some("ftp://host/x".into()),
                    ..ReadySpec::default()
                },
                "ready.http",
                "scheme",
            ),
            (
                ReadySpec {
                    http: Some("not a url".into()),
                    ..ReadySpec::default()
                },
                "ready.http",
                "",
            ),
            (
                ReadySpec {
                    http: Some("/healthz".into()),
                    ..ReadySpec::default()
                },
                "ready.http",
                "",
            ),
            (
                ReadySpec {
                    http: Some("http://:80/x".into()),
                    ..ReadySpec::default()
                },
                "ready.http",
                "",
            ),
            (
                ReadySpec {
                    grpc: Some("localhost".into()),
                    ..ReadySpec::default()
                },
                "ready.grpc",
                "host:port",
            ),
            (
                ReadySpec {
                    grpc: Some("unix://".into()),
                    ..ReadySpec::default()
                },
                "ready.grpc",
                "path",
            ),
            (
                ReadySpec {
                    grpc: Some("http://127.0.0.1:50051".into()),
                    ..ReadySpec::default()
                },
                "ready.grpc",
                "host:port",
            ),
            (
                ReadySpec {
                    tcp: Some("127.0.0.1:http".into()),
                    ..ReadySpec::default()
                },
                "ready.tcp",
                "port",
            ),
            (
                ReadySpec {
                    tcp: Some("::1:80".into()),
                    ..ReadySpec::default()
                },
                "ready.tcp",
                "[",
            ),
            (
                ReadySpec {
                    exec: Some(vec!["".into(), "x".into()]),
                    ..ReadySpec::default()
                },
                "ready.exec",
                "empty",
            ),
            (
                ReadySpec {
                    http: Some("http://x/".into()),
                    status: Some(99),
                    ..ReadySpec::default()
                },
                "ready.status",
                "99",
            ),
        ];
        for (ready, field, needle) in cases {
            let problems = problems(&ready);
            let fields = fields(&problems);
            assert_eq!(fields.len(), 1, "{ready:?}: {problems:?}");
            let reason = fields
                .get(field)
                .unwrap_or_else(|| panic!("{ready:?}: {problems:?}"));
            assert!(reason.contains(needle), "{ready:?}: {reason}");
        }
    }

    #[test]
    fn good_addresses_pass() {
        for tcp in [
            "127.0.0.1:1",
            "localhost:65535",
            "[::1]:80",
            "db.internal:5432",
        ] {
            let ready = ReadySpec {
                tcp: Some(tcp.into()),
                grpc: Some(tcp.into()),
                ..ReadySpec::default()
            };
            probes_for("web", &ready, Path::new("/")).unwrap();
        }
        for grpc in ["unix:///run/x.sock", "unix:relative.sock"] {
            let ready = ReadySpec {
                grpc: Some(grpc.into()),
                ..ReadySpec::default()
            };
            probes_for("web", &ready, Path::new("/")).unwrap();
        }
    }

    #[test]
    fn reasons_are_short() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(io_reason(&e), "connection refused");
        assert_eq!(one_line(b"a\n b\t\tc ", 100), "a b c");
        assert_eq!(one_line("ééé".as_bytes(), 3), "é...");
    }
}
