//! The notify protocol against real clients not written here: Debian's `systemd-notify`,
//! a C program linked against libsystemd's `sd_notify`, Python's `sdnotify`; and the trust
//! rules, the size limit and the watchdog with real processes.
//!
//! A client that is not installed is skipped with the reason (CI installs them all).

mod common;

use herald::{
    ComponentSpec, Event, Events, ProcessHost, ReadySpec, RestartPolicy, Running, Stack, State,
};
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {LIMIT:?}"))
}

fn notify() -> ReadySpec {
    ReadySpec::default().with(herald::Check::Notify)
}

fn sh(name: &str, script: &str) -> ComponentSpec {
    ComponentSpec::new(name)
        .command(["sh", "-c", script])
        .ready(notify())
        .restart(RestartPolicy::No)
}

fn start(host: &ProcessHost, specs: &[ComponentSpec]) -> (Running, Events) {
    let mut stack = Stack::new();
    let events = stack.subscribe();
    for spec in specs {
        stack.add(spec.clone(), host.process(spec).expect("a valid spec"));
    }
    (stack.start().expect("a valid graph"), events)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A user other than root for the clients to run as (created with `useradd` where missing);
/// the reason when there can be none.
fn other_user() -> Result<String, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: cannot run a component as another user".into());
    }
    let name = "herald-notify";
    let known = Command::new("id")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success());
    if !known {
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", name])
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            return Err("useradd failed".into());
        }
    }
    Ok(name.to_string())
}

/// 50 components, each `systemd-notify --ready` (with `extra` flags) as `user`: every one
/// ready.
async fn systemd_notify_50(extra: &str, user: Option<&str>) {
    if !have("systemd-notify") {
        eprintln!("skipped: systemd-notify is not installed (Debian package systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = ProcessHost::new(dir.path()).unwrap();
    let run_as = user.map_or(String::new(), |u| {
        format!("setpriv --reuid={u} --regid={u} --clear-groups ")
    });
    let specs: Vec<ComponentSpec> = (0..50)
        .map(|i| {
            sh(
                &format!("n{i}"),
                &format!("{run_as}systemd-notify --ready {extra}; exec sleep 600"),
            )
            .ready_timeout(Duration::from_secs(30))
        })
        .collect();
    let (running, _events) = start(&host, &specs);
    let result = within("every start", running.wait_all()).await;
    within("shutdown", running.shutdown()).await;
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notify_as_root_50_starts() {
    systemd_notify_50("", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notify_no_block_as_root_50_starts() {
    if host_containment().await != "cgroup" {
        eprintln!("skipped: without cgroups a --no-block sender may be gone before it is read");
        return;
    }
    systemd_notify_50("--no-block", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notify_as_another_user_50_starts() {
    match other_user() {
        Ok(user) => systemd_notify_50("", Some(&user)).await,
        Err(reason) => eprintln!("skipped: {reason}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notify_no_block_as_another_user_50_starts() {
    if host_containment().await != "cgroup" {
        eprintln!("skipped: without cgroups a --no-block sender may be gone before it is read");
        return;
    }
    match other_user() {
        Ok(user) => systemd_notify_50("--no-block", Some(&user)).await,
        Err(reason) => eprintln!("skipped: {reason}"),
    }
}

/// How a host made here contains its runs.
async fn host_containment() -> String {
    let dir = tempfile::tempdir().unwrap();
    ProcessHost::new(dir.path())
        .unwrap()
        .containment()
        .to_string()
}

const C_CLIENT: &str = r#"
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "serve";
    if (strcmp(mode, "errno") == 0) {
        sd_notify(0, "STATUS=failing on purpose\nERRNO=5");
        return 1;
    }
    /* Longer than the ready timeout: the extension keeps the start alive. */
    sd_notify(0, "STATUS=loading\nEXTEND_TIMEOUT_USEC=20000000");
    usleep(1500 * 1000);
    int fds[2];
    if (pipe(fds) == 0) {
        sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=spare", fds, 1);
        close(fds[0]);
    }
    sd_notifyf(0, "READY=1\nSTATUS=serving\nMAINPID=%lu", (unsigned long) getpid());
    uint64_t usec = 0;
    int dog = sd_watchdog_enabled(0, &usec);
    printf("watchdog %d %llu\n", dog, (unsigned long long) usec);
    fflush(stdout);
    sd_notify(0, "WATCHDOG_USEC=3000000");
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
        (unsigned long long) now.tv_sec * 1000000ULL + now.tv_nsec / 1000);
    sd_notify(0, "READY=1\nSTATUS=reloaded");
    for (;;) {
        sd_notify(0, "WATCHDOG=1");
        usleep(200 * 1000);
    }
}
"#;

/// Builds the C client against libsystemd, or says why it cannot be.
fn c_client(dir: &Path) -> Result<std::path::PathBuf, String> {
    if !have("cc") {
        return Err("no C compiler (cc)".into());
    }
    if !Path::new("/usr/include/systemd/sd-daemon.h").exists() {
        return Err("libsystemd-dev is not installed".into());
    }
    let source = dir.join("client.c");
    let binary = dir.join("client");
    std::fs::write(&source, C_CLIENT).unwrap();
    let out = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .arg("-lsystemd")
        .output()
        .map_err(|e| format!("cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(binary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libsystemd_sd_notify_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let client = match c_client(dir.path()) {
        Ok(client) => client,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let host = ProcessHost::new(dir.path().join("state")).unwrap();
    let client = client.display().to_string();
    let mut serve = ComponentSpec::new("serve")
        .command([client.as_str(), "serve"])
        .ready(notify())
        .ready_timeout(Duration::from_millis(1000))
        .restart(RestartPolicy::No);
    serve.watchdog = Some(Duration::from_secs(2));
    let errno = ComponentSpec::new("errno")
        .command([client.as_str(), "errno"])
        .ready(notify())
        .restart(RestartPolicy::No);
    let (running, _events) = start(&host, &[serve, errno]);
    // EXTEND_TIMEOUT_USEC kept the 1 s start alive for 1.5 s.
    within("serve ready", running.signal("serve").unwrap().wait())
        .await
        .unwrap();
    let error = within("errno fails", running.signal("errno").unwrap().wait())
        .await
        .unwrap_err();
    assert!(error.reason.contains("ERRNO=5"), "{error:?}");
    // The watchdog is kept fed; the status is the last STATUS=.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = running.signal("serve").unwrap().status();
    assert_eq!(status.state, State::Ready, "{status:?}");
    assert_eq!(status.detail.as_deref(), Some("reloaded"));
    let log = std::fs::read_to_string(host.log_path("serve")).unwrap();
    assert!(log.contains("watchdog 1 2000000"), "{log}");
    within("shutdown", running.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdnotify() {
    let importable = Command::new("/usr/bin/python3")
        .args(["-c", "import sdnotify"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        eprintln!("skipped: python3-sdnotify is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = ProcessHost::new(dir.path()).unwrap();
    let spec = ComponentSpec::new("py")
        .command([
            "/usr/bin/python3",
            "-c",
            "import sdnotify, time\n\
             n = sdnotify.SystemdNotifier()\n\
             n.notify('STATUS=warming up')\n\
             time.sleep(0.2)\n\
             n.notify('READY=1\\nSTATUS=up')\n\
             time.sleep(600)\n",
        ])
        .ready(notify())
        .restart(RestartPolicy::No);
    let (running, _events) = start(&host, &[spec]);
    within("ready", running.signal("py").unwrap().wait())
        .await
        .unwrap();
    let status = running.signal("py").unwrap().status();
    assert_eq!(status.detail.as_deref(), Some("up"));
    within("shutdown", running.shutdown()).await;
}

/// Sends `$1` (with `\n` for newlines) to the notify socket from a process that stays.
const SEND: &str = "send() { python3 -c 'import os, socket, sys\n\
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
s.sendto(sys.argv[1].encode().decode(\"unicode_escape\").encode(), os.environ[\"NOTIFY_SOCKET\"])' \"$1\"; }; ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_component_cannot_hand_itself_another_s_pid() {
    let dir = tempfile::tempdir().unwrap();
    let host = ProcessHost::new(dir.path().join("state")).unwrap();
    let pidfile = dir.path().join("owner.pid");
    let owner = sh(
        "owner",
        &format!(
            "{SEND}echo $$ > {p}.tmp; mv {p}.tmp {p}; sleep 1; send READY=1; exec sleep 600",
            p = pidfile.display()
        ),
    );
    let thief = sh(
        "thief",
        &format!(
            "{SEND}while [ ! -e {p} ]; do sleep 0.05; done; \
             send \"MAINPID=$(cat {p})\\nREADY=1\"; exec sleep 600",
            p = pidfile.display()
        ),
    );
    let (running, _events) = start(&host, &[owner, thief]);
    within("thief ready", running.signal("thief").unwrap().wait())
        .await
        .unwrap();
    within("owner ready", running.signal("owner").unwrap().wait())
        .await
        .unwrap();
    let owner_pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let thief_status = running.signal("thief").unwrap().status();
    assert_ne!(
        thief_status.pid,
        Some(owner_pid),
        "the thief took the owner's pid"
    );
    assert_eq!(
        running.signal("owner").unwrap().status().pid,
        Some(owner_pid)
    );
    within("shutdown", running.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_dropped_whole_and_one_under_it_counts() {
    let dir = tempfile::tempdir().unwrap();
    let host = ProcessHost::new(dir.path()).unwrap();
    let long = "x".repeat(5000);
    let under = "y".repeat(4000);
    let over = sh(
        "over",
        &format!("{SEND}send \"READY=1\\nSTATUS={long}\"; exec sleep 600"),
    )
    .ready_timeout(Duration::from_millis(1500));
    let fits = sh(
        "fits",
        &format!("{SEND}send \"STATUS={under}\\nREADY=1\"; exec sleep 600"),
    );
    let (running, _events) = start(&host, &[over, fits]);
    within("fits ready", running.signal("fits").unwrap().wait())
        .await
        .unwrap();
    let error = within("over fails", running.signal("over").unwrap().wait())
        .await
        .unwrap_err();
    assert!(error.reason.contains("no readiness signal"), "{error:?}");
    within("shutdown", running.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_watchdog_fails_the_run_and_it_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let host = ProcessHost::new(dir.path()).unwrap();
    // Pings every 100 ms for 2 s, then stops pinging but keeps running.
    let mut spec = ComponentSpec::new("dog")
        .command([
            "python3",
            "-c",
            "import os, socket, time\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             send = lambda m: s.sendto(m, os.environ['NOTIFY_SOCKET'])\n\
             send(b'READY=1')\n\
             end = time.monotonic() + 2\n\
             while time.monotonic() < end:\n    send(b'WATCHDOG=1')\n    time.sleep(0.1)\n\
             time.sleep(600)\n",
        ])
        .ready(notify())
        .restart(RestartPolicy::Always);
    spec.watchdog = Some(Duration::from_millis(1000));
    spec.stop_timeout = Duration::from_millis(500);
    let (running, mut events) = start(&host, &[spec]);
    let mut seen: Vec<Event> = Vec::new();
    let failed_at = within("the watchdog fires", async {
        loop {
            let event = events.recv().await.expect("events");
            seen.push(event.clone());
            let watchdog = event.error.as_ref().is_some_and(|e| e.check == "watchdog");
            if watchdog {
                return event.at;
            }
        }
    })
    .await;
    let first_ready = seen
        .iter()
        .find(|e| e.state == State::Ready)
        .expect("ready first")
        .at;
    let silent_for = failed_at - first_ready;
    assert!(
        silent_for >= Duration::from_secs(2),
        "fired after {silent_for:?}"
    );
    within("restarted and ready again", async {
        loop {
            let event = events.recv().await.expect("events");
            if event.state == State::Ready {
                return;
            }
        }
    })
    .await;
    within("shutdown", running.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_is_a_state_until_the_next_ready() {
    let dir = tempfile::tempdir().unwrap();
    let host = ProcessHost::new(dir.path()).unwrap();
    let nginx = sh(
        "nginx",
        &format!(
            "{SEND}send READY=1; sleep 0.3; send RELOADING=1; sleep 0.3; send READY=1; exec sleep 600"
        ),
    );
    let (running, mut events) = start(&host, &[nginx]);
    let mut seen = Vec::new();
    within("reloading, then ready again", async {
        while let Some(event) = events.recv().await {
            seen.push(event.state);
            if seen.ends_with(&[State::Reloading, State::Ready]) {
                return;
            }
        }
    })
    .await;
    assert_eq!(
        seen,
        [
            State::Starting,
            State::Ready,
            State::Reloading,
            State::Ready
        ]
    );
    within("shutdown", running.shutdown()).await;
}
