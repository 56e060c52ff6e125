//! The fixture behaves as documented: it becomes ready by the mechanism asked for, records
//! when, and counts the probes it receives.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_herald-fixture"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_number(path: &Path) -> Option<u128> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn http_binds_only_when_ready_answers_and_counts_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (record, count) = (dir.path().join("ready"), dir.path().join("count"));
    let port = free_port();
    let via = format!("http:{port}");
    let mut child = fixture(&[
        "--ready-after",
        "100ms",
        "--via",
        &via,
        "--record",
        record.to_str().unwrap(),
        "--count-probes",
        count.to_str().unwrap(),
    ]);
    wait_for(Duration::from_secs(10), || read_number(&record).is_some());
    for _ in 0..2 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    wait_for(Duration::from_secs(5), || read_number(&count) == Some(2));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn exit_codes_and_floods() {
    let status = fixture(&["--via", "exit", "--exit-code", "3"])
        .wait()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let out = Command::new(env!("CARGO_BIN_EXE_herald-fixture"))
        .args(["--flood", "3", "--via", "exit"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"out 1\nout 2\nout 3");
    assert_eq!(out.stderr, b"err 1\nerr 2\nerr 3");
}

#[test]
fn bad_options_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_herald-fixture"))
        .args(["--via", "pigeon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --via"));
}

#[test]
fn records_when_it_began_and_when_it_became_ready() {
    let dir = tempfile::tempdir().unwrap();
    let (spawn, ready) = (dir.path().join("spawn"), dir.path().join("ready"));
    let status = Command::new(env!("CARGO_BIN_EXE_herald-fixture"))
        .args(["--ready-after", "30ms", "--via", "exit", "--record"])
        .arg(&ready)
        .arg("--record-spawn")
        .arg(&spawn)
        .status()
        .unwrap();
    assert!(status.success());
    let (began, became) = (read_number(&spawn).unwrap(), read_number(&ready).unwrap());
    assert!(
        became >= began + 30_000_000,
        "spawned at {began}, ready at {became}"
    );
}

#[test]
fn probes_counted_while_becoming_ready_do_not_lose_the_ready_record() {
    // The probe count and the ready record are written by different threads at about the
    // same moment; each must land in its own file.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let (record, count) = (dir.path().join("ready"), dir.path().join("count"));
        let port = free_port();
        let via = format!("tcp:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald-fixture"))
            .args(["--via", &via, "--record"])
            .arg(&record)
            .arg("--count-probes")
            .arg(&count)
            .spawn()
            .unwrap();
        wait_for(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        wait_for(Duration::from_secs(5), || read_number(&record).is_some());
        wait_for(Duration::from_secs(5), || {
            read_number(&count).is_some_and(|n| n >= 1)
        });
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
