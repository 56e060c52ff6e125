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

/// Resolves `cwd` (default: `dir`) and a program written as a path (`./gen.sh`, `bin/etcd`)
/// in `command` against `dir`. The readiness checks' paths are resolved as they are read
/// (`ready.rs`).
pub fn resolve_spec(spec: &mut ComponentSpec, dir: &Path) {
    spec.cwd = Some(match &spec.cwd {
        Some(cwd) => resolve(dir, cwd),
        None => dir.to_path_buf(),
    });
    if let Some(program) = spec.command.first_mut() {
        resolve_program(program, dir);
    }
}

/// A program written as a relative path (`./gen.sh`, `bin/etcd`) made absolute against `dir`;
/// a bare program name (`etcd`) is left for `PATH`.
pub fn resolve_program(program: &mut String, dir: &Path) {
    if program.contains('/') && !Path::new(program.as_str()).is_absolute() {
        *program = resolve(dir, Path::new(program.as_str()))
            .to_string_lossy()
            .into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_file_folder() {
        let dir = Path::new("/srv/stack");
        let mut spec = ComponentSpec::new("a").command(["./gen.sh", "./arg"]);
        resolve_spec(&mut spec, dir);
        assert_eq!(spec.cwd.as_deref(), Some(dir));
        assert_eq!(spec.command, ["/srv/stack/gen.sh", "./arg"]);

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
