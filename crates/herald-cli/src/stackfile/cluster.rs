//! `[cluster]` and the dependencies on components of other nodes (`"@server-1/apiserver"`).
//!
//! ```toml
//! [cluster]
//! etcd = ["http://127.0.0.1:2379", "http://127.0.0.1:22379", "http://127.0.0.1:32379"]
//! node = "server-1"         # default: the host name
//! ttl = "10s"               # lease time to live
//! prefix = "/herald"        # default
//! ```
//!
//! A dependency written `@NODE/COMPONENT` names a component of another node. Each such name
//! becomes a component of its own in the stack, a stand-in whose state mirrors the etcd key
//! the other node publishes (`runtime::cluster`); the graph, status, wait and analyze treat it
//! as any other component. Local names cannot hold `@` or `/`, so the two never collide.

use super::checker::Checker;
use super::diagnostics::Diagnostic;
use super::locate::Sites;
use super::tree::{Node, Value};
use herald::ComponentSpec;
use std::time::Duration;

const PLACE: &str = "`[cluster]`";

/// What `[cluster]` says, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The etcd client endpoints (`http://host:port`).
    pub endpoints: Vec<String>,
    /// This node's name (default: the host name).
    pub node: String,
    /// The time to live of the supervisor's lease (whole seconds, at least one).
    pub ttl: Duration,
    /// The key prefix, without a trailing `/` (default `/herald`).
    pub prefix: String,
}

impl ClusterConfig {
    /// The endpoints as URLs (`127.0.0.1:2379` is `http://127.0.0.1:2379`).
    pub fn urls(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|e| {
                if e.contains("://") {
                    e.clone()
                } else {
                    format!("http://{e}")
                }
            })
            .collect()
    }

    /// The key of `component` of `node`: `<prefix>/nodes/<node>/<component>`.
    pub fn key(&self, node: &str, component: &str) -> String {
        format!("{}/nodes/{node}/{component}", self.prefix)
    }

    /// The prefix under which every node publishes: `<prefix>/nodes/`.
    pub fn nodes_prefix(&self) -> String {
        format!("{}/nodes/", self.prefix)
    }

    /// The key a supervisor holds while it publishes for `node`: `<prefix>/owners/<node>`.
    /// Its create revision fences every write of that node's keys.
    pub fn owner_key(&self, node: &str) -> String {
        format!("{}/owners/{node}", self.prefix)
    }
}

/// The node and component of a remote name (`@server-1/apiserver`), if it is one.
pub fn split_remote(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix('@')?.split_once('/')
}

/// Whether `name` names a component of another node.
pub fn is_remote(name: &str) -> bool {
    name.starts_with('@')
}

/// Reads `[cluster]`, recording its problems.
pub(crate) fn read(node: &Node, c: &mut Checker) -> Option<ClusterConfig> {
    let fields = ["etcd", "node", "ttl", "prefix"];
    let entries = c.table(node, "cluster", PLACE, &fields)?;
    let mut endpoints = None;
    let mut name = None;
    let mut ttl = Duration::from_secs(10);
    let mut prefix = "/herald".to_string();
    let mut ok = true;
    for entry in entries {
        let field = format!("cluster.{}", entry.key);
        let value = &entry.value;
        match entry.key.as_str() {
            "etcd" => endpoints = read_endpoints(value, &field, c),
            "node" => match c.non_empty(value, &field, PLACE) {
                Some(text) if plain(&text) => name = Some(text),
                Some(text) => {
                    c.error(value, format!("`{field}` may hold only letters, digits, `-`, `_` and `.`, found {text:?}"));
                    ok = false;
                }
                None => ok = false,
            },
            "ttl" => match c.duration(value, &field, PLACE) {
                Some(d) if d >= Duration::from_secs(1) && d.subsec_nanos() == 0 => ttl = d,
                Some(_) => {
                    let message = format!(
                        "`{field}` must be whole seconds, at least \"1s\" (an etcd lease lives for whole seconds)"
                    );
                    c.error(value, message);
                    ok = false;
                }
                None => ok = false,
            },
            "prefix" => match c.non_empty(value, &field, PLACE) {
                Some(text) => prefix = text.trim_end_matches('/').to_string(),
                None => ok = false,
            },
            _ => {}
        }
    }
    let Some(endpoints) = endpoints else {
        if !entries.iter().any(|e| e.key == "etcd") {
            c.error(
                node,
                "`[cluster]` needs `etcd`, the list of etcd endpoints".into(),
            );
        }
        return None;
    };
    let node_name = match name {
        Some(name) => name,
        None => host_name(),
    };
    ok.then_some(ClusterConfig {
        endpoints,
        node: node_name,
        ttl,
        prefix,
    })
}

fn read_endpoints(node: &Node, field: &str, c: &mut Checker) -> Option<Vec<String>> {
    let list = c.strings(node, field, PLACE)?;
    if list.is_empty() {
        c.error(node, format!("`{field}` lists no endpoint"));
        return None;
    }
    let Value::Array(items) = &node.value else {
        return None;
    };
    let mut ok = true;
    for (text, item) in list.iter().zip(items) {
        let rest = text.strip_prefix("http://").unwrap_or(text);
        if text.starts_with("https://") {
            c.error(
                item,
                format!("`{field}`: {text:?} needs TLS, which herald's etcd client does not speak; use an http:// endpoint"),
            );
            ok = false;
        } else if rest
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            c.error(
                item,
                format!("`{field}`: {text:?} is not an endpoint such as \"http://127.0.0.1:2379\""),
            );
            ok = false;
        }
    }
    ok.then_some(list)
}

/// The host name, as `uname -n` gives it (`localhost` if it has none).
fn host_name() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

fn plain(text: &str) -> bool {
    text.chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
}

/// Adds a stand-in component for each remote name the components depend on (in the order
/// first named), checking each name: `@NODE/COMPONENT` with plain names, another node than
/// this one, and a `[cluster]` to find it through.
pub(crate) fn add_remotes(
    components: &mut Vec<ComponentSpec>,
    sites: &Sites,
    cluster: Option<&ClusterConfig>,
    problems: &mut Vec<Diagnostic>,
) {
    let mut remotes: Vec<String> = Vec::new();
    for spec in components.iter() {
        let fields = [
            ("requires", &spec.requires),
            ("wants", &spec.wants),
            ("after", &spec.after),
            ("binds_to", &spec.binds_to),
            ("uses", &spec.uses),
        ];
        for (field, deps) in fields {
            for dep in deps.iter().filter(|d| is_remote(d)) {
                let problem = match (split_remote(dep), cluster) {
                    (Some((n, c)), _) if !plain(n) || !plain(c) || n.is_empty() || c.is_empty() => {
                        Some(format!(
                            "`{dep}` in `{field}` of component `{}` must be `@NODE/COMPONENT`, each a name of letters, digits, `-`, `_` and `.`",
                            spec.name
                        ))
                    }
                    (None, _) => Some(format!(
                        "`{dep}` in `{field}` of component `{}` must be `@NODE/COMPONENT`",
                        spec.name
                    )),
                    (Some(_), None) => Some(format!(
                        "`{dep}` in `{field}` of component `{}` names a component of another node: add a `[cluster]` section with the etcd endpoints to find it",
                        spec.name
                    )),
                    (Some((n, c)), Some(config)) if n == config.node => Some(format!(
                        "`{dep}` in `{field}` of component `{}` names this node (`cluster.node` is {n:?}): write `{c}`",
                        spec.name
                    )),
                    _ => None,
                };
                if let Some(message) = problem {
                    let span = sites.dependency(&spec.name, &[field], dep);
                    problems.push(Diagnostic { message, span });
                }
                // A bad name gets its stand-in too: its problem is told once, not again as
                // an unknown dependency.
                if !remotes.contains(dep) {
                    remotes.push(dep.clone());
                }
            }
        }
    }
    for name in remotes {
        components.push(stand_in(name));
    }
}

/// The spec of the stand-in for a remote component: a service that never fails for good.
/// Its ready timeout (60 s, the contract's default) bounds how long a `wants` dependent waits
/// for a node that does not show; it then waits again, while `requires` dependents go on
/// waiting.
pub fn stand_in(name: String) -> ComponentSpec {
    let mut spec = ComponentSpec::new(name);
    spec.restart = herald::RestartPolicy::Always;
    spec.start_limit = herald::StartLimit {
        burst: u32::MAX,
        interval: Duration::from_secs(60),
    };
    spec.restart_backoff = herald::BackoffSpec {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(500),
    };
    spec.stop_timeout = Duration::from_secs(1);
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;

    fn cluster(text: &str) -> (Option<ClusterConfig>, Vec<String>) {
        let root = parse(text).unwrap();
        let mut c = Checker::default();
        let config = read(&root.entry("cluster").unwrap().value, &mut c);
        (config, c.problems.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn reads_the_section_with_its_defaults() {
        let (config, problems) = cluster("[cluster]\netcd = [\"http://127.0.0.1:2379\"]\n");
        assert!(problems.is_empty(), "{problems:?}");
        let config = config.unwrap();
        assert_eq!(config.ttl, Duration::from_secs(10));
        assert_eq!(config.prefix, "/herald");
        assert!(!config.node.is_empty());
        assert_eq!(config.key("s", "a"), "/herald/nodes/s/a");
        let (config, problems) = cluster(
            "[cluster]\netcd = [\"127.0.0.1:2379\"]\nnode = \"s-1\"\nttl = \"2s\"\nprefix = \"/x/\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let config = config.unwrap();
        assert_eq!(
            (config.node.as_str(), config.prefix.as_str()),
            ("s-1", "/x")
        );
        assert_eq!(config.owner_key("s-1"), "/x/owners/s-1");
    }

    #[test]
    fn bad_values_are_placed_and_named() {
        let (config, problems) = cluster(
            "[cluster]\netcd = [\"https://a:1\", \"nohost\"]\nnode = \"a b\"\nttl = \"1500ms\"\nttls = 1\n",
        );
        assert!(config.is_none());
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(
            problems[0].contains("unknown field `cluster.ttls`"),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("needs TLS")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"nohost\" is not an endpoint"))
        );
        assert!(problems.iter().any(|p| p.contains("whole seconds")));
        let (_, problems) = cluster("[cluster]\nnode = \"a\"\n");
        assert_eq!(
            problems,
            ["`[cluster]` needs `etcd`, the list of etcd endpoints"]
        );
    }

    fn load(text: &str) -> Result<crate::stackfile::StackFile, Vec<String>> {
        let path = std::path::Path::new("/nowhere/herald.toml");
        crate::stackfile::parse(path, text.to_string())
            .map_err(|d| d.iter().map(|p| p.message.clone()).collect())
    }

    #[test]
    fn remote_dependencies_get_one_stand_in_each() {
        let stack = load(
            "[cluster]\netcd = [\"http://127.0.0.1:2379\"]\nnode = \"agent-1\"\n\
             [components.kubelet]\ncommand = [\"k\"]\nrequires = [\"@server-1/apiserver\"]\n\
             [components.proxy]\ncommand = [\"p\"]\nbinds_to = [\"@server-1/apiserver\"]\n\
             wants = [\"@server-2/dns\"]\n",
        )
        .unwrap();
        let names: Vec<&str> = stack.components.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["kubelet", "proxy", "@server-1/apiserver", "@server-2/dns"]
        );
        let stand_in = &stack.components[2];
        assert!(stand_in.command.is_empty());
        assert_eq!(stand_in.restart, herald::RestartPolicy::Always);
        assert_eq!(stack.cluster.unwrap().node, "agent-1");
    }

    #[test]
    fn bad_remote_dependencies_are_placed_once() {
        let problems =
            load("[components.kubelet]\ncommand = [\"k\"]\nrequires = [\"@server-1/apiserver\"]\n")
                .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("add a `[cluster]` section"),
            "{problems:?}"
        );
        let problems = load(
            "[cluster]\netcd = [\"127.0.0.1:2379\"]\nnode = \"a\"\n\
             [components.k]\ncommand = [\"k\"]\nrequires = [\"@a/x\", \"@b\", \"@b/c d\"]\n",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("names this node"), "{problems:?}");
        assert!(
            problems[1].contains("must be `@NODE/COMPONENT`"),
            "{problems:?}"
        );
    }

    #[test]
    fn remote_names_split_into_node_and_component() {
        assert_eq!(
            split_remote("@server-1/apiserver"),
            Some(("server-1", "apiserver"))
        );
        assert_eq!(split_remote("apiserver"), None);
        assert!(is_remote("@x"));
    }
}
