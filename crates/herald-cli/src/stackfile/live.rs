//! A component's `live` table into a [`LiveSpec`]: the one check it names, made as `ready`'s
//! checks are, and its own settings, every problem placed at its value.

use super::checker::Checker;
use super::ready::{self, Section};
use super::tree::Node;
use herald::{LiveAction, LiveSpec};

/// Every key of `live`.
pub const FIELDS: [&str; 12] = [
    "tcp",
    "http",
    "status",
    "insecure_tls",
    "exec",
    "unix",
    "grpc",
    "service",
    "period",
    "timeout",
    "failures",
    "action",
];

const ACTIONS: [(&str, LiveAction); 2] = [
    ("restart", LiveAction::Restart),
    ("degrade", LiveAction::Degrade),
];

/// The `live` table `node`, or `None` with its problems reported.
pub fn read(node: &Node, place: &str, c: &mut Checker) -> Option<LiveSpec> {
    let entries = c.table(node, "live", place, &FIELDS)?;
    let section = Section {
        name: "live",
        node,
        place,
    };
    let before = c.problems.len();
    let mut checks = Vec::new();
    for entry in entries {
        let field = format!("live.{}", entry.key);
        let made = ready::check(section, &entry.key, &entry.value, c);
        if let Some(check) = ready::placed(made, &entry.value, &field, place, c) {
            checks.push((check, &entry.value));
        }
    }
    ready::options(section, c);
    let live = match checks.as_slice() {
        [(check, value)] => match LiveSpec::new(check.clone()) {
            Ok(live) => Some(live),
            Err(e) => {
                c.error(value, format!("`live` in {place}: {}", e.reason));
                None
            }
        },
        [] if c.problems.len() > before => None,
        [] => {
            let message = format!(
                "`live` in {place} names no check: give one of http, tcp, exec, grpc or unix"
            );
            c.error(node, message);
            None
        }
        [_, (_, second), ..] => {
            let message = format!("`live` in {place} takes one check, not {}", checks.len());
            c.error(second, message);
            None
        }
    };
    let mut live = live?;
    if let Some(e) = node.entry("period") {
        live.period = c.duration(&e.value, "live.period", place)?;
    }
    if let Some(e) = node.entry("timeout") {
        live.timeout = c.duration(&e.value, "live.timeout", place)?;
    }
    if let Some(e) = node.entry("failures") {
        live.failures = c.integer::<u32>(&e.value, "live.failures", place, (1, 1_000_000))?;
    }
    if let Some(e) = node.entry("action") {
        live.action = c.choice(&e.value, "live.action", place, &ACTIONS)?;
    }
    (c.problems.len() == before).then_some(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;
    use std::time::Duration;

    fn live(text: &str) -> (Option<LiveSpec>, Vec<String>) {
        let root = parse(&format!("live = {text}\n")).unwrap();
        let mut c = Checker::default();
        let spec = read(&root.entry("live").unwrap().value, "component `a`", &mut c);
        (spec, c.problems.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn one_check_and_its_settings() {
        let (spec, problems) = live(
            r#"{ http = "http://127.0.0.1:8080/healthz", status = 204, period = "5s", failures = 2, action = "degrade" }"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let spec = spec.unwrap();
        assert_eq!(spec.period, Duration::from_secs(5));
        assert_eq!(spec.timeout, LiveSpec::TIMEOUT);
        assert_eq!((spec.failures, spec.action), (2, LiveAction::Degrade));
        assert_eq!(spec.check.kind(), herald::CheckKind::Http);
    }

    #[test]
    fn every_problem_is_placed() {
        let (spec, problems) = live(r#"{ tcp = "6379", action = "reboot", notify = true }"#);
        assert!(spec.is_none());
        let text = problems.join("\n");
        assert!(text.contains("notify"), "{text}");
        assert!(text.contains("is not host:port"), "{text}");
        let (_, problems) = live(r#"{ tcp = "127.0.0.1:1", exec = ["true"] }"#);
        assert!(
            problems[0].contains("takes one check, not 2"),
            "{problems:?}"
        );
        let (_, problems) = live(r#"{ period = "1s" }"#);
        assert!(problems[0].contains("names no check"), "{problems:?}");
        let (_, problems) = live(r#"{ tcp = "127.0.0.1:1", action = "reboot" }"#);
        assert!(
            problems[0].contains("\"restart\" or \"degrade\""),
            "{problems:?}"
        );
    }
}
