//! The stack-file loader on arbitrary bytes read as `herald.toml`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    herald_cli::fuzzing::stack_file("herald.toml", data);
});
