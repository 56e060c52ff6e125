use super::*;
use crate::ComponentSpec;
use crate::bus::Bus;
use crate::component::RunReport;
use tokio_util::sync::CancellationToken;

fn listener() -> (Listener, watch::Receiver<RunReport>) {
    let (tx, rx) = watch::channel(RunReport::default());
    let ctx = Context {
        spec: Arc::new(ComponentSpec::new("c")),
        stop: CancellationToken::new(),
        report: Arc::new(tx),
        bus: Arc::new(Bus::new(vec!["c".into()], 1, 1)),
        activity: Arc::new(tokio::sync::Notify::new()),
    };
    let gate = Arc::new(Gate::new(ctx.clone(), true, false));
    let notes = Arc::new(Notes::default());
    (Listener { ctx, gate, notes }, rx)
}

fn from_self() -> peer::Received {
    peer::Received {
        pid: Some(std::process::id()),
        uid: Some(0),
        ..peer::Received::default()
    }
}

/// A claim on this test process by its token.
fn own_claim() -> Claim {
    // SAFETY: getpgid(0) has no preconditions.
    let _ = unsafe { libc::getpgid(0) };
    Claim {
        cgroup: None,
        token: "no-such-token".into(),
    }
}

#[test]
fn every_key_is_parsed() {
    let messages = parse(
        b"READY=1\nSTATUS=Serving on :80\nMAINPID=4242\nWATCHDOG=1\nWATCHDOG=trigger\n\
          WATCHDOG_USEC=500000\nEXTEND_TIMEOUT_USEC=3000000\nERRNO=5\nRELOADING=1\n\
          MONOTONIC_USEC=77\nSTOPPING=1\nFDSTORE=1\nFDNAME=x\nBARRIER=1\nBUSERROR=org.x.E\n\
          NOTIFYACCESS=all\nEXIT_STATUS=3\nX_CUSTOM=1",
    );
    assert_eq!(
        messages,
        [
            Message::Ready,
            Message::Status("Serving on :80".into()),
            Message::MainPid(4242),
            Message::Watchdog,
            Message::WatchdogTrigger,
            Message::WatchdogUsec(500_000),
            Message::ExtendTimeoutUsec(3_000_000),
            Message::Errno(5),
            Message::Reloading,
            Message::MonotonicUsec(77),
            Message::Stopping,
            Message::FdStore,
            Message::FdStore,
            Message::Barrier,
            Message::BusError("org.x.E".into()),
            Message::NotifyAccess("all".into()),
            Message::ExitStatus("3".into()),
            Message::Other("X_CUSTOM=1".into()),
        ]
    );
    assert!(
        parse(b"READY=0\nMAINPID=x\nMAINPID=0\ngarbage\n")
            .iter()
            .all(|m| matches!(m, Message::Other(_)))
    );
}

#[test]
fn a_sender_is_credited_to_the_group_it_is_in_and_only_that() {
    // SAFETY: getpgid(0) has no preconditions.
    let pgid = unsafe { libc::getpgid(0) } as u32;
    let registry = Mutex::new(Registry::default());
    let (other, other_report) = listener();
    let other_key = lock(&registry).register(own_claim(), other);
    lock(&registry).runs.get_mut(&other_key).unwrap().pgid = Some(pgid + 1);
    lock(&registry).by_pgid.insert(pgid + 1, other_key);
    handle(&registry, &from_self(), b"READY=1");
    assert!(!other_report.borrow().ready, "counted for another group");
    assert!(lock(&registry).strangers.contains_key(&std::process::id()));

    let registry = Mutex::new(Registry::default());
    let (ours, report) = listener();
    let key = lock(&registry).register(own_claim(), ours);
    lock(&registry).by_pgid.insert(pgid, key);
    handle(&registry, &from_self(), b"STATUS=up\nREADY=1");
    assert!(report.borrow().ready);
    assert_eq!(report.borrow().detail.as_deref(), Some("up"));
}

#[test]
fn a_stranger_s_flood_costs_a_look_up_each_and_its_budget_holds() {
    let registry = Mutex::new(Registry::default());
    let now = Instant::now();
    lock(&registry).note_stranger(4_000_000, Some(1000), now);
    assert!(lock(&registry).is_stranger(4_000_000, now));
    assert!(!lock(&registry).is_stranger(4_000_000, now + STRANGER_TTL));
    let mut registry = lock(&registry);
    let within = (0..BUDGET + 10)
        .filter(|_| registry.within_budget(7, now))
        .count();
    assert_eq!(within, BUDGET as usize);
    assert!(registry.within_budget(7, now + Duration::from_secs(1)));
}

#[test]
fn truncated_messages_are_dropped_whole() {
    // SAFETY: getpgid(0) has no preconditions.
    let pgid = unsafe { libc::getpgid(0) } as u32;
    let registry = Mutex::new(Registry::default());
    let (ours, report) = listener();
    let key = lock(&registry).register(own_claim(), ours);
    lock(&registry).by_pgid.insert(pgid, key);
    let mut cut = from_self();
    cut.truncated = true;
    handle(&registry, &cut, b"READY=1");
    assert!(!report.borrow().ready);
}

#[test]
fn mainpid_of_a_process_outside_the_run_is_refused() {
    // SAFETY: getpgid(0) has no preconditions.
    let pgid = unsafe { libc::getpgid(0) } as u32;
    let registry = Mutex::new(Registry::default());
    let (ours, report) = listener();
    let notes = ours.notes.clone();
    let key = lock(&registry).register(own_claim(), ours);
    lock(&registry).runs.get_mut(&key).unwrap().pgid = Some(pgid);
    lock(&registry).by_pgid.insert(pgid, key);
    // pid 1 is in no group of ours.
    handle(&registry, &from_self(), b"MAINPID=1");
    assert!(notes.mainpid.borrow().is_none());
    let note = report.borrow().signal_note.clone().unwrap();
    assert!(
        note.contains("MAINPID=1") && note.contains("refused"),
        "{note}"
    );
    // Its own pid is of the run.
    handle(
        &registry,
        &from_self(),
        format!("MAINPID={}", std::process::id()).as_bytes(),
    );
    assert_eq!(
        notes.mainpid.borrow().as_ref().map(|m| m.pid),
        Some(std::process::id())
    );
    crate::sys::reaper::disown(std::process::id());
}

#[tokio::test]
async fn every_user_may_send_to_the_socket_and_deep_folders_get_a_short_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let notify = Notify::bind(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o666, "mode {mode:o}");
    drop(notify);

    let deep = dir.path().join("d".repeat(120));
    std::fs::create_dir_all(&deep).unwrap();
    let path = deep.join("notify.sock");
    let notify = Notify::bind(&path).unwrap();
    assert!(!notify.address().starts_with('@'));
    assert!(notify.address().len() <= crate::sys::sockdir::SHORT_ENOUGH);
    let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
    client.send_to(b"READY=1", notify.address()).unwrap();
}
