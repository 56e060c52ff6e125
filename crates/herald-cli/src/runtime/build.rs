//! From a stack file to a runnable [`Stack`]: the selection `up NAME...` asks for, and the
//! components themselves. Nothing is checked again here: the stack file's reader made every
//! value typed (checks, signals), so a file that `herald check` passed is a stack that can run.

use crate::stackfile::StackFile;
use herald::{ComponentSpec, ConfigProblem, ProcessHost, Stack};
use std::collections::BTreeSet;
use std::fmt;

/// Names that are not components of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNames {
    /// The names asked for that do not exist.
    pub unknown: Vec<String>,
    /// The components there are.
    pub names: Vec<String>,
}

impl fmt::Display for UnknownNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.unknown.iter().map(|n| format!("`{n}`")).collect();
        let plural = if self.unknown.len() == 1 { "" } else { "s" };
        write!(
            f,
            "no component{plural} named {}; the stack has: {}",
            quoted.join(", "),
            self.names.join(", ")
        )
    }
}

impl std::error::Error for UnknownNames {}

/// Checks that every name in `names` is one of `known`.
pub fn check_names<'a>(
    names: &[String],
    known: impl IntoIterator<Item = &'a str>,
) -> Result<(), UnknownNames> {
    let known: Vec<String> = known.into_iter().map(str::to_string).collect();
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| !known.contains(n))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(UnknownNames {
            unknown,
            names: known,
        })
    }
}

/// The specs `up NAME...` starts: each name and everything it `requires` or `binds_to`,
/// transitively, in file order; `wants`, `after` and `uses` edges to components left out are
/// dropped.
/// No names: every component.
pub fn select(stack: &StackFile, names: &[String]) -> Result<Vec<ComponentSpec>, UnknownNames> {
    check_names(names, stack.components.iter().map(|s| s.name.as_str()))?;
    if names.is_empty() {
        return Ok(stack.components.clone());
    }
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = names.iter().map(String::as_str).collect();
    while let Some(name) = todo.pop() {
        if !chosen.insert(name) {
            continue;
        }
        if let Some(spec) = stack.components.iter().find(|s| s.name == name) {
            todo.extend(spec.requires.iter().map(String::as_str));
            todo.extend(spec.binds_to.iter().map(String::as_str));
        }
    }
    Ok(stack
        .components
        .iter()
        .filter(|s| chosen.contains(s.name.as_str()))
        .map(|spec| {
            let mut spec = spec.clone();
            spec.wants.retain(|n| chosen.contains(n.as_str()));
            spec.after.retain(|n| chosen.contains(n.as_str()));
            spec.uses.retain(|n| chosen.contains(n.as_str()));
            spec
        })
        .collect())
}

/// The stack of `specs`, each a process of `host`, its probes made by the host from the
/// spec's checks, except the stand-ins of remote components (`@node/component`), which
/// `cluster` mirrors. The stack file's reader has checked every value, so the only refusal
/// left is a spec without a command, which that reader refuses too.
pub fn stack(
    specs: &[ComponentSpec],
    host: &ProcessHost,
    cluster: Option<&super::cluster::Cluster>,
) -> Result<Stack, ConfigProblem> {
    let mut stack = Stack::new();
    for spec in specs {
        match cluster {
            Some(cluster) if crate::stackfile::cluster::is_remote(&spec.name) => {
                stack.add(spec.clone(), cluster.remote(&spec.name))
            }
            _ => stack.add(spec.clone(), host.process(spec)?),
        };
    }
    Ok(stack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn quickstart() -> StackFile {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/herald.toml");
        crate::stackfile::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn selection_follows_hard_edges_and_drops_soft_ones() {
        let stack = quickstart();
        let names = |specs: &[ComponentSpec]| -> Vec<String> {
            specs.iter().map(|s| s.name.clone()).collect()
        };
        let kubelet = select(&stack, &["kubelet".into()]).unwrap();
        assert_eq!(names(&kubelet), ["containerd", "kubelet"]);
        assert!(kubelet[1].wants.is_empty(), "apiserver is not selected");
        let scheduler = select(&stack, &["scheduler".into()]).unwrap();
        assert_eq!(
            names(&scheduler),
            ["certs", "etcd", "apiserver", "scheduler"]
        );
        assert!(scheduler[3].after.is_empty());
        assert_eq!(select(&stack, &[]).unwrap().len(), stack.components.len());
        let err = select(&stack, &["nope".into()]).unwrap_err();
        assert_eq!(err.unknown, ["nope"]);
        assert!(err.to_string().contains("containerd, certs, etcd"), "{err}");
    }
}
