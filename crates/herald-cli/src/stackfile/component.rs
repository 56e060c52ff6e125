//! One component table (defaults already merged) into a [`ComponentSpec`].

use super::checker::Checker;
use super::diagnostics::Diagnostic;
use super::ready;
use super::tree::{Entry, Node};
use herald::{BackoffSpec, ComponentSpec, Kind, RestartPolicy, StartLimit};

/// Every field a component (or `[defaults]`) may set.
pub const FIELDS: [&str; 16] = [
    "command",
    "env",
    "cwd",
    "kind",
    "requires",
    "wants",
    "after",
    "binds_to",
    "ready",
    "restart",
    "restart_backoff",
    "start_limit",
    "stop_signal",
    "stop_timeout",
    "watchdog",
    "watchdog_signal",
];

const KINDS: [(&str, Kind); 2] = [("service", Kind::Service), ("oneshot", Kind::Oneshot)];

const RESTARTS: [(&str, RestartPolicy); 3] = [
    ("no", RestartPolicy::No),
    ("on-failure", RestartPolicy::OnFailure),
    ("always", RestartPolicy::Always),
];

/// The spec of component `name` from its table, every problem recorded in `c`.
///
/// A spec is returned even when fields are wrong (they keep their defaults), so that the graph
/// is still checked and every problem is reported in one go.
pub fn read(name: &str, header: &Node, node: &Node, c: &mut Checker) -> ComponentSpec {
    let place = format!("component `{name}`");
    let mut spec = ComponentSpec::new(name);
    let Some(entries) = c.table(node, "", &place, &FIELDS) else {
        return spec;
    };
    for entry in entries {
        apply(&mut spec, entry, &place, c);
    }
    if node.entry("command").is_none() {
        c.error(
            header,
            format!("component `{name}` has no `command`: give the program and its arguments"),
        );
    }
    spec
}

/// Sets one field of `spec` from `entry`; returns whether the field was valid. Unknown fields
/// are left to [`Checker::table`] and count as invalid.
pub fn apply(spec: &mut ComponentSpec, entry: &Entry, place: &str, c: &mut Checker) -> bool {
    let before = c.problems.len();
    let (field, node) = (entry.key.as_str(), &entry.value);
    match field {
        "command" => {
            if let Some(argv) = c.strings(node, field, place) {
                if argv.is_empty() {
                    let example = r#"such as ["sleep", "5"]"#;
                    let message = format!(
                        "`command` in {place} is empty: give the program and its arguments, {example}"
                    );
                    c.error(node, message);
                } else if argv[0].is_empty() {
                    c.error(
                        node,
                        format!("`command` in {place} starts with an empty program name"),
                    );
                }
                spec.command = argv;
            }
        }
        "env" => env(spec, node, place, c),
        "cwd" => spec.cwd = c.non_empty(node, field, place).map(Into::into),
        "kind" => spec.kind = c.choice(node, field, place, &KINDS).unwrap_or(spec.kind),
        "requires" => spec.requires = c.strings(node, field, place).unwrap_or_default(),
        "wants" => spec.wants = c.strings(node, field, place).unwrap_or_default(),
        "after" => spec.after = c.strings(node, field, place).unwrap_or_default(),
        "binds_to" => spec.binds_to = c.strings(node, field, place).unwrap_or_default(),
        "ready" => ready::read(&mut spec.ready, node, place, c),
        "restart" => {
            spec.restart = c
                .choice(node, field, place, &RESTARTS)
                .unwrap_or(spec.restart)
        }
        "restart_backoff" => backoff(&mut spec.restart_backoff, node, field, place, c),
        "start_limit" => start_limit(&mut spec.start_limit, node, place, c),
        "stop_signal" => {
            spec.stop_signal = c
                .non_empty(node, field, place)
                .unwrap_or(spec.stop_signal.clone())
        }
        "stop_timeout" => {
            spec.stop_timeout = c.duration(node, field, place).unwrap_or(spec.stop_timeout)
        }
        "watchdog" => spec.watchdog = c.duration(node, field, place).or(spec.watchdog),
        "watchdog_signal" => {
            spec.watchdog_signal = c
                .non_empty(node, field, place)
                .unwrap_or(spec.watchdog_signal.clone())
        }
        _ => return false,
    }
    c.problems.len() == before
}

fn env(spec: &mut ComponentSpec, node: &Node, place: &str, c: &mut Checker) {
    let Some(entries) = node.entries() else {
        let found = node.type_name();
        c.error(
            node,
            format!("`env` in {place} must be a table, found {found}"),
        );
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("env.{}", entry.key);
        if entries[..i].iter().any(|e| e.key == entry.key) {
            let message = format!("duplicate field `{field}` in {place}");
            c.problems.push(Diagnostic::new(message, entry.key_span));
        } else if entry.key.is_empty() || entry.key.contains('=') {
            let message =
                format!("`{field}` in {place}: a variable name cannot be empty or hold `=`");
            c.problems.push(Diagnostic::new(message, entry.key_span));
        } else if let Some(value) = c.scalar_text(&entry.value, &field, place) {
            spec.env.insert(entry.key.clone(), value);
        }
    }
}

/// `{ initial, max }`; a missing key keeps its default.
pub fn backoff(spec: &mut BackoffSpec, node: &Node, field: &str, place: &str, c: &mut Checker) {
    let Some(entries) = c.table(node, field, place, &["initial", "max"]) else {
        return;
    };
    for entry in entries {
        let name = format!("{field}.{}", entry.key);
        match entry.key.as_str() {
            "initial" => {
                spec.initial = c
                    .duration(&entry.value, &name, place)
                    .unwrap_or(spec.initial)
            }
            "max" => spec.max = c.duration(&entry.value, &name, place).unwrap_or(spec.max),
            _ => {}
        }
    }
    if spec.initial > spec.max {
        c.error(
            node,
            format!("`{field}` in {place}: `initial` is longer than `max`"),
        );
    }
}

fn start_limit(spec: &mut StartLimit, node: &Node, place: &str, c: &mut Checker) {
    let Some(entries) = c.table(node, "start_limit", place, &["burst", "interval"]) else {
        return;
    };
    for entry in entries {
        match entry.key.as_str() {
            "burst" => {
                let range = (0, i64::from(u32::MAX));
                spec.burst = c
                    .integer(&entry.value, "start_limit.burst", place, range)
                    .unwrap_or(spec.burst);
            }
            "interval" => {
                spec.interval = c
                    .duration(&entry.value, "start_limit.interval", place)
                    .unwrap_or(spec.interval);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;
    use std::time::Duration;

    fn spec(text: &str) -> (ComponentSpec, Vec<String>) {
        let root = parse(text).unwrap();
        let entry = &root.entry("components").unwrap().value.entries().unwrap()[0];
        let mut c = Checker::default();
        let header = Node::new(entry.key_span, super::super::tree::Value::Null);
        let spec = read(&entry.key, &header, &entry.value, &mut c);
        (spec, c.problems.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn reads_every_field() {
        let (s, problems) = spec(
            "[components.a]\ncommand = [\"run\"]\nenv = { PORT = 8080, NAME = \"x\" }\n\
             kind = \"oneshot\"\nrequires = [\"b\"]\nwants = [\"c\"]\nafter = [\"d\"]\nbinds_to = [\"e\"]\n\
             restart = \"always\"\nrestart_backoff = { max = \"5s\" }\nstart_limit = { burst = 3 }\n\
             stop_signal = \"SIGINT\"\nstop_timeout = \"2s\"\nready = { tcp = \"127.0.0.1:1\", timeout = \"3s\" }\n",
        );
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(s.env["PORT"], "8080");
        assert_eq!(s.kind, Kind::Oneshot);
        assert_eq!(
            (
                s.requires.len(),
                s.wants.len(),
                s.after.len(),
                s.binds_to.len()
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(s.restart, RestartPolicy::Always);
        assert_eq!(s.restart_backoff.initial, Duration::from_millis(100));
        assert_eq!(s.restart_backoff.max, Duration::from_secs(5));
        assert_eq!(s.start_limit.burst, 3);
        assert_eq!(s.stop_signal, "SIGINT");
        assert_eq!(s.stop_timeout, Duration::from_secs(2));
        assert_eq!(s.ready.tcp.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(s.ready.timeout, Duration::from_secs(3));
    }

    #[test]
    fn reports_bad_environment_names() {
        let (_, problems) = spec("[components.a]\ncommand = [\"a\"]\nenv = { \"X=1\" = \"2\" }\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("`env.X=1` in component `a`"),
            "{problems:?}"
        );
    }

    #[test]
    fn reports_missing_and_empty_commands() {
        let (_, problems) = spec("[components.a]\nkind = \"service\"\n");
        assert_eq!(
            problems,
            ["component `a` has no `command`: give the program and its arguments"]
        );
        let (_, problems) = spec("[components.a]\ncommand = []\n");
        assert!(
            problems[0].starts_with("`command` in component `a` is empty"),
            "{problems:?}"
        );
    }
}
