//! `herald check` on broken stack files: exit 2, every problem placed, never a panic.

mod common;

use common::{QUICKSTART, herald, stderr, stdout};
use std::path::Path;

/// Every file of the corpus, sorted.
fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("the corpus folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_corpus_covers_every_kind_of_problem() {
    let expected = [
        "bad-checks.toml",
        "bad-duration.toml",
        "bad-enum.toml",
        "compose-problems.yaml",
        "duplicate-component.toml",
        "duplicate-component.yaml",
        "empty-command.yaml",
        "no-command.toml",
        "self-dependency.yaml",
        "several-problems.toml",
        "several-problems.yaml",
        "syntax-error.toml",
        "syntax-error.yaml",
        "two-cycles.toml",
        "unknown-dependency.toml",
        "unknown-field-component.toml",
        "unknown-field-ready.yaml",
        "unknown-field-top.toml",
        "wrong-type.toml",
    ];
    assert_eq!(corpus(), expected);
}

#[test]
fn every_broken_file_exits_2_with_each_problem_placed() {
    for file in corpus() {
        let path = format!("tests/corpus/{file}");
        let output = herald(&["--file", &path, "check"]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{file}: {err}");
        assert!(!err.contains("panicked"), "{file}: {err}");
        assert!(stdout(&output).is_empty(), "{file}");
        let errors = err.lines().filter(|l| l.starts_with("error: ")).count();
        let placed = err
            .lines()
            .filter(|l| {
                l.trim_start()
                    .strip_prefix(&format!("--> {path}:"))
                    .is_some_and(|at| at.split(':').all(|n| n.parse::<usize>().is_ok()))
            })
            .count();
        assert_eq!(
            placed + 1,
            errors,
            "{file}: every problem has a line:column\n{err}"
        );
        let name = file.replace('.', "-");
        insta::assert_snapshot!(name, err);
    }
}

#[test]
fn json_lists_the_same_problems_with_lines_and_columns() {
    let output = herald(&[
        "-f",
        "tests/corpus/several-problems.toml",
        "--json",
        "check",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 6);
    assert_eq!(problems[2]["line"], 13);
    assert_eq!(problems[2]["column"], 1);
    assert_eq!(
        problems[2]["message"],
        "unknown field `requirez` in component `etcd` (did you mean `requires`?)"
    );
}

#[test]
fn both_quickstart_files_pass() {
    for file in ["herald.toml", "herald.yaml"] {
        let path = format!("{QUICKSTART}/{file}");
        let output = herald(&["-f", &path, "check"]);
        assert_eq!(output.status.code(), Some(0), "{file}: {}", stderr(&output));
        assert_eq!(
            stdout(&output),
            format!("ok: {path} defines 6 valid components\n")
        );
    }
}

#[test]
fn a_missing_file_is_a_bad_stack_file() {
    let output = herald(&["-f", "tests/corpus/absent.toml", "check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).starts_with("error: cannot read tests/corpus/absent.toml"));
    let empty = std::env::temp_dir();
    let output = common::herald_in(&empty, &["check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no herald.toml, herald.yaml or herald.yml"));
}

#[test]
fn up_refuses_exactly_what_check_refuses() {
    // One validation serves both: the same problems, placed the same way, before anything runs.
    for file in ["bad-checks.toml", "several-problems.toml"] {
        let path = format!("tests/corpus/{file}");
        let check = herald(&["-f", &path, "check"]);
        let up = herald(&["-f", &path, "up", "--detach"]);
        assert_eq!(up.status.code(), Some(2), "{file}: {}", stderr(&up));
        assert_eq!(stderr(&up), stderr(&check), "{file}");
        assert!(
            !Path::new("tests/corpus/.herald").exists(),
            "{file}: nothing ran"
        );
    }
}
