//! Running the real `herald` binary from the crate's folder.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The quickstart stack, relative to the crate's folder.
pub const QUICKSTART: &str = "../../examples/quickstart";

/// `herald ARGS` run in the crate's folder, with no stack file from the environment.
pub fn herald(args: &[&str]) -> Output {
    herald_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// `herald ARGS` run in `dir`.
pub fn herald_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env_remove("HERALD_FILE")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .expect("the herald binary runs")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
