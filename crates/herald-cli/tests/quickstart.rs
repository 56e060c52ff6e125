//! The quickstart stack reads the same from TOML and YAML.

use herald::Kind;
use herald_cli::stackfile::load;
use std::path::Path;

#[test]
fn toml_and_yaml_load_to_the_same_specs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let toml = load(&dir.join("herald.toml")).unwrap_or_else(|e| panic!("{e}"));
    let yaml = load(&dir.join("herald.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(toml.components, yaml.components);
    assert_eq!(toml.name, "quickstart");
    assert_eq!(toml.name, yaml.name);
    assert_eq!(toml.state_dir, yaml.state_dir);
    assert!(toml.path.is_absolute() && toml.path.ends_with("examples/quickstart/herald.toml"));
    assert!(toml.state_dir.ends_with("examples/quickstart/.herald"));
    let certs = &toml.components[1];
    assert_eq!(certs.kind, Kind::Oneshot);
    assert_eq!(certs.cwd.as_deref(), Some(toml.dir()));
    let etcd = &toml.components[2];
    assert!(etcd.ready.notify());
    assert_eq!(etcd.ready.timeout, std::time::Duration::from_secs(10));
    assert_eq!(
        etcd.stop_timeout,
        std::time::Duration::from_secs(5),
        "from [defaults]"
    );
    let kubelet = &toml.components[4];
    let ready_file = kubelet
        .ready
        .checks()
        .iter()
        .find_map(|check| match check {
            herald::Check::File(probe) => Some(probe.path()),
            _ => None,
        })
        .expect("a file check");
    assert_eq!(ready_file, toml.dir().join(".herald/kubelet.ready"));
    let apiserver = &toml.components[3];
    assert_eq!(
        apiserver.ready.timeout,
        std::time::Duration::from_secs(20),
        "from [defaults]"
    );
    assert_eq!(apiserver.env["APISERVER_DELAY"], "1");
}

#[test]
fn problems_found_later_are_placed_at_the_field_they_name() {
    use herald::ConfigProblem;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/herald.toml");
    let text = std::fs::read_to_string(&path).expect("the file");
    let stack = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut diagnostics = stack.diagnostics();
    assert!(diagnostics.is_empty());
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let invalid = |component: &str, field: &str| ConfigProblem::Invalid {
        component: component.into(),
        field: field.into(),
        reason: "not usable".into(),
    };
    let at = |d: &herald_cli::stackfile::Diagnostics, p: &ConfigProblem| d.position(d.locate(p));

    // A field written in the component: its value.
    let http = at(&diagnostics, &invalid("apiserver", "ready.http"));
    assert_eq!(http.line, line_of("ready = { http ="));
    assert_eq!(
        http.column,
        text.lines()
            .nth(http.line - 1)
            .unwrap()
            .find("\"http:")
            .unwrap()
            + 1
    );
    // A field inherited from [defaults]: where the default is written.
    let stop = at(&diagnostics, &invalid("etcd", "stop_timeout"));
    assert_eq!(stop.line, line_of("stop_timeout = \"5s\""));
    // A field not written at all: the component's table header.
    let signal = at(&diagnostics, &invalid("etcd", "stop_signal"));
    assert_eq!(
        (signal.line, signal.column),
        (line_of("[components.etcd]"), 13)
    );

    diagnostics.push_problem(&invalid("etcd", "stop_signal"));
    let rendered = diagnostics.to_string();
    assert!(
        rendered.starts_with("error: `stop_signal` in component `etcd`: not usable\n"),
        "{rendered}"
    );
    let count = format!("error: 1 problem in {}", path.display());
    assert!(rendered.ends_with(&count), "{rendered}");
}
