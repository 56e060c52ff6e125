//! `profiles`: a component with profiles is part of the stack only when one of them is active
//! (`--profile NAME`, repeatable, or `HERALD_PROFILES=a,b`); one without is always part of it.
//!
//! A component left out is gone from the stack (`up`, `graph`, `config` do not know it); a
//! component that is in and depends on one left out is a problem, placed at the dependency
//! and naming both.

use super::diagnostics::Diagnostic;
use super::locate::Sites;
use herald::ComponentSpec;

/// Whether `spec` is part of the stack with `active` profiles.
pub fn is_active(spec: &ComponentSpec, active: &[String]) -> bool {
    spec.profiles.is_empty() || spec.profiles.iter().any(|p| active.contains(p))
}

/// Keeps the components of `components` that `active` selects, recording a problem for each
/// dependency of one kept on one left out.
pub fn select(
    components: &mut Vec<ComponentSpec>,
    sites: &Sites,
    active: &[String],
    problems: &mut Vec<Diagnostic>,
) {
    let (kept, left): (Vec<ComponentSpec>, Vec<ComponentSpec>) = std::mem::take(components)
        .into_iter()
        .partition(|spec| is_active(spec, active));
    for spec in &kept {
        for (dependency, kind) in spec.dependencies() {
            let Some(out) = left.iter().find(|s| s.name == dependency) else {
                continue;
            };
            let which = match out.profiles.as_slice() {
                [one] => format!("profile `{one}`"),
                many => format!("profiles `{}`", many.join("`, `")),
            };
            let first = &out.profiles[0];
            let message = format!(
                "`{}` of component `{}` names `{dependency}`, which is only in {which}, not active (use --profile {first})",
                kind.as_str(),
                spec.name,
            );
            if let Some(span) = sites.dependency(&spec.name, &[kind.as_str()], dependency) {
                problems.push(Diagnostic::new(message, span));
            }
        }
    }
    // Reported here: the graph must not report each again as an unknown component.
    let gone = |name: &String| left.iter().any(|s| &s.name == name);
    let mut kept = kept;
    for spec in &mut kept {
        for names in [
            &mut spec.requires,
            &mut spec.wants,
            &mut spec.after,
            &mut spec.binds_to,
        ] {
            names.retain(|n| !gone(n));
        }
    }
    *components = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, profiles: &[&str]) -> ComponentSpec {
        let mut spec = ComponentSpec::new(name).command(["x"]);
        spec.profiles = profiles.iter().map(|p| p.to_string()).collect();
        spec
    }

    #[test]
    fn components_without_profiles_are_always_in() {
        let none: [String; 0] = [];
        assert!(is_active(&spec("a", &[]), &none));
        assert!(!is_active(&spec("a", &["debug"]), &none));
        assert!(is_active(
            &spec("a", &["debug", "ops"]),
            &["ops".to_string()]
        ));
    }
}
