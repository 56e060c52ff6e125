//! Cluster-wide readiness on a real 3-member etcd cluster on 127.0.0.1: a server node whose
//! `apiserver` an agent node's `kubelet` depends on (`@server-1/apiserver`), each its own
//! herald supervisor.

mod cluster_common;
mod common;

use cluster_common::{Etcd, Node, etcd_or_skip};
use common::eventually;
use std::time::{Duration, SystemTime};

const TTL: Duration = Duration::from_secs(2);

fn server(etcd: &Etcd, ttl: &str) -> Node {
    Node::new(&format!(
        r#"[stack]
name = "server"
[cluster]
etcd = {}
node = "server-1"
ttl = "{ttl}"
[components.apiserver]
command = ["sh", "-c", "sleep 0.3; echo serving; exec sleep 1000"]
ready = {{ log = "serving" }}
"#,
        etcd.endpoints_toml()
    ))
}

fn agent(etcd: &Etcd, ttl: &str, edge: &str) -> Node {
    Node::new(&format!(
        r#"[stack]
name = "agent"
[cluster]
etcd = {}
node = "agent-1"
ttl = "{ttl}"
[components.kubelet]
command = ["sleep", "1000"]
{edge} = ["@server-1/apiserver"]
"#,
        etcd.endpoints_toml()
    ))
}

const REMOTE: &str = "@server-1/apiserver";

fn millis(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    }
}

#[test]
fn kubelet_starts_only_once_the_servers_apiserver_is_ready() {
    let Some(()) = etcd_or_skip() else { return };
    let etcd = Etcd::start();
    let mut agent = agent(&etcd, "2s", "requires");
    agent.up();
    // The agent waits: nothing of the server is published yet.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(agent.state("kubelet"), "waiting", "{}", agent.log());
    assert_eq!(agent.state(REMOTE), "waiting", "{}", agent.log());
    // `herald wait` from a stack that does not depend on it waits on etcd itself.
    let observer = Node::new(&format!(
        "[cluster]\netcd = {}\nnode = \"observer\"\n[components.idle]\ncommand = [\"true\"]\n",
        etcd.endpoints_toml()
    ));
    let early = observer.herald(&["wait", REMOTE, "--timeout", "300ms"]);
    assert_eq!(early.status.code(), Some(1), "{early:?}");
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("timed out"),
        "{early:?}"
    );
    let mut server = server(&etcd, "2s");
    server.up();
    server.wait("apiserver", "20s");
    agent.wait("kubelet", "20s");
    observer.wait(REMOTE, "10s");
    let epoch = SystemTime::UNIX_EPOCH;
    let ready = server
        .first("apiserver", "ready", epoch)
        .expect("apiserver ready");
    let remote = agent
        .first(REMOTE, "ready", epoch)
        .expect("the stand-in ready");
    let started = agent
        .first("kubelet", "starting", epoch)
        .expect("kubelet started");
    assert!(
        remote >= ready,
        "the stand-in was ready before the apiserver"
    );
    assert!(
        started >= remote,
        "kubelet started before the apiserver was ready"
    );
    let latency = millis(started, ready);
    println!(
        "apiserver ready -> kubelet starting: {latency:.1} ms (stand-in ready after {:.1} ms)",
        millis(remote, ready)
    );
    // A watch, not a poll: far below any polling period (K3s waits 5-10 s); a loose bound.
    assert!(
        latency < 2000.0,
        "kubelet started {latency:.1} ms after the apiserver"
    );
    // The status lists the remote dependency with its node and what it published.
    let text = |out: std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text(agent.herald(&["status"]));
    let row = status
        .lines()
        .find(|l| l.starts_with(REMOTE))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(status.contains("REMOTE DEPENDENCY"), "{status}");
    assert!(
        row.contains("server-1") && row.contains("ready on server-1 (pid "),
        "{status}"
    );
    // The graph and the analysis know it.
    let graph = text(agent.herald(&["graph"]));
    assert!(
        graph.contains("@server-1/apiserver  (remote, on server-1)"),
        "{graph}"
    );
    let dot = text(agent.herald(&["graph", "--format", "dot"]));
    assert!(dot.contains("subgraph \"cluster_server-1\""), "{dot}");
    let chain = text(agent.herald(&["analyze", "critical-chain", "kubelet"]));
    assert!(chain.contains(REMOTE), "{chain}");
    let trace = text(agent.herald(&["analyze", "trace"]));
    assert!(trace.contains(REMOTE), "{trace}");
    println!("{chain}");
}

#[test]
fn a_killed_server_stops_its_bound_dependent_which_starts_again_once_it_is_back() {
    let Some(()) = etcd_or_skip() else { return };
    let etcd = Etcd::start();
    let mut server = server(&etcd, "2s");
    server.up();
    server.wait("apiserver", "20s");
    let mut agent = agent(&etcd, "2s", "binds_to");
    agent.up();
    agent.wait("kubelet", "20s");

    let killed = SystemTime::now();
    server.kill();
    assert!(
        eventually(TTL * 4, || agent
            .first("kubelet", "stopping", killed)
            .is_some()),
        "kubelet was not stopped after its server died\n{}",
        agent.log()
    );
    let stopped = agent.first("kubelet", "stopping", killed).unwrap();
    let took = millis(stopped, killed);
    println!(
        "server SIGKILLed -> kubelet stopping: {took:.0} ms (ttl {} ms)",
        TTL.as_millis()
    );
    // Bound: ttl + an election timeout (500 ms here) + a second; generous for a loaded machine.
    assert!(
        took < (TTL.as_millis() as f64) + 1500.0 + 1000.0,
        "took {took:.0} ms"
    );
    assert_ne!(agent.state("kubelet"), "ready");

    // The server again: the old owner key goes with the old lease, then the new supervisor
    // publishes, and kubelet starts again.
    let back = SystemTime::now();
    server.up();
    server.wait("apiserver", "20s");
    agent.wait("kubelet", "20s");
    let ready = server.first("apiserver", "ready", back).unwrap();
    let restarted = agent
        .first("kubelet", "starting", back)
        .expect("kubelet started again");
    assert!(
        restarted >= ready,
        "kubelet started again before the new apiserver was ready"
    );

    // `down` deletes the keys as the components stop, then revokes the lease: once it has
    // returned nothing of the server is published (no waiting for the lease to expire).
    let observer = Node::new(&format!(
        "[cluster]\netcd = {}\nnode = \"observer\"\n[components.idle]\ncommand = [\"true\"]\n",
        etcd.endpoints_toml()
    ));
    observer.wait(REMOTE, "5s");
    let down = server.herald(&["down"]);
    assert_eq!(down.status.code(), Some(0), "{down:?}");
    let after = observer.herald(&["wait", REMOTE, "--timeout", "100ms"]);
    assert_eq!(
        after.status.code(),
        Some(1),
        "still published after down: {after:?}"
    );
}

#[test]
fn one_etcd_member_lost_changes_nothing_two_make_remote_dependencies_not_ready() {
    let Some(()) = etcd_or_skip() else { return };
    let mut etcd = Etcd::start();
    let mut server = server(&etcd, "3s");
    server.up();
    server.wait("apiserver", "20s");
    let mut agent = agent(&etcd, "3s", "binds_to");
    agent.up();
    agent.wait("kubelet", "20s");
    let ttl = Duration::from_secs(3);

    // One member down, the leader itself if one says it leads: nothing changes.
    let first = etcd.leader().unwrap_or(0);
    let lost_one = SystemTime::now();
    etcd.kill_member(first);
    std::thread::sleep(ttl * 2);
    assert_eq!(
        agent
            .events(REMOTE)
            .iter()
            .filter(|(t, _)| *t >= lost_one)
            .count(),
        0,
        "the stand-in changed with one member lost\n{}\n--- server\n{}",
        agent.log(),
        server.log()
    );
    assert_eq!(agent.state("kubelet"), "ready");
    assert_eq!(server.state("apiserver"), "ready");

    // Two down: no quorum. Remote dependencies are not ready; the local stacks keep running.
    let second = (first + 1) % 3;
    let lost_two = SystemTime::now();
    etcd.kill_member(second);
    assert!(
        eventually(ttl * 3, || agent
            .first("kubelet", "stopping", lost_two)
            .is_some()),
        "kubelet still runs without etcd's quorum\n{}",
        agent.log()
    );
    let seen = millis(
        agent.first(REMOTE, "restarting", lost_two).unwrap(),
        lost_two,
    );
    println!(
        "quorum lost -> remote dependency not ready: {seen:.0} ms (ttl {} ms)",
        ttl.as_millis()
    );
    std::thread::sleep(ttl);
    assert_ne!(agent.state(REMOTE), "ready", "falsely ready without quorum");
    assert_ne!(agent.state("kubelet"), "ready");
    assert_eq!(
        server.state("apiserver"),
        "ready",
        "the local stack keeps running"
    );

    // Back: everything recovers by itself.
    let back = SystemTime::now();
    let falsely_ready = agent
        .events(REMOTE)
        .iter()
        .any(|(t, s)| *t >= lost_two && s == "ready");
    assert!(
        !falsely_ready,
        "the remote dependency was ready without quorum"
    );
    etcd.start_member(first);
    etcd.start_member(second);
    etcd.wait_healthy(&[0, 1, 2]);
    assert!(
        eventually(Duration::from_secs(30), || agent.state("kubelet")
            == "ready"),
        "not recovered\n{}\n--- server\n{}",
        agent.log(),
        server.log()
    );
    assert!(
        agent.first("kubelet", "ready", back).is_some(),
        "{}",
        agent.log()
    );
    assert_eq!(server.state("apiserver"), "ready");
}

#[test]
fn a_second_supervisor_for_the_same_node_never_overwrites_the_first() {
    let Some(()) = etcd_or_skip() else { return };
    let etcd = Etcd::start();
    let mut first = server(&etcd, "2s");
    first.up();
    first.wait("apiserver", "20s");
    let first_pid = first.row("apiserver")["pid"].as_u64().unwrap();
    let mut second = server(&etcd, "2s");
    second.up();
    second.wait("apiserver", "20s");
    let second_pid = second.row("apiserver")["pid"].as_u64().unwrap();
    let mut agent = agent(&etcd, "2s", "requires");
    agent.up();
    agent.wait("kubelet", "20s");
    let published = |agent: &Node| {
        agent.row(REMOTE)["status_text"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // The second supervisor of server-1 tries again every ttl/3: it never takes over.
    std::thread::sleep(TTL * 2);
    let text = published(&agent);
    assert!(
        text.contains(&format!("(pid {first_pid})")),
        "{text}\n{}",
        second.log()
    );
    assert!(
        second.log().contains("another supervisor holds it"),
        "{}",
        second.log()
    );

    // The first one dies: once its lease is gone, the second one publishes.
    first.kill();
    assert!(
        eventually(TTL * 5, || agent.state(REMOTE) == "ready"
            && published(&agent).contains(&format!("(pid {second_pid})"))),
        "the second supervisor did not take over: {}\n{}",
        published(&agent),
        second.log()
    );
}
