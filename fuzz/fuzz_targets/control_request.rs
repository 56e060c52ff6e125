//! The control server's request parser on arbitrary lines.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    herald_cli::fuzzing::control_request(data);
});
