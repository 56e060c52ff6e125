//! Durations written the way people write them in a stack file: `"250ms"`, `"10s"`, `"2m"`.

use std::time::Duration;

/// Parses a duration such as `"250ms"`, `"10s"`, `"1m30s"` or `"2h"`.
///
/// A bare number is rejected: a unit is always required, so `"10"` cannot be misread.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(herald::parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert_eq!(herald::parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert!(herald::parse_duration("10").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration: write a number and a unit, such as \"10s\"".into());
    }
    humantime::parse_duration(trimmed).map_err(|e| {
        format!("bad duration {text:?}: {e} (write a number and a unit, such as \"250ms\", \"10s\" or \"2m\")")
    })
}

/// Formats a duration the way [`parse_duration`] reads it back (`"1m 30s"`, `"250ms"`).
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Serde helpers so that spec fields hold a [`Duration`] but read and write strings.
pub(crate) mod serde_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in ["5ms", "250ms", "10s", "2m", "1h"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(parsed)).unwrap(), parsed);
        }
    }

    #[test]
    fn rejects_nonsense() {
        for text in ["", "10", "ten seconds", "-1s", "5 parsecs"] {
            assert!(parse_duration(text).is_err(), "{text:?} should not parse");
        }
    }
}
