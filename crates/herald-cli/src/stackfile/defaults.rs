//! `[defaults]`: component fields applied where a component does not set them.
//!
//! The merge happens on the spanned tree, before any typing, the way docker compose merges an
//! override file and systemd a drop-in:
//!
//! - a field the component does not set is taken from `[defaults]` whole;
//! - a table both set (`ready`, `env`, `restart_backoff`, `start_limit`, `ready.interval`) is
//!   merged key by key, the component's keys winning: `defaults.ready.timeout = "30s"` still
//!   applies to a component that writes `ready = { http = "..." }`, and a default `env`
//!   is extended, not replaced, by a component's `env`;
//! - anything else (strings, numbers, arrays such as `command` or `requires`) set by the
//!   component replaces the default.
//!
//! So a default readiness *check* (`defaults.ready.notify = true`) adds to a component's own
//! checks; a component turns it off with `ready = { notify = false }`.
//!
//! Inherited values keep their spans, so a problem in one points into `[defaults]`.

use super::tree::{Entry, Node, Value};

/// `component` with every field of `defaults` it does not set.
pub fn merge(defaults: &Node, component: &Node) -> Node {
    let (Value::Map(base), Value::Map(own)) = (&defaults.value, &component.value) else {
        return component.clone();
    };
    let mut merged: Vec<Entry> = own
        .iter()
        .map(|entry| match base.iter().find(|d| d.key == entry.key) {
            Some(default) if is_map(&default.value) && is_map(&entry.value) => Entry {
                value: merge(&default.value, &entry.value),
                ..entry.clone()
            },
            _ => entry.clone(),
        })
        .collect();
    for default in base {
        if !own.iter().any(|e| e.key == default.key) {
            merged.push(default.clone());
        }
    }
    Node::new(component.span, Value::Map(merged))
}

fn is_map(node: &Node) -> bool {
    matches!(node.value, Value::Map(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;

    fn merged(text: &str) -> Node {
        let root = parse(text).unwrap();
        merge(
            &root.entry("defaults").unwrap().value,
            &root.at_path("components.a").unwrap().clone(),
        )
    }

    #[test]
    fn unset_fields_come_from_defaults_and_set_ones_win() {
        let text = "[defaults]\nstop_timeout = \"3s\"\nrequires = [\"x\"]\n\
                    [components.a]\ncommand = [\"a\"]\nrequires = []\n";
        let node = merged(text);
        assert_eq!(
            node.entry("stop_timeout").unwrap().value.as_str(),
            Some("3s")
        );
        assert_eq!(
            node.entry("requires").unwrap().value.value,
            Value::Array(vec![])
        );
        let keys: Vec<&str> = node
            .entries()
            .unwrap()
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, ["command", "requires", "stop_timeout"]);
    }

    #[test]
    fn tables_merge_key_by_key_and_keep_their_places() {
        let text = "[defaults]\nready = { timeout = \"30s\", interval = { max = \"1s\" } }\n\
                    env = { A = \"1\", B = \"2\" }\n\
                    [components.a]\nready = { http = \"http://x\", interval = { initial = \"1ms\" } }\n\
                    env = { B = \"3\" }\n";
        let node = merged(text);
        assert_eq!(
            node.at_path("ready.http").unwrap().as_str(),
            Some("http://x")
        );
        let timeout = node.at_path("ready.timeout").unwrap();
        assert_eq!(timeout.as_str(), Some("30s"));
        assert_eq!(&text[timeout.span.start..timeout.span.end], "\"30s\"");
        assert_eq!(
            node.at_path("ready.interval.max").unwrap().as_str(),
            Some("1s")
        );
        assert_eq!(
            node.at_path("ready.interval.initial").unwrap().as_str(),
            Some("1ms")
        );
        assert_eq!(node.at_path("env.A").unwrap().as_str(), Some("1"));
        assert_eq!(node.at_path("env.B").unwrap().as_str(), Some("3"));
    }

    #[test]
    fn a_table_replaces_a_default_of_another_type() {
        let text = "[defaults]\nready = 5\n[components.a]\nready = { notify = true }\n";
        let node = merged(text);
        assert_eq!(
            node.at_path("ready.notify").unwrap().value,
            Value::Bool(true)
        );
    }
}
