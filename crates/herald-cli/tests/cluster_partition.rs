//! A network partition between an agent node and etcd: the agent's supervisor runs in a
//! network namespace of its own, joined to the host by a veth pair; etcd (3 members) serves
//! clients on 127.0.0.1 and on the host's end of the pair. Taking the link down cuts the
//! agent off. Needs root (CI runs as root) and `ip`; skipped with the reason otherwise.

mod cluster_common;
mod common;

use cluster_common::{Etcd, Node, etcd_or_skip};
use common::eventually;
use std::process::Command;
use std::time::{Duration, SystemTime};

const REMOTE: &str = "@server-1/apiserver";

/// A network namespace and the veth pair that joins it to the host; removed on drop.
struct Netns {
    name: String,
    host_end: String,
    host_ip: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// The namespace, or why it cannot be made here.
    fn new() -> Result<Netns, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("network namespaces need root".into());
        }
        let id = std::process::id() % 200 + 20;
        let netns = Netns {
            name: format!("herald-part-{}", std::process::id()),
            host_end: format!("hvh{id}"),
            host_ip: format!("10.213.{id}.1"),
        };
        let inner = format!("hvn{id}");
        let guest_ip = format!("10.213.{id}.2/24");
        ip(&["netns", "add", &netns.name])?;
        ip(&[
            "link",
            "add",
            &netns.host_end,
            "type",
            "veth",
            "peer",
            "name",
            &inner,
        ])?;
        ip(&["link", "set", &inner, "netns", &netns.name])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", netns.host_ip),
            "dev",
            &netns.host_end,
        ])?;
        ip(&["link", "set", &netns.host_end, "up"])?;
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &netns.name, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        exec(&["addr", "add", &guest_ip, "dev", &inner])?;
        exec(&["link", "set", &inner, "up"])?;
        exec(&["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    fn cut(&self) {
        ip(&["link", "set", &self.host_end, "down"]).expect("link down");
    }

    fn heal(&self) {
        ip(&["link", "set", &self.host_end, "up"]).expect("link up");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_end]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn cluster(endpoints: &str, node: &str) -> String {
    format!("[cluster]\netcd = {endpoints}\nnode = \"{node}\"\nttl = \"2s\"\n")
}

#[test]
fn a_partitioned_agent_never_sees_the_server_falsely_ready_and_recovers_when_healed() {
    let Some(()) = etcd_or_skip() else { return };
    let netns = match Netns::new() {
        Ok(netns) => netns,
        Err(why) => {
            eprintln!("skipped: cannot make a network namespace: {why}");
            return;
        }
    };
    let etcd = Etcd::start_also_on(Some(&netns.host_ip));
    let mut server = Node::new(&format!(
        "{}[components.apiserver]\ncommand = [\"sleep\", \"1000\"]\n",
        cluster(&etcd.endpoints_toml(), "server-1")
    ));
    server.up();
    server.wait("apiserver", "20s");
    let mut agent = Node::new(&format!(
        "{}[components.containerd]\ncommand = [\"sleep\", \"1000\"]\n\
         [components.kubelet]\ncommand = [\"sleep\", \"1000\"]\nbinds_to = [\"{REMOTE}\"]\n",
        cluster(&etcd.endpoints_toml_at(&netns.host_ip), "agent-1")
    ));
    agent.netns = Some(netns.name.clone());
    agent.up();
    agent.wait("kubelet", "20s");
    let observer = Node::new(&format!(
        "{}[components.idle]\ncommand = [\"true\"]\n",
        cluster(&etcd.endpoints_toml(), "observer")
    ));
    observer.wait("@agent-1/containerd", "10s");

    // Cut off: the agent's remote dependency is not ready, its bound dependent stops, its own
    // component keeps running; on etcd the agent's lease expires and its keys go.
    let cut = SystemTime::now();
    netns.cut();
    assert!(
        eventually(Duration::from_secs(10), || agent
            .first("kubelet", "stopping", cut)
            .is_some()),
        "kubelet still runs, cut off from etcd\n{}",
        agent.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        agent.state("containerd"),
        "ready",
        "the local stack keeps running"
    );
    assert_ne!(agent.state(REMOTE), "ready");
    let gone = observer.herald(&["wait", "@agent-1/containerd", "--timeout", "200ms"]);
    assert_eq!(
        gone.status.code(),
        Some(1),
        "the cut-off agent's key outlived its lease"
    );
    let healed = SystemTime::now();
    let falsely = agent
        .events(REMOTE)
        .iter()
        .any(|(t, s)| *t >= cut && s == "ready");
    assert!(!falsely, "the remote dependency was ready while cut off");

    // Healed: a new lease, the agent's keys again, kubelet again.
    netns.heal();
    agent.wait("kubelet", "30s");
    assert!(agent.first("kubelet", "ready", healed).is_some());
    observer.wait("@agent-1/containerd", "20s");
    println!(
        "cut -> kubelet stopping: {} ms",
        agent
            .first("kubelet", "stopping", cut)
            .unwrap()
            .duration_since(cut)
            .unwrap_or_default()
            .as_millis()
    );
}
