//! Two conventions of docker compose files, applied to the tree before anything is typed.
//!
//! - **Merge keys** (YAML): `<<: *base` in a mapping adds every key of the mapping `base`
//!   that the mapping does not set itself; `<<: [*a, *b]` merges several, the first one
//!   winning. The keys keep the place they were written (inside the anchored mapping), so a
//!   problem in a merged key points there.
//! - **Extension fields**: top-level keys, `[defaults]` keys and component keys that start
//!   with `x-` are ignored, so that a file can hold its anchors (`x-common: &common`) and
//!   notes of its own.
//! - **`env` lists** (`["KEY=VALUE", "KEY"]`) become the table they mean before `[defaults]`
//!   is merged, so that a component's list adds to the default `env` as a table does.
//!
//! ```yaml
//! x-common: &common
//!   restart: always
//!   env: { LOG_LEVEL: info }
//! components:
//!   web:
//!     <<: *common
//!     command: ./web
//! ```

use super::diagnostics::Diagnostic;
use super::tree::{Entry, Node, Value};

/// The merge key.
const MERGE: &str = "<<";

/// Whether `key` names an extension field, ignored.
pub fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

/// Resolves every merge key of `node`, at any depth; a `<<` whose value is not a mapping (or a
/// list of mappings) is a problem at that value.
pub fn merge_keys(node: &mut Node, problems: &mut Vec<Diagnostic>) {
    match &mut node.value {
        Value::Array(items) => {
            for item in items {
                merge_keys(item, problems);
            }
        }
        Value::Map(entries) => {
            for entry in entries.iter_mut() {
                merge_keys(&mut entry.value, problems);
            }
            if entries.iter().any(|e| e.key == MERGE) {
                let own = std::mem::take(entries);
                *entries = merged(own, problems);
            }
        }
        _ => {}
    }
}

/// `own` without its merge keys, with every key they bring that `own` does not set, in the
/// order written.
fn merged(own: Vec<Entry>, problems: &mut Vec<Diagnostic>) -> Vec<Entry> {
    let (merges, mut entries): (Vec<Entry>, Vec<Entry>) =
        own.into_iter().partition(|e| e.key == MERGE);
    for merge in merges {
        let sources = match merge.value.value {
            Value::Array(items) => items,
            _ => vec![merge.value],
        };
        for source in sources {
            let Value::Map(brought) = source.value else {
                let found = source.type_name();
                let message = format!(
                    "a merge key `<<` takes a mapping or a list of mappings (an alias such as `*base`), found {found}"
                );
                problems.push(Diagnostic::new(message, source.span));
                continue;
            };
            for entry in brought {
                if !entries.iter().any(|e| e.key == entry.key) {
                    entries.push(entry);
                }
            }
        }
    }
    entries
}

/// Drops the extension fields of the top level, of `defaults` and of each component, and
/// turns their `env` lists into tables.
pub fn drop_extensions(root: &mut Node) {
    let Value::Map(top) = &mut root.value else {
        return;
    };
    top.retain(|e| !is_extension(&e.key));
    for entry in top.iter_mut() {
        match entry.key.as_str() {
            "defaults" => retain_fields(&mut entry.value),
            "components" => {
                if let Value::Map(components) = &mut entry.value.value {
                    for component in components {
                        retain_fields(&mut component.value);
                    }
                }
            }
            _ => {}
        }
    }
}

fn retain_fields(node: &mut Node) {
    if let Value::Map(entries) = &mut node.value {
        entries.retain(|e| !is_extension(&e.key));
        for entry in entries.iter_mut().filter(|e| e.key == "env") {
            env_list_as_table(&mut entry.value);
        }
    }
}

/// An `env` list (`["KEY=VALUE", "KEY"]`) as the table it means (`KEY` alone: no value,
/// passed through), so that a component's list adds to a default list or table as a table
/// does. A list with anything else in it is left for the reader to report.
fn env_list_as_table(node: &mut Node) {
    let Value::Array(items) = &node.value else {
        return;
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Value::Str(text) = &item.value else {
            return;
        };
        let (key, value) = match text.split_once('=') {
            Some((key, value)) => (key, Value::Str(value.to_string())),
            None => (text.as_str(), Value::Null),
        };
        if key.is_empty() {
            return;
        }
        entries.push(Entry {
            key: key.to_string(),
            key_span: item.span,
            value: Node::new(item.span, value),
        });
    }
    node.value = Value::Map(entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::{toml, yaml};

    fn keys(node: &Node) -> Vec<&str> {
        node.entries()
            .unwrap()
            .iter()
            .map(|e| e.key.as_str())
            .collect()
    }

    #[test]
    fn merge_keys_bring_what_is_not_set_and_keep_its_place() {
        let text = "\
base: &base
  restart: always
  kind: oneshot
more: &more
  kind: service
  cwd: /srv
web:
  <<: [*base, *more]
  kind: service
  command: ./web
";
        let mut root = yaml::parse(text).unwrap();
        let mut problems = Vec::new();
        merge_keys(&mut root, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let web = &root.entry("web").unwrap().value;
        assert_eq!(keys(web), ["kind", "command", "restart", "cwd"]);
        assert_eq!(web.entry("kind").unwrap().value.as_str(), Some("service"));
        let restart = web.entry("restart").unwrap();
        assert_eq!(
            &text[restart.key_span.start..restart.key_span.end],
            "restart"
        );
        assert!(restart.key_span.start < text.find("web:").unwrap());
    }

    #[test]
    fn a_merge_of_something_else_is_a_problem_at_it() {
        let text = "web:\n  <<: [1, {a: 1}]\n";
        let mut root = yaml::parse(text).unwrap();
        let mut problems = Vec::new();
        merge_keys(&mut root, &mut problems);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("found an integer"));
        assert_eq!(problems[0].span.unwrap().start, text.find('1').unwrap());
        assert_eq!(keys(&root.entry("web").unwrap().value), ["a"]);
    }

    #[test]
    fn extension_fields_are_dropped_where_the_contract_says() {
        let text = "\
x-note = \"top\"
[defaults]
x-shared = 1
stop_timeout = \"1s\"
[components.a]
command = [\"a\"]
x-owner = \"me\"
env = { x-kept = \"1\" }
";
        let mut root = toml::parse(text).unwrap();
        drop_extensions(&mut root);
        assert_eq!(keys(&root), ["defaults", "components"]);
        assert_eq!(
            keys(&root.entry("defaults").unwrap().value),
            ["stop_timeout"]
        );
        let a = &root.at_path("components.a").unwrap();
        assert_eq!(keys(a), ["command", "env"]);
        assert_eq!(keys(&a.entry("env").unwrap().value), ["x-kept"]);
    }

    #[test]
    fn env_lists_become_tables_and_odd_ones_stay_lists() {
        let text = "[components.a]\nenv = [\"A=1=2\", \"B\"]\n[components.b]\nenv = [\"A=1\", 2]\n";
        let mut root = toml::parse(text).unwrap();
        drop_extensions(&mut root);
        let env = root.at_path("components.a.env").unwrap();
        assert_eq!(keys(env), ["A", "B"]);
        assert_eq!(env.entry("A").unwrap().value.as_str(), Some("1=2"));
        assert_eq!(env.entry("B").unwrap().value.value, Value::Null);
        let odd = root.at_path("components.b.env").unwrap();
        assert!(matches!(odd.value, Value::Array(_)));
    }
}
