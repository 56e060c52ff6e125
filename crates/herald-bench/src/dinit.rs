//! dinit's setup: a service description per component and an internal `boot` service that
//! depends on every one, in a services folder under the run folder, run as a user instance.
//!
//! Each component is a `process` service running the fixture with `--via fd:3` (s6's
//! format: one line on the descriptor) and `ready-notification = pipefd:3`, so dinit starts a
//! dependent once the line has arrived. `requires` becomes `depends-on`, `wants` becomes
//! `waits-for`. dinit is not packaged by Debian: the suite uses the `dinit` named by
//! `HERALD_BENCH_DINIT` or found on `PATH`, and leaves it out otherwise.

use crate::peers::{self, Layout, Programs, Tool};
use crate::scenario::Scenario;
use std::io;
use std::path::{Path, PathBuf};

/// The variable that names the `dinit` binary to use.
pub const ENV: &str = "HERALD_BENCH_DINIT";

/// The internal service that depends on every component: the one dinit is asked to start.
pub const BOOT: &str = "boot";

/// The `dinit` to use: the file `HERALD_BENCH_DINIT` names, else `dinit` on `PATH`; `Ok(None)`
/// when neither is there. A `HERALD_BENCH_DINIT` that names no file is an error, not a
/// silent fallback.
pub fn find() -> Result<Option<PathBuf>, String> {
    if let Some(named) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(named);
        return if path.is_file() {
            Ok(Some(path))
        } else {
            Err(format!("{ENV}={} is not a file", path.display()))
        };
    }
    Ok(std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("dinit"))
            .find(|p| p.is_file())
    }))
}

/// Quotes one word of a dinit command line. Words of plain characters stay as they are;
/// anything else goes in double quotes, with `"` and `\` escaped by a backslash (which dinit
/// honours inside quotes too) and `$` doubled (dinit substitutes variables after splitting
/// the line, and `$$` is its literal dollar). A newline cannot be written in a service file
/// (an escaped one reads as a space): that is an error naming the word.
pub fn quote(word: &str) -> io::Result<String> {
    if word.contains('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a dinit command line cannot hold a newline: {word:?}"),
        ));
    }
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:=,+@".contains(&b))
    {
        return Ok(word.to_string());
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// The services folder (`-d`).
pub fn services_dir(layout: &Layout) -> PathBuf {
    layout.dir.join("dinit.d")
}

/// The control socket (`-p`).
pub fn socket(layout: &Layout) -> PathBuf {
    layout.dir.join("dinit.sock")
}

/// The service description of node `i`.
pub fn service(
    programs: &Programs,
    layout: &Layout,
    scenario: &Scenario,
    i: usize,
) -> io::Result<String> {
    let node = &scenario.nodes[i];
    if node.name == BOOT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("component {BOOT:?} would clash with dinit's boot service"),
        ));
    }
    let argv = peers::fixture_argv(
        programs,
        layout,
        node,
        &peers::via(Tool::Dinit, scenario, layout, i),
    );
    let command = argv
        .iter()
        .map(|w| quote(w))
        .collect::<io::Result<Vec<_>>>()?
        .join(" ");
    let mut out = format!(
        "type = process\ncommand = {command}\nready-notification = pipefd:3\n\
         restart = false\nstop-timeout = 2\n"
    );
    for &d in &node.requires {
        out.push_str(&format!("depends-on: {}\n", scenario.nodes[d].name));
    }
    for &d in &node.wants {
        out.push_str(&format!("waits-for: {}\n", scenario.nodes[d].name));
    }
    Ok(out)
}

/// The `boot` service: internal, depending on every component.
pub fn boot(scenario: &Scenario) -> String {
    let mut out = String::from("type = internal\n");
    for node in &scenario.nodes {
        out.push_str(&format!("depends-on: {}\n", node.name));
    }
    out
}

/// Writes the services folder and returns dinit's command line: a user instance reading only
/// that folder, its control socket in the run folder, quiet, asked to start `boot`.
pub fn prepare(
    dinit: &Path,
    programs: &Programs,
    layout: &Layout,
    scenario: &Scenario,
) -> io::Result<Vec<String>> {
    let socket = socket(layout);
    // The length a unix socket address can hold (`sun_path`, with its terminating zero).
    if socket.as_os_str().len() > 107 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "dinit's control socket {} is too long a path for a unix socket; use a shorter --work",
                socket.display()
            ),
        ));
    }
    let dir = services_dir(layout);
    std::fs::create_dir_all(&dir)?;
    for (i, node) in scenario.nodes.iter().enumerate() {
        std::fs::write(
            dir.join(&node.name),
            service(programs, layout, scenario, i)?,
        )?;
    }
    std::fs::write(dir.join(BOOT), boot(scenario))?;
    let path = |p: &Path| p.display().to_string();
    Ok(vec![
        path(dinit),
        "-u".into(),
        "-q".into(),
        "-d".into(),
        path(&dir),
        "-p".into(),
        path(&socket),
        BOOT.into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn setup() -> (Programs, Layout) {
        crate::peers::example(Some("/opt/dinit"))
    }

    #[test]
    fn words_are_quoted_as_dinit_reads_them() {
        assert_eq!(quote("/a/b-c_d.e").unwrap(), "/a/b-c_d.e");
        assert_eq!(quote("a b").unwrap(), "\"a b\"");
        assert_eq!(quote("it's").unwrap(), "\"it's\"");
        assert_eq!(quote(r#"q"x\y"#).unwrap(), r#""q\"x\\y""#);
        assert_eq!(quote("$HOME").unwrap(), "\"$$HOME\"");
        assert_eq!(quote("#x").unwrap(), "\"#x\"");
        assert_eq!(quote("").unwrap(), "\"\"");
        let err = quote("a\nb").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("\"a\\nb\""), "{err}");
    }

    #[test]
    fn services_run_the_fixture_ready_on_fd_3_after_their_dependencies() {
        let (p, l) = setup();
        let s = Scenario::chain(2, Duration::ZERO);
        assert_eq!(
            service(&p, &l, &s, 1).unwrap(),
            "type = process\n\
             command = /bin/fx --ready-after 0us --via fd:3 --record /t/run/rec/c1.ready \
             --record-spawn /t/run/rec/c1.spawn\n\
             ready-notification = pipefd:3\nrestart = false\nstop-timeout = 2\n\
             depends-on: c0\n"
        );
        assert!(!service(&p, &l, &s, 0).unwrap().contains("depends-on"));
    }

    #[test]
    fn wants_become_waits_for() {
        let (p, l) = setup();
        let s = Scenario::k3s();
        let kubelet = s.nodes.iter().position(|n| n.name == "kubelet").unwrap();
        let text = service(&p, &l, &s, kubelet).unwrap();
        assert!(
            text.ends_with("depends-on: containerd\nwaits-for: apiserver\n"),
            "{text}"
        );
    }

    #[test]
    fn boot_depends_on_every_component() {
        let s = Scenario::fan(2, Duration::ZERO);
        assert_eq!(
            boot(&s),
            "type = internal\ndepends-on: hub\ndepends-on: f0\ndepends-on: f1\n"
        );
    }

    #[test]
    fn a_component_named_boot_is_refused() {
        let (p, l) = setup();
        let mut s = Scenario::chain(1, Duration::ZERO);
        s.nodes[0].name = BOOT.into();
        let err = service(&p, &l, &s, 0).unwrap_err();
        assert!(err.to_string().contains("\"boot\""), "{err}");
    }

    #[test]
    fn dinit_runs_as_a_user_instance_on_the_run_folder() {
        let (p, _) = setup();
        let dir = tempfile::tempdir().unwrap();
        let l = Layout {
            dir: dir.path().into(),
            port_base: 20000,
        };
        let s = Scenario::chain(2, Duration::ZERO);
        let argv = prepare(Path::new("/opt/dinit"), &p, &l, &s).unwrap();
        let d = services_dir(&l).display().to_string();
        let sock = socket(&l).display().to_string();
        assert_eq!(
            argv,
            ["/opt/dinit", "-u", "-q", "-d", &d, "-p", &sock, "boot"]
        );
        for name in ["c0", "c1", "boot"] {
            assert!(services_dir(&l).join(name).is_file(), "{name}");
        }
        let long = Layout {
            dir: Path::new("/tmp").join("x".repeat(100)),
            port_base: 20000,
        };
        let err = prepare(Path::new("/opt/dinit"), &p, &long, &s).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
        assert!(!long.dir.exists());
    }
}
