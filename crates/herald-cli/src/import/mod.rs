//! `herald import FILE`: a `Procfile` or a `process-compose.yaml` written as a herald stack
//! file on standard output (TOML, or YAML with `--format yaml`); what cannot be expressed is
//! listed on standard error with its line.
//!
//! A file named `*.yaml`/`*.yml` is read as process-compose's, anything else as a Procfile.
//! Every `$` of the output is written `$$`, so that herald passes it to the command as it was
//! (the shell expands `$PORT`, not herald).

mod process_compose;
mod procfile;
mod yaml_out;

use std::path::Path;
use toml::{Table, Value};

/// A stack read from another tool's file.
#[derive(Debug, Default)]
pub struct Imported {
    /// `[defaults]`, if the file has settings for every process.
    pub defaults: Option<Table>,
    /// Each component, in the file's order.
    pub components: Table,
    /// What could not be expressed: `FILE:LINE: what`.
    pub notes: Vec<String>,
    /// Components others wait on to complete (made oneshots once all are read).
    completes: Vec<String>,
}

impl Imported {
    fn note(&mut self, file: &str, line: usize, what: &str) {
        self.notes.push(format!("{file}:{line}: {what}"));
    }

    /// The stack file, as a TOML table: `[defaults]` then `[components.NAME]`.
    pub fn table(&self) -> Table {
        let mut table = Table::new();
        if let Some(defaults) = &self.defaults {
            table.insert("defaults".into(), Value::Table(defaults.clone()));
        }
        table.insert("components".into(), Value::Table(self.components.clone()));
        let mut value = Value::Table(table);
        escape_dollars(&mut value);
        match value {
            Value::Table(table) => table,
            _ => Table::new(),
        }
    }

    /// The stack file as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.table()).unwrap_or_default()
    }

    /// The stack file as YAML text.
    pub fn to_yaml(&self) -> String {
        yaml_out::write(&self.table())
    }
}

/// Reads `path` as a Procfile or a process-compose file.
pub fn import(path: &Path) -> Result<Imported, String> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {display}: {e}"))?;
    if crate::stackfile::is_yaml(path) {
        process_compose::import(&text, &display)
    } else {
        Ok(procfile::import(&text, &display))
    }
}

/// A name the stack file accepts for `name`: itself when it is plain.
fn component_name(name: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    (!name.is_empty() && name.chars().all(plain)).then(|| name.to_string())
}

/// `text` as a regular expression matching it literally.
fn literal_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn escape_dollars(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(items) => items.iter_mut().for_each(escape_dollars),
        Value::Table(table) => table.iter_mut().for_each(|(_, v)| escape_dollars(v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_line_matches_only_itself() {
        let pattern = literal_pattern("ready (v1.2) [ok] $5");
        let re = herald::LogPattern::new(&pattern).unwrap();
        assert!(re.regex().is_match(b"server ready (v1.2) [ok] $5 now"));
        assert!(!re.regex().is_match(b"ready (v1x2) [ok] $5"));
        assert_eq!(component_name("web.1"), Some("web.1".into()));
        assert_eq!(component_name("my app"), None);
    }
}
