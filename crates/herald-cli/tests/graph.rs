//! `herald graph` on the quickstart stack.

mod common;

use common::{QUICKSTART, herald, stderr, stdout};
use serde_json::json;

fn graph(format: &str) -> String {
    let file = format!("{QUICKSTART}/herald.toml");
    let output = herald(&["-f", &file, "graph", "--format", format]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stdout(&output)
}

#[test]
fn json_has_components_edges_and_layers() {
    let value: serde_json::Value = serde_json::from_str(&graph("json")).expect("JSON");
    let edge = |from: &str, to: &str, kind: &str| json!({"from": from, "to": to, "kind": kind});
    assert_eq!(
        value,
        json!({
            "components": ["containerd", "certs", "etcd", "apiserver", "kubelet", "scheduler"],
            "edges": [
                edge("etcd", "certs", "requires"),
                edge("apiserver", "etcd", "requires"),
                edge("apiserver", "certs", "requires"),
                edge("kubelet", "containerd", "requires"),
                edge("kubelet", "apiserver", "wants"),
                edge("scheduler", "kubelet", "after"),
                edge("scheduler", "apiserver", "binds_to"),
            ],
            "layers": [
                ["containerd", "certs"],
                ["etcd"],
                ["apiserver"],
                ["kubelet"],
                ["scheduler"],
            ],
        })
    );
    let file = format!("{QUICKSTART}/herald.yaml");
    let output = herald(&["-f", &file, "--json", "graph"]);
    let from_yaml: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        from_yaml, value,
        "--json means --format json, and YAML draws the same"
    );
}

#[test]
fn text_groups_edges_by_kind() {
    insta::assert_snapshot!("graph-text", graph("text"));
}

#[test]
fn dot_distinguishes_edge_kinds() {
    insta::assert_snapshot!("graph-dot", graph("dot"));
}

#[test]
fn mermaid_distinguishes_edge_kinds() {
    insta::assert_snapshot!("graph-mermaid", graph("mermaid"));
}
