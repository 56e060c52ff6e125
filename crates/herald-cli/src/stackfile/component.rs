//! One component table (defaults already merged) into a [`ComponentSpec`].

use super::checker::Checker;
use super::diagnostics::Diagnostic;
use super::envfile;
use super::ready;
use super::tree::{Entry, Node, Value};
use super::words;
use herald::{BackoffSpec, ComponentSpec, Kind, RestartPolicy, StartLimit, UnixSignal};
use std::collections::BTreeMap;
use std::path::Path;

/// Every field a component (or `[defaults]`) may set.
pub const FIELDS: [&str; 23] = [
    "command",
    "env",
    "env_file",
    "profiles",
    "cwd",
    "user",
    "group",
    "kind",
    "requires",
    "wants",
    "after",
    "binds_to",
    "uses",
    "ready",
    "restart",
    "restart_backoff",
    "start_limit",
    "stop_signal",
    "stop_timeout",
    "live",
    "logs",
    "watchdog",
    "watchdog_signal",
];

/// A signal by name (`SIGTERM`, `TERM`) or number.
fn signal(node: &Node, field: &str, place: &str, c: &mut Checker) -> Option<UnixSignal> {
    let name = c.non_empty(node, field, place)?;
    match name.parse::<UnixSignal>() {
        Ok(signal) => Some(signal),
        Err(e) => {
            c.error(node, format!("`{field}` in {place}: {e}"));
            None
        }
    }
}

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
    super::account::check_pair(node, &place, c);
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
            let argv = match &node.value {
                Value::Str(text) => match words::split(text) {
                    Ok(words) => Some(words),
                    Err(e) => {
                        let message = format!("`command` in {place}: {}", e.reason);
                        c.error(node, message);
                        None
                    }
                },
                Value::Array(_) => c.strings(node, field, place),
                _ => {
                    let found = node.type_name();
                    let message = format!(
                        "`command` in {place} must be a string or an array of strings, found {found}"
                    );
                    c.error(node, message);
                    None
                }
            };
            if let Some(argv) = argv {
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
        "env_file" => env_file(spec, node, place, c),
        "profiles" => {
            if let Some(names) = c.strings(node, field, place) {
                for (i, name) in names.iter().enumerate() {
                    if name.is_empty() || name.contains(',') || name.contains(char::is_whitespace) {
                        let item = node.at_index(i).unwrap_or(node);
                        c.error(
                            item,
                            format!("`profiles[{i}]` in {place}: a profile name is a plain word"),
                        );
                    }
                }
                spec.profiles = names;
            }
        }
        "cwd" => spec.cwd = c.non_empty(node, field, place).map(Into::into),
        "user" => super::account::user(spec, node, place, c),
        "group" => super::account::group(spec, node, place, c),
        "kind" => spec.kind = c.choice(node, field, place, &KINDS).unwrap_or(spec.kind),
        "requires" => spec.requires = c.strings(node, field, place).unwrap_or_default(),
        "wants" => spec.wants = c.strings(node, field, place).unwrap_or_default(),
        "after" => spec.after = c.strings(node, field, place).unwrap_or_default(),
        "binds_to" => spec.binds_to = c.strings(node, field, place).unwrap_or_default(),
        "uses" => spec.uses = c.strings(node, field, place).unwrap_or_default(),
        "ready" => ready::read(&mut spec.ready, node, place, c),
        "live" => spec.live = super::live::read(node, place, c),
        "restart" => {
            spec.restart = c
                .choice(node, field, place, &RESTARTS)
                .unwrap_or(spec.restart)
        }
        "restart_backoff" => backoff(&mut spec.restart_backoff, node, field, place, c),
        "start_limit" => start_limit(&mut spec.start_limit, node, place, c),
        "stop_signal" => {
            spec.stop_signal = signal(node, field, place, c).unwrap_or(spec.stop_signal)
        }
        "stop_timeout" => {
            spec.stop_timeout = c.duration(node, field, place).unwrap_or(spec.stop_timeout)
        }
        "logs" => spec.logs = super::retention::read(node, field, place, c).unwrap_or(spec.logs),
        "watchdog" => spec.watchdog = c.duration(node, field, place).or(spec.watchdog),
        "watchdog_signal" => {
            spec.watchdog_signal = signal(node, field, place, c).unwrap_or(spec.watchdog_signal)
        }
        _ => return false,
    }
    c.problems.len() == before
}

/// `env` as a table (`KEY = "value"`; a YAML `KEY:` with no value passes herald's own value
/// through) or as a list of `"KEY=value"` strings (`"KEY"` alone passes through). A variable
/// passed through that herald does not have is left unset.
fn env(spec: &mut ComponentSpec, node: &Node, place: &str, c: &mut Checker) {
    match &node.value {
        Value::Map(entries) => {
            for (i, entry) in entries.iter().enumerate() {
                let field = format!("env.{}", entry.key);
                if entries[..i].iter().any(|e| e.key == entry.key) {
                    let message = format!("duplicate field `{field}` in {place}");
                    c.problems.push(Diagnostic::new(message, entry.key_span));
                } else if !env_name(&entry.key) {
                    let message = format!(
                        "`{field}` in {place}: a variable name cannot be empty or hold `=`"
                    );
                    c.problems.push(Diagnostic::new(message, entry.key_span));
                } else if entry.value.value == Value::Null {
                    pass_through(spec, &entry.key, c);
                } else if let Some(value) = c.scalar_text(&entry.value, &field, place) {
                    spec.env.insert(entry.key.clone(), value);
                }
            }
        }
        Value::Array(items) => {
            let mut seen: Vec<String> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let field = format!("env[{i}]");
                let Some(text) = c.string(item, &field, place) else {
                    continue;
                };
                let (key, value) = match text.split_once('=') {
                    Some((key, value)) => (key, Some(value)),
                    None => (text.as_str(), None),
                };
                if key.is_empty() {
                    let message = format!(
                        "`{field}` in {place}: write `KEY=value`, or `KEY` to pass herald's own value through"
                    );
                    c.error(item, message);
                    continue;
                }
                if seen.iter().any(|k| k == key) {
                    c.error(item, format!("`{field}` in {place} sets `{key}` again"));
                    continue;
                }
                seen.push(key.to_string());
                match value {
                    Some(value) => {
                        spec.env.insert(key.to_string(), value.to_string());
                    }
                    None => pass_through(spec, key, c),
                }
            }
        }
        _ => {
            let found = node.type_name();
            c.error(
                node,
                format!(
                    "`env` in {place} must be a table or a list of \"KEY=value\" strings, found {found}"
                ),
            );
        }
    }
}

/// `env_file`: a path or a list of paths (relative to the stack file's folder) of `KEY=VALUE`
/// files, read in order, a later file winning; `env` wins over them all.
fn env_file(spec: &mut ComponentSpec, node: &Node, place: &str, c: &mut Checker) {
    let paths: Vec<(String, &Node)> = match &node.value {
        Value::Str(path) => vec![(path.clone(), node)],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = c.non_empty(item, &format!("env_file[{i}]"), place)?;
                Some((path, item))
            })
            .collect(),
        _ => {
            let found = node.type_name();
            let message =
                format!("`env_file` in {place} must be a path or a list of paths, found {found}");
            c.error(node, message);
            return;
        }
    };
    let mut from_files = BTreeMap::new();
    for (path, at) in paths {
        let (file, text) = match c.read_file(Path::new(&path)) {
            Ok(read) => read,
            Err(reason) => {
                c.error(at, format!("`env_file` in {place}: {reason}"));
                continue;
            }
        };
        let (variables, problems) = envfile::parse(text, file);
        c.problems.extend(problems);
        for variable in variables {
            let value = variable
                .value
                .or_else(|| c.environment.get(&variable.key).cloned());
            match value {
                Some(value) => from_files.insert(variable.key, value),
                None => from_files.remove(&variable.key),
            };
        }
    }
    for (key, value) in from_files {
        spec.env.entry(key).or_insert(value);
    }
}

fn env_name(key: &str) -> bool {
    !key.is_empty() && !key.contains('=')
}

/// `key` with herald's own value, if herald has one.
fn pass_through(spec: &mut ComponentSpec, key: &str, c: &Checker) {
    match c.environment.get(key) {
        Some(value) => {
            spec.env.insert(key.to_string(), value.clone());
        }
        None => {
            spec.env.remove(key);
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
        assert_eq!(s.stop_signal, UnixSignal::INT);
        assert_eq!(s.stop_timeout, Duration::from_secs(2));
        assert_eq!(s.ready.probes()[0].target(), "127.0.0.1:1");
        assert_eq!(s.ready.timeout, Duration::from_secs(3));
    }

    #[test]
    fn a_command_string_is_split_into_words() {
        let (s, problems) = spec("[components.a]\ncommand = \"sh -c 'echo $HOME; sleep 1'\"\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.command, ["sh", "-c", "echo $HOME; sleep 1"]);
        let (_, problems) = spec("[components.a]\ncommand = \"run 'forever\"\n");
        assert_eq!(
            problems,
            ["`command` in component `a`: a single quote is not closed"]
        );
        let (_, problems) = spec("[components.a]\ncommand = \"  \"\n");
        assert!(problems[0].starts_with("`command` in component `a` is empty"));
    }

    fn spec_with_env(text: &str, environment: &[(&str, &str)]) -> (ComponentSpec, Vec<String>) {
        let root = crate::stackfile::yaml::parse(text).unwrap();
        let entry = &root.entry("components").unwrap().value.entries().unwrap()[0];
        let mut c = Checker {
            environment: environment
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Checker::default()
        };
        let header = Node::new(entry.key_span, Value::Null);
        let spec = read(&entry.key, &header, &entry.value, &mut c);
        (spec, c.problems.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn env_as_a_list_and_passed_through() {
        let host = [("HOME", "/root"), ("EMPTY", "")];
        let (s, problems) = spec_with_env(
            "components:\n  a:\n    command: [a]\n    env: [\"A=1\", \"B=x=y\", \"C=\", HOME, MISSING, EMPTY]\n",
            &host,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let env: Vec<(&str, &str)> = s
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("A", "1"),
                ("B", "x=y"),
                ("C", ""),
                ("EMPTY", ""),
                ("HOME", "/root")
            ]
        );
        let (s, problems) = spec_with_env(
            "components:\n  a:\n    command: [a]\n    env:\n      HOME:\n      MISSING:\n      PORT: 80\n",
            &host,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.env.len(), 2);
        assert_eq!(s.env["HOME"], "/root");
        let (_, problems) = spec_with_env(
            "components:\n  a:\n    command: [a]\n    env: [\"=1\", A, \"A=2\", 3]\n",
            &host,
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("write `KEY=value`"), "{problems:?}");
        assert_eq!(problems[1], "`env[2]` in component `a` sets `A` again");
        assert!(problems[2].starts_with("`env[3]` in component `a` must be a string"));
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
