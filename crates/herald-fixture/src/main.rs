//! `herald-fixture`: a tiny stand-in daemon for herald's tests and benchmarks.
//!
//! It becomes ready after a delay by the mechanism asked for, records the monotonic moment it
//! truly became ready, counts the probes it receives, and can misbehave on purpose: crash,
//! hang, ignore SIGTERM, leave grandchildren, flood its output. Its own start cost is tiny
//! (std and libc only), so a supervisor's overhead is what a benchmark sees.
//!
//! ```text
//! herald-fixture [--ready-after DUR] [--via notify|tcp:PORT|http:PORT|file:PATH|log|exit|fd:N]
//!                [--record PATH] [--record-spawn PATH] [--count-probes PATH]
//!                [--crash-after DUR] [--exit-code N]
//!                [--hang] [--ignore-sigterm] [--grandchildren N] [--flood N]
//!                [--pidfile PATH] [--kill-self]
//! ```
//!
//! `--record` writes the CLOCK_MONOTONIC nanoseconds at which it truly became ready;
//! `--record-spawn` writes those at which its `main` began, so a benchmark can tell how long a
//! supervisor took to start it after its dependency was ready.
//!
//! Durations are `150ms`, `2s`, `1.5s`, `500us`, or a bare number of milliseconds. (`--sleeper`
//! is internal: it is what `--grandchildren` start.)

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How the fixture signals readiness.
#[derive(Debug, Clone, PartialEq)]
enum Via {
    Notify,
    Tcp(u16),
    Http(u16),
    File(PathBuf),
    Log,
    Exit,
    Fd(i32),
}

/// The parsed command line.
#[derive(Debug, Default)]
struct Options {
    ready_after: Duration,
    via: Option<Via>,
    record: Option<PathBuf>,
    record_spawn: Option<PathBuf>,
    count_probes: Option<PathBuf>,
    crash_after: Option<Duration>,
    exit_code: u8,
    hang: bool,
    ignore_sigterm: bool,
    grandchildren: u32,
    flood: u64,
    pidfile: Option<PathBuf>,
    kill_self: bool,
    sleeper: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {text:?} (try 150ms, 2s, 500us)");
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        (text, 1e-3)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value * scale))
}

fn parse_via(text: &str) -> Result<Via, String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("bad port in --via {text}"))
    };
    Ok(match text.split_once(':') {
        None if text == "notify" => Via::Notify,
        None if text == "log" => Via::Log,
        None if text == "exit" => Via::Exit,
        Some(("tcp", p)) => Via::Tcp(port(p)?),
        Some(("http", p)) => Via::Http(port(p)?),
        Some(("file", p)) if !p.is_empty() => Via::File(p.into()),
        Some(("fd", n)) => Via::Fd(n.parse().map_err(|_| format!("bad fd in --via {text}"))?),
        _ => return Err(format!("unknown --via {text:?}")),
    })
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--ready-after" => o.ready_after = parse_duration(&value()?)?,
            "--via" => o.via = Some(parse_via(&value()?)?),
            "--record" => o.record = Some(value()?.into()),
            "--record-spawn" => o.record_spawn = Some(value()?.into()),
            "--count-probes" => o.count_probes = Some(value()?.into()),
            "--crash-after" => o.crash_after = Some(parse_duration(&value()?)?),
            "--exit-code" => {
                let v = value()?;
                o.exit_code = v.parse().map_err(|_| format!("bad --exit-code {v:?}"))?;
            }
            "--grandchildren" => {
                let v = value()?;
                o.grandchildren = v
                    .parse()
                    .map_err(|_| format!("bad --grandchildren {v:?}"))?;
            }
            "--flood" => {
                let v = value()?;
                o.flood = v.parse().map_err(|_| format!("bad --flood {v:?}"))?;
            }
            "--pidfile" => o.pidfile = Some(value()?.into()),
            "--hang" => o.hang = true,
            "--ignore-sigterm" => o.ignore_sigterm = true,
            "--kill-self" => o.kill_self = true,
            "--sleeper" => o.sleeper = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(o)
}

/// CLOCK_MONOTONIC in nanoseconds: the clock `std::time::Instant` uses on Linux.
fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Writes `text` to `path` atomically (a temporary file renamed over it). The temporary file
/// is named after the whole file name, so the ready record and the probe count, written by
/// different threads, never share one.
fn write_atomic(path: &PathBuf, text: &str) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn ignore_sigterm() {
    // SAFETY: setting a signal's disposition to SIG_IGN is always sound.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
}

/// Counts accepted probe connections, rewriting the count file after each.
struct ProbeCounter {
    count: AtomicU64,
    path: Option<PathBuf>,
}

impl ProbeCounter {
    fn hit(&self) {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(path) = &self.path {
            write_atomic(path, &format!("{n}\n"));
        }
    }
}

fn serve_tcp(listener: TcpListener, counter: &'static ProbeCounter) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.hit();
            drop(stream);
        }
    });
}

fn answer_http(mut stream: TcpStream) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    // Read the request head up to the blank line; the body, if any, is ignored.
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line == "\r\n" || line == "\n" {
            break;
        }
        line.clear();
    }
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n",
    );
    let _ = stream.flush();
    let mut rest = [0u8; 64];
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.read(&mut rest);
}

fn serve_http(listener: TcpListener, counter: &'static ProbeCounter) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.hit();
            std::thread::spawn(move || answer_http(stream));
        }
    });
}

fn bind(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("cannot bind 127.0.0.1:{port}: {e}"))
}

fn notify_ready() -> Result<(), String> {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let target = std::env::var("NOTIFY_SOCKET").map_err(|_| "NOTIFY_SOCKET is not set")?;
    let socket = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    let addr = if let Some(name) = target.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes())
    } else {
        SocketAddr::from_pathname(&target)
    }
    .map_err(|e| format!("bad NOTIFY_SOCKET {target:?}: {e}"))?;
    socket
        .send_to_addr(b"READY=1\nSTATUS=serving", &addr)
        .map_err(|e| format!("cannot notify {target}: {e}"))?;
    Ok(())
}

fn flood(lines: u64) {
    fn write_lines(out: &mut impl Write, prefix: &str, lines: u64) {
        let mut out = BufWriter::with_capacity(1 << 16, out);
        for i in 1..=lines {
            let end = if i == lines { "" } else { "\n" };
            if write!(out, "{prefix} {i}{end}").is_err() {
                return;
            }
        }
        let _ = out.flush();
    }
    let err = std::thread::spawn(move || write_lines(&mut std::io::stderr().lock(), "err", lines));
    write_lines(&mut std::io::stdout().lock(), "out", lines);
    let _ = err.join();
}

fn run(o: Options, spawned_at: u128) -> Result<ExitCode, String> {
    if let Some(path) = &o.record_spawn {
        write_atomic(path, &format!("{spawned_at}\n"));
    }
    if o.ignore_sigterm {
        ignore_sigterm();
    }
    if o.sleeper {
        sleep_forever();
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut pids = vec![std::process::id()];
    for _ in 0..o.grandchildren {
        let child = Command::new(&me)
            .args(["--sleeper", "--ignore-sigterm"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot spawn a grandchild: {e}"))?;
        pids.push(child.id());
    }
    if let Some(path) = &o.pidfile {
        let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
        write_atomic(path, &text);
    }
    if let Some(after) = o.crash_after {
        let code = if o.exit_code == 0 { 1 } else { o.exit_code };
        std::thread::spawn(move || {
            std::thread::sleep(after);
            std::process::exit(code.into());
        });
    }
    if o.flood > 0 {
        flood(o.flood);
    }
    if o.kill_self {
        // SAFETY: sending a signal to ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    if o.hang {
        sleep_forever();
    }
    let counter: &'static ProbeCounter = Box::leak(Box::new(ProbeCounter {
        count: AtomicU64::new(0),
        path: o.count_probes.clone(),
    }));
    if let Some(path) = &counter.path {
        write_atomic(path, "0\n");
    }
    std::thread::sleep(o.ready_after);
    let ready_at = match &o.via {
        None => monotonic_ns(),
        Some(Via::Notify) => {
            let at = monotonic_ns();
            notify_ready()?;
            at
        }
        Some(Via::Tcp(port)) => {
            serve_tcp(bind(*port)?, counter);
            monotonic_ns()
        }
        Some(Via::Http(port)) => {
            serve_http(bind(*port)?, counter);
            monotonic_ns()
        }
        Some(Via::File(path)) => {
            std::fs::write(path, b"ready\n").map_err(|e| format!("cannot create {path:?}: {e}"))?;
            monotonic_ns()
        }
        Some(Via::Log) => {
            let at = monotonic_ns();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "READY");
            let _ = out.flush();
            at
        }
        Some(Via::Exit) => monotonic_ns(),
        Some(Via::Fd(fd)) => {
            // s6's notification-fd protocol: a newline on the descriptor, then close it.
            let at = monotonic_ns();
            // SAFETY: writing to and closing a descriptor we were handed for this purpose.
            let written = unsafe { libc::write(*fd, b"\n".as_ptr().cast(), 1) };
            if written != 1 {
                return Err(format!("cannot notify on fd {fd}"));
            }
            // SAFETY: as above.
            unsafe { libc::close(*fd) };
            at
        }
    };
    if let Some(path) = &o.record {
        write_atomic(path, &format!("{ready_at}\n"));
    }
    if o.via == Some(Via::Exit) {
        return Ok(ExitCode::from(o.exit_code));
    }
    sleep_forever();
}

fn main() -> ExitCode {
    let spawned_at = monotonic_ns();
    match parse(std::env::args().skip(1)).and_then(|o| run(o, spawned_at)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("herald-fixture: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_mechanisms_parse() {
        assert_eq!(parse_duration("150ms").unwrap(), Duration::from_millis(150));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("40").unwrap(), Duration::from_millis(40));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_via("tcp:8080").unwrap(), Via::Tcp(8080));
        assert_eq!(
            parse_via("file:/tmp/x").unwrap(),
            Via::File("/tmp/x".into())
        );
        assert!(parse_via("carrier-pigeon").is_err());
        assert_eq!(parse_via("fd:3").unwrap(), Via::Fd(3));
        let o = parse(["--via", "exit", "--exit-code", "3"].map(String::from)).unwrap();
        assert_eq!((o.via, o.exit_code), (Some(Via::Exit), 3));
        assert!(parse(["--flood".to_string()]).is_err());
    }
}
