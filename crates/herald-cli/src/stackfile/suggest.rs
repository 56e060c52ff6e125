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
    let close = candidates
        .iter()
        .map(|&c| (distance(&lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= (c.chars().count() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c);
    // Else a longer or shorter form of a known name: `maximum` for `max`, `time` for `timeout`.
    close.or_else(|| {
        candidates.into_iter().find(|c| {
            let c = c.to_lowercase();
            c.len().min(lower.len()) >= 3 && (c.starts_with(&lower) || lower.starts_with(&c))
        })
    })
}

/// " (did you mean `x`?)" when there is a close candidate, else nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Edit distance in characters, a swap of two neighbours counting as one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
        assert_eq!(closest("maximum", ["initial", "max"]), Some("max"));
        assert_eq!(closest("nmae", ["name", "state_dir"]), Some("name"));
        assert_eq!(hint("redy", FIELDS), " (did you mean `ready`?)");
        assert_eq!(hint("zzz", FIELDS), "");
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
        assert_eq!(distance("nmae", "name"), 1);
    }
}
