//! A component's `ready` table into a [`ReadySpec`]: each check made, and so checked, from
//! the value written, every problem placed at that value.
//!
//! The checks are the library's own types ([`herald::Check`]); making one is the only
//! validation a check gets, so `herald check` and `herald up` cannot disagree about it. Paths
//! are taken from the stack file's folder: `file`, `unix`, a relative `unix:` gRPC address, and
//! the program of `exec` when it holds a `/`; `exec` also runs there.

use super::checker::Checker;
use super::component::backoff;
use super::paths;
use super::tree::Node;
use herald::probe::{
    ExecProbe, FileProbe, GrpcProbe, HttpProbe, InvalidProbe, TcpProbe, UnixProbe,
};
use herald::{Check, CheckKind, LogPattern, ReadySpec};
use std::path::Path;

/// Every key of `ready`.
pub const FIELDS: [&str; 13] = [
    "notify",
    "tcp",
    "http",
    "status",
    "insecure_tls",
    "exec",
    "file",
    "unix",
    "log",
    "grpc",
    "service",
    "timeout",
    "interval",
];

/// Sets `spec` from the `ready` table `node`; keys not given keep their defaults.
pub fn read(spec: &mut ReadySpec, node: &Node, place: &str, c: &mut Checker) {
    let Some(entries) = c.table(node, "ready", place, &FIELDS) else {
        return;
    };
    for entry in entries {
        let field = format!("ready.{}", entry.key);
        let (field, value) = (field.as_str(), &entry.value);
        let made = match entry.key.as_str() {
            "notify" => match c.boolean(value, field, place) {
                Some(true) => Some(Ok(Check::Notify)),
                Some(false) => {
                    spec.remove(&CheckKind::Notify);
                    None
                }
                None => None,
            },
            "timeout" => {
                spec.timeout = c.duration(value, field, place).unwrap_or(spec.timeout);
                None
            }
            "interval" => {
                backoff(&mut spec.interval, value, field, place, c);
                None
            }
            key => check(
                Section {
                    name: "ready",
                    node,
                    place,
                },
                key,
                value,
                c,
            ),
        };
        if let Some(check) = placed(made, value, field, place, c) {
            spec.add(check);
        }
    }
    options(
        Section {
            name: "ready",
            node,
            place,
        },
        c,
    );
}

/// The table a check is written in: `ready` or `live`, of a component.
#[derive(Clone, Copy)]
pub struct Section<'a> {
    /// `ready` or `live`.
    pub name: &'static str,
    /// The table.
    pub node: &'a Node,
    /// The component, as messages name it.
    pub place: &'a str,
}

/// The check a key of `section` makes from `value` (`None` for a key that is no check, or an
/// option read with its check); paths are taken from the stack file's folder.
pub fn check(
    section: Section<'_>,
    key: &str,
    value: &Node,
    c: &mut Checker,
) -> Option<Result<Check, InvalidProbe>> {
    let (place, dir) = (section.place, c.base_dir.clone());
    let field = format!("{}.{key}", section.name);
    let field = field.as_str();
    let option = |key: &str| section.node.entry(key).map(|e| &e.value);
    match key {
        "tcp" => c
            .non_empty(value, field, place)
            .map(|addr| TcpProbe::new(addr).map(Check::Tcp)),
        "http" => c
            .non_empty(value, field, place)
            .and_then(|url| http(section, &url, option("status"), option("insecure_tls"), c)),
        "exec" => exec(value, field, place, &dir, c),
        "file" => c
            .non_empty(value, field, place)
            .map(|path| FileProbe::new(paths::resolve(&dir, Path::new(&path))).map(Check::File)),
        "unix" => c
            .non_empty(value, field, place)
            .map(|path| UnixProbe::new(paths::resolve(&dir, Path::new(&path))).map(Check::Unix)),
        "log" => c
            .non_empty(value, field, place)
            .map(|pattern| LogPattern::new(&pattern).map(Check::Log)),
        "grpc" => c.non_empty(value, field, place).and_then(|addr| {
            let service = match option("service") {
                Some(node) => c.string(node, &format!("{}.service", section.name), place)?,
                None => String::new(),
            };
            Some(GrpcProbe::with_base_dir(&addr, &dir).map(|p| Check::Grpc(p.service(service))))
        }),
        // Options of `http` and `grpc`, read with their check; the section's own keys.
        _ => None,
    }
}

/// The check made, or its problem placed at `value`.
pub fn placed(
    made: Option<Result<Check, InvalidProbe>>,
    value: &Node,
    field: &str,
    place: &str,
    c: &mut Checker,
) -> Option<Check> {
    match made? {
        Ok(check) => Some(check),
        Err(e) => {
            c.error(value, format!("`{field}` in {place}: {}", e.reason));
            None
        }
    }
}

/// An option given without its check is placed at the option.
pub fn options(section: Section<'_>, c: &mut Checker) {
    let name = section.name;
    for (option, check) in [
        ("status", "http"),
        ("insecure_tls", "http"),
        ("service", "grpc"),
    ] {
        if let Some(entry) = section.node.entry(option)
            && section.node.entry(check).is_none()
        {
            let message = format!(
                "`{name}.{option}` in {} applies to `{name}.{check}`, which is not given",
                section.place
            );
            c.error(&entry.value, message);
        }
    }
}

/// The `http` check with its `status` and `insecure_tls` options; a bad option is placed at
/// the option and leaves no check.
fn http(
    section: Section<'_>,
    url: &str,
    status: Option<&Node>,
    insecure: Option<&Node>,
    c: &mut Checker,
) -> Option<Result<Check, InvalidProbe>> {
    let (name, place) = (section.name, section.place);
    let status = match status {
        Some(node) => Some((
            c.integer::<u16>(node, &format!("{name}.status"), place, (100, 599))?,
            node,
        )),
        None => None,
    };
    let insecure = match insecure {
        Some(node) => c.boolean(node, &format!("{name}.insecure_tls"), place)?,
        None => false,
    };
    let probe = match HttpProbe::new(url) {
        Ok(probe) => probe.insecure_tls(insecure),
        Err(e) => return Some(Err(e)),
    };
    match status {
        None => Some(Ok(Check::Http(probe))),
        Some((code, node)) => match probe.status(code) {
            Ok(probe) => Some(Ok(Check::Http(probe))),
            Err(e) => {
                c.error(node, format!("`{name}.status` in {place}: {}", e.reason));
                None
            }
        },
    }
}

/// The `exec` check, run in `dir`, its program taken from there when written as a path.
fn exec(
    value: &Node,
    field: &str,
    place: &str,
    dir: &Path,
    c: &mut Checker,
) -> Option<Result<Check, InvalidProbe>> {
    let mut argv = c.strings(value, field, place)?;
    if argv.is_empty() {
        c.error(
            value,
            format!("`{field}` in {place} is empty: give a command"),
        );
        return None;
    }
    paths::resolve_program(&mut argv[0], dir);
    let made = ExecProbe::new(argv);
    if dir.as_os_str().is_empty() {
        return Some(made.map(Check::Exec));
    }
    Some(made.map(|probe| Check::Exec(probe.cwd(dir))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfile::toml::parse;
    use std::time::Duration;

    fn ready_in(dir: &str, text: &str) -> (ReadySpec, Vec<String>) {
        let root = parse(&format!("ready = {text}\n")).unwrap();
        let mut spec = ReadySpec::default();
        let mut c = Checker {
            base_dir: dir.into(),
            ..Checker::default()
        };
        read(
            &mut spec,
            &root.entry("ready").unwrap().value,
            "component `a`",
            &mut c,
        );
        (spec, c.problems.into_iter().map(|d| d.message).collect())
    }

    fn ready(text: &str) -> (ReadySpec, Vec<String>) {
        ready_in("", text)
    }

    fn targets(spec: &ReadySpec) -> Vec<String> {
        spec.probes().iter().map(|p| p.target()).collect()
    }

    #[test]
    fn reads_checks_and_keeps_defaults_for_the_rest() {
        let (spec, problems) =
            ready("{ http = \"http://x/readyz\", status = 200, interval = { max = \"50ms\" } }");
        assert!(problems.is_empty(), "{problems:?}");
        let [Check::Http(http)] = spec.checks() else {
            panic!("{spec:?}");
        };
        assert_eq!(http.url(), "http://x/readyz");
        assert_eq!(http.required_status(), Some(200));
        assert!(!http.skips_tls_checks());
        assert_eq!(spec.interval.initial, Duration::from_millis(5));
        assert_eq!(spec.interval.max, Duration::from_millis(50));
        assert_eq!(spec.timeout, Duration::from_secs(60));
    }

    #[test]
    fn paths_are_taken_from_the_stack_file_folder() {
        let (spec, problems) = ready_in(
            "/srv/stack",
            "{ notify = true, log = \"^up$\", file = \"./out/done\", unix = \"/run/x.sock\", \
             exec = [\"bin/probe\", \"./x\"], grpc = \"unix:g.sock\", service = \"s\" }",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert!(spec.notify());
        assert_eq!(spec.log().map(LogPattern::as_str), Some("^up$"));
        assert_eq!(
            targets(&spec),
            [
                "/srv/stack/bin/probe ./x",
                "/srv/stack/out/done",
                "/run/x.sock",
                "unix:g.sock s",
            ]
        );
        let exec = spec.checks().iter().find_map(|c| match c {
            Check::Exec(probe) => Some(probe),
            _ => None,
        });
        assert_eq!(
            exec.and_then(|p| p.working_dir()),
            Some(Path::new("/srv/stack"))
        );
        let grpc = GrpcProbe::with_base_dir("unix:g.sock", Path::new("/srv/stack")).unwrap();
        assert!(spec.checks().contains(&Check::Grpc(grpc.service("s"))));
    }

    #[test]
    fn notify_false_leaves_no_check() {
        let (spec, problems) = ready("{ notify = false }");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!spec.has_checks());
    }

    #[test]
    fn reports_each_bad_key() {
        let (_, problems) =
            ready("{ notify = \"yes\", timeout = \"soon\", exec = [], htp = \"x\" }");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].contains("did you mean `ready.http`"),
            "{problems:?}"
        );
    }

    #[test]
    fn each_bad_check_is_reported_with_its_reason() {
        let (spec, problems) = ready(
            "{ tcp = \"2379\", http = \"ftp://x/\", log = \"(\", grpc = \"x\", exec = [\"\"] }",
        );
        assert!(!spec.has_checks(), "{spec:?}");
        let starts: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            starts,
            [
                "`ready.tcp` in component `a`",
                "`ready.http` in component `a`",
                "`ready.log` in component `a`",
                "`ready.grpc` in component `a`",
                "`ready.exec` in component `a`",
            ]
        );
        assert!(problems[0].ends_with("\"2379\" is not host:port: no port"));
        assert!(problems[2].contains("bad regular expression"));
    }

    #[test]
    fn check_options_need_their_check() {
        let (_, problems) = ready("{ tcp = \"127.0.0.1:1\", status = 200, service = \"x\" }");
        assert_eq!(
            problems,
            [
                "`ready.status` in component `a` applies to `ready.http`, which is not given",
                "`ready.service` in component `a` applies to `ready.grpc`, which is not given",
            ]
        );
    }
}
