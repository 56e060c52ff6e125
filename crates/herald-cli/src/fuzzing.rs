//! The entry points the fuzz targets (`fuzz/`) drive, and that `tests/fuzz_regressions.rs`
//! replays their corpus through: each is the very function the command uses on that input.
//! Each must return, never panic, whatever the bytes.

use std::path::Path;

/// Loads `bytes` as a stack file named `name` (`herald.toml`, `herald.yaml`) exactly as
/// `herald check` does once the file is read; gives whether it was valid.
pub fn stack_file(name: &str, bytes: &[u8]) -> bool {
    match crate::stackfile::from_bytes(Path::new(name), bytes.to_vec()) {
        Ok(_) => true,
        Err(problems) => {
            // Rendering places every problem in the text: it must not panic either.
            let _ = problems.to_string();
            false
        }
    }
}

/// Parses one control request line as the control server does; gives whether it was valid.
pub fn control_request(line: &[u8]) -> bool {
    crate::runtime::control::framing::parse_request(line).is_ok()
}

/// Parses one notify datagram as the notify socket does; gives how many messages it held.
pub fn notify_datagram(datagram: &[u8]) -> usize {
    herald::process::parse_notify_datagram(datagram).len()
}
