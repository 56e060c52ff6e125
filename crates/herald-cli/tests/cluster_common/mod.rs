//! A real 3-member etcd cluster on 127.0.0.1 and herald "nodes" over it, for the cluster
//! tests. Each member has its own client and peer ports (free ones, picked at start), its
//! data under a temporary folder, short election timeouts (50 ms heartbeat, 500 ms election)
//! so that the tests run fast; all are killed on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Where Debian's `etcd-server` installs etcd.
pub const ETCD: &str = "/usr/bin/etcd";

/// `None` with the reason printed when etcd is not installed.
pub fn etcd_or_skip() -> Option<()> {
    if Path::new(ETCD).exists() {
        Some(())
    } else {
        eprintln!("skipped: {ETCD} is not installed (apt-get install etcd-server)");
        None
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One member's ports and process.
struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// Three etcd members on 127.0.0.1.
pub struct Etcd {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    /// Another address the members serve clients on too (a veth's, for the partition test).
    also: Option<String>,
}

impl Etcd {
    /// Starts three members and waits until the cluster answers.
    pub fn start() -> Etcd {
        Etcd::start_also_on(None)
    }

    /// Starts three members serving clients on 127.0.0.1 and on `also`.
    pub fn start_also_on(also: Option<&str>) -> Etcd {
        // In memory where there is /dev/shm: etcd syncs every commit to disk.
        let dir = match Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm"),
            false => tempfile::tempdir(),
        }
        .expect("a temporary folder");
        let members: Vec<Member> = (0..3)
            .map(|i| Member {
                name: format!("m{i}"),
                client: free_port(),
                peer: free_port(),
                child: None,
            })
            .collect();
        let mut etcd = Etcd {
            dir,
            members,
            also: also.map(str::to_string),
        };
        for i in 0..3 {
            etcd.start_member(i);
        }
        etcd.wait_healthy(&[0, 1, 2]);
        etcd
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts member `i` (again, on its data).
    pub fn start_member(&mut self, i: usize) {
        let initial = self.initial_cluster();
        let also = self.also.clone();
        let data = self.dir.path().join(format!("m{i}.etcd"));
        let log = std::fs::File::create(self.dir.path().join(format!("m{i}.log"))).unwrap();
        let m = &mut self.members[i];
        let mut client = format!("http://127.0.0.1:{}", m.client);
        if let Some(also) = &also {
            client.push_str(&format!(",http://{also}:{}", m.client));
        }
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let child = Command::new(ETCD)
            .args(["--name", &m.name, "--data-dir"])
            .arg(&data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args([
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                "new",
            ])
            .args(["--initial-cluster-token", "herald-test"])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        m.child = Some(child);
    }

    /// Kills member `i` with SIGKILL.
    pub fn kill_member(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until each of `members` answers `/health` with `"health":"true"`.
    pub fn wait_healthy(&self, members: &[usize]) {
        let start = Instant::now();
        for &i in members {
            let port = self.members[i].client;
            while !health(port) {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "etcd member {i} is not healthy after 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The client endpoints, as a TOML array.
    pub fn endpoints_toml(&self) -> String {
        self.endpoints_toml_at("127.0.0.1")
    }

    /// The client endpoints on `host`, as a TOML array.
    pub fn endpoints_toml_at(&self, host: &str) -> String {
        let list: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("\"http://{host}:{}\"", m.client))
            .collect();
        format!("[{}]", list.join(", "))
    }

    /// The index of the member that leads now, if one answers that it does.
    pub fn leader(&self) -> Option<usize> {
        self.members.iter().position(|m| {
            m.child.is_some()
                && http(m.client, "POST", "/v3/maintenance/status", "{}").is_some_and(|body| {
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    v["leader"].as_str().is_some() && v["leader"] == v["header"]["member_id"]
                })
        })
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill_member(i);
        }
    }
}

/// One HTTP/1.0 request to 127.0.0.1:`port`; the body of a 200 answer.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

fn health(port: u16) -> bool {
    http(port, "GET", "/health", "").is_some_and(|b| b.contains("\"health\":\"true\""))
}

/// A herald stack in a folder of its own, its supervisor run in the foreground as a child
/// (so that the test can SIGKILL it); stopped on drop.
pub struct Node {
    pub dir: tempfile::TempDir,
    supervisor: Option<Child>,
    /// The network namespace the supervisor runs in (`ip netns exec`), if any.
    pub netns: Option<String>,
}

impl Node {
    /// A stack whose file is `text`.
    pub fn new(text: &str) -> Node {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("herald.toml"), text).unwrap();
        Node {
            dir,
            supervisor: None,
            netns: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .current_dir(self.path())
            .env_remove("HERALD_FILE")
            .env("HERALD_LOG", "herald_cli::runtime::cluster=info,warn")
            .env("NO_COLOR", "1");
        command
    }

    /// Starts the supervisor (`herald up` in the foreground, its output in `up.log`) and
    /// waits until its control socket answers.
    pub fn up(&mut self) {
        let log = std::fs::File::create(self.path().join("up.log")).unwrap();
        let mut command = self.command();
        if let Some(netns) = &self.netns {
            let herald = std::mem::replace(&mut command, Command::new("ip"));
            command
                .args(["netns", "exec", netns])
                .arg(herald.get_program())
                .current_dir(self.path())
                .envs(herald.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .env_remove("HERALD_FILE");
        }
        let child = command
            .arg("up")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("herald up");
        self.supervisor = Some(child);
        let start = Instant::now();
        while !self.path().join(".herald/control.sock").exists()
            || self.herald(&["status"]).status.code() != Some(0)
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "herald up does not answer\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the supervisor (its components die with it).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.supervisor.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `herald ARGS` in the stack's folder.
    pub fn herald(&self, args: &[&str]) -> std::process::Output {
        self.command().args(args).output().expect("herald runs")
    }

    /// `herald wait NAME --timeout LIMIT`, asserting it succeeds.
    pub fn wait(&self, name: &str, limit: &str) {
        let out = self.herald(&["wait", name, "--timeout", limit]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "herald wait {name}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The supervisor's own output.
    pub fn log(&self) -> String {
        let up = std::fs::read_to_string(self.path().join("up.log")).unwrap_or_default();
        let own =
            std::fs::read_to_string(self.path().join(".herald/herald.log")).unwrap_or_default();
        format!("--- up output:\n{up}\n--- herald.log:\n{own}")
    }

    /// The row of `name` in `status --json` (null if there is none).
    pub fn row(&self, name: &str) -> serde_json::Value {
        let out = self.herald(&["status", "--json"]);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        rows.as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or_default()
    }

    /// The state of `name`, from `status --json`.
    pub fn state(&self, name: &str) -> String {
        self.row(name)["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Every event of the current run of `name`, as `(time, state)`.
    pub fn events(&self, name: &str) -> Vec<(SystemTime, String)> {
        let text =
            std::fs::read_to_string(self.path().join(".herald/events.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["component"] == name)
            .map(|v| {
                let time = humantime::parse_rfc3339(v["time"].as_str().unwrap()).unwrap();
                (time, v["state"].as_str().unwrap().to_string())
            })
            .collect()
    }

    /// The time of the first event of `name` in `state` at or after `since`.
    pub fn first(&self, name: &str, state: &str, since: SystemTime) -> Option<SystemTime> {
        self.events(name)
            .into_iter()
            .find(|(t, s)| s == state && *t >= since)
            .map(|(t, _)| t)
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> Option<u32> {
        self.supervisor.as_ref().map(Child::id)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join(".herald")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.supervisor.is_some() {
            let _ = self.herald(&["down"]);
        }
        self.kill();
    }
}
