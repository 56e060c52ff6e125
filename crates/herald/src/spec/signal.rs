//! [`UnixSignal`]: a signal by number, read from its name (`"SIGTERM"`, `"TERM"`) or number.

use crate::sys::signals::{parse_signal, signal_name};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A Unix signal, such as a component's `stop_signal`. Made only from a signal that exists, so
/// it can always be sent.
///
/// Read from `"SIGTERM"`, `"TERM"`, `"sigterm"` or a number from 1 to 64; shown and written as
/// its name (`SIGTERM`), or its number when it has none (a real-time signal).
///
/// ```
/// use herald::UnixSignal;
/// let term: UnixSignal = "TERM".parse()?;
/// assert_eq!(term, UnixSignal::TERM);
/// assert_eq!(term.to_string(), "SIGTERM");
/// assert_eq!("9".parse::<UnixSignal>()?.to_string(), "SIGKILL");
/// assert!("SIGNOPE".parse::<UnixSignal>().is_err());
/// # Ok::<(), herald::UnknownSignal>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnixSignal(i32);

impl UnixSignal {
    /// `SIGTERM`, the default stop signal.
    pub const TERM: UnixSignal = UnixSignal(libc::SIGTERM);
    /// `SIGINT`.
    pub const INT: UnixSignal = UnixSignal(libc::SIGINT);
    /// `SIGHUP`.
    pub const HUP: UnixSignal = UnixSignal(libc::SIGHUP);
    /// `SIGQUIT`.
    pub const QUIT: UnixSignal = UnixSignal(libc::SIGQUIT);
    /// `SIGKILL`.
    pub const KILL: UnixSignal = UnixSignal(libc::SIGKILL);
    /// `SIGABRT`.
    pub const ABRT: UnixSignal = UnixSignal(libc::SIGABRT);
    /// `SIGUSR1`.
    pub const USR1: UnixSignal = UnixSignal(libc::SIGUSR1);
    /// `SIGUSR2`.
    pub const USR2: UnixSignal = UnixSignal(libc::SIGUSR2);

    /// The signal's number.
    pub fn number(self) -> i32 {
        self.0
    }
}

impl Default for UnixSignal {
    fn default() -> Self {
        UnixSignal::TERM
    }
}

/// A name or number that is no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal {name:?} (try \"SIGTERM\")")]
pub struct UnknownSignal {
    /// What was given.
    pub name: String,
}

impl FromStr for UnixSignal {
    type Err = UnknownSignal;

    fn from_str(name: &str) -> Result<Self, UnknownSignal> {
        parse_signal(name)
            .map(UnixSignal)
            .ok_or_else(|| UnknownSignal {
                name: name.to_string(),
            })
    }
}

impl fmt::Display for UnixSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = signal_name(self.0);
        if name.starts_with("SIG") {
            f.write_str(&name)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for UnixSignal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UnixSignal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_read_back() {
        for text in ["SIGTERM", "TERM", "sigterm", " term ", "15"] {
            assert_eq!(
                text.parse::<UnixSignal>().unwrap(),
                UnixSignal::TERM,
                "{text}"
            );
        }
        let realtime: UnixSignal = "40".parse().unwrap();
        assert_eq!(realtime.to_string(), "40");
        assert_eq!(
            realtime.to_string().parse::<UnixSignal>().unwrap(),
            realtime
        );
        for bad in ["", "SIGNOPE", "0", "65", "-1"] {
            assert!(bad.parse::<UnixSignal>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&UnixSignal::USR1).unwrap();
        assert_eq!(json, r#""SIGUSR1""#);
        assert_eq!(
            serde_json::from_str::<UnixSignal>(&json).unwrap(),
            UnixSignal::USR1
        );
        let err = serde_json::from_str::<UnixSignal>(r#""SIGNOPE""#).unwrap_err();
        assert!(
            err.to_string().contains("unknown signal \"SIGNOPE\""),
            "{err}"
        );
    }
}
