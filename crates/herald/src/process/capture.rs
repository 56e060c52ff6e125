//! Reading a child's stdout and stderr to the end: every line to the log file, the live hub,
//! and the `ready.log` matcher. Output is a sign of life, so each read also lets the run's
//! pending readiness probes run early (`Context::stir`).
//!
//! A pipe is read until end of file, also after the child has died (the kernel keeps what it
//! wrote), so nothing printed is lost. Each read takes everything the pipe holds (up to
//! 64 KiB) and the lines it carried are written to the file with one write, so a flood costs
//! a write per 64 KiB, not one per line, and a quiet pipe leaves nothing unwritten.

use super::logs::{LineSplitter, LogFile, LogHub, LogLine, MAX_LINE, Stream, format_time};
use super::ready::Gate;
use crate::Context;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Where one run's lines go.
pub(crate) struct Sink {
    pub name: Arc<str>,
    pub file: Arc<Mutex<LogFile>>,
    pub hub: LogHub,
    pub matcher: Option<(regex::bytes::Regex, Arc<Gate>)>,
    /// The run the output belongs to, stirred by each read.
    pub ctx: Context,
}

impl Sink {
    /// Passes a chunk (or, with `None`, the final partial line) through `splitter`, then
    /// writes the lines out.
    ///
    /// The lines are in the file (flushed) before anyone is asked whether they listen, and
    /// published only after: a follower that subscribes and then reads the file sees every
    /// line exactly once, whenever it subscribed.
    fn take(&self, stream: Stream, splitter: &mut LineSplitter, chunk: Option<&[u8]>) {
        let time = SystemTime::now();
        let stamp = format_time(time);
        let mut text = Vec::new();
        let mut ends = Vec::new();
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let mut emit = |line: &[u8]| {
            file.push(&stamp, stream, line);
            text.extend_from_slice(line);
            ends.push(text.len());
            if let Some((regex, gate)) = &self.matcher
                && gate.awaits_log()
                && regex.is_match(line)
            {
                gate.logged();
            }
        };
        match chunk {
            Some(chunk) => splitter.feed(chunk, &mut emit),
            None => splitter.finish(&mut emit),
        }
        file.flush();
        drop(file);
        if !self.hub.listened() {
            return;
        }
        let mut start = 0;
        for end in ends {
            self.hub.publish(LogLine {
                time,
                component: self.name.clone(),
                stream,
                text: String::from_utf8_lossy(&text[start..end]).into_owned(),
            });
            start = end;
        }
    }
}

/// What a reader reads into until a read fills it, in bytes: most components print little
/// or nothing, and a stack of them would otherwise hold a large buffer per pipe at rest.
const FIRST_READS: usize = 1024;

/// What a reader reads into once a read has filled [`FIRST_READS`]: a component that prints
/// a lot is read in large pieces.
const LARGE_READS: usize = 64 * 1024;

/// Reads `pipe` to its end into `sink`.
pub(crate) async fn capture(mut pipe: impl AsyncRead + Unpin, stream: Stream, sink: Arc<Sink>) {
    let mut buf = vec![0u8; FIRST_READS];
    let mut splitter = LineSplitter::new(MAX_LINE);
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                sink.take(stream, &mut splitter, Some(&buf[..n]));
                sink.ctx.stir();
                if n == buf.len() && buf.len() < LARGE_READS {
                    buf = vec![0u8; LARGE_READS];
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(component = %sink.name, "cannot read {}: {e}", stream.as_str());
                break;
            }
        }
    }
    sink.take(stream, &mut splitter, None);
}
