//! `herald graph`: the dependency graph as text, Graphviz dot, a Mermaid flowchart, or JSON.
//!
//! Edges point from a component to what it depends on (`a -> b`: a needs b). In dot and
//! mermaid, each edge is labelled with its kind and drawn in its own style: `requires` solid,
//! `wants` dashed, `after` dotted (a circle end in mermaid), `binds_to` bold, `uses` dashed
//! with an open end (a circle end in mermaid); oneshot components are rounded. Components of
//! other nodes (`@node/component`) are drawn dashed, grouped in a box per node; the text form
//! marks them `(remote, on NODE)` and the JSON lists them under `remote`.

use crate::cli::GraphFormat;
use crate::stackfile::StackFile;
use crate::stackfile::cluster::{is_remote, split_remote};
use herald::{EdgeKind, Graph, Kind};
use serde_json::json;
use std::fmt::Write;

/// The graph of `stack` drawn in `format`, ending with a newline.
pub fn render(stack: &StackFile, graph: &Graph, format: GraphFormat) -> String {
    match format {
        GraphFormat::Text => text(graph),
        GraphFormat::Dot => dot(stack, graph),
        GraphFormat::Mermaid => mermaid(stack, graph),
        GraphFormat::Json => {
            let mut out = serde_json::to_string_pretty(&to_json(graph)).unwrap_or_default();
            out.push('\n');
            out
        }
    }
}

const KINDS: [EdgeKind; 5] = EdgeKind::ALL;

/// `kubelet     requires containerd; wants apiserver`, one line per component in file order.
fn text(graph: &Graph) -> String {
    let names = graph.names();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        let groups: Vec<String> = KINDS
            .iter()
            .filter_map(|&kind| {
                let deps: Vec<&str> = graph
                    .dependencies(i)
                    .iter()
                    .filter(|&&(_, k)| k == kind)
                    .map(|&(j, _)| names[j].as_str())
                    .collect();
                (!deps.is_empty()).then(|| format!("{} {}", kind.as_str(), deps.join(", ")))
            })
            .collect();
        if let Some((node, _)) = split_remote(name) {
            let _ = writeln!(out, "{name:width$}  (remote, on {node})");
        } else if groups.is_empty() {
            let _ = writeln!(out, "{name}");
        } else {
            let _ = writeln!(out, "{name:width$}  {}", groups.join("; "));
        }
    }
    out
}

fn dot_style(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Requires => "solid",
        EdgeKind::Wants => "dashed",
        EdgeKind::After => "dotted",
        EdgeKind::BindsTo => "bold",
        EdgeKind::Uses => "dashed, arrowhead=empty",
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn dot(stack: &StackFile, graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quoted(&stack.name));
    out.push_str("  rankdir=BT;\n  node [shape=box];\n");
    for spec in stack.components.iter().filter(|s| !is_remote(&s.name)) {
        let style = match spec.kind {
            Kind::Oneshot => " [style=rounded]",
            Kind::Service => "",
        };
        let _ = writeln!(out, "  {}{style};", quoted(&spec.name));
    }
    for (node, names) in remote_by_node(stack) {
        let _ = writeln!(out, "  subgraph {} {{", quoted(&format!("cluster_{node}")));
        let _ = writeln!(
            out,
            "    label={}; style=dashed;",
            quoted(&format!("node {node}"))
        );
        for (name, component, _) in names {
            let _ = writeln!(
                out,
                "    {} [label={}, style=dashed];",
                quoted(name),
                quoted(component)
            );
        }
        out.push_str("  }\n");
    }
    let names = graph.names();
    for edge in graph.edges() {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, style={}];",
            quoted(&names[edge.from]),
            quoted(&names[edge.to]),
            edge.kind.as_str(),
            dot_style(edge.kind)
        );
    }
    out.push_str("}\n");
    out
}

fn mermaid_arrow(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Requires => "-->",
        EdgeKind::Wants => "-.->",
        EdgeKind::After => "--o",
        EdgeKind::BindsTo => "==>",
        EdgeKind::Uses => "-.-o",
    }
}

fn mermaid(stack: &StackFile, graph: &Graph) -> String {
    let mut out = String::from("flowchart BT\n");
    for (i, spec) in stack.components.iter().enumerate() {
        let label = spec.name.replace('"', "#quot;");
        let _ = match spec.kind {
            _ if is_remote(&spec.name) => continue,
            Kind::Oneshot => writeln!(out, "  c{i}([\"{label}\"])"),
            Kind::Service => writeln!(out, "  c{i}[\"{label}\"]"),
        };
    }
    for (node, names) in remote_by_node(stack) {
        let _ = writeln!(out, "  subgraph node_{i} [\"node {node}\"]", i = names[0].2);
        for (_, component, i) in &names {
            let _ = writeln!(out, "    c{i}[/\"{component}\"/]");
        }
        out.push_str("  end\n");
    }
    for edge in graph.edges() {
        let _ = writeln!(
            out,
            "  c{} {}|{}| c{}",
            edge.from,
            mermaid_arrow(edge.kind),
            edge.kind.as_str(),
            edge.to
        );
    }
    out
}

/// A remote component: its name, its name on its node, its index in the stack.
type Remote<'a> = (&'a str, &'a str, usize);

/// The remote components of `stack`, grouped by node in order of first mention.
fn remote_by_node(stack: &StackFile) -> Vec<(&str, Vec<Remote<'_>>)> {
    let mut groups: Vec<(&str, Vec<Remote<'_>>)> = Vec::new();
    for (i, spec) in stack.components.iter().enumerate() {
        let Some((node, component)) = split_remote(&spec.name) else {
            continue;
        };
        match groups.iter_mut().find(|(n, _)| *n == node) {
            Some((_, names)) => names.push((&spec.name, component, i)),
            None => groups.push((node, vec![(&spec.name, component, i)])),
        }
    }
    groups
}

/// `{"components": [names], "edges": [{"from", "to", "kind"}], "layers": [[names]]}`, and
/// `"remote": [{"name", "node", "component"}]` when the stack depends on other nodes.
pub fn to_json(graph: &Graph) -> serde_json::Value {
    let names = graph.names();
    let edges: Vec<_> = graph
        .edges()
        .map(|e| json!({"from": names[e.from], "to": names[e.to], "kind": e.kind.as_str()}))
        .collect();
    let mut value = json!({"components": names, "edges": edges, "layers": graph.layers()});
    let remote: Vec<_> = names
        .iter()
        .filter_map(|n| {
            let (node, component) = split_remote(n)?;
            Some(json!({"name": n, "node": node, "component": component}))
        })
        .collect();
    if !remote.is_empty() {
        value["remote"] = json!(remote);
    }
    value
}
