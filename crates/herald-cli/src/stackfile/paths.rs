//! Relative paths in the stack file are relative to the file's folder.

use herald::ComponentSpec;
use std::path::{Component, Path, PathBuf};

/// `path` made absolute against `dir`, without `.` components.
pub fn resolve(dir: &Path, path: &Path) -> PathBuf {
    clean(&dir.join(path))
}

/// `path` without `.` components (`..` is kept: it may cross a symlink).
pub fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Resolves `cwd` (default: `dir`), `ready.file`, `ready.unix`, and a program written as a
/// path (`./gen.sh`, `bin/etcd`) in `command` or `ready.exec` against `dir`. A bare program
/// name (`etcd`) is left for `PATH`.
pub fn resolve_spec(spec: &mut ComponentSpec, dir: &Path) {
    spec.cwd = Some(match &spec.cwd {
        Some(cwd) => resolve(dir, cwd),
        None => dir.to_path_buf(),
    });
    for path in [&mut spec.ready.file, &mut spec.ready.unix]
        .into_iter()
        .flatten()
    {
        *path = resolve(dir, path);
    }
    let exec = spec.ready.exec.as_mut().and_then(|argv| argv.first_mut());
    for program in [spec.command.first_mut(), exec].into_iter().flatten() {
        if program.contains('/') && !Path::new(program.as_str()).is_absolute() {
            *program = resolve(dir, Path::new(program.as_str()))
                .to_string_lossy()
                .into_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_file_folder() {
        let dir = Path::new("/srv/stack");
        let mut spec = ComponentSpec::new("a").command(["./gen.sh", "./arg"]);
        spec.ready.file = Some("./out/done".into());
        spec.ready.unix = Some("/run/x.sock".into());
        spec.ready.exec = Some(vec!["bin/probe".into(), "./x".into()]);
        resolve_spec(&mut spec, dir);
        assert_eq!(spec.cwd.as_deref(), Some(dir));
        assert_eq!(spec.command, ["/srv/stack/gen.sh", "./arg"]);
        assert_eq!(
            spec.ready.file.as_deref(),
            Some(Path::new("/srv/stack/out/done"))
        );
        assert_eq!(spec.ready.unix.as_deref(), Some(Path::new("/run/x.sock")));
        assert_eq!(spec.ready.exec.unwrap(), ["/srv/stack/bin/probe", "./x"]);

        let mut spec = ComponentSpec::new("b").command(["etcd"]);
        spec.cwd = Some("data/../work".into());
        resolve_spec(&mut spec, dir);
        assert_eq!(spec.command, ["etcd"]);
        assert_eq!(
            spec.cwd.as_deref(),
            Some(Path::new("/srv/stack/data/../work"))
        );
    }
}
