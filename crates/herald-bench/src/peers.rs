//! The tools compared and the setup each gets for a scenario: scripts, scan folders, config
//! files and stack files, all under one run folder.
//!
//! Every tool starts the same fixture with the same ready-after delays; only how readiness is
//! signalled and waited for differs, as each tool would do it:
//!
//! | tool | the fixture signals | a dependent waits by |
//! |---|---|---|
//! | bash | a marker file | a loop of `[ -e FILE ]` and `read -t 0.01` (no fork per turn) |
//! | dinit | a line on fd 3 (`ready-notification = pipefd:3`) | dinit (`depends-on`, `waits-for` for wants) |
//! | s6 | `notification-fd` 3 | `until s6-svok DEP; do sleep 0.01; done; s6-svwait -U -t 30000 DEP` |
//! | runit | a marker file, seen by a `check` script | `sv -w 30 check DEP` in its run script |
//! | supervisord | a marker file | priorities plus the bash wait loop in its command |
//! | k3s-style | listening on its TCP port | connecting to each dependency's port every 100 ms |
//! | herald (library, `up`, `up -d`) | `READY=1` (`notify = true`), or its TCP port where herald probes | herald |

use crate::scenario::{Check, Node, Scenario};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tool under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    /// herald through its library, in a small runner process (`herald-bench stack`).
    Herald,
    /// The `herald up` command, in the foreground.
    HeraldUp,
    /// `herald up --detach`: returns once every component is ready, leaving a background
    /// supervisor, which is the one measured and stopped.
    HeraldUpDetach,
    /// dinit as a user instance with a service per component (see [`crate::dinit`]).
    Dinit,
    /// A plain bash script.
    Bash,
    /// s6-svscan with a service per component.
    S6,
    /// runsvdir with a service per component.
    Runit,
    /// supervisord with a program per component.
    Supervisord,
    /// Each dependent polls its dependencies' ports itself, every 100 ms.
    K3sStyle,
    /// No supervisor and no dependencies: every fixture spawned at once by the runner (the
    /// cost of spawning alone).
    SpawnOnly,
}

impl Tool {
    /// Every tool, in report order.
    pub const ALL: [Tool; 10] = [
        Tool::Herald,
        Tool::HeraldUp,
        Tool::HeraldUpDetach,
        Tool::Dinit,
        Tool::Bash,
        Tool::S6,
        Tool::Runit,
        Tool::Supervisord,
        Tool::K3sStyle,
        Tool::SpawnOnly,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Herald => "herald (library)",
            Tool::HeraldUp => "herald up",
            Tool::HeraldUpDetach => "herald up -d",
            Tool::Dinit => "dinit",
            Tool::Bash => "bash",
            Tool::S6 => "s6",
            Tool::Runit => "runit",
            Tool::Supervisord => "supervisord",
            Tool::K3sStyle => "k3s-style",
            Tool::SpawnOnly => "spawn only",
        }
    }

    /// Its short name on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Tool::Herald => "herald",
            Tool::HeraldUp => "herald-up",
            Tool::HeraldUpDetach => "herald-up-detach",
            Tool::Dinit => "dinit",
            Tool::Bash => "bash",
            Tool::S6 => "s6",
            Tool::Runit => "runit",
            Tool::Supervisord => "supervisord",
            Tool::K3sStyle => "k3s-style",
            Tool::SpawnOnly => "spawn-only",
        }
    }

    /// The tool named `key`.
    pub fn from_key(key: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.key() == key)
    }

    /// The signal that stops the tool and everything it started.
    pub fn stop_signal(self) -> i32 {
        match self {
            Tool::Runit => libc::SIGHUP,
            _ => libc::SIGTERM,
        }
    }

    /// Whether herald runs it (its detection is known from its events).
    pub fn is_herald(self) -> bool {
        matches!(self, Tool::Herald | Tool::HeraldUp | Tool::HeraldUpDetach)
    }
}

/// The programs a setup refers to.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `herald-fixture`.
    pub fixture: PathBuf,
    /// `herald-bench` (the library runner).
    pub bench: PathBuf,
    /// `herald`.
    pub herald: PathBuf,
    /// `dinit`, where there is one (see [`crate::dinit::find`]).
    pub dinit: Option<PathBuf>,
}

/// Where one run keeps its files, and the ports its fixtures listen on.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The run folder.
    pub dir: PathBuf,
    /// The first port; node `i` listens on `port_base + i` where it listens.
    pub port_base: u16,
}

impl Layout {
    /// The fixtures' records: `<name>.ready`, `<name>.spawn`, `<name>.probes`.
    pub fn records(&self) -> PathBuf {
        self.dir.join("rec")
    }

    /// Marker files of the tools that wait for a file.
    pub fn marks(&self) -> PathBuf {
        self.dir.join("marks")
    }

    /// The port of node `i`.
    pub fn port(&self, i: usize) -> u16 {
        self.port_base + i as u16
    }

    fn mark(&self, node: &Node) -> PathBuf {
        self.marks().join(&node.name)
    }
}

/// How the runner starts a tool for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Spawn this command in a session of its own; it is the supervisor.
    Command(Vec<String>),
    /// Spawn each of these fixture commands directly (no supervisor).
    Direct(Vec<Vec<String>>),
}

/// Quotes a word for sh and bash.
pub fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:=,+@".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn sh_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn duration_arg(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

/// The fixture's command line for node `i` becoming ready by `via`.
pub fn fixture_argv(programs: &Programs, layout: &Layout, node: &Node, via: &str) -> Vec<String> {
    let rec = layout.records();
    let path = |ext: &str| {
        rec.join(format!("{}.{ext}", node.name))
            .display()
            .to_string()
    };
    let mut argv = vec![
        programs.fixture.display().to_string(),
        "--ready-after".into(),
        duration_arg(node.delay),
        "--via".into(),
        via.to_string(),
        "--record".into(),
        path("ready"),
        "--record-spawn".into(),
        path("spawn"),
    ];
    if via.starts_with("tcp:") || via.starts_with("http:") {
        argv.extend(["--count-probes".into(), path("probes")]);
    }
    argv
}

/// How the fixture of node `i` signals readiness under `tool`.
pub fn via(tool: Tool, scenario: &Scenario, layout: &Layout, i: usize) -> String {
    let node = &scenario.nodes[i];
    match tool {
        Tool::Herald | Tool::HeraldUp | Tool::HeraldUpDetach => match scenario.check {
            Check::Notify => "notify".into(),
            Check::Tcp => format!("tcp:{}", layout.port(i)),
        },
        Tool::S6 | Tool::Dinit => "fd:3".into(),
        Tool::K3sStyle => format!("tcp:{}", layout.port(i)),
        Tool::Bash | Tool::Runit | Tool::Supervisord | Tool::SpawnOnly => {
            format!("file:{}", layout.mark(node).display())
        }
    }
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

fn toml_list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| toml_string(&s)).collect();
    format!("[{}]", items.join(", "))
}

/// herald's stack file: `notify = true` where the fixture notifies, a TCP check where the
/// scenario is about probes.
pub fn herald_stack(programs: &Programs, layout: &Layout, scenario: &Scenario) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "[stack]\nname = \"bench\"\nstate_dir = {}\n",
        toml_string(&layout.dir.join("state").display().to_string())
    ));
    for (i, node) in scenario.nodes.iter().enumerate() {
        let argv = fixture_argv(
            programs,
            layout,
            node,
            &via(Tool::Herald, scenario, layout, i),
        );
        let ready = match scenario.check {
            Check::Notify => "notify = true".to_string(),
            Check::Tcp => format!("tcp = \"127.0.0.1:{}\"", layout.port(i)),
        };
        let names = |deps: &[usize]| {
            deps.iter()
                .map(|&d| scenario.nodes[d].name.clone())
                .collect::<Vec<_>>()
        };
        out.push_str(&format!(
            "\n[components.{}]\ncommand = {}\nready = {{ {ready}, timeout = \"60s\" }}\n\
             restart = \"no\"\nstop_timeout = \"2s\"\n",
            toml_string(&node.name),
            toml_list(argv),
        ));
        if !node.requires.is_empty() {
            out.push_str(&format!(
                "requires = {}\n",
                toml_list(names(&node.requires))
            ));
        }
        if !node.wants.is_empty() {
            out.push_str(&format!("wants = {}\n", toml_list(names(&node.wants))));
        }
    }
    out
}

/// The plain bash script: each component in the background, after a wait loop per
/// dependency; then it waits for them all.
pub fn bash_script(programs: &Programs, layout: &Layout, scenario: &Scenario) -> String {
    let mut out = String::from(
        "#!/bin/bash\n# Start each component once its dependencies' marker files exist.\n\
         exec 9<> <(:)\nw() { until [ -e \"$1\" ]; do read -t 0.01 -u 9; done; }\n",
    );
    for (i, node) in scenario.nodes.iter().enumerate() {
        let argv = fixture_argv(
            programs,
            layout,
            node,
            &via(Tool::Bash, scenario, layout, i),
        );
        let waits: Vec<String> = node
            .deps()
            .map(|d| {
                format!(
                    "w {}; ",
                    sh_quote(&layout.mark(&scenario.nodes[d]).display().to_string())
                )
            })
            .collect();
        if waits.is_empty() {
            out.push_str(&format!("{} &\n", sh_line(&argv)));
        } else {
            out.push_str(&format!(
                "( {}exec {} ) &\n",
                waits.concat(),
                sh_line(&argv)
            ));
        }
    }
    out.push_str("wait\n");
    out
}

/// The scan folder of s6.
pub fn s6_dir(layout: &Layout) -> PathBuf {
    layout.dir.join("s6")
}

/// The run script of one s6 service: the wait of `benchmarks.md` per dependency, then the
/// fixture with notification-fd 3.
pub fn s6_run(programs: &Programs, layout: &Layout, scenario: &Scenario, i: usize) -> String {
    let node = &scenario.nodes[i];
    let mut out = String::from("#!/bin/sh\n");
    for dep in node.deps() {
        let dir = sh_quote(
            &s6_dir(layout)
                .join(&scenario.nodes[dep].name)
                .display()
                .to_string(),
        );
        out.push_str(&format!(
            "until s6-svok {dir}; do sleep 0.01; done\ns6-svwait -U -t 30000 {dir} || exit 1\n"
        ));
    }
    let argv = fixture_argv(programs, layout, node, &via(Tool::S6, scenario, layout, i));
    out.push_str(&format!("exec {}\n", sh_line(&argv)));
    out
}

/// The scan folder of runit.
pub fn runit_dir(layout: &Layout) -> PathBuf {
    layout.dir.join("sv")
}

/// The run script of one runit service: `sv -w 30 check` per dependency, then the fixture.
pub fn runit_run(programs: &Programs, layout: &Layout, scenario: &Scenario, i: usize) -> String {
    let node = &scenario.nodes[i];
    let mut out = String::from("#!/bin/sh\n");
    for dep in node.deps() {
        let dir = runit_dir(layout).join(&scenario.nodes[dep].name);
        out.push_str(&format!(
            "sv -w 30 check {} >/dev/null || exit 1\n",
            sh_quote(&dir.display().to_string())
        ));
    }
    let argv = fixture_argv(
        programs,
        layout,
        node,
        &via(Tool::Runit, scenario, layout, i),
    );
    out.push_str(&format!("exec {}\n", sh_line(&argv)));
    out
}

/// The check script of one runit service: its marker file exists.
pub fn runit_check(layout: &Layout, node: &Node) -> String {
    format!(
        "#!/bin/sh\ntest -e {}\n",
        sh_quote(&layout.mark(node).display().to_string())
    )
}

/// The wait loop for supervisord's commands: `waitfor FILE... -- COMMAND...`.
pub const WAITFOR: &str = "#!/bin/bash\n# waitfor FILE... -- COMMAND...: once every FILE exists, run COMMAND.\n\
exec 9<> <(:)\nwhile [ $# -gt 0 ] && [ \"$1\" != -- ]; do\n  until [ -e \"$1\" ]; do read -t 0.01 -u 9; done\n  shift\ndone\nshift\nexec \"$@\"\n";

/// The wait loop of the K3s style: `k3swait INTERVAL PORT... -- COMMAND...` connects to each
/// port on 127.0.0.1 every INTERVAL seconds until it answers, then runs COMMAND.
pub const K3SWAIT: &str = "#!/bin/bash\n# k3swait INTERVAL PORT... -- COMMAND...: poll each port, then run COMMAND.\n\
exec 9<> <(:)\niv=$1; shift\nwhile [ $# -gt 0 ] && [ \"$1\" != -- ]; do\n  until true 2>/dev/null 3<>\"/dev/tcp/127.0.0.1/$1\"; do read -t \"$iv\" -u 9; done\n  shift\ndone\nshift\nexec \"$@\"\n";

/// supervisord's configuration: a unix socket and logs under the run folder, one program
/// per component, started in order of its layer in the graph, each behind the wait loop.
pub fn supervisord_conf(programs: &Programs, layout: &Layout, scenario: &Scenario) -> String {
    let dir = layout.dir.display().to_string();
    let mut out = format!(
        "[unix_http_server]\nfile={dir}/supervisor.sock\n\n\
         [supervisord]\nnodaemon=true\nuser=root\nlogfile={dir}/supervisord.log\n\
         pidfile={dir}/supervisord.pid\nchildlogdir={dir}\nloglevel=warn\nminfds=8192\n\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [supervisorctl]\nserverurl=unix://{dir}/supervisor.sock\n"
    );
    let layers = scenario.layers();
    for (i, node) in scenario.nodes.iter().enumerate() {
        let mut argv = vec![layout.dir.join("waitfor").display().to_string()];
        argv.extend(
            node.deps()
                .map(|d| layout.mark(&scenario.nodes[d]).display().to_string()),
        );
        argv.push("--".into());
        argv.extend(fixture_argv(
            programs,
            layout,
            node,
            &via(Tool::Supervisord, scenario, layout, i),
        ));
        out.push_str(&format!(
            "\n[program:{}]\ncommand={}\npriority={}\nstartsecs=0\nautorestart=false\n\
             stopasgroup=true\nkillasgroup=true\nstopwaitsecs=2\n\
             stdout_logfile=NONE\nstderr_logfile=NONE\n",
            node.name,
            sh_line(&argv),
            100 + layers[i],
        ));
    }
    out
}

/// The K3s style: everything started at once; each dependent polls its dependencies' ports
/// itself every 100 ms before it runs.
pub fn k3s_script(programs: &Programs, layout: &Layout, scenario: &Scenario) -> String {
    let wait = layout.dir.join("k3swait").display().to_string();
    let mut out = String::from("#!/bin/bash\n# Every dependent polls its dependencies itself.\n");
    for (i, node) in scenario.nodes.iter().enumerate() {
        let argv = fixture_argv(
            programs,
            layout,
            node,
            &via(Tool::K3sStyle, scenario, layout, i),
        );
        let ports: Vec<String> = node.deps().map(|d| layout.port(d).to_string()).collect();
        if ports.is_empty() {
            out.push_str(&format!("{} &\n", sh_line(&argv)));
        } else {
            out.push_str(&format!(
                "{} 0.1 {} -- {} &\n",
                sh_quote(&wait),
                ports.join(" "),
                sh_line(&argv)
            ));
        }
    }
    out.push_str("wait\n");
    out
}

fn write_exec(path: &Path, text: &str) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// Writes the setup of `tool` for `scenario` under `layout.dir` and says how to start it.
pub fn prepare(
    tool: Tool,
    programs: &Programs,
    layout: &Layout,
    scenario: &Scenario,
) -> io::Result<Launch> {
    std::fs::create_dir_all(layout.records())?;
    std::fs::create_dir_all(layout.marks())?;
    let dir = &layout.dir;
    let path = |p: &Path| p.display().to_string();
    Ok(match tool {
        Tool::Herald | Tool::HeraldUp | Tool::HeraldUpDetach => {
            let file = dir.join("herald.toml");
            std::fs::write(&file, herald_stack(programs, layout, scenario))?;
            if tool == Tool::Herald {
                Launch::Command(vec![
                    path(&programs.bench),
                    "stack".into(),
                    path(&file),
                    "--events".into(),
                    path(&dir.join("events.mono")),
                ])
            } else {
                let mut argv = vec![
                    path(&programs.herald),
                    "-f".into(),
                    path(&file),
                    "up".into(),
                ];
                if tool == Tool::HeraldUpDetach {
                    argv.push("--detach".into());
                }
                Launch::Command(argv)
            }
        }
        Tool::Bash => {
            let file = dir.join("start.sh");
            write_exec(&file, &bash_script(programs, layout, scenario))?;
            Launch::Command(vec![path(&file)])
        }
        Tool::S6 => {
            let scan = s6_dir(layout);
            for (i, node) in scenario.nodes.iter().enumerate() {
                let svc = scan.join(&node.name);
                std::fs::create_dir_all(&svc)?;
                write_exec(&svc.join("run"), &s6_run(programs, layout, scenario, i))?;
                std::fs::write(svc.join("notification-fd"), "3\n")?;
            }
            let max = (scenario.nodes.len() * 2 + 16).to_string();
            Launch::Command(vec!["s6-svscan".into(), "-c".into(), max, path(&scan)])
        }
        Tool::Dinit => {
            let dinit = programs.dinit.as_deref().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no dinit: name it in {} or put it on PATH",
                        crate::dinit::ENV
                    ),
                )
            })?;
            Launch::Command(crate::dinit::prepare(dinit, programs, layout, scenario)?)
        }
        Tool::Runit => {
            let scan = runit_dir(layout);
            for (i, node) in scenario.nodes.iter().enumerate() {
                let svc = scan.join(&node.name);
                std::fs::create_dir_all(&svc)?;
                write_exec(&svc.join("run"), &runit_run(programs, layout, scenario, i))?;
                write_exec(&svc.join("check"), &runit_check(layout, node))?;
            }
            Launch::Command(vec!["runsvdir".into(), "-P".into(), path(&scan)])
        }
        Tool::Supervisord => {
            write_exec(&dir.join("waitfor"), WAITFOR)?;
            let conf = dir.join("supervisord.conf");
            std::fs::write(&conf, supervisord_conf(programs, layout, scenario))?;
            Launch::Command(vec![
                "supervisord".into(),
                "-n".into(),
                "-c".into(),
                path(&conf),
            ])
        }
        Tool::K3sStyle => {
            write_exec(&dir.join("k3swait"), K3SWAIT)?;
            let file = dir.join("k3s.sh");
            write_exec(&file, &k3s_script(programs, layout, scenario))?;
            Launch::Command(vec![path(&file)])
        }
        Tool::SpawnOnly => Launch::Direct(
            scenario
                .nodes
                .iter()
                .enumerate()
                .map(|(i, node)| {
                    fixture_argv(programs, layout, node, &via(tool, scenario, layout, i))
                })
                .collect(),
        ),
    })
}

/// Programs and a layout with made-up paths, for the tests of the tools' plans.
#[cfg(test)]
pub(crate) fn example(dinit: Option<&str>) -> (Programs, Layout) {
    (
        Programs {
            fixture: "/bin/fx".into(),
            bench: "/bin/hb".into(),
            herald: "/bin/herald".into(),
            dinit: dinit.map(Into::into),
        },
        Layout {
            dir: "/t/run".into(),
            port_base: 20000,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Programs, Layout) {
        example(None)
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(sh_quote("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn fixtures_record_both_moments_and_count_probes_when_probed() {
        let (p, l) = setup();
        let node = &Scenario::chain(2, Duration::from_millis(200)).nodes[1];
        let argv = fixture_argv(&p, &l, node, "notify");
        assert_eq!(
            argv.join(" "),
            "/bin/fx --ready-after 200000us --via notify --record /t/run/rec/c1.ready \
             --record-spawn /t/run/rec/c1.spawn"
        );
        let argv = fixture_argv(&p, &l, node, "tcp:20001");
        assert_eq!(argv.last().unwrap(), "/t/run/rec/c1.probes");
    }

    #[test]
    fn herald_gets_notify_or_tcp_checks_and_the_edges() {
        let (p, l) = setup();
        let text = herald_stack(&p, &l, &Scenario::k3s());
        assert!(text.contains("[components.\"kubelet\"]"), "{text}");
        assert!(text.contains("requires = [\"containerd\"]\nwants = [\"apiserver\"]"));
        assert_eq!(text.matches("notify = true").count(), 11);
        let file = Path::new("/t/run/herald.toml");
        let parsed = herald_cli::stackfile::parse(file, text).expect("a valid stack file");
        assert_eq!(parsed.components.len(), 11);
        assert_eq!(parsed.state_dir, Path::new("/t/run/state"));

        let text = herald_stack(&p, &l, &Scenario::fan(3, Duration::ZERO));
        assert!(text.contains("tcp = \"127.0.0.1:20000\""));
        assert!(text.contains("tcp = \"127.0.0.1:20003\""));
        assert!(text.contains("--via\", \"tcp:20003\""));
        herald_cli::stackfile::parse(file, text).expect("a valid stack file");
    }

    #[test]
    fn bash_waits_per_dependency() {
        let (p, l) = setup();
        let text = bash_script(&p, &l, &Scenario::chain(3, Duration::ZERO));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[4].starts_with("/bin/fx ") && lines[4].ends_with(" &"));
        assert!(
            lines[5].starts_with("( w /t/run/marks/c0; exec /bin/fx "),
            "{}",
            lines[5]
        );
        assert!(lines[5].contains("--via file:/t/run/marks/c1"));
        assert_eq!(*lines.last().unwrap(), "wait");
    }

    #[test]
    fn s6_services_wait_as_specified() {
        let (p, l) = setup();
        let s = Scenario::chain(2, Duration::ZERO);
        let run = s6_run(&p, &l, &s, 1);
        assert_eq!(
            run.lines().take(3).collect::<Vec<_>>(),
            [
                "#!/bin/sh",
                "until s6-svok /t/run/s6/c0; do sleep 0.01; done",
                "s6-svwait -U -t 30000 /t/run/s6/c0 || exit 1"
            ]
        );
        assert!(run.contains("exec /bin/fx ") && run.contains("--via fd:3"));
        assert_eq!(s6_run(&p, &l, &s, 0).lines().count(), 2);
    }

    #[test]
    fn runit_services_check_their_dependencies() {
        let (p, l) = setup();
        let s = Scenario::chain(2, Duration::ZERO);
        let run = runit_run(&p, &l, &s, 1);
        assert!(run.contains("sv -w 30 check /t/run/sv/c0 >/dev/null || exit 1\n"));
        assert_eq!(
            runit_check(&l, &s.nodes[0]),
            "#!/bin/sh\ntest -e /t/run/marks/c0\n"
        );
    }

    #[test]
    fn supervisord_orders_by_layer_and_waits_in_the_command() {
        let (p, l) = setup();
        let text = supervisord_conf(&p, &l, &Scenario::chain(3, Duration::ZERO));
        assert!(text.contains("file=/t/run/supervisor.sock"));
        assert!(text.contains("[program:c2]\ncommand=/t/run/waitfor /t/run/marks/c1 -- /bin/fx"));
        assert!(text.contains("priority=100\n") && text.contains("priority=102\n"));
    }

    #[test]
    fn the_k3s_style_polls_ports_at_a_fixed_interval() {
        let (p, l) = setup();
        let text = k3s_script(&p, &l, &Scenario::fan(2, Duration::ZERO));
        assert!(text.contains("/t/run/k3swait 0.1 20000 -- /bin/fx "));
        assert!(text.contains("--via tcp:20002"));
    }

    #[test]
    fn herald_up_runs_in_the_foreground_or_detached() {
        let (p, _) = setup();
        let dir = tempfile::tempdir().unwrap();
        let l = Layout {
            dir: dir.path().into(),
            port_base: 20000,
        };
        let s = Scenario::chain(1, Duration::ZERO);
        let file = dir.path().join("herald.toml").display().to_string();
        let up = ["/bin/herald", "-f", &file, "up"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            prepare(Tool::HeraldUp, &p, &l, &s).unwrap(),
            Launch::Command(up.clone())
        );
        let mut detached = up;
        detached.push("--detach".into());
        assert_eq!(
            prepare(Tool::HeraldUpDetach, &p, &l, &s).unwrap(),
            Launch::Command(detached)
        );
        let err = prepare(Tool::Dinit, &p, &l, &s).unwrap_err();
        assert!(err.to_string().contains("HERALD_BENCH_DINIT"), "{err}");
    }

    #[test]
    fn tools_round_trip_their_keys() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_key(tool.key()), Some(tool));
        }
        assert_eq!(Tool::Runit.stop_signal(), libc::SIGHUP);
    }
}
