//! `herald config`: the stack as it was read, with `[defaults]` merged into each component,
//! variables substituted, the profiles applied and relative paths made absolute.
//!
//! The TOML form is a stack file `herald check` accepts unchanged and reads as the same
//! stack: every `$` is written `$$` (so nothing is substituted twice), and `profiles` are left
//! out (they have been applied). The JSON form is the same data as values, for programs:
//! `{"stack": {"name", "state_dir"}, "components": {NAME: {...}}}`.

use super::StackFile;
use serde_json::{Map, Value, json};

impl StackFile {
    /// The resolved stack as JSON values (`herald config --json`).
    pub fn resolved_json(&self) -> Value {
        to_json(self)
    }

    /// The resolved stack as a TOML stack file (`herald config`).
    pub fn resolved_toml(&self) -> String {
        to_toml(self)
    }
}

/// The resolved stack as JSON values.
fn to_json(stack: &StackFile) -> Value {
    let mut components = Map::new();
    for spec in &stack.components {
        let mut spec = spec.clone();
        spec.profiles.clear();
        let value = serde_json::to_value(&spec).unwrap_or(Value::Null);
        components.insert(spec.name.clone(), value);
    }
    json!({
        "stack": {
            "name": stack.name,
            "state_dir": stack.state_dir,
        },
        "components": components,
    })
}

/// The resolved stack as a TOML stack file, components in file order.
fn to_toml(stack: &StackFile) -> String {
    let header =
        "# The resolved stack: defaults merged, variables substituted, profiles applied.\n";
    match toml_table(stack).and_then(|table| toml::to_string(&table)) {
        Ok(text) => format!("{header}{text}"),
        Err(e) => format!("# cannot write the stack as TOML: {e}\n"),
    }
}

fn toml_table(stack: &StackFile) -> Result<toml::Table, toml::ser::Error> {
    let mut head = toml::Table::new();
    head.insert("name".into(), stack.name.clone().into());
    let state_dir = stack.state_dir.to_string_lossy().into_owned();
    head.insert("state_dir".into(), state_dir.into());
    let mut components = toml::Table::new();
    for spec in &stack.components {
        let mut spec = spec.clone();
        spec.profiles.clear();
        components.insert(spec.name.clone(), toml::Value::try_from(&spec)?);
    }
    let mut table = toml::Table::new();
    table.insert("stack".into(), head.into());
    table.insert("components".into(), components.into());
    let mut value = toml::Value::Table(table);
    escape_dollars(&mut value);
    match value {
        toml::Value::Table(table) => Ok(table),
        _ => unreachable!("a table stays a table"),
    }
}

/// Every `$` of every string written `$$`, as the stack file reads it back.
fn escape_dollars(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        toml::Value::Array(items) => items.iter_mut().for_each(escape_dollars),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| escape_dollars(v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_toml_form_reads_back_as_the_same_stack() {
        let dir = tempfile::tempdir().unwrap();
        let text = "\
[defaults]
stop_timeout = \"3s\"
ready = { timeout = \"9s\" }
[components.db]
command = \"sh -c 'echo $$HOME ${HERALD_CONFIG_TEST_UNSET:-fallback}'\"
env = [\"A=1\", \"PRICE=$$5\"]
ready = { tcp = \"127.0.0.1:5432\", log = \"^ready$$\" }
[components.web]
command = [\"./web\"]
requires = [\"db\"]
stop_signal = \"INT\"
ready = { http = \"http://127.0.0.1:80/\", status = 204, file = \"run/ok\" }
";
        let path = dir.path().join("herald.toml");
        let stack = super::super::parse(&path, text.into()).unwrap_or_else(|e| panic!("{e}"));
        let db = &stack.components[0];
        assert_eq!(db.command, ["sh", "-c", "echo $HOME fallback"]);
        let resolved = to_toml(&stack);
        let again = dir.path().join("again.toml");
        let back = super::super::parse(Path::new(&again), resolved.clone())
            .unwrap_or_else(|e| panic!("{e}\n{resolved}"));
        assert_eq!(back.components, stack.components, "{resolved}");
        assert_eq!(back.state_dir, stack.state_dir);
        let json = to_json(&stack);
        assert_eq!(json["components"]["web"]["stop_signal"], "SIGINT");
        assert_eq!(json["components"]["db"]["env"]["PRICE"], "$5");
        assert_eq!(json["components"]["web"]["stop_timeout"], "3s");
    }
}
