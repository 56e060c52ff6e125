//! The stack file's form of `ready` (one key per kind, options beside their check), read
//! into a [`ReadySpec`]'s typed checks and written back from them.

use super::BackoffSpec;
use super::live::{LiveAction, LiveSpec};
use super::ready::{Check, LogPattern, ReadySpec, default_probe_interval, default_ready_timeout};
use crate::duration::serde_duration;
use crate::probe::{ExecProbe, FileProbe, GrpcProbe, HttpProbe, InvalidProbe, TcpProbe, UnixProbe};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The stack file's form of `ready`: one key per kind, options beside their check.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReadyForm {
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

/// The stack file's form of `live`: the keys of one outside check, and its own settings.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LiveForm {
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
    unix: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(default = "live_period", with = "serde_duration")]
    period: Duration,
    #[serde(default = "live_timeout", with = "serde_duration")]
    timeout: Duration,
    #[serde(default = "live_failures")]
    failures: u32,
    #[serde(default)]
    action: LiveAction,
}

fn live_period() -> Duration {
    LiveSpec::PERIOD
}

fn live_timeout() -> Duration {
    LiveSpec::TIMEOUT
}

fn live_failures() -> u32 {
    LiveSpec::FAILURES
}

impl TryFrom<LiveForm> for LiveSpec {
    type Error = String;

    fn try_from(form: LiveForm) -> Result<Self, String> {
        let check = ReadyForm {
            tcp: form.tcp,
            http: form.http,
            status: form.status,
            insecure_tls: form.insecure_tls,
            exec: form.exec,
            unix: form.unix,
            grpc: form.grpc,
            service: form.service,
            ..ReadyForm::default()
        };
        let ready = ReadySpec::try_from(check).map_err(|e| e.replace("ready.", "live."))?;
        let [check] = <[Check; 1]>::try_from(ready.checks).map_err(|checks| {
            format!(
                "live: give exactly one check (http, tcp, exec, grpc or unix), not {}",
                checks.len()
            )
        })?;
        if form.failures == 0 {
            return Err("live.failures: must be at least 1".into());
        }
        let live = LiveSpec::new(check).map_err(|e| format!("live: {}", e.reason))?;
        Ok(live
            .period(form.period)
            .timeout(form.timeout)
            .failures(form.failures)
            .action(form.action))
    }
}

impl From<LiveSpec> for LiveForm {
    fn from(live: LiveSpec) -> Self {
        let check = ReadyForm::from(ReadySpec {
            checks: vec![live.check],
            timeout: default_ready_timeout(),
            interval: default_probe_interval(),
        });
        LiveForm {
            tcp: check.tcp,
            http: check.http,
            status: check.status,
            insecure_tls: check.insecure_tls,
            exec: check.exec,
            unix: check.unix,
            grpc: check.grpc,
            service: check.service,
            period: live.period,
            timeout: live.timeout,
            failures: live.failures,
            action: live.action,
        }
    }
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
    use crate::CheckKind;
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
