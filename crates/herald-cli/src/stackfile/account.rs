//! `user` and `group`: who a component's process runs as.
//!
//! Each is a name or a number (`user = "postgres"`, `user = 999`). As in docker compose,
//! `user` may also be `"USER:GROUP"` (`user: "${AIRFLOW_UID:-50000}:0"`), which sets both; the
//! group is then not given again with `group`. Whether the names exist, and whether herald
//! may switch (it must be root), is decided when the stack starts, on the machine it runs on.

use super::checker::Checker;
use super::tree::{Node, Value};
use herald::ComponentSpec;

/// Reads `user` into `spec` (and `group`, from the `USER:GROUP` form).
pub fn user(spec: &mut ComponentSpec, node: &Node, place: &str, c: &mut Checker) {
    let Some(text) = identity(node, "user", place, c) else {
        return;
    };
    match text.split_once(':') {
        Some((user, group)) => {
            let user = part(user, node, "user", place, c);
            let group = part(group, node, "user", place, c);
            if let (Some(user), Some(group)) = (user, group) {
                spec.user = Some(user);
                spec.group = Some(group);
            }
        }
        None => spec.user = Some(text),
    }
}

/// Reads `group` into `spec`.
pub fn group(spec: &mut ComponentSpec, node: &Node, place: &str, c: &mut Checker) {
    if let Some(text) = identity(node, "group", place, c) {
        if text.contains(':') {
            c.error(
                node,
                format!("`group` in {place}: a group name cannot hold `:`"),
            );
            return;
        }
        spec.group = Some(text);
    }
}

/// A `group` beside a `user` that already names one (`"USER:GROUP"`) is a problem at `group`.
pub fn check_pair(table: &Node, place: &str, c: &mut Checker) {
    let (Some(user), Some(group)) = (table.entry("user"), table.entry("group")) else {
        return;
    };
    if let Value::Str(text) = &user.value.value
        && text.contains(':')
    {
        let message =
            format!("`group` in {place}: `user` already names the group ({text:?}); give it once");
        c.error(&group.value, message);
    }
}

/// A name or a non-negative number, as text.
fn identity(node: &Node, field: &str, place: &str, c: &mut Checker) -> Option<String> {
    match &node.value {
        Value::Str(text) if text.trim().is_empty() => {
            c.error(node, format!("`{field}` in {place} is empty"));
            None
        }
        Value::Str(text) if text.chars().any(|ch| ch.is_whitespace() || ch == '\0') => {
            let message = format!("`{field}` in {place}: a name cannot hold spaces");
            c.error(node, message);
            None
        }
        Value::Str(text) => Some(text.clone()),
        Value::Int(id) if u32::try_from(*id).is_ok() => Some(id.to_string()),
        Value::Int(id) => {
            let message = format!("`{field}` in {place}: {id} is not an id (0 to 4294967295)");
            c.error(node, message);
            None
        }
        _ => {
            let found = node.type_name();
            let message = format!("`{field}` in {place} must be a name or a number, found {found}");
            c.error(node, message);
            None
        }
    }
}

/// One side of `USER:GROUP`, which must not be empty.
fn part(text: &str, node: &Node, field: &str, place: &str, c: &mut Checker) -> Option<String> {
    if text.is_empty() || text.contains(':') {
        let message = format!("`{field}` in {place}: write a name or id, or `USER:GROUP`");
        c.error(node, message);
        return None;
    }
    Some(text.to_string())
}
