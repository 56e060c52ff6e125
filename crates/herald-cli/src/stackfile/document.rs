//! The whole file: `[stack]`, `[defaults]` and `[components.NAME]`.

use super::checker::Checker;
use super::component::{self, FIELDS};
use super::defaults;
use super::locate::{Site, Sites};
use super::tree::{Entry, Node, Value};
use herald::ComponentSpec;

const TOP: &str = "the stack file";

/// What the file says, before paths are resolved.
#[derive(Debug, Default)]
pub struct Document {
    /// `[stack].name`.
    pub name: Option<String>,
    /// `[stack].state_dir`, as written.
    pub state_dir: Option<String>,
    /// `[stack].logs`: the retention of components that set none.
    pub logs: Option<herald::LogRetention>,
    /// `[stack].listen`: also serve the HTTP interface on this TCP address.
    pub listen: Option<std::net::SocketAddr>,
    /// `[stack].token_file`, as written: the HTTP bearer token's file.
    pub token_file: Option<String>,
    /// `[cluster]`: cluster-wide readiness on etcd.
    pub cluster: Option<super::cluster::ClusterConfig>,
    /// Every component, in file order.
    pub components: Vec<ComponentSpec>,
    /// Where each component was written.
    pub sites: Sites,
}

/// Reads the parsed file, recording every problem in `c`.
pub fn read(root: &Node, c: &mut Checker) -> Document {
    let mut doc = Document::default();
    c.no_nul(root);
    let Some(top) = c.table(
        root,
        "",
        TOP,
        &["stack", "cluster", "defaults", "components"],
    ) else {
        return doc;
    };
    if let Some(stack) = first(top, "stack") {
        read_stack(&mut doc, stack, c);
    }
    if let Some(cluster) = first(top, "cluster") {
        doc.cluster = super::cluster::read(cluster, c);
    }
    let defaults = match first(top, "defaults") {
        Some(node) => valid_defaults(node, c),
        None => Node::new(root.span, Value::Map(Vec::new())),
    };
    let Some(components) = first(top, "components") else {
        c.error(
            &Node::new(root.span.start_only(), Value::Null),
            "the stack file defines no components: add a `components` table".into(),
        );
        return doc;
    };
    let Some(entries) = components.entries() else {
        let found = components.type_name();
        c.error(
            components,
            format!("`components` must be a table, found {found}"),
        );
        return doc;
    };
    if entries.is_empty() {
        c.error(components, "the stack file defines no components".into());
    }
    for entry in entries {
        let header = Node::new(entry.key_span, Value::Null);
        check_name(&entry.key, &header, c);
        let node = defaults::merge(&defaults, &entry.value);
        let mut spec = component::read(&entry.key, &header, &node, c);
        if let (Some(logs), None) = (doc.logs, node.entry("logs")) {
            spec.logs = logs;
        }
        doc.components.push(spec);
        doc.sites.components.push(Site {
            name: entry.key.clone(),
            header: entry.key_span,
            node,
        });
    }
    doc
}

fn first<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Node> {
    entries.iter().find(|e| e.key == key).map(|e| &e.value)
}

fn read_stack(doc: &mut Document, node: &Node, c: &mut Checker) {
    let fields = ["name", "state_dir", "logs", "listen", "token_file"];
    let Some(entries) = c.table(node, "stack", TOP, &fields) else {
        return;
    };
    for entry in entries {
        let field = format!("stack.{}", entry.key);
        match entry.key.as_str() {
            "name" => doc.name = c.non_empty(&entry.value, &field, TOP),
            "state_dir" => doc.state_dir = c.non_empty(&entry.value, &field, TOP),
            "logs" => doc.logs = super::retention::read(&entry.value, &field, TOP, c),
            "listen" => {
                let Some(text) = c.non_empty(&entry.value, &field, TOP) else {
                    continue;
                };
                match text.parse::<std::net::SocketAddr>() {
                    Ok(addr) => doc.listen = Some(addr),
                    Err(_) => c.error(
                        &entry.value,
                        format!("`{field}` must be an address and port such as \"127.0.0.1:7070\", found {text:?}"),
                    ),
                }
            }
            "token_file" => doc.token_file = c.non_empty(&entry.value, &field, TOP),
            _ => {}
        }
    }
}

/// `[defaults]` checked once, keeping only its valid fields, so that a problem in it is
/// reported once rather than once per component.
fn valid_defaults(node: &Node, c: &mut Checker) -> Node {
    let place = "`defaults`";
    let Some(entries) = c.table(node, "", place, &FIELDS) else {
        return Node::new(node.span, Value::Map(Vec::new()));
    };
    let mut scratch = ComponentSpec::new("defaults");
    let valid = entries
        .iter()
        .filter(|entry| component::apply(&mut scratch, entry, place, c))
        .cloned()
        .collect();
    Node::new(node.span, Value::Map(valid))
}

/// The longest component name: its log files, `<name>.log` and the rotated `<name>.log.N`,
/// must fit in a file name (255 bytes).
pub const MAX_NAME: usize = 240;

/// Names are used on the command line, in logs and file names: keep them plain and short
/// enough for a file name.
fn check_name(name: &str, header: &Node, c: &mut Checker) {
    let plain = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(plain) {
        let shown: String = name.escape_debug().take(80).collect();
        c.error(
            header,
            format!("component name `{shown}` may hold only letters, digits, `-`, `_` and `.`"),
        );
    } else if name.len() > MAX_NAME {
        c.error(
            header,
            format!(
                "component name `{}...` is {} bytes long: at most {MAX_NAME} fit in its log \
                 file's name (`<name>.log`, 255 bytes at most)",
                &name[..40],
                name.len()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;

    fn read_text(text: &str) -> (Document, Vec<String>) {
        let mut c = Checker::default();
        let doc = read(&parse(text).unwrap(), &mut c);
        (doc, c.problems.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn a_bad_default_is_reported_once_and_not_inherited() {
        let (doc, problems) = read_text(
            "[defaults]\nstop_timeout = \"10\"\nrestart = \"always\"\n\
             [components.a]\ncommand = [\"a\"]\n[components.b]\ncommand = [\"b\"]\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("`stop_timeout` in `defaults`"),
            "{problems:?}"
        );
        assert!(
            doc.components
                .iter()
                .all(|s| s.restart == herald::RestartPolicy::Always)
        );
    }

    #[test]
    fn reads_stack_and_components_in_file_order() {
        let (doc, problems) = read_text(
            "[stack]\nname = \"s\"\nstate_dir = \"st\"\n\
             [components.z]\ncommand = [\"z\"]\n[components.a]\ncommand = [\"a\"]\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(doc.name.as_deref(), Some("s"));
        assert_eq!(doc.state_dir.as_deref(), Some("st"));
        let names: Vec<&str> = doc.components.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["z", "a"]);
    }

    #[test]
    fn names_too_long_for_a_file_name_are_refused() {
        let long = "a".repeat(MAX_NAME + 1);
        let (_, problems) = read_text(&format!("[components.{long}]\ncommand = [\"x\"]\n"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("241 bytes long"), "{problems:?}");
        let fits = "a".repeat(MAX_NAME);
        let (_, problems) = read_text(&format!("[components.{fits}]\ncommand = [\"x\"]\n"));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn nul_bytes_are_refused_in_argv_env_and_paths() {
        let (_, problems) = read_text(
            "[components.a]\ncommand = [\"x\", \"a\\u0000b\"]\ncwd = \"d\\u0000\"\n\
             env = { \"K\\u0000\" = \"v\", K2 = \"v\\u0000\" }\n",
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems.iter().all(|p| p.contains("NUL byte")),
            "{problems:?}"
        );
    }

    #[test]
    fn log_retention_comes_from_the_component_else_the_stack() {
        let (doc, problems) = read_text(
            "[stack]\nlogs = { max_size = \"1MB\", keep = 5 }\n\
             [components.a]\ncommand = [\"a\"]\n\
             [components.b]\ncommand = [\"b\"]\nlogs = { keep = 0 }\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(doc.components[0].logs.max_size, 1 << 20);
        assert_eq!(doc.components[0].logs.keep, 5);
        assert_eq!(doc.components[1].logs.keep, 0);
        assert_eq!(doc.components[1].logs.max_size, 10 << 20);
        let (_, problems) = read_text(
            "[stack]\nlogs = { max_size = \"big\", keep = 1000 }\n[components.a]\ncommand = [\"a\"]\n",
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn no_components_is_a_problem() {
        let (_, problems) = read_text("[stack]\nname = \"s\"\n");
        assert_eq!(problems.len(), 1);
    }
}
