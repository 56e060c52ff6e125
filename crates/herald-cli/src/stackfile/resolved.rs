//! `herald config`: the stack as it was read, with `[defaults]` merged into each component,
//! variables substituted, the profiles applied and relative paths made absolute.
//!
//! The TOML form is a stack file `herald check` accepts unchanged and reads as the same
//! stack: every `$` is written `$$` (so nothing is substituted twice), and `profiles` are left
//! out (they have been applied). The JSON form is the same data as values, for programs:
//! `{"stack": {"name", "state_dir"}, "components": {NAME: {...}}}`, and `"cluster"` when
//! there is one. The stand-ins of remote components are not written: they come from the
//! `@node/component` dependencies, which are.

use super::StackFile;
use super::cluster::is_remote;
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
    for spec in stack.components.iter().filter(|s| !is_remote(&s.name)) {
        let mut spec = spec.clone();
        spec.profiles.clear();
        let value = serde_json::to_value(&spec).unwrap_or(Value::Null);
        components.insert(spec.name.clone(), value);
    }
    let mut value = json!({
        "stack": {
            "name": stack.name,
            "state_dir": stack.state_dir,
        },
        "components": components,
    });
    if let Some(cluster) = &stack.cluster {
        value["cluster"] = json!({
            "etcd": cluster.endpoints,
            "node": cluster.node,
            "ttl": herald::format_duration(cluster.ttl),
            "prefix": cluster.prefix,
        });
    }
    value
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
    for spec in stack.components.iter().filter(|s| !is_remote(&s.name)) {
        let mut spec = spec.clone();
        spec.profiles.clear();
        components.insert(spec.name.clone(), toml::Value::try_from(&spec)?);
    }
    let mut table = toml::Table::new();
    table.insert("stack".into(), head.into());
    if let Some(cluster) = &stack.cluster {
        let mut section = toml::Table::new();
        let endpoints: Vec<toml::Value> =
            cluster.endpoints.iter().map(|e| e.clone().into()).collect();
        section.insert("etcd".into(), endpoints.into());
        section.insert("node".into(), cluster.node.clone().into());
        section.insert("ttl".into(), herald::format_duration(cluster.ttl).into());
        section.insert("prefix".into(), cluster.prefix.clone().into());
        table.insert("cluster".into(), section.into());
    }
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

    #[test]
    fn the_cluster_section_reads_back_and_stand_ins_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let text = "\
[cluster]
etcd = [\"http://127.0.0.1:2379\"]
node = \"agent-1\"
ttl = \"2s\"
[components.kubelet]
command = [\"kubelet\"]
requires = [\"@server-1/apiserver\"]
";
        let path = dir.path().join("herald.toml");
        let stack = super::super::parse(&path, text.into()).unwrap_or_else(|e| panic!("{e}"));
        let resolved = to_toml(&stack);
        assert!(!resolved.contains("[components.\"@"), "{resolved}");
        let again = dir.path().join("again.toml");
        let back = super::super::parse(Path::new(&again), resolved.clone())
            .unwrap_or_else(|e| panic!("{e}\n{resolved}"));
        assert_eq!(back.components, stack.components, "{resolved}");
        assert_eq!(back.cluster, stack.cluster, "{resolved}");
        assert_eq!(to_json(&stack)["cluster"]["ttl"], "2s");
    }
}
