//! The notify socket's message parser on arbitrary datagrams.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    herald_cli::fuzzing::notify_datagram(data);
});
