//! Typing tree values one field at a time, collecting every problem instead of stopping.
//!
//! Each helper returns `None` after recording a problem at the value (or key) concerned.
//! `field` is the dotted field name (`ready.timeout`) and `place` says whose field it is
//! ("component `etcd`", "`defaults`").

use super::diagnostics::Diagnostic;
use super::diagnostics::OtherFile;
use super::suggest;
use super::tree::{Entry, Node, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Collects problems while typing.
#[derive(Debug, Default)]
pub struct Checker {
    /// Every problem so far.
    pub problems: Vec<Diagnostic>,
    /// The stack file's folder, which relative paths in checks are taken from (empty: left
    /// relative).
    pub base_dir: PathBuf,
    /// The stack file's folder as the user named it (`""` for `herald.toml`), to name the
    /// files it refers to the same way.
    pub display_dir: PathBuf,
    /// Herald's own environment, for variables an `env` passes through.
    pub environment: BTreeMap<String, String>,
    /// The other files read so far (`.env`, env files); file `n` of a
    /// [`Span`](super::tree::Span) is
    /// `files[n - 1]`.
    pub files: Vec<OtherFile>,
}

/// Files larger than this are not read as env files.
const MAX_OTHER_FILE: u64 = 16 << 20;

impl Checker {
    /// Reads `path` (relative to the stack file's folder), a file the stack file refers to,
    /// keeping its text to place problems in it; gives its file number, or why it cannot be
    /// read. It is named as the stack file is: relative when that is.
    pub fn read_file(&mut self, path: &Path) -> Result<(u16, &str), String> {
        let display = self.display_dir.join(path).display().to_string();
        let path = &super::paths::resolve(&self.base_dir, path);
        if let Some(i) = self.files.iter().position(|f| f.display == display) {
            return Ok((i as u16 + 1, &self.files[i].text));
        }
        let too_many = || format!("cannot read {display}: too many files");
        let number = u16::try_from(self.files.len() + 1).map_err(|_| too_many())?;
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {display}: {e}"))?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_OTHER_FILE + 1),
            &mut text,
        )
        .map_err(|e| format!("cannot read {display}: {e}"))?;
        if text.len() as u64 > MAX_OTHER_FILE {
            return Err(format!("cannot read {display}: larger than 16 MiB"));
        }
        self.files.push(OtherFile { display, text });
        Ok((number, &self.files[number as usize - 1].text))
    }
}

impl Checker {
    /// Records a problem at `node`.
    pub fn error(&mut self, node: &Node, message: String) {
        self.problems.push(Diagnostic::new(message, node.span));
    }

    fn wrong_type(&mut self, node: &Node, field: &str, place: &str, expected: &str) {
        let found = node.type_name();
        self.error(
            node,
            format!("`{field}` in {place} must be {expected}, found {found}"),
        );
    }

    /// The entries of a table, reporting unknown keys (with the closest known one) and
    /// repeated keys. `field` is empty for a top-level table such as a component.
    pub fn table<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        place: &str,
        known: &[&str],
    ) -> Option<&'n [Entry]> {
        let Value::Map(entries) = &node.value else {
            let found = node.type_name();
            let message = if field.is_empty() {
                format!("{place} must be a table, found {found}")
            } else {
                format!("`{field}` in {place} must be a table, found {found}")
            };
            self.error(node, message);
            return None;
        };
        let prefix = if field.is_empty() {
            String::new()
        } else {
            format!("{field}.")
        };
        for (i, entry) in entries.iter().enumerate() {
            if !known.contains(&entry.key.as_str()) {
                let hint = suggest::closest(&entry.key, known.iter().copied())
                    .map(|k| format!(" (did you mean `{prefix}{k}`?)"))
                    .unwrap_or_default();
                let message = format!("unknown field `{prefix}{}` in {place}{hint}", entry.key);
                self.problems.push(Diagnostic::new(message, entry.key_span));
            } else if entries[..i].iter().any(|e| e.key == entry.key) {
                let message = format!("duplicate field `{prefix}{}` in {place}", entry.key);
                self.problems.push(Diagnostic::new(message, entry.key_span));
            }
        }
        Some(entries)
    }

    /// Records every key and string in `node` that holds a NUL byte: no argv, environment or
    /// path can carry one, so it is refused here rather than failing at every start.
    pub fn no_nul(&mut self, node: &Node) {
        match &node.value {
            Value::Str(s) if s.contains('\0') => {
                self.error(
                    node,
                    "a string here holds a NUL byte, which no argument, variable or path can carry"
                        .into(),
                );
            }
            Value::Array(items) => items.iter().for_each(|item| self.no_nul(item)),
            Value::Map(entries) => {
                for entry in entries {
                    if entry.key.contains('\0') {
                        let message = format!(
                            "the key `{}` holds a NUL byte, which no name or variable can carry",
                            entry.key.escape_debug()
                        );
                        self.problems.push(Diagnostic::new(message, entry.key_span));
                    }
                    self.no_nul(&entry.value);
                }
            }
            _ => {}
        }
    }

    /// A string.
    pub fn string(&mut self, node: &Node, field: &str, place: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(node, field, place, "a string");
                None
            }
        }
    }

    /// A string that is not empty.
    pub fn non_empty(&mut self, node: &Node, field: &str, place: &str) -> Option<String> {
        let text = self.string(node, field, place)?;
        if text.is_empty() {
            self.error(node, format!("`{field}` in {place} is empty"));
            return None;
        }
        Some(text)
    }

    /// An array of strings; every element that is not one is reported.
    pub fn strings(&mut self, node: &Node, field: &str, place: &str) -> Option<Vec<String>> {
        let Value::Array(items) = &node.value else {
            self.wrong_type(node, field, place, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match &item.value {
                Value::Str(s) => out.push(s.clone()),
                _ => {
                    let element = format!("{field}[{i}]");
                    self.wrong_type(item, &element, place, "a string");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A scalar written as a string (`env` values: `PORT = 8080` reads as `"8080"`).
    pub fn scalar_text(&mut self, node: &Node, field: &str, place: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(x) => Some(x.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.wrong_type(node, field, place, "a string");
                None
            }
        }
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, node: &Node, field: &str, place: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(node, field, place, "true or false");
                None
            }
        }
    }

    /// A duration string such as `"10s"`.
    pub fn duration(&mut self, node: &Node, field: &str, place: &str) -> Option<Duration> {
        let Value::Str(text) = &node.value else {
            self.wrong_type(node, field, place, "a duration such as \"10s\"");
            return None;
        };
        match herald::parse_duration(text) {
            Ok(d) => Some(d),
            Err(reason) => {
                self.error(node, format!("`{field}` in {place}: {reason}"));
                None
            }
        }
    }

    /// An integer in `range`.
    pub fn integer<T: TryFrom<i64>>(
        &mut self,
        node: &Node,
        field: &str,
        place: &str,
        range: (i64, i64),
    ) -> Option<T> {
        let (low, high) = range;
        let Value::Int(n) = node.value else {
            self.wrong_type(node, field, place, "an integer");
            return None;
        };
        match T::try_from(n) {
            Ok(value) if (low..=high).contains(&n) => Some(value),
            _ => {
                let message =
                    format!("`{field}` in {place} must be from {low} to {high}, found {n}");
                self.error(node, message);
                None
            }
        }
    }

    /// One of a fixed set of strings.
    pub fn choice<T: Copy>(
        &mut self,
        node: &Node,
        field: &str,
        place: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let expected = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        };
        let Value::Str(text) = &node.value else {
            self.wrong_type(node, field, place, &expected);
            return None;
        };
        if let Some(&(_, value)) = options.iter().find(|(n, _)| n == text) {
            return Some(value);
        }
        let hint = suggest::hint(text, options.iter().map(|(n, _)| *n));
        let message = format!("`{field}` in {place} must be {expected}, found \"{text}\"{hint}");
        self.error(node, message);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;

    fn value(text: &str) -> Node {
        parse(&format!("v = {text}\n"))
            .unwrap()
            .entry("v")
            .unwrap()
            .value
            .clone()
    }

    #[test]
    fn wrong_types_name_the_field_and_what_was_found() {
        let mut c = Checker::default();
        assert_eq!(
            c.strings(&value("\"etcd\""), "requires", "component `a`"),
            None
        );
        assert_eq!(
            c.strings(&value("[\"x\", 1]"), "requires", "component `a`"),
            None
        );
        assert_eq!(
            c.duration(&value("\"10\""), "stop_timeout", "component `a`"),
            None
        );
        assert_eq!(
            c.integer::<u16>(&value("70000"), "ready.status", "component `a`", (100, 599)),
            None
        );
        let messages: Vec<&str> = c.problems.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages[0],
            "`requires` in component `a` must be an array of strings, found a string"
        );
        assert_eq!(
            messages[1],
            "`requires[1]` in component `a` must be a string, found an integer"
        );
        assert!(messages[2].starts_with("`stop_timeout` in component `a`: bad duration \"10\""));
        assert_eq!(
            messages[3],
            "`ready.status` in component `a` must be from 100 to 599, found 70000"
        );
    }

    #[test]
    fn choices_and_tables_suggest_the_closest_name() {
        let mut c = Checker::default();
        let options = [("service", 1), ("oneshot", 2)];
        assert_eq!(
            c.choice(&value("\"one-shot\""), "kind", "component `a`", &options),
            None
        );
        assert_eq!(
            c.choice(&value("\"oneshot\""), "kind", "component `a`", &options),
            Some(2)
        );
        let table = value("{ htp = \"x\", http = \"y\" }");
        assert_eq!(
            c.table(&table, "ready", "component `a`", &["http", "tcp"])
                .map(<[Entry]>::len),
            Some(2)
        );
        let messages: Vec<&str> = c.problems.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`kind` in component `a` must be \"service\" or \"oneshot\", found \"one-shot\" (did you mean `oneshot`?)",
                "unknown field `ready.htp` in component `a` (did you mean `ready.http`?)",
            ]
        );
    }
}
