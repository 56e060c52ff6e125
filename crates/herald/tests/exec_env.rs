//! An exec check runs with herald's environment, except herald's own `NOTIFY_SOCKET`: a check
//! must not be able to speak to whatever supervises herald. One test alone in this binary, since
//! it sets a variable of the test process itself.

use herald::Probe;
use herald::probe::ExecProbe;

#[tokio::test(flavor = "current_thread")]
async fn exec_checks_do_not_inherit_herald_notify_socket() {
    // SAFETY: the only test of this binary, and the runtime's single thread does not read the
    // environment concurrently.
    unsafe {
        std::env::set_var("NOTIFY_SOCKET", "/run/systemd/notify");
        std::env::set_var("HERALD_EXEC_ENV_MARK", "kept");
    }
    let unset = ExecProbe::new([
        "sh",
        "-c",
        r#"test -z "${NOTIFY_SOCKET+set}" || { echo "NOTIFY_SOCKET=$NOTIFY_SOCKET"; exit 1; }"#,
    ])
    .unwrap();
    unset.probe().await.unwrap();
    // The rest of the environment is passed on.
    let kept = ExecProbe::new(["sh", "-c", r#"test "$HERALD_EXEC_ENV_MARK" = kept"#]).unwrap();
    kept.probe().await.unwrap();
}
