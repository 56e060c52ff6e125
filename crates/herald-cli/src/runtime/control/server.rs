//! The supervisor's side of the control socket: each connection on its own task, one request
//! per line, answered as [`protocol`](super::super::protocol) says.

use super::super::protocol::{LogRecord, Reply, Request, Row};
use super::super::serve::StackHandle;
use super::admission::{Admission, MAX_CONNECTIONS, Ticket};
use super::framing::{self, Next};
use herald::{Action, Running};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

/// The first pause after a failed `accept` (out of file descriptors, say); it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while the failures go on.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections until the supervisor exits.
pub async fn serve(listener: UnixListener, shared: Arc<StackHandle>) {
    let uid = rustix::process::getuid().as_raw();
    let admission = Arc::new(Admission::default());
    accept_loop(
        || async {
            admission.room().await;
            listener.accept().await
        },
        |(stream, _)| {
            let ticket = admission.admit();
            tokio::spawn(serve_one(stream, ticket, uid, shared.clone()));
        },
    )
    .await
}

/// Calls `accept` and hands each connection to `handle`. A failed `accept` (EMFILE, ENFILE,
/// ENOMEM...) would fail again at once: it is said once on stderr (`herald.log`) and retried
/// after a pause that grows while it lasts, rather than spinning.
async fn accept_loop<S, F: Future<Output = io::Result<S>>>(
    mut accept: impl FnMut() -> F,
    mut handle: impl FnMut(S),
) {
    let mut backoff = ACCEPT_BACKOFF;
    let mut failing = false;
    loop {
        match accept().await {
            Ok(stream) => {
                if failing {
                    eprintln!("control socket: accepting connections again");
                }
                failing = false;
                backoff = ACCEPT_BACKOFF;
                handle(stream);
            }
            Err(e) => {
                if !failing {
                    eprintln!("control socket: cannot accept a connection ({e}); retrying");
                }
                failing = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// Serves one connection if it holds a place and comes from the stack's own user.
async fn serve_one(stream: UnixStream, ticket: Option<Ticket>, uid: u32, shared: Arc<StackHandle>) {
    let peer = stream.peer_cred().map(|c| c.uid()).ok();
    let (read, mut write) = stream.into_split();
    let message = match ticket {
        Some(ticket) if peer == Some(uid) => {
            return connection(BufReader::new(read), write, ticket, shared).await;
        }
        Some(_) => "the control socket serves only the user who started the stack".to_string(),
        None => format!("too many connections: {MAX_CONNECTIONS} are open and busy"),
    };
    let _ = send(&mut write, &Reply::Error { message }).await;
}

async fn send(write: &mut OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_string(reply).expect("replies serialise");
    line.push('\n');
    write.write_all(line.as_bytes()).await
}

async fn connection(
    mut read: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut write: OwnedWriteHalf,
    mut ticket: Ticket,
    shared: Arc<StackHandle>,
) {
    let mut line = Vec::new();
    loop {
        let next = tokio::select! {
            next = framing::read_line(&mut read, &mut line) => next,
            // Idle too long, or its place went to a newer connection.
            _ = ticket.idle() => return,
        };
        match next {
            Ok(Next::Line) => {}
            Ok(Next::TooLong) => {
                let message = framing::too_long();
                let _ = send(&mut write, &Reply::Error { message }).await;
                return;
            }
            Ok(Next::Closed) | Err(_) => return,
        }
        let request = match framing::parse_request(&line) {
            Ok(request) => request,
            Err(message) => {
                if send(&mut write, &Reply::Error { message }).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let reply = match request {
            Request::Status => status(&shared),
            // A client that hangs up while it waits is not waited for any longer.
            Request::Wait { names, timeout_ms } => tokio::select! {
                reply = wait(&shared, names, timeout_ms.map(Duration::from_millis)) => reply,
                _ = closed(&mut read) => return,
            },
            Request::Control { action, name } => act(&shared, &name, action).await,
            Request::Down => {
                if *shared.finished.borrow() {
                    Reply::Done
                } else {
                    // The supervisor answers once all is stopped and the socket is gone; if
                    // it has just finished, this connection answers.
                    match shared.down.send(write) {
                        Ok(()) => return,
                        Err(mpsc::error::SendError(back)) => {
                            write = back;
                            Reply::Done
                        }
                    }
                }
            }
            Request::Logs { names } => {
                logs(&shared, names, &mut write).await;
                return;
            }
            Request::Events => {
                events(&shared, &mut write).await;
                return;
            }
        };
        if send(&mut write, &reply).await.is_err() {
            return;
        }
    }
}

/// Resolves once the client has closed its side; never if it sends more (that is read later).
async fn closed(read: &mut BufReader<tokio::net::unix::OwnedReadHalf>) {
    if let Ok(buf) = read.fill_buf().await
        && !buf.is_empty()
    {
        std::future::pending::<()>().await;
    }
}

fn ms(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Every component's row.
pub fn rows(running: &Running) -> Vec<Row> {
    let now = Instant::now();
    running
        .statuses()
        .into_iter()
        .map(|(name, status)| Row {
            probes: running.probes_spent(&name).unwrap_or(0),
            state: status.state,
            pid: status.pid,
            uptime_ms: status
                .pid
                .and(status.started_at)
                .map(|at| ms(now.saturating_duration_since(at))),
            waited_ms: status.waited.map(ms),
            time_to_ready_ms: status.time_to_ready.map(ms),
            restarts: status.restarts,
            last_error: status
                .error
                .as_deref()
                .map(super::super::progress::first_line),
            error: status.error.as_deref().cloned(),
            containment: None,
            cpu_ms: None,
            memory_bytes: None,
            node: crate::stackfile::cluster::split_remote(&name).map(|(n, _)| n.to_string()),
            status_text: status.detail.clone(),
            name,
        })
        .collect()
}

fn status(shared: &StackHandle) -> Reply {
    Reply::Status {
        stack: shared.name.clone(),
        pid: std::process::id(),
        components: rows(&shared.running)
            .into_iter()
            .map(|r| r.with_usage(&shared.host))
            .collect(),
    }
}

fn unknown(shared: &StackHandle, names: &[String]) -> Option<Reply> {
    let name = names.iter().find(|n| shared.running.signal(n).is_none())?;
    Some(Reply::Unknown {
        name: name.clone(),
        names: shared.names.clone(),
    })
}

async fn wait(shared: &StackHandle, names: Vec<String>, timeout: Option<Duration>) -> Reply {
    let names = if names.is_empty() {
        shared.names.clone()
    } else {
        names
    };
    if let Some(reply) = unknown(shared, &names) {
        return reply;
    }
    let signals: Vec<_> = names
        .iter()
        .filter_map(|n| shared.running.signal(n))
        .collect();
    let all = herald::Signal::wait_all(signals.clone());
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, all).await {
            Ok(result) => result,
            Err(_) => {
                let pending = signals
                    .iter()
                    .map(|s| (s.name().to_string(), s.state()))
                    .filter(|(_, state)| !state.is_up())
                    .collect();
                return Reply::TimedOut { pending };
            }
        },
        None => all.await,
    };
    match result {
        Ok(()) => Reply::Done,
        Err(error) => Reply::Failed { error },
    }
}

/// Takes `action` on `name`; a start or restart answers once the component is ready (or
/// failed), a stop once it is stopped.
async fn act(shared: &StackHandle, name: &str, action: Action) -> Reply {
    let running = &shared.running;
    if running.act(name, action).await.is_err() {
        return unknown(shared, &[name.to_string()]).unwrap_or(Reply::Done);
    }
    if action == Action::Stop {
        return Reply::Done;
    }
    let Some(signal) = running.signal(name) else {
        return Reply::Done;
    };
    match signal.wait().await {
        Ok(()) => Reply::Done,
        Err(error) => Reply::Failed { error },
    }
}

async fn logs(shared: &StackHandle, names: Vec<String>, write: &mut OwnedWriteHalf) {
    if let Some(reply) = unknown(shared, &names) {
        let _ = send(write, &reply).await;
        return;
    }
    let lines = shared.host.logs().subscribe();
    stream(shared, write, lines, |line| {
        if !names.is_empty() && !names.iter().any(|n| **n == *line.component) {
            return None;
        }
        Some(Reply::Log(LogRecord {
            time: humantime::format_rfc3339_micros(line.time).to_string(),
            component: line.component.to_string(),
            stream: line.stream.as_str().to_string(),
            text: line.text,
        }))
    })
    .await;
}

async fn events(shared: &StackHandle, write: &mut OwnedWriteHalf) {
    let events = shared.events.subscribe();
    stream(shared, write, events, |event| Some(Reply::Event { event })).await;
}

/// Answers `subscribed`, then sends what `reply` makes of each item of `items` (`None`: not
/// for this client) until the stack stops or the client goes. A client that falls too far
/// behind is told how many items it missed (`skipped`), never left to guess.
async fn stream<T: Clone>(
    shared: &StackHandle,
    write: &mut OwnedWriteHalf,
    mut items: broadcast::Receiver<T>,
    mut reply: impl FnMut(T) -> Option<Reply>,
) {
    if send(write, &Reply::Subscribed).await.is_err() {
        return;
    }
    let mut finished = shared.finished.clone();
    loop {
        let item = tokio::select! {
            biased;
            item = items.recv() => item,
            _ = finished.wait_for(|done| *done) => return,
        };
        let answer = match item {
            Ok(item) => match reply(item) {
                Some(answer) => answer,
                None => continue,
            },
            Err(RecvError::Lagged(count)) => Reply::Skipped { count },
            Err(RecvError::Closed) => return,
        };
        if send(write, &answer).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_accept_is_retried_after_a_pause_not_in_a_spin() {
        let mut calls = 0u32;
        let looping = accept_loop(
            || {
                calls += 1;
                // A spinning loop would get here thousands of times without time passing.
                assert!(calls < 1000, "accept retried {calls} times in a spin");
                std::future::ready(Err::<(), _>(io::Error::from_raw_os_error(libc::EMFILE)))
            },
            |()| {},
        );
        let ten_seconds = tokio::time::timeout(Duration::from_secs(10), looping).await;
        assert!(ten_seconds.is_err(), "the loop goes on");
        // 10 ms doubling to 1 s: 7 tries in the first 1.27 s, then one a second.
        assert!(calls <= 20, "{calls} tries in 10 s");
    }
}
