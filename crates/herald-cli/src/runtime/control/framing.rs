//! Requests off the control socket, bounded: a line is at most [`MAX_LINE`] bytes (a client
//! that sends more without a newline is told so and disconnected, nothing more is buffered),
//! and a request names at most [`MAX_NAMES`] distinct components (repeated names count once:
//! `wait` on 200,000 copies of one name waits once).

use super::super::protocol::Request;
use std::collections::HashSet;
use std::io;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest request line, its newline excluded.
pub const MAX_LINE: usize = 1024 * 1024;

/// The most distinct component names one request may name.
pub const MAX_NAMES: usize = 65_536;

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A whole line is in the buffer (without its newline).
    Line,
    /// The client sent more than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// The client closed its side (a last line without a newline is dropped).
    Closed,
}

/// Reads one line into `line` (cleared first), never holding more than [`MAX_LINE`] bytes.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    read: &mut R,
    line: &mut Vec<u8>,
) -> io::Result<Next> {
    line.clear();
    loop {
        let available = read.fill_buf().await?;
        if available.is_empty() {
            return Ok(Next::Closed);
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (available.len(), false),
        };
        if line.len() + taken > MAX_LINE {
            return Ok(Next::TooLong);
        }
        line.extend_from_slice(&available[..taken]);
        read.consume(taken + usize::from(done));
        if done {
            return Ok(Next::Line);
        }
    }
}

/// Parses one request line, repeated names dropped (the first place of each kept). The error
/// is the message to answer with.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    if line.len() > MAX_LINE {
        return Err(too_long());
    }
    let mut request = serde_json::from_slice::<Request>(line).map_err(|e| {
        let text = String::from_utf8_lossy(&line[..line.len().min(200)]);
        let more = if line.len() > 200 { "..." } else { "" };
        format!("bad request {:?}{more}: {e}", text.trim())
    })?;
    if let Request::Wait { names, .. } | Request::Logs { names } = &mut request {
        dedupe(names)?;
    }
    Ok(request)
}

/// The answer to a line longer than [`MAX_LINE`].
pub fn too_long() -> String {
    format!(
        "a request is one line of at most {} MiB; this one is longer",
        MAX_LINE >> 20
    )
}

/// Drops repeated names in place, keeping the first of each; refuses more than [`MAX_NAMES`].
fn dedupe(names: &mut Vec<String>) -> Result<(), String> {
    let mut seen = HashSet::with_capacity(names.len().min(MAX_NAMES));
    let mut error = None;
    names.retain(|name| {
        if error.is_some() || seen.contains(name.as_str()) {
            return false;
        }
        if seen.len() == MAX_NAMES {
            error = Some(format!(
                "a request names at most {MAX_NAMES} distinct components"
            ));
            return false;
        }
        seen.insert(name.clone());
        true
    });
    error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    #[test]
    fn repeated_names_count_once() {
        let names = vec!["\"c1\""; 200_000].join(",");
        let line = format!(r#"{{"op":"wait","names":[{names},"c2","c1"],"timeout_ms":5}}"#);
        assert_eq!(
            parse_request(line.as_bytes()).unwrap(),
            Request::Wait {
                names: vec!["c1".into(), "c2".into()],
                timeout_ms: Some(5)
            }
        );
    }

    #[test]
    fn too_many_distinct_names_are_refused() {
        let names: Vec<String> = (0..=MAX_NAMES).map(|i| format!("\"n{i}\"")).collect();
        let line = format!(r#"{{"op":"logs","names":[{}]}}"#, names.join(","));
        let error = parse_request(line.as_bytes()).unwrap_err();
        assert!(error.contains("at most 65536 distinct"), "{error}");
    }

    #[test]
    fn bad_requests_are_quoted_short() {
        let line = format!("{{\"op\":\"{}", "x".repeat(10_000));
        let error = parse_request(line.as_bytes()).unwrap_err();
        assert!(error.len() < 400, "{error}");
        assert!(parse_request(&vec![b' '; MAX_LINE + 1]).is_err());
    }

    #[tokio::test]
    async fn a_line_longer_than_the_limit_is_not_buffered() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            client.write_all(b"{\"op\":\"status\"}\n").await.unwrap();
            // 4 MiB without a newline: the reader gives up after 1 MiB.
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..64 {
                if client.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let mut read = BufReader::new(server);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut read, &mut line).await.unwrap(), Next::Line);
        assert_eq!(line, b"{\"op\":\"status\"}");
        assert_eq!(
            read_line(&mut read, &mut line).await.unwrap(),
            Next::TooLong
        );
        assert!(line.capacity() <= 2 * MAX_LINE, "{}", line.capacity());
        drop(read);
        writer.await.unwrap();
    }
}
