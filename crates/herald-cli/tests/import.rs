//! `herald import`: a Procfile and a process-compose.yaml become stack files that `herald
//! check` accepts and `herald up -d` starts, what cannot be expressed listed with its line.

mod common;

use common::{stderr, stdout};
use std::path::Path;
use std::process::{Command, Output};

fn herald_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env_remove("HERALD_FILE")
        .env_remove("HERALD_PROFILES")
        .env("NO_COLOR", "1")
        .output()
        .expect("the herald binary runs")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/import")
        .join(name)
        .display()
        .to_string()
}

/// Imports `file` into `dir/herald.<ext>`; gives the notes.
fn import_into(dir: &Path, file: &str, yaml: bool) -> String {
    let format = if yaml { "yaml" } else { "toml" };
    let out = herald_in(dir, &["import", file, "--format", format]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(dir.join(format!("herald.{format}")), &out.stdout).unwrap();
    stderr(&out)
}

/// `up -d` bounded in time, then `down` whatever happened; gives `status --json` taken while
/// the stack ran.
fn up_then_down(dir: &Path) -> serde_json::Value {
    let (code, err) = common::bounded(dir, &["up", "-d"]);
    let status = herald_in(dir, &["--json", "status"]);
    let down = herald_in(dir, &["down"]);
    assert_eq!(code, Some(Some(0)), "up -d: {err}");
    assert_eq!(down.status.code(), Some(0), "{}", stderr(&down));
    serde_json::from_slice(&status.stdout).expect("status JSON")
}

fn states(status: &serde_json::Value) -> Vec<(String, String)> {
    let rows = status
        .as_array()
        .or_else(|| status["components"].as_array())
        .expect("rows");
    rows.iter()
        .map(|row| {
            (
                row["name"].as_str().unwrap_or_default().to_string(),
                row["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_procfile_becomes_services_with_foremans_ports_and_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let notes = import_into(dir.path(), &fixture("Procfile"), false);
    assert_eq!(
        notes,
        format!("{}:6: not `name: command`, left out\n", fixture("Procfile"))
    );
    let text = std::fs::read_to_string(dir.path().join("herald.toml")).unwrap();
    let check = herald_in(dir.path(), &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}\n{text}", stderr(&check));
    let config = herald_in(dir.path(), &["--json", "config"]);
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["components"]["worker"]["env"]["PORT"], "5100");
    assert_eq!(
        config["components"]["web"]["command"][2], "echo \"serving on $PORT\"; exec sleep 1000",
        "the shell's variable, not herald's"
    );
    let status = up_then_down(dir.path());
    let running: Vec<(String, String)> = states(&status);
    assert_eq!(running.len(), 3, "{status}");
    assert!(running.iter().all(|(_, s)| s == "ready"), "{running:?}");
}

#[test]
fn a_process_compose_file_checks_with_what_is_left_out_listed_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("process-compose.yaml");
    for yaml in [false, true] {
        let notes = import_into(dir.path(), &file, yaml);
        for line in [
            "2: `log_level` has no herald equivalent, left out",
            "20: `readiness_probe.initial_delay_seconds` has no herald equivalent",
            "25: `availability.max_restarts` has no herald equivalent, left out",
            "29: `shutdown.command` has no herald equivalent",
            "39: `liveness_probe` of `api` has no herald equivalent, left out",
            "61: `debug-shell` is disabled: it is in profile `disabled`",
            "66: `is_daemon` of `metrics` has no herald equivalent, left out",
        ] {
            assert!(notes.contains(&format!("{file}:{line}")), "{line}\n{notes}");
        }
        let name = if yaml { "herald.yaml" } else { "herald.toml" };
        let check = herald_in(dir.path(), &["-f", name, "check"]);
        assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
        assert!(stdout(&check).contains("defines 4 valid components"));
        let all = herald_in(
            dir.path(),
            &["-f", name, "--profile", "disabled,monitoring", "check"],
        );
        assert!(
            stdout(&all).contains("defines 6 valid components"),
            "{}",
            stderr(&all)
        );
    }
    let config = herald_in(dir.path(), &["-f", "herald.toml", "--json", "config"]);
    let stack: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    let c = &stack["components"];
    assert_eq!(c["migrate"]["kind"], "oneshot", "waited on to complete");
    assert_eq!(c["db"]["requires"], serde_json::json!(["migrate"]));
    assert_eq!(c["db"]["stop_signal"], "SIGINT");
    assert_eq!(c["db"]["stop_timeout"], "4s");
    assert_eq!(c["db"]["restart"], "on-failure");
    assert_eq!(c["db"]["restart_backoff"]["initial"], "2s");
    assert_eq!(c["db"]["ready"]["exec"][2], "test -f data/migrated");
    assert_eq!(c["api"]["ready"]["log"], "api is up");
    assert_eq!(
        c["api"]["env"]["STACK_ENV"], "imported",
        "from the top level"
    );
    assert_eq!(c["web"]["after"], serde_json::json!(["db"]));
    assert_eq!(c["web"]["ready"]["http"], "http://127.0.0.1:8080/");
    assert_eq!(
        c["web"]["command"][2], "python3 -m http.server ${WEB_PORT:-8080} --bind 127.0.0.1",
        "left for the shell"
    );
}

#[test]
fn an_imported_process_compose_stack_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(fixture("process-compose.yaml"))
        .unwrap()
        .replace("8080", &port.to_string());
    let file = dir.path().join("process-compose.yaml");
    std::fs::write(&file, text).unwrap();
    import_into(dir.path(), file.to_str().unwrap(), false);
    let status = up_then_down(dir.path());
    let mut states = states(&status);
    states.sort();
    let want = [
        ("api", "ready"),
        ("db", "ready"),
        ("migrate", "completed"),
        ("web", "ready"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    assert_eq!(states, want, "{status}");
    assert!(dir.path().join("data/migrated").exists());
}
