//! A `process-compose.yaml` as a herald stack.
//!
//! | process-compose | herald |
//! |---|---|
//! | `command` (run by `bash -c`) | `command = ["bash", "-c", ...]` |
//! | `depends_on.X.condition: process_started` | `after = ["X"]` |
//! | `process_healthy`, `process_log_ready` | `requires = ["X"]` |
//! | `process_completed_successfully` | `requires = ["X"]`, X a `oneshot` |
//! | `readiness_probe.exec.command` | `ready.exec = ["bash", "-c", ...]` |
//! | `readiness_probe.http_get` | `ready.http = "scheme://host:port/path"` |
//! | `ready_log_line` | `ready.log` (the line, as a literal expression) |
//! | `availability.restart` | `restart` |
//! | `availability.backoff_seconds` | `restart_backoff.initial` |
//! | `environment`, top-level `environment` | `env`, `defaults.env` |
//! | `working_dir` | `cwd` |
//! | `shutdown.signal`, `shutdown.timeout_seconds` | `stop_signal`, `stop_timeout` |
//! | `disabled: true` | `profiles = ["disabled"]` |
//! | `namespace` | `profiles = [namespace]` |
//!
//! Everything else (probe timings, `liveness_probe`, `shutdown.command`, `is_daemon`,
//! `replicas`, log settings...) is noted with its line.

use super::{Imported, component_name};
use crate::stackfile::{Span, yaml_tree};
use toml::{Table, Value as Toml};

type Node = crate::stackfile::TreeNode;

/// The stack of the process-compose file `text`, named `file` in notes.
pub fn import(text: &str, file: &str) -> Result<Imported, String> {
    let root = yaml_tree(text).map_err(|e| format!("{file}: {e}"))?;
    let mut reader = Reader {
        text,
        file,
        imported: Imported::default(),
    };
    reader.read(&root);
    Ok(reader.imported)
}

struct Reader<'a> {
    text: &'a str,
    file: &'a str,
    imported: Imported,
}

impl Reader<'_> {
    fn line(&self, span: Span) -> usize {
        let start = span.start.min(self.text.len());
        self.text[..start].matches('\n').count() + 1
    }

    fn note(&mut self, span: Span, what: &str) {
        let line = self.line(span);
        self.imported.note(self.file, line, what);
    }

    fn read(&mut self, root: &Node) {
        let Some(entries) = root.entries() else {
            self.note(root.span, "not a mapping of settings, nothing imported");
            return;
        };
        for entry in entries {
            match entry.key.as_str() {
                "processes" => self.processes(&entry.value),
                "environment" => {
                    if let Some(env) = self.environment(&entry.value) {
                        let mut defaults = Table::new();
                        defaults.insert("env".into(), env);
                        self.imported.defaults = Some(defaults);
                    }
                }
                "version" => {}
                other => {
                    let what = format!("`{other}` has no herald equivalent, left out");
                    self.note(entry.key_span, &what);
                }
            }
        }
        self.oneshots();
    }

    /// The processes others wait on to complete are oneshots.
    fn oneshots(&mut self) {
        for name in std::mem::take(&mut self.imported.completes) {
            if let Some(Toml::Table(component)) = self.imported.components.get_mut(&name) {
                component.insert("kind".into(), "oneshot".into());
            }
        }
    }

    fn processes(&mut self, node: &Node) {
        let Some(entries) = node.entries() else {
            self.note(node.span, "`processes` is not a mapping, nothing imported");
            return;
        };
        for entry in entries {
            let Some(name) = component_name(&entry.key) else {
                let what = format!(
                    "`{}` is not a component name (letters, digits, `-`, `_`, `.`), left out",
                    entry.key
                );
                self.note(entry.key_span, &what);
                continue;
            };
            let component = self.process(&name, &entry.value);
            self.imported
                .components
                .insert(name, Toml::Table(component));
        }
    }

    fn process(&mut self, name: &str, node: &Node) -> Table {
        let mut out = Table::new();
        let mut ready = Table::new();
        let Some(entries) = node.entries() else {
            self.note(node.span, &format!("`{name}` is not a mapping, left empty"));
            return out;
        };
        for entry in entries {
            let value = &entry.value;
            match entry.key.as_str() {
                "command" => match value.as_str() {
                    Some(command) => {
                        out.insert("command".into(), shell(command));
                    }
                    None => self.note(value.span, "`command` is not a string, left out"),
                },
                "working_dir" => match value.as_str() {
                    Some(dir) => {
                        out.insert("cwd".into(), dir.into());
                    }
                    None => self.note(value.span, "`working_dir` is not a string, left out"),
                },
                "environment" => {
                    if let Some(env) = self.environment(value) {
                        out.insert("env".into(), env);
                    }
                }
                "depends_on" => self.depends_on(value, &mut out),
                "availability" => self.availability(value, &mut out),
                "readiness_probe" => self.probe(value, &mut ready),
                "ready_log_line" => match value.as_str() {
                    Some(line) => {
                        ready.insert("log".into(), super::literal_pattern(line).into());
                    }
                    None => self.note(value.span, "`ready_log_line` is not a string, left out"),
                },
                "shutdown" => self.shutdown(value, &mut out),
                "disabled" => {
                    if value.value == crate::stackfile::TreeValue::Bool(true) {
                        let profiles = vec![Toml::from("disabled")];
                        out.insert("profiles".into(), Toml::Array(profiles));
                        self.note(
                            entry.key_span,
                            &format!("`{name}` is disabled: it is in profile `disabled` (start it with --profile disabled)"),
                        );
                    }
                }
                "namespace" => {
                    if let Some(ns) = value.as_str()
                        && !out.contains_key("profiles")
                    {
                        out.insert("profiles".into(), Toml::Array(vec![ns.into()]));
                    }
                }
                "description" => {}
                other => {
                    let what = format!("`{other}` of `{name}` has no herald equivalent, left out");
                    self.note(entry.key_span, &what);
                }
            }
        }
        if !out.contains_key("command") {
            self.note(node.span, &format!("`{name}` has no command"));
        }
        if !ready.is_empty() {
            out.insert("ready".into(), Toml::Table(ready));
        }
        out
    }

    /// A list of `KEY=VALUE` strings (or a mapping) as `env`.
    fn environment(&mut self, node: &Node) -> Option<Toml> {
        use crate::stackfile::TreeValue;
        match &node.value {
            TreeValue::Array(items) => {
                let items: Vec<Toml> = items
                    .iter()
                    .filter_map(|item| item.as_str().map(Toml::from))
                    .collect();
                Some(Toml::Array(items))
            }
            TreeValue::Map(entries) => {
                let mut table = Table::new();
                for entry in entries {
                    let value = match &entry.value.value {
                        TreeValue::Str(s) => s.clone(),
                        TreeValue::Int(i) => i.to_string(),
                        TreeValue::Bool(b) => b.to_string(),
                        TreeValue::Float(f) => f.to_string(),
                        _ => continue,
                    };
                    table.insert(entry.key.clone(), value.into());
                }
                Some(Toml::Table(table))
            }
            _ => {
                self.note(node.span, "`environment` is not a list, left out");
                None
            }
        }
    }

    fn depends_on(&mut self, node: &Node, out: &mut Table) {
        let Some(entries) = node.entries() else {
            self.note(node.span, "`depends_on` is not a mapping, left out");
            return;
        };
        let (mut requires, mut after) = (Vec::new(), Vec::new());
        for entry in entries {
            let Some(dependency) = component_name(&entry.key) else {
                continue;
            };
            let condition = entry
                .value
                .entry("condition")
                .and_then(|c| c.value.as_str())
                .unwrap_or("process_started");
            match condition {
                "process_started" => after.push(Toml::from(dependency)),
                "process_healthy" | "process_log_ready" => requires.push(Toml::from(dependency)),
                "process_completed_successfully" => {
                    self.imported.completes.push(dependency.clone());
                    requires.push(Toml::from(dependency));
                }
                "process_completed" => {
                    self.imported.completes.push(dependency.clone());
                    requires.push(Toml::from(dependency));
                    self.note(
                        entry.key_span,
                        "`process_completed` becomes `requires` on a oneshot: herald waits for a successful exit",
                    );
                }
                other => {
                    let what =
                        format!("condition `{other}` is not known, `{}` left out", entry.key);
                    self.note(entry.key_span, &what);
                }
            }
        }
        if !requires.is_empty() {
            out.insert("requires".into(), Toml::Array(requires));
        }
        if !after.is_empty() {
            out.insert("after".into(), Toml::Array(after));
        }
    }

    fn availability(&mut self, node: &Node, out: &mut Table) {
        for entry in node.entries().unwrap_or_default() {
            match (entry.key.as_str(), entry.value.as_str()) {
                ("restart", Some(policy)) => {
                    let herald = match policy {
                        "always" => "always",
                        "on_failure" => "on-failure",
                        "no" => "no",
                        "exit_on_failure" => {
                            self.note(
                                entry.value.span,
                                "`exit_on_failure` becomes `on-failure`: herald does not stop the whole stack",
                            );
                            "on-failure"
                        }
                        other => {
                            let what = format!("restart `{other}` is not known, left out");
                            self.note(entry.value.span, &what);
                            continue;
                        }
                    };
                    out.insert("restart".into(), herald.into());
                }
                ("backoff_seconds", _) => match seconds(&entry.value) {
                    Some(secs) => {
                        let mut backoff = Table::new();
                        backoff.insert("initial".into(), format!("{secs}s").into());
                        backoff.insert("max".into(), format!("{}s", secs.max(30)).into());
                        out.insert("restart_backoff".into(), Toml::Table(backoff));
                    }
                    None => self.note(
                        entry.value.span,
                        "`backoff_seconds` is not a number, left out",
                    ),
                },
                (other, _) => {
                    let what = format!("`availability.{other}` has no herald equivalent, left out");
                    self.note(entry.key_span, &what);
                }
            }
        }
    }

    fn probe(&mut self, node: &Node, ready: &mut Table) {
        for entry in node.entries().unwrap_or_default() {
            match entry.key.as_str() {
                "exec" => match entry.value.entry("command").and_then(|c| c.value.as_str()) {
                    Some(command) => {
                        ready.insert("exec".into(), shell(command));
                    }
                    None => self.note(entry.value.span, "`exec` without a `command`, left out"),
                },
                "http_get" => {
                    let field = |key: &str| entry.value.entry(key).map(|e| &e.value);
                    let text = |key: &str, default: &str| {
                        field(key)
                            .and_then(|n| n.as_str().map(str::to_string))
                            .unwrap_or_else(|| default.to_string())
                    };
                    let Some(port) = field("port").and_then(seconds) else {
                        self.note(
                            entry.value.span,
                            "`http_get` without a numeric `port`, left out",
                        );
                        continue;
                    };
                    let path = text("path", "/");
                    let path = if path.starts_with('/') {
                        path
                    } else {
                        format!("/{path}")
                    };
                    let url = format!(
                        "{}://{}:{port}{path}",
                        text("scheme", "http"),
                        text("host", "127.0.0.1")
                    );
                    ready.insert("http".into(), url.into());
                }
                other => {
                    let what = format!(
                        "`readiness_probe.{other}` has no herald equivalent (herald spaces its probes itself), left out"
                    );
                    self.note(entry.key_span, &what);
                }
            }
        }
    }

    fn shutdown(&mut self, node: &Node, out: &mut Table) {
        for entry in node.entries().unwrap_or_default() {
            match entry.key.as_str() {
                "signal" => {
                    let text = match &entry.value.value {
                        crate::stackfile::TreeValue::Int(n) => n.to_string(),
                        crate::stackfile::TreeValue::Str(s) => s.clone(),
                        _ => String::new(),
                    };
                    match text.parse::<herald::UnixSignal>() {
                        Ok(signal) => {
                            out.insert("stop_signal".into(), signal.to_string().into());
                        }
                        Err(e) => self.note(entry.value.span, &format!("{e}, left out")),
                    }
                }
                "timeout_seconds" => match seconds(&entry.value) {
                    Some(secs) => {
                        out.insert("stop_timeout".into(), format!("{secs}s").into());
                    }
                    None => self.note(
                        entry.value.span,
                        "`timeout_seconds` is not a number, left out",
                    ),
                },
                other => {
                    let what = format!(
                        "`shutdown.{other}` has no herald equivalent (herald sends `stop_signal` to the group), left out"
                    );
                    self.note(entry.key_span, &what);
                }
            }
        }
    }
}

/// A shell command line as process-compose runs it.
fn shell(command: &str) -> Toml {
    let argv = ["bash", "-c", command].map(|w| Toml::from(w.to_string()));
    Toml::Array(argv.to_vec())
}

/// A whole, non-negative number.
fn seconds(node: &Node) -> Option<i64> {
    match &node.value {
        crate::stackfile::TreeValue::Int(n) if *n >= 0 => Some(*n),
        crate::stackfile::TreeValue::Str(s) => s.parse().ok().filter(|n: &i64| *n >= 0),
        _ => None,
    }
}
