//! The supervisor's side of the control socket: each connection on its own task, one request
//! per line, answered as [`protocol`](super::super::protocol) says.

use super::super::protocol::{LogRecord, Reply, Request, Row};
use super::super::supervisor::Shared;
use herald::Running;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

/// Accepts connections until the supervisor exits.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>) {
    let uid = rustix::process::getuid().as_raw();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let peer = stream.peer_cred().map(|c| c.uid()).ok();
            let (read, mut write) = stream.into_split();
            if peer != Some(uid) {
                let message = "the control socket serves only the user who started the stack";
                let _ = send(
                    &mut write,
                    &Reply::Error {
                        message: message.into(),
                    },
                )
                .await;
                return;
            }
            connection(BufReader::new(read), write, shared).await;
        });
    }
}

async fn send(write: &mut OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_string(reply).expect("replies serialise");
    line.push('\n');
    write.write_all(line.as_bytes()).await
}

async fn connection(
    mut read: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut write: OwnedWriteHalf,
    shared: Arc<Shared>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match read.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let request = match serde_json::from_str::<Request>(&line) {
            Ok(request) => request,
            Err(e) => {
                let message = format!("bad request {:?}: {e}", line.trim());
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
            Request::Start { name } => act(&shared, &name, Act::Start).await,
            Request::Stop { name } => act(&shared, &name, Act::Stop).await,
            Request::Restart { name } => act(&shared, &name, Act::Restart).await,
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
            name,
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
        })
        .collect()
}

fn status(shared: &Shared) -> Reply {
    Reply::Status {
        stack: shared.name.clone(),
        pid: std::process::id(),
        components: rows(&shared.running)
            .into_iter()
            .map(|r| r.with_usage(&shared.host))
            .collect(),
    }
}

fn unknown(shared: &Shared, names: &[String]) -> Option<Reply> {
    let name = names.iter().find(|n| shared.running.signal(n).is_none())?;
    Some(Reply::Unknown {
        name: name.clone(),
        names: shared.names.clone(),
    })
}

async fn wait(shared: &Shared, names: Vec<String>, timeout: Option<Duration>) -> Reply {
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

enum Act {
    Start,
    Stop,
    Restart,
}

async fn act(shared: &Shared, name: &str, act: Act) -> Reply {
    let running = &shared.running;
    let done = match act {
        Act::Start => running.start(name).await,
        Act::Stop => running.stop(name).await,
        Act::Restart => running.restart(name).await,
    };
    if done.is_err() {
        return unknown(shared, &[name.to_string()]).unwrap_or(Reply::Done);
    }
    if matches!(act, Act::Stop) {
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

async fn logs(shared: &Shared, names: Vec<String>, write: &mut OwnedWriteHalf) {
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

async fn events(shared: &Shared, write: &mut OwnedWriteHalf) {
    let events = shared.events.subscribe();
    stream(shared, write, events, |event| Some(Reply::Event { event })).await;
}

/// Answers `subscribed`, then sends what `reply` makes of each item of `items` (`None`: not
/// for this client) until the stack stops or the client goes. A client that falls too far
/// behind is told how many items it missed (`skipped`), never left to guess.
async fn stream<T: Clone>(
    shared: &Shared,
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
