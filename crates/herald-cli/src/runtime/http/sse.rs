//! The Server-Sent Event streams: `/api/v1/events` and `/api/v1/logs/{name}?follow=1`.
//!
//! **Events** carry one event-log line each, `id` = its `seq`. A client resumes with
//! `Last-Event-ID` (what `EventSource` sends by itself on a reconnect) or `?since=SEQ`, and
//! gets every line after it; a new client gets the current run from its header. Nothing is
//! lost between the file and the live stream: the live subscription is taken first, then
//! `events.jsonl` is replayed (every line is in the file before it is published live), then
//! live events follow, each sent once (by `seq`). A client that falls behind the live stream
//! reads what it missed from the file again.
//!
//! **Logs** follow a component's log file as `herald logs --follow` does: the tail first,
//! then what the file gains each time a live line says it grew, so no line is lost however
//! far behind the client falls. Both streams end when the stack stops.

use super::super::eventlog;
use super::super::logtail::Tail;
use super::super::protocol::LogRecord;
use super::api::unknown;
use super::router::{Api, query};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use herald::{Event, LogLine, Record};
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

/// The stream of events being sent to one client.
struct Events {
    /// Read from the file, not sent yet.
    backlog: VecDeque<Record>,
    /// The last `seq` sent.
    last: u64,
    live: broadcast::Receiver<Event>,
    finished: watch::Receiver<bool>,
    file: std::path::PathBuf,
    done: bool,
}

/// Every record of the log after `seq` (`None`: from the current run's header).
fn replay(file: &std::path::Path, since: Option<u64>) -> VecDeque<Record> {
    let records = eventlog::records(file);
    match since {
        Some(seq) => records.into_iter().filter(|r| r.seq() > seq).collect(),
        None => {
            let from = records
                .iter()
                .rposition(|r| matches!(r, Record::Run(_)))
                .unwrap_or(0);
            records.into_iter().skip(from).collect()
        }
    }
}

impl Events {
    /// The next record to send, or `None` once the stack has stopped and all was sent.
    async fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.backlog.pop_front() {
                if record.seq() > self.last {
                    self.last = record.seq();
                    return Some(record);
                }
                continue;
            }
            if self.done {
                return None;
            }
            let received = live_or_end(&mut self.live, &mut self.finished).await;
            match received {
                Ok(event) if event.seq > self.last => {
                    self.last = event.seq;
                    return Some(Record::Event(event));
                }
                Ok(_) => {}
                // Missed live events are in the file.
                Err(RecvError::Lagged(_)) => self.backlog = replay(&self.file, Some(self.last)),
                // The stack has stopped: its last events are in the file.
                Err(RecvError::Closed) => {
                    self.backlog = replay(&self.file, Some(self.last));
                    self.done = true;
                }
            }
        }
    }
}

/// Where a client resumes: `Last-Event-ID`, else `?since=`.
fn resume_point(headers: &HeaderMap, raw: Option<&str>) -> Option<u64> {
    let header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    header.or_else(|| {
        query(raw)
            .into_iter()
            .find(|(k, _)| k == "since")
            .and_then(|(_, v)| v.parse().ok())
    })
}

/// `GET /api/v1/events`.
pub async fn events(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let since = resume_point(&headers, raw.as_deref());
    // Subscribed before the file is read: whatever the file lacks, the subscription has.
    let live = api.shared.events.subscribe();
    let file = api.shared.state_dir.join(eventlog::FILE);
    let backlog = replay(&file, since);
    let state = Events {
        backlog,
        last: since.unwrap_or(0),
        live,
        finished: api.shared.finished.clone(),
        file,
        done: false,
    };
    let stream = stream::unfold(state, |mut state| async move {
        let record = state.next().await?;
        let line = serde_json::to_string(&record).expect("records serialise");
        let sse = Sse::default().id(record.seq().to_string()).data(line);
        Some((Ok::<_, Infallible>(sse), state))
    });
    axum::response::Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A followed log: the file, and the live lines that say when it grew.
struct Follow {
    tail: Tail,
    name: String,
    pending: VecDeque<Sse>,
    live: broadcast::Receiver<LogLine>,
    finished: watch::Receiver<bool>,
    done: bool,
}

/// The SSE form of what a log file gained: a line each, and a `note` for rotated output.
fn frames(records: Vec<LogRecord>, note: Option<String>) -> impl Iterator<Item = Sse> {
    let notes = note.map(|n| Sse::default().event("note").data(n));
    notes.into_iter().chain(records.into_iter().map(|record| {
        Sse::default().data(serde_json::to_string(&record).expect("log records serialise"))
    }))
}

impl Follow {
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if self.done {
                return None;
            }
            let received = live_or_end(&mut self.live, &mut self.finished).await;
            match received {
                Ok(line) if *line.component != *self.name => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => self.done = true,
            }
            let (records, note) = self.tail.read();
            self.pending.extend(frames(records, note));
        }
    }
}

/// The next live item, or `Closed` once the stack has stopped (what it had last is then in
/// the files).
async fn live_or_end<T: Clone>(
    live: &mut broadcast::Receiver<T>,
    finished: &mut watch::Receiver<bool>,
) -> Result<T, RecvError> {
    tokio::select! {
        biased;
        received = live.recv() => received,
        _ = finished.wait_for(|done| *done) => Err(RecvError::Closed),
    }
}

/// `GET /api/v1/logs/{name}?tail=N&follow=1`.
pub async fn logs(
    State(api): State<Api>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !api.shared.names.contains(&name) {
        return unknown(&api, &name);
    }
    let pairs = query(raw.as_deref());
    let tail_count: Option<usize> = pairs
        .iter()
        .find(|(k, _)| k == "tail")
        .and_then(|(_, v)| v.parse().ok());
    let follow = pairs
        .iter()
        .any(|(k, v)| k == "follow" && !matches!(v.as_str(), "0" | "false"));
    // Subscribed before the file is read, as `herald logs --follow` does.
    let live = api.shared.host.logs().subscribe();
    let mut tail = Tail::new(&api.shared.state_dir.join("logs"), &name);
    let (mut records, note) = tail.read();
    if let Some(count) = tail_count {
        records.drain(..records.len().saturating_sub(count));
    }
    if !follow {
        return Json(records).into_response();
    }
    let state = Follow {
        tail,
        name,
        pending: frames(records, note).collect(),
        live,
        finished: api.shared.finished.clone(),
        done: false,
    };
    let stream = stream::unfold(state, |mut state| async move {
        let frame = state.next().await?;
        Some((Ok::<_, Infallible>(frame), state))
    });
    axum::response::Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> Event {
        let line = format!(
            r#"{{"time":"2026-11-26T10:00:00.000001Z","seq":{seq},"run":1,"component":"db","state":"ready"}}"#
        );
        serde_json::from_str(&line).unwrap()
    }

    #[tokio::test]
    async fn what_the_file_and_the_live_stream_both_have_is_sent_once() {
        let (live_tx, live) = broadcast::channel(16);
        let (finished_tx, finished) = watch::channel(false);
        // Events 5 and 6 were in the file when it was read; 6 and 7 came live meanwhile.
        let mut events = Events {
            backlog: [5, 6].map(|s| Record::Event(event(s))).into(),
            last: 4,
            live,
            finished,
            file: std::path::PathBuf::from("/nonexistent/events.jsonl"),
            done: false,
        };
        for seq in [6, 7] {
            live_tx.send(event(seq)).unwrap();
        }
        let mut sent = Vec::new();
        for _ in 0..3 {
            sent.push(events.next().await.unwrap().seq());
        }
        assert_eq!(sent, [5, 6, 7]);
        finished_tx.send_replace(true);
        assert!(events.next().await.is_none());
    }
}
