//! Where each component and its fields were written, so a problem found in the specs (by the
//! graph or, later, by the process layer) points at the line that caused it.

use super::suggest;
use super::tree::{Node, Span, Value};
use herald::ConfigProblem;

/// The dependency fields, in the order a cycle is looked for.
const DEPENDENCY_FIELDS: [&str; 5] = ["requires", "wants", "after", "binds_to", "uses"];

/// Every component's place, in file order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sites {
    /// One per component table, duplicates included.
    pub components: Vec<Site>,
}

/// Where one component was written.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The component's name.
    pub name: String,
    /// The name in the table header (`[components.etcd]`) or mapping key.
    pub header: Span,
    /// The component's table after defaults were merged in: inherited fields point into
    /// `[defaults]`.
    pub node: Node,
}

impl Sites {
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Site> + 'a {
        self.components.iter().filter(move |s| s.name == name)
    }

    /// Where the field a problem names was written, or the component's header.
    pub fn locate(&self, problem: &ConfigProblem) -> Option<Span> {
        match problem {
            ConfigProblem::DuplicateName { name } => {
                let mut sites = self.named(name);
                let first = sites.next()?;
                Some(sites.next().unwrap_or(first).header)
            }
            ConfigProblem::UnknownDependency {
                component,
                field,
                dependency,
            } => self.dependency(component, &[field], dependency),
            ConfigProblem::SelfDependency { component, field } => {
                self.dependency(component, &[field], component)
            }
            ConfigProblem::Cycle { path } => {
                let (from, to) = (path.first()?, path.get(1)?);
                self.dependency(from, &DEPENDENCY_FIELDS, to)
            }
            ConfigProblem::Invalid {
                component, field, ..
            } => {
                let site = self.named(component).next()?;
                Some(site.node.at_path(field).map_or(site.header, |n| n.span))
            }
        }
    }

    /// The entry naming `target` in one of `fields` of `component`; else the first field's
    /// value; else the component's header.
    pub fn dependency(&self, component: &str, fields: &[&str], target: &str) -> Option<Span> {
        let mut fallback = None;
        for site in self.named(component) {
            for field in fields {
                let Some(node) = site.node.entry(field).map(|e| &e.value) else {
                    continue;
                };
                fallback = fallback.or(Some(node.span));
                if let Value::Array(items) = &node.value
                    && let Some(item) = items.iter().find(|i| i.as_str() == Some(target))
                {
                    return Some(item.span);
                }
            }
            fallback = fallback.or(Some(site.header));
        }
        fallback
    }

    /// The message for a problem, in the command's words; `line` gives a span's line.
    pub fn describe(&self, problem: &ConfigProblem, line: impl Fn(Span) -> usize) -> String {
        match problem {
            ConfigProblem::DuplicateName { name } => match self.named(name).next() {
                Some(first) => format!(
                    "duplicate component `{name}` (first defined on line {})",
                    line(first.header)
                ),
                None => format!("duplicate component `{name}`"),
            },
            ConfigProblem::UnknownDependency {
                component,
                field,
                dependency,
            } => {
                let names = self.components.iter().map(|s| s.name.as_str());
                format!(
                    "`{field}` of component `{component}` names unknown component `{dependency}`{}",
                    suggest::hint(dependency, names)
                )
            }
            ConfigProblem::SelfDependency { component, field } => {
                format!("component `{component}` depends on itself in `{field}`")
            }
            ConfigProblem::Cycle { path } => {
                format!("dependency cycle: {}", path.join(" -> "))
            }
            ConfigProblem::Invalid {
                component,
                field,
                reason,
            } => format!("`{field}` in component `{component}`: {reason}"),
        }
    }
}
