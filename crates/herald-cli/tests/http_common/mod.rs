//! The HTTP interface's tests: a stand-in stack started with `herald up --detach --listen`,
//! and a small HTTP/1.1 client over its unix socket and TCP (Server-Sent Events included).

#![allow(dead_code)]

use super::common::{herald_in, stderr};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A stack of stand-ins running in the background, taken down when dropped.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

pub const STACK: &str = r#"
[stack]
name = "web-demo"

[components.db]
command = ["sh", "-c", "echo db is up; exec sleep 1000"]

[components.web]
command = ["sh", "-c", "echo web listening; exec sleep 1000"]
requires = ["db"]

[components.migrate]
kind = "oneshot"
command = ["sh", "-c", "echo migrated"]
requires = ["db"]
"#;

/// A free port on 127.0.0.1.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl Stack {
    pub fn up(extra: &[&str]) -> Stack {
        Stack::up_with(STACK, extra)
    }

    /// The stack file `text`, up with `extra` arguments.
    pub fn up_with(text: &str, extra: &[&str]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("herald.toml"), text).unwrap();
        let addr = free_addr();
        let listen = addr.to_string();
        let mut args = vec!["up", "--detach", "--listen", &listen];
        args.extend_from_slice(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("HERALD_FILE")
            .env("HERALD_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "up: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("dashboard: http://{addr}/ui")),
            "{}",
            stderr(&out)
        );
        Stack { dir, addr }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join(".herald/api.sock")
    }

    /// A request over the unix socket.
    pub fn local(&self, method: &str, path: &str) -> Answer {
        let stream = UnixStream::connect(self.socket()).unwrap();
        exchange(stream, method, path, &[])
    }

    /// A request over TCP with `headers`.
    pub fn tcp(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let stream = TcpStream::connect(self.addr).unwrap();
        exchange(stream, method, path, headers)
    }

    /// A request over TCP with the token.
    pub fn authed(&self, method: &str, path: &str) -> Answer {
        let bearer = format!("Bearer {TOKEN}");
        self.tcp(method, path, &[("Authorization", &bearer)])
    }

    pub fn state(&self, name: &str) -> String {
        let row = self.local("GET", &format!("/api/v1/components/{name}"));
        assert_eq!(row.status, 200, "{}", row.body);
        row.json()["state"].as_str().unwrap().to_string()
    }

    pub fn supervisor_pid(&self) -> u32 {
        let lock = std::fs::read_to_string(self.dir.path().join(".herald/herald.lock")).unwrap();
        lock.trim().parse().unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = herald_in(self.dir.path(), &["down"]);
    }
}

/// A response: status, headers (lowercase names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Writes the request line and headers of one request.
pub fn send(stream: &mut impl Write, method: &str, path: &str, headers: &[(&str, &str)]) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
}

/// Reads the status line and headers.
pub fn head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            return (status, headers);
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
}

pub fn exchange<S: Read + Write>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    send(&mut stream, method, path, headers);
    let mut reader = BufReader::new(stream);
    let (status, headers) = head(&mut reader);
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        while let Some(chunk) = next_chunk(&mut reader) {
            body.extend(chunk);
        }
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    Answer {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// One chunk of a chunked body; `None` at its end.
pub fn next_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    Some(chunk)
}

/// A Server-Sent Event stream being read.
pub struct Stream {
    reader: BufReader<UnixStream>,
    buffer: String,
}

/// One event: its id and data.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<u64>,
    pub data: serde_json::Value,
}

impl Stream {
    pub fn open(socket: &Path, path: &str, headers: &[(&str, &str)]) -> Stream {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        send(&mut stream, "GET", path, headers);
        let mut reader = BufReader::new(stream);
        let (status, headers) = head(&mut reader);
        assert_eq!(status, 200);
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream")),
            "{headers:?}"
        );
        Stream {
            reader,
            buffer: String::new(),
        }
    }

    /// The next event with data (keep-alive comments skipped).
    pub fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str(v.trim()).unwrap());
                    }
                }
                if let Some(data) = data {
                    return Sse { id, data };
                }
                continue;
            }
            let chunk = next_chunk(&mut self.reader).expect("the stream ended");
            self.buffer.push_str(&String::from_utf8(chunk).unwrap());
        }
    }

    /// Events until one for `component` in `state` (inclusive).
    pub fn until(&mut self, component: &str, state: &str) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next();
            let hit = event.data["component"] == component && event.data["state"] == state;
            seen.push(event);
            if hit {
                return seen;
            }
        }
    }
}
