//! Stack files written as docker compose users write them: `x-` blocks and `<<` merges,
//! variables from the environment and `.env`, `env_file`, list-form `env`, `command` strings,
//! profiles, and `herald config`, each problem placed in its own file.

mod common;

use common::{stderr, stdout};
use std::path::Path;
use std::process::{Command, Output};

const AIRFLOW: &str = "tests/compose/airflow.yaml";

/// `herald ARGS` in `dir` with `env` added to a clean environment of herald's variables.
fn herald_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("HERALD_FILE")
        .env_remove("HERALD_PROFILES")
        .env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the herald binary runs")
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn config_json(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--json", "config"]);
    let out = herald_with(dir, env, &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn the_airflow_pattern_checks_with_x_blocks_and_merge_keys() {
    let out = herald_with(crate_dir(), &[], &["-f", AIRFLOW, "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("ok: {AIRFLOW} defines 5 valid components\n")
    );
    let stack = config_json(crate_dir(), &[("AIRFLOW_UID", "1000")], &["-f", AIRFLOW]);
    let init = &stack["components"]["airflow-init"];
    assert_eq!(init["kind"], "oneshot");
    assert_eq!(
        init["restart"], "on-failure",
        "its own key wins over the merged one"
    );
    assert_eq!(init["stop_timeout"], "30s", "merged from x-airflow-common");
    assert_eq!(init["env"]["AIRFLOW__CORE__EXECUTOR"], "CeleryExecutor");
    assert_eq!(init["env"]["_AIRFLOW_DB_MIGRATE"], "true");
    assert_eq!(init["env"]["AIRFLOW__CORE__LOAD_EXAMPLES"], "false");
    assert_eq!(init["env"]["AIRFLOW_UID"], "1000", "from the environment");
    assert_eq!(
        (&init["user"], &init["group"]),
        (&serde_json::json!("1000"), &serde_json::json!("0")),
        "`user: UID:GID` as docker compose writes it"
    );
    assert_eq!(
        init["command"][2],
        "airflow db migrate && airflow users create --username \"${_AIRFLOW_WWW_USER_USERNAME:-airflow}\""
    );
    assert_eq!(
        stack["components"]["airflow-scheduler"]["requires"],
        serde_json::json!(["redis", "postgres", "airflow-init"])
    );
    assert!(stack["components"].get("flower").is_none());
}

#[test]
fn profiles_come_from_the_flag_or_the_environment() {
    for (env, args) in [
        (vec![], vec!["-f", AIRFLOW, "--profile", "flower"]),
        (
            vec![("HERALD_PROFILES", "debug,flower")],
            vec!["-f", AIRFLOW],
        ),
    ] {
        let out = herald_with(crate_dir(), &env, &[&args[..], &["check"]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("defines 6 valid components"),
            "{args:?}"
        );
    }
}

#[test]
fn a_dependency_on_a_component_left_out_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
[components.debug]
command = [\"sleep\", \"1000\"]
profiles = [\"debug\"]

[components.web]
command = \"sleep 1000\"
wants = [\"debug\"]
";
    std::fs::write(dir.path().join("herald.toml"), text).unwrap();
    let out = herald_with(dir.path(), &[], &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "error: `wants` of component `web` names `debug`, which is only in profile `debug`, not active (use --profile debug)\n --> herald.toml:7:10\n"
        ),
        "{err}"
    );
    assert!(!err.contains("unknown component"), "{err}");
    let out = herald_with(dir.path(), &[], &["--profile", "debug", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn variables_come_from_the_environment_over_dot_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# beside the stack file\nPORT=8080\nHOST=from-dot-env\n",
    )
    .unwrap();
    let text = "\
components:
  web:
    command: ./web --port ${PORT} --host ${HOST} --name ${NAME:-web} --literal $$HOME
    ready: { tcp: \"127.0.0.1:${PORT}\" }
";
    std::fs::write(dir.path().join("herald.yaml"), text).unwrap();
    let stack = config_json(dir.path(), &[("HOST", "from-env")], &[]);
    let web = &stack["components"]["web"];
    assert_eq!(
        web["command"],
        serde_json::json!([
            dir.path().join("web").display().to_string(),
            "--port",
            "8080",
            "--host",
            "from-env",
            "--name",
            "web",
            "--literal",
            "$HOME"
        ])
    );
    assert_eq!(web["ready"]["tcp"], "127.0.0.1:8080");
}

#[test]
fn a_required_variable_and_a_bad_dot_env_line_are_placed_in_their_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "GOOD=1\nnot a line\n").unwrap();
    let text = "\
[components.db]
command = [\"postgres\", \"--url=${DATABASE_URL:?set it in .env}\"]
";
    std::fs::write(dir.path().join("herald.toml"), text).unwrap();
    let out = herald_with(dir.path(), &[], &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "error: variable `DATABASE_URL` is not set: set it in .env\n --> herald.toml:2:31\n"
        ),
        "{err}"
    );
    let dotenv = ".env";
    assert!(
        err.contains(&format!(
            "error: `not a line` is not a variable name (letters, digits and `_`, not starting with a digit): write KEY=VALUE\n --> {dotenv}:2:1\n"
        )),
        "{err}"
    );
    let out = herald_with(dir.path(), &[("DATABASE_URL", "x")], &["--json", "check"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0]["file"], dotenv);
    assert_eq!(
        (problems[0]["line"].as_u64(), problems[0]["column"].as_u64()),
        (Some(2), Some(1))
    );
}

#[test]
fn env_files_and_list_env_with_env_winning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("common.env"),
        "export SHARED=from-file\nOVERRIDDEN=file\nPASSED\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("extra.env"), "SHARED=from-extra\n").unwrap();
    let text = "\
components:
  app:
    command: [app]
    env_file: [common.env, extra.env]
    env: [\"OVERRIDDEN=env\", HOME_DIR, \"EMPTY=\"]
";
    std::fs::write(dir.path().join("herald.yaml"), text).unwrap();
    let env = [("PASSED", "p"), ("HOME_DIR", "/home/x")];
    let stack = config_json(dir.path(), &env, &[]);
    assert_eq!(
        stack["components"]["app"]["env"],
        serde_json::json!({
            "EMPTY": "",
            "HOME_DIR": "/home/x",
            "OVERRIDDEN": "env",
            "PASSED": "p",
            "SHARED": "from-extra",
        })
    );
    std::fs::write(dir.path().join("extra.env"), "OK=1\n'bad\n").unwrap();
    std::fs::remove_file(dir.path().join("common.env")).unwrap();
    let out = herald_with(dir.path(), &env, &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let extra = "extra.env";
    assert!(err.contains(&format!(" --> {extra}:2:1\n")), "{err}");
    assert!(
        err.contains("error: `env_file` in component `app`: cannot read "),
        "{err}"
    );
    assert!(err.contains(" --> herald.yaml:4:16\n"), "{err}");
}

#[test]
fn config_prints_a_stack_file_that_checks_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = herald_with(
        crate_dir(),
        &[],
        &["-f", AIRFLOW, "--profile", "flower", "config"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let resolved = dir.path().join("resolved.toml");
    std::fs::write(&resolved, &out.stdout).unwrap();
    let path = resolved.to_str().unwrap();
    let check = herald_with(dir.path(), &[], &["-f", path, "check"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&check),
        stdout(&out)
    );
    assert!(stdout(&check).contains("defines 6 valid components"));
    let again = herald_with(dir.path(), &[], &["-f", path, "config"]);
    assert_eq!(
        stdout(&again),
        stdout(&out),
        "the resolved stack is a fixed point"
    );
}

#[test]
fn up_detached_runs_the_profiles_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
[components.base]
command = \"sleep 1000\"

[components.debug]
command = \"sleep 1000\"
profiles = [\"debug\"]
requires = [\"base\"]
";
    std::fs::write(dir.path().join("herald.toml"), text).unwrap();
    // Bounded: a background supervisor that runs other components than asked would leave
    // `up -d` waiting for ever.
    let (code, _) = common::bounded(dir.path(), &["--profile", "debug", "up", "-d"]);
    let result = std::panic::catch_unwind(|| {
        assert_eq!(
            code,
            Some(Some(0)),
            "up -d did not finish in time, or failed"
        );
        let status = herald_with(dir.path(), &[], &["--profile", "debug", "--json", "status"]);
        assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
        let text = stdout(&status);
        assert!(text.contains("\"debug\""), "{text}");
    });
    let down = herald_with(dir.path(), &[], &["down"]);
    assert_eq!(down.status.code(), Some(0), "{}", stderr(&down));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
