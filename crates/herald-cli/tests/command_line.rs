//! The command line itself: usage errors, help, the file lookup, the runtime seam.

mod common;

use common::{QUICKSTART, herald, herald_in, stderr, stdout};
use std::path::Path;
use std::process::Command;

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    for args in [
        &["wait"][..],
        &["bogus"],
        &["graph", "--format", "png"],
        &[],
    ] {
        let output = herald(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = herald(&["wait", "--timeout", "10", "etcd"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("time unit needed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(herald(&["--help"]).status.code(), Some(0));
    assert_eq!(herald(&["--version"]).status.code(), Some(0));
}

#[test]
fn wait_help_reads_like_a_synopsis() {
    let output = herald(&["wait", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!("wait-help", stdout(&output));
}

#[test]
fn the_default_file_is_found_in_the_current_folder() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(QUICKSTART);
    let output = herald_in(&dir, &["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "ok: herald.toml defines 6 valid components\n"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["check"])
        .env("HERALD_FILE", format!("{QUICKSTART}/herald.yaml"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("herald.yaml"));
}

#[test]
fn runtime_commands_need_a_running_stack_and_a_valid_file() {
    let file = format!("{QUICKSTART}/herald.toml");
    let output = herald(&["-f", &file, "status"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("stack quickstart is not running"),
        "{}",
        stderr(&output)
    );
    let output = herald(&["-f", "tests/corpus/two-cycles.toml", "up"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a bad file is reported before running"
    );
}

#[test]
fn completions_are_generated_without_a_stack_file() {
    for shell in ["bash", "zsh", "fish"] {
        let output = herald_in(&std::env::temp_dir(), &["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(stdout(&output).contains("herald"), "{shell}");
    }
}

#[test]
fn yaml_is_the_fallback_when_there_is_no_toml() {
    let dir = std::env::temp_dir().join(format!("herald-cli-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let file = dir.join("herald.yml");
    std::fs::write(&file, "components:\n  a:\n    command: [sleep, \"1\"]\n").expect("written");
    let output = herald_in(&dir, &["--json", "check"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        report,
        serde_json::json!({"file": "herald.yml", "problems": [], "warnings": [], "components": ["a"]})
    );
}
