//! A stack file's table written as YAML: block mappings, every scalar quoted as JSON quotes it
//! (valid YAML, never read as another type), arrays of scalars in flow style.

use toml::{Table, Value};

/// `table` as a YAML document.
pub fn write(table: &Table) -> String {
    let mut out = String::new();
    mapping(&mut out, table, 0);
    out
}

fn mapping(out: &mut String, table: &Table, depth: usize) {
    let indent = "  ".repeat(depth);
    for (key, value) in table {
        let key = quoted(key);
        match value {
            Value::Table(inner) if inner.is_empty() => {
                out.push_str(&format!("{indent}{key}: {{}}\n"))
            }
            Value::Table(inner) => {
                out.push_str(&format!("{indent}{key}:\n"));
                mapping(out, inner, depth + 1);
            }
            other => out.push_str(&format!("{indent}{key}: {}\n", scalar(other))),
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => quoted(s),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => quoted(&d.to_string()),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(scalar).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Table(table) => {
            let entries: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{}: {}", quoted(k), scalar(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_as_the_same_tree() {
        let mut component = Table::new();
        component.insert(
            "command".into(),
            Value::Array(vec!["sh".into(), "-c".into(), "echo \"no\" # x".into()]),
        );
        component.insert("restart".into(), "no".into());
        component.insert("env".into(), Value::Table(Table::new()));
        let mut components = Table::new();
        components.insert("web".into(), Value::Table(component));
        let mut table = Table::new();
        table.insert("components".into(), Value::Table(components));
        let text = write(&table);
        let tree = crate::stackfile::yaml_tree(&text).unwrap();
        let web = tree.at_path("components.web").unwrap();
        assert_eq!(web.entry("restart").unwrap().value.as_str(), Some("no"));
        let command = &web.entry("command").unwrap().value;
        assert_eq!(
            command.at_index(2).and_then(|n| n.as_str()),
            Some("echo \"no\" # x")
        );
    }
}
