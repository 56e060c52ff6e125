//! A component's `ready` table into a [`ReadySpec`].

use super::checker::Checker;
use super::component::backoff;
use super::tree::Node;
use herald::ReadySpec;

/// Every key of `ready`.
pub const FIELDS: [&str; 13] = [
    "notify",
    "tcp",
    "http",
    "status",
    "insecure_tls",
    "exec",
    "file",
    "unix",
    "log",
    "grpc",
    "service",
    "timeout",
    "interval",
];

/// Sets `spec` from the `ready` table `node`; keys not given keep their defaults.
pub fn read(spec: &mut ReadySpec, node: &Node, place: &str, c: &mut Checker) {
    let Some(entries) = c.table(node, "ready", place, &FIELDS) else {
        return;
    };
    for entry in entries {
        let field = format!("ready.{}", entry.key);
        let (field, value) = (field.as_str(), &entry.value);
        match entry.key.as_str() {
            "notify" => spec.notify = c.boolean(value, field, place).unwrap_or(spec.notify),
            "tcp" => spec.tcp = c.non_empty(value, field, place),
            "http" => spec.http = c.non_empty(value, field, place),
            "status" => spec.status = c.integer(value, field, place, (100, 599)),
            "insecure_tls" => {
                spec.insecure_tls = c.boolean(value, field, place).unwrap_or(spec.insecure_tls);
            }
            "exec" => {
                spec.exec = c.strings(value, field, place);
                if spec.exec.as_ref().is_some_and(Vec::is_empty) {
                    c.error(
                        value,
                        format!("`{field}` in {place} is empty: give a command"),
                    );
                }
            }
            "file" => spec.file = c.non_empty(value, field, place).map(Into::into),
            "unix" => spec.unix = c.non_empty(value, field, place).map(Into::into),
            "log" => spec.log = c.non_empty(value, field, place),
            "grpc" => spec.grpc = c.non_empty(value, field, place),
            "service" => spec.service = c.string(value, field, place),
            "timeout" => spec.timeout = c.duration(value, field, place).unwrap_or(spec.timeout),
            "interval" => backoff(&mut spec.interval, value, field, place, c),
            _ => {}
        }
    }
    for (option, check) in [
        ("status", "http"),
        ("insecure_tls", "http"),
        ("service", "grpc"),
    ] {
        if let Some(entry) = node.entry(option)
            && node.entry(check).is_none()
        {
            let message = format!(
                "`ready.{option}` in {place} applies to `ready.{check}`, which is not given"
            );
            c.error(&entry.value, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;
    use std::time::Duration;

    fn ready(text: &str) -> (ReadySpec, Vec<String>) {
        let root = parse(&format!("ready = {text}\n")).unwrap();
        let mut spec = ReadySpec::default();
        let mut c = Checker::default();
        read(
            &mut spec,
            &root.entry("ready").unwrap().value,
            "component `a`",
            &mut c,
        );
        (spec, c.problems.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn reads_checks_and_keeps_defaults_for_the_rest() {
        let (spec, problems) =
            ready("{ http = \"http://x/readyz\", status = 200, interval = { max = \"50ms\" } }");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(spec.http.as_deref(), Some("http://x/readyz"));
        assert_eq!(spec.status, Some(200));
        assert_eq!(spec.interval.initial, Duration::from_millis(5));
        assert_eq!(spec.interval.max, Duration::from_millis(50));
        assert_eq!(spec.timeout, Duration::from_secs(60));
    }

    #[test]
    fn reports_each_bad_key() {
        let (_, problems) =
            ready("{ notify = \"yes\", timeout = \"soon\", exec = [], htp = \"x\" }");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].contains("did you mean `ready.http`"),
            "{problems:?}"
        );
    }

    #[test]
    fn check_options_need_their_check() {
        let (_, problems) = ready("{ tcp = \"127.0.0.1:1\", status = 200, service = \"x\" }");
        assert_eq!(
            problems,
            [
                "`ready.status` in component `a` applies to `ready.http`, which is not given",
                "`ready.service` in component `a` applies to `ready.grpc`, which is not given",
            ]
        );
    }
}
