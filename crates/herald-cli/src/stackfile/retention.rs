//! `logs = { max_size = "10MB", keep = 3 }`: how much of a component's output is kept, in
//! `[stack]` (for every component) or in a component (or `[defaults]`).
//!
//! Sizes are a number of bytes or a string with a unit: `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
//! `G`/`GB`/`GiB`, all binary (`10MB` is 10 MiB), as docker's `max-size` reads them.

use super::checker::Checker;
use super::tree::{Node, Value};
use herald::LogRetention;
use herald::process::MAX_KEEP;

/// The smallest `max_size`: a rotation per line would help nobody.
const MIN_SIZE: u64 = 4096;

/// Reads a `logs` table at `field` of `place`, keys left out keeping their defaults.
pub fn read(node: &Node, field: &str, place: &str, c: &mut Checker) -> Option<LogRetention> {
    let entries = c.table(node, field, place, &["max_size", "keep"])?;
    let before = c.problems.len();
    let mut retention = LogRetention::default();
    for entry in entries {
        let name = format!("{field}.{}", entry.key);
        match entry.key.as_str() {
            "max_size" => {
                if let Some(size) = size(&entry.value, &name, place, c) {
                    retention.max_size = size;
                }
            }
            "keep" => {
                if let Some(keep) =
                    c.integer::<u32>(&entry.value, &name, place, (0, i64::from(MAX_KEEP)))
                {
                    retention.keep = keep;
                }
            }
            _ => {}
        }
    }
    (c.problems.len() == before).then_some(retention)
}

fn size(node: &Node, field: &str, place: &str, c: &mut Checker) -> Option<u64> {
    let parsed = match &node.value {
        Value::Int(n) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
        Value::Str(text) => parse_size(text),
        _ => {
            let found = node.type_name();
            c.error(
                node,
                format!("`{field}` in {place} must be a size such as \"10MB\", found {found}"),
            );
            return None;
        }
    };
    match parsed {
        Ok(size) if size >= MIN_SIZE => Some(size),
        Ok(size) => {
            c.error(
                node,
                format!("`{field}` in {place} must be at least {MIN_SIZE} bytes, found {size}"),
            );
            None
        }
        Err(reason) => {
            c.error(node, format!("`{field}` in {place}: {reason}"));
            None
        }
    }
}

/// `"10MB"` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("bad size {text:?} (try \"10MB\" or \"512KB\")");
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    number.checked_mul(1 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten MB").is_err());
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("99999999999999999999GB").is_err());
    }
}
