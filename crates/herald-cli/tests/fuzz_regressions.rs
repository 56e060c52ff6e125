//! The inputs the fuzz targets found (`fuzz/corpus/<target>/`, minimised), replayed through
//! the same functions on every `cargo test`: whatever the bytes, each returns, never panics.

use herald_cli::fuzzing;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    inputs
}

fn replay(target: &str, run: impl Fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&bytes)));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn stack_files_in_toml() {
    replay("stack_file_toml", |bytes| {
        fuzzing::stack_file("herald.toml", bytes);
    });
}

#[test]
fn stack_files_in_yaml() {
    replay("stack_file_yaml", |bytes| {
        fuzzing::stack_file("herald.yaml", bytes);
    });
}

#[test]
fn control_requests() {
    replay("control_request", |bytes| {
        fuzzing::control_request(bytes);
    });
}

#[test]
fn notify_messages() {
    replay("notify_message", |bytes| {
        fuzzing::notify_datagram(bytes);
    });
}
