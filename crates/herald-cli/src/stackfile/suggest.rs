//! "Did you mean ...?": the closest known name to a misspelt one.

/// Names people bring from docker compose and systemd, and the field they mean here.
const ALIASES: &[(&str, &str)] = &[
    ("depends_on", "requires"),
    ("requires_after", "requires"),
    ("environment", "env"),
    ("working_dir", "cwd"),
    ("workdir", "cwd"),
    ("healthcheck", "ready"),
    ("readiness", "ready"),
    ("readiness_probe", "ready"),
    ("type", "kind"),
    ("cmd", "command"),
    ("args", "command"),
    ("entrypoint", "command"),
    ("stop_grace_period", "stop_timeout"),
    ("restart_policy", "restart"),
    ("services", "components"),
    ("bindsto", "binds_to"),
    ("binds-to", "binds_to"),
];

/// The candidate closest to `word`, if one is close enough to be a likely typo (or a name
/// with the same meaning in docker compose or systemd).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(&(_, meant)) = ALIASES.iter().find(|(alias, _)| *alias == lower)
        && let Some(found) = candidates.iter().find(|c| **c == meant)
    {
        return Some(found);
    }
    candidates
        .into_iter()
        .map(|c| (distance(&lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= (c.chars().count() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// " (did you mean `x`?)" when there is a close candidate, else nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Levenshtein distance in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [&str; 4] = ["requires", "wants", "ready", "env"];

    #[test]
    fn suggests_typos_and_foreign_names_only() {
        assert_eq!(closest("requirez", FIELDS), Some("requires"));
        assert_eq!(closest("Wants", FIELDS), Some("wants"));
        assert_eq!(closest("depends_on", FIELDS), Some("requires"));
        assert_eq!(closest("environment", FIELDS), Some("env"));
        assert_eq!(closest("banana", FIELDS), None);
        assert_eq!(hint("redy", FIELDS), " (did you mean `ready`?)");
        assert_eq!(hint("zzz", FIELDS), "");
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
