//! `ready`: a component's readiness checks, each a typed value that was checked when it was
//! made.
//!
//! A [`ReadySpec`] is a list of [`Check`]s plus the deadline and the probe spacing. A check
//! holds what it needs to run: the outside ones (`tcp`, `http`, `exec`, `file`, `unix`,
//! `grpc`) hold their [`probe`](crate::probe), which refused any bad value when it was made;
//! `log` holds its compiled expression; `notify` needs nothing. So a spec that exists is a
//! spec that can run: nothing is validated again when it starts.
//!
//! The stack file's form (`{ tcp = "host:port", http = "URL", status = 200, ... }`, one key
//! per kind) is kept by serde: reading it makes the checks (every bad value reported at once),
//! writing it gives the same keys back.
//!
//! ```
//! use herald::probe::TcpProbe;
//! use herald::{Check, CheckKind, ReadySpec};
//!
//! let ready = ReadySpec::default()
//!     .with(Check::Notify)
//!     .with(Check::Tcp(TcpProbe::new("127.0.0.1:2379")?));
//! let kinds: Vec<CheckKind> = ready.checks().iter().map(Check::kind).collect();
//! assert_eq!(kinds, [CheckKind::Notify, CheckKind::Tcp]);
//! assert_eq!(ready.probes().len(), 1);
//!
//! let read: ReadySpec = serde_json::from_str(r#"{"notify": true, "tcp": "127.0.0.1:2379"}"#)?;
//! assert_eq!(read, ready);
//! let bad = serde_json::from_str::<ReadySpec>(r#"{"tcp": "2379", "status": 200}"#);
//! assert!(bad.unwrap_err().to_string().contains("ready.tcp: \"2379\" is not host:port"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::BackoffSpec;
use crate::duration::serde_duration;
use crate::probe::{ExecProbe, FileProbe, GrpcProbe, HttpProbe, InvalidProbe, TcpProbe, UnixProbe};
use crate::{CheckKind, Probe};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One readiness check. The outside checks hold their probe; each value was checked when it
/// was made.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The process sends `READY=1` on `$NOTIFY_SOCKET`.
    Notify,
    /// A TCP connect to `host:port` succeeds.
    Tcp(TcpProbe),
    /// A GET answers 2xx (or the one status required).
    Http(HttpProbe),
    /// A command exits 0.
    Exec(ExecProbe),
    /// A path exists.
    File(FileProbe),
    /// A connect to a unix socket succeeds.
    Unix(UnixProbe),
    /// A line of stdout or stderr matches.
    Log(LogPattern),
    /// grpc.health.v1 Check answers SERVING.
    Grpc(GrpcProbe),
}

impl Check {
    /// The kind, as errors name it.
    pub fn kind(&self) -> CheckKind {
        match self {
            Check::Notify => CheckKind::Notify,
            Check::Tcp(_) => CheckKind::Tcp,
            Check::Http(_) => CheckKind::Http,
            Check::Exec(_) => CheckKind::Exec,
            Check::File(_) => CheckKind::File,
            Check::Unix(_) => CheckKind::Unix,
            Check::Log(_) => CheckKind::Log,
            Check::Grpc(_) => CheckKind::Grpc,
        }
    }

    /// The probe the engine runs for an outside check; `None` for `notify` and `log`, which
    /// the process signals itself.
    pub fn probe(&self) -> Option<Arc<dyn Probe>> {
        match self {
            Check::Notify | Check::Log(_) => None,
            Check::Tcp(probe) => Some(Arc::new(probe.clone())),
            Check::Http(probe) => Some(Arc::new(probe.clone())),
            Check::Exec(probe) => Some(Arc::new(probe.clone())),
            Check::File(probe) => Some(Arc::new(probe.clone())),
            Check::Unix(probe) => Some(Arc::new(probe.clone())),
            Check::Grpc(probe) => Some(Arc::new(probe.clone())),
        }
    }

    /// The position of this kind in the stack file's order, which the list keeps.
    fn rank(&self) -> u8 {
        match self {
            Check::Notify => 0,
            Check::Tcp(_) => 1,
            Check::Http(_) => 2,
            Check::Exec(_) => 3,
            Check::File(_) => 4,
            Check::Unix(_) => 5,
            Check::Log(_) => 6,
            Check::Grpc(_) => 7,
        }
    }
}

/// A regular expression over output lines (`ready.log`), compiled when it is made.
#[derive(Clone)]
pub struct LogPattern(regex::bytes::Regex);

impl LogPattern {
    /// Compiles `pattern`; a bad expression is refused with the reason, on one line
    /// (`bad regular expression: unclosed group`).
    pub fn new(pattern: &str) -> Result<Self, InvalidProbe> {
        regex::bytes::Regex::new(pattern)
            .map(LogPattern)
            .map_err(|e| {
                // A syntax error is several lines: the pattern, a caret, then `error: <why>`.
                let text = e.to_string();
                let why = text
                    .lines()
                    .rev()
                    .find_map(|line| line.strip_prefix("error: "))
                    .unwrap_or(&text);
                InvalidProbe::new(format!("bad regular expression: {why}"))
            })
    }

    /// The expression, as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The compiled expression.
    pub fn regex(&self) -> &regex::bytes::Regex {
        &self.0
    }
}

impl PartialEq for LogPattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for LogPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/", self.as_str())
    }
}

fn default_probe_interval() -> BackoffSpec {
    BackoffSpec::PROBE
}

fn default_ready_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Readiness checks: all must pass; none means ready once spawned. At most one check of each
/// kind, kept in the stack file's order (notify, tcp, http, exec, file, unix, log, grpc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ReadyForm", into = "ReadyForm")]
pub struct ReadySpec {
    checks: Vec<Check>,
    /// Deadline from spawn; past it the start has failed.
    pub timeout: Duration,
    /// Probe spacing, growing from `initial` to `max`: each delay is `initial` plus a thirtieth
    /// of the time already spent probing ([`ProbeSpacing`](crate::ProbeSpacing)).
    pub interval: BackoffSpec,
}

impl Default for ReadySpec {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            timeout: default_ready_timeout(),
            interval: default_probe_interval(),
        }
    }
}

impl ReadySpec {
    /// These checks with `check` added, replacing a check of the same kind.
    pub fn with(mut self, check: Check) -> Self {
        self.add(check);
        self
    }

    /// Adds `check`, replacing a check of the same kind.
    pub fn add(&mut self, check: Check) {
        self.checks.retain(|c| c.rank() != check.rank());
        let at = self.checks.partition_point(|c| c.rank() < check.rank());
        self.checks.insert(at, check);
    }

    /// Removes the check of `kind`, if there is one.
    pub fn remove(&mut self, kind: &CheckKind) {
        self.checks.retain(|c| c.kind() != *kind);
    }

    /// The checks, in the stack file's order.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// Whether any readiness check is given.
    pub fn has_checks(&self) -> bool {
        !self.checks.is_empty()
    }

    /// Whether `notify` is one of the checks.
    pub fn notify(&self) -> bool {
        self.checks.contains(&Check::Notify)
    }

    /// The `log` expression, if it is one of the checks.
    pub fn log(&self) -> Option<&LogPattern> {
        self.checks.iter().find_map(|c| match c {
            Check::Log(pattern) => Some(pattern),
            _ => None,
        })
    }

    /// The probes of the outside checks, in order.
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        self.checks.iter().filter_map(Check::probe).collect()
    }
}

/// The stack file's form of `ready`: one key per kind, options beside their check.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadyForm {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    notify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    insecure_tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exec: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unix: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(default = "default_ready_timeout", with = "serde_duration")]
    timeout: Duration,
    #[serde(default = "default_probe_interval")]
    interval: BackoffSpec,
}

/// A problem with one key of the form: the dotted field (`ready.tcp`) and why.
type FormProblem = (&'static str, String);

impl ReadyForm {
    /// The checks of the form, or every problem in it.
    fn parse(self) -> Result<ReadySpec, Vec<FormProblem>> {
        let mut ready = ReadySpec {
            checks: Vec::new(),
            timeout: self.timeout,
            interval: self.interval,
        };
        let mut problems = Vec::new();
        let mut take = |field: &'static str, made: Result<Check, InvalidProbe>| match made {
            Ok(check) => ready.add(check),
            Err(e) => problems.push((field, e.reason)),
        };
        if self.notify {
            take("ready.notify", Ok(Check::Notify));
        }
        if let Some(addr) = self.tcp {
            take("ready.tcp", TcpProbe::new(addr).map(Check::Tcp));
        }
        match self.http {
            Some(url) => match HttpProbe::new(&url) {
                Ok(probe) => {
                    let probe = probe.insecure_tls(self.insecure_tls);
                    match self.status {
                        Some(status) => take("ready.status", probe.status(status).map(Check::Http)),
                        None => take("ready.http", Ok(Check::Http(probe))),
                    }
                }
                Err(e) => take("ready.http", Err(e)),
            },
            None => {
                for (set, option) in [
                    (self.status.is_some(), "ready.status"),
                    (self.insecure_tls, "ready.insecure_tls"),
                ] {
                    if set {
                        let reason = "applies to `ready.http`, which is not given".to_string();
                        take(option, Err(InvalidProbe::new(reason)));
                    }
                }
            }
        }
        if let Some(argv) = self.exec {
            take("ready.exec", ExecProbe::new(argv).map(Check::Exec));
        }
        if let Some(path) = self.file {
            take("ready.file", FileProbe::new(path).map(Check::File));
        }
        if let Some(path) = self.unix {
            take("ready.unix", UnixProbe::new(path).map(Check::Unix));
        }
        if let Some(pattern) = self.log {
            take("ready.log", LogPattern::new(&pattern).map(Check::Log));
        }
        match self.grpc {
            Some(addr) => take("ready.grpc", grpc(&addr, self.service)),
            None if self.service.is_some() => {
                let reason = "applies to `ready.grpc`, which is not given".to_string();
                take("ready.service", Err(InvalidProbe::new(reason)));
            }
            None => {}
        }
        if problems.is_empty() {
            Ok(ready)
        } else {
            Err(problems)
        }
    }
}

/// The `grpc` check of `addr` for `service` (default: the whole server).
fn grpc(addr: &str, service: Option<String>) -> Result<Check, InvalidProbe> {
    let probe = GrpcProbe::new(addr)?.service(service.unwrap_or_default());
    Ok(Check::Grpc(probe))
}

impl TryFrom<ReadyForm> for ReadySpec {
    type Error = String;

    fn try_from(form: ReadyForm) -> Result<Self, String> {
        form.parse().map_err(|problems| {
            let each: Vec<String> = problems
                .into_iter()
                .map(|(field, reason)| format!("{field}: {reason}"))
                .collect();
            each.join("; ")
        })
    }
}

impl From<ReadySpec> for ReadyForm {
    fn from(ready: ReadySpec) -> Self {
        let mut form = ReadyForm {
            timeout: ready.timeout,
            interval: ready.interval,
            ..ReadyForm::default()
        };
        for check in ready.checks {
            match check {
                Check::Notify => form.notify = true,
                Check::Tcp(probe) => form.tcp = Some(probe.addr().to_string()),
                Check::Http(probe) => {
                    form.http = Some(probe.url().to_string());
                    form.status = probe.required_status();
                    form.insecure_tls = probe.skips_tls_checks();
                }
                Check::Exec(probe) => form.exec = Some(probe.argv().to_vec()),
                Check::File(probe) => form.file = Some(probe.path().to_path_buf()),
                Check::Unix(probe) => form.unix = Some(probe.path().to_path_buf()),
                Check::Log(pattern) => form.log = Some(pattern.as_str().to_string()),
                Check::Grpc(probe) => {
                    form.grpc = Some(probe.addr().to_string());
                    let service = probe.service_name();
                    form.service = (!service.is_empty()).then(|| service.to_string());
                }
            }
        }
        form
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn parse(value: serde_json::Value) -> Result<ReadySpec, Vec<FormProblem>> {
        serde_json::from_value::<ReadyForm>(value).unwrap().parse()
    }

    /// Every problem of a form that must be refused, by field.
    fn problems(value: serde_json::Value) -> BTreeMap<&'static str, Vec<String>> {
        let mut by_field: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for (field, reason) in parse(value.clone()).expect_err(&value.to_string()) {
            by_field.entry(field).or_default().push(reason);
        }
        by_field
    }

    #[test]
    fn every_key_becomes_its_check_in_order_and_reads_back() {
        let form = json!({
            "notify": true,
            "log": "ready",
            "tcp": "127.0.0.1:80",
            "http": "https://localhost:8443/healthz",
            "status": 204,
            "insecure_tls": true,
            "exec": ["./check.sh", "--quick"],
            "file": "run/ready",
            "unix": "/run/web.sock",
            "grpc": "unix:///run/web-grpc.sock",
            "service": "web.v1.Web",
            "timeout": "5s",
        });
        let ready: ReadySpec = serde_json::from_value(form.clone()).unwrap();
        let kinds: Vec<CheckKind> = ready.checks().iter().map(Check::kind).collect();
        use CheckKind::*;
        assert_eq!(kinds, [Notify, Tcp, Http, Exec, File, Unix, Log, Grpc]);
        let targets: Vec<String> = ready.probes().iter().map(|p| p.target()).collect();
        assert_eq!(
            targets,
            [
                "127.0.0.1:80",
                "https://localhost:8443/healthz",
                "./check.sh --quick",
                "run/ready",
                "/run/web.sock",
                "unix:///run/web-grpc.sock web.v1.Web",
            ]
        );
        assert!(ready.notify());
        assert_eq!(ready.log().map(LogPattern::as_str), Some("ready"));
        let mut written = serde_json::to_value(&ready).unwrap();
        assert_eq!(
            written["interval"],
            json!({"initial": "5ms", "max": "500ms"})
        );
        written.as_object_mut().unwrap().remove("interval");
        assert_eq!(written, form);
    }

    #[test]
    fn one_check_per_kind() {
        let first = TcpProbe::new("127.0.0.1:1").unwrap();
        let second = TcpProbe::new("127.0.0.1:2").unwrap();
        let ready = ReadySpec::default()
            .with(Check::Tcp(first))
            .with(Check::Notify)
            .with(Check::Tcp(second.clone()));
        assert_eq!(ready.checks(), [Check::Notify, Check::Tcp(second)]);
        let mut ready = ready;
        ready.remove(&CheckKind::Notify);
        assert!(!ready.notify());
        assert!(ReadySpec::default().probes().is_empty());
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let found = problems(json!({
            "tcp": "localhost",
            "status": 600,
            "insecure_tls": true,
            "exec": [],
            "file": "",
            "unix": "",
            "log": "(unclosed",
            "service": "svc",
        }));
        let fields: Vec<&str> = found.keys().copied().collect();
        assert_eq!(
            fields,
            [
                "ready.exec",
                "ready.file",
                "ready.insecure_tls",
                "ready.log",
                "ready.service",
                "ready.status",
                "ready.tcp",
                "ready.unix",
            ]
        );
        assert!(found["ready.tcp"][0].contains("host:port"), "{found:?}");
        assert_eq!(
            found["ready.log"],
            ["bad regular expression: unclosed group"]
        );
        let bad_status = problems(json!({"http": "http://x/", "status": 600}));
        assert_eq!(
            bad_status["ready.status"],
            ["600 is not an HTTP status (100 to 599)"]
        );
    }

    #[test]
    fn bad_urls_and_addresses_name_their_field() {
        let cases = [
            (json!({"http": "ftp://host/x"}), "ready.http", "scheme"),
            (json!({"http": "not a url"}), "ready.http", ""),
            (json!({"http": "/healthz"}), "ready.http", ""),
            (json!({"http": "http://:80/x"}), "ready.http", ""),
            (json!({"grpc": "localhost"}), "ready.grpc", "host:port"),
            (json!({"grpc": "unix://"}), "ready.grpc", "path"),
            (
                json!({"grpc": "http://127.0.0.1:50051"}),
                "ready.grpc",
                "host:port",
            ),
            (json!({"tcp": "127.0.0.1:http"}), "ready.tcp", "port"),
            (json!({"tcp": "::1:80"}), "ready.tcp", "["),
            (json!({"exec": ["", "x"]}), "ready.exec", "empty"),
            (
                json!({"http": "http://x/", "status": 99}),
                "ready.status",
                "99",
            ),
        ];
        for (form, field, needle) in cases {
            let found = problems(form.clone());
            assert_eq!(found.len(), 1, "{form}: {found:?}");
            let reasons = found
                .get(field)
                .unwrap_or_else(|| panic!("{form}: {found:?}"));
            assert!(reasons[0].contains(needle), "{form}: {reasons:?}");
        }
    }

    #[test]
    fn good_addresses_pass() {
        for addr in [
            "127.0.0.1:1",
            "localhost:65535",
            "[::1]:80",
            "db.internal:5432",
        ] {
            parse(json!({"tcp": addr, "grpc": addr})).unwrap();
        }
        for grpc in ["unix:///run/x.sock", "unix:relative.sock"] {
            parse(json!({"grpc": grpc})).unwrap();
        }
    }

    #[test]
    fn serde_refuses_a_bad_form_naming_each_field() {
        let err = serde_json::from_value::<ReadySpec>(json!({"tcp": "x", "log": "("}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ready.tcp: \"x\" is not host:port"), "{err}");
        assert!(err.contains("ready.log: bad regular expression"), "{err}");
        let err = serde_json::from_value::<ReadySpec>(json!({"htp": "x"})).unwrap_err();
        assert!(err.to_string().contains("htp"), "{err}");
    }
}
