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
    assert!(etcd.ready.notify);
    assert_eq!(etcd.ready.timeout, std::time::Duration::from_secs(10));
    assert_eq!(
        etcd.stop_timeout,
        std::time::Duration::from_secs(5),
        "from [defaults]"
    );
    let kubelet = &toml.components[4];
    let ready_file = kubelet.ready.file.as_deref().expect("a file check");
    assert_eq!(ready_file, toml.dir().join(".herald/kubelet.ready"));
    let apiserver = &toml.components[3];
    assert_eq!(
        apiserver.ready.timeout,
        std::time::Duration::from_secs(20),
        "from [defaults]"
    );
    assert_eq!(apiserver.env["APISERVER_DELAY"], "1");
}
