//! The stack file: `herald.toml`, or `herald.yaml`/`herald.yml` with the same schema.
//!
//! Loading goes: text → a spanned value tree ([`tree`], from [`toml`](self::toml) or
//! [`yaml`]) → `[defaults]` merged into each component on the tree ([`defaults`]) → each
//! field typed on its own, every problem collected with its place ([`document`],
//! [`component`], [`ready`]) → the graph validated by [`herald::Graph`], each of its problems
//! placed at the field it names ([`locate`]) → relative paths resolved ([`paths`]). Problems
//! print like rustc's ([`report`]).

mod checker;
mod component;
mod defaults;
mod diagnostics;
mod document;
mod locate;
mod paths;
mod ready;
mod report;
mod retention;
mod suggest;
mod toml;
mod tree;
mod yaml;

pub use diagnostics::{Diagnostic, Diagnostics, Position};
pub use tree::Span;

use diagnostics::Source;
use herald::{ComponentSpec, Graph};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A stack file, read and fully validated.
#[derive(Debug, Clone)]
pub struct StackFile {
    /// The file, absolute.
    pub path: PathBuf,
    /// `[stack].name`, or the name of the file's folder.
    pub name: String,
    /// Where the control socket, logs and event log live; absolute, default `<dir>/.herald`.
    pub state_dir: PathBuf,
    /// Every component, in file order, relative paths resolved.
    pub components: Vec<ComponentSpec>,
    source: Arc<Source>,
}

impl StackFile {
    /// An empty set of problems that can place problems found later (by the process layer,
    /// say) in this file: `diagnostics().push_problem(&problem)`.
    pub fn diagnostics(&self) -> Diagnostics {
        Diagnostics::new(self.source.clone(), Vec::new())
    }

    /// The folder relative paths are resolved against.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }
}

/// The largest stack file read: anything longer is refused before it is parsed.
pub const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Reads and validates the stack file at `path`, reporting every problem at once. At most
/// [`MAX_FILE`] bytes are read (`-f /dev/zero` is refused, not read until memory runs out).
pub fn load(path: &Path) -> Result<StackFile, Diagnostics> {
    let display = path.display().to_string();
    let unreadable = |e: std::io::Error| {
        Diagnostics::unreadable(display.clone(), format!("cannot read {display}: {e}"))
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE + 1), &mut bytes)
        .map_err(unreadable)?;
    from_bytes(path, bytes)
}

/// Validates `bytes` as the stack file at `path`: what [`load`] does once the file is read
/// (the size limit, UTF-8, then [`parse`]).
pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<StackFile, Diagnostics> {
    let display = path.display().to_string();
    if bytes.len() as u64 > MAX_FILE {
        let message = format!(
            "cannot read {display}: a stack file is at most {} MiB, this one is longer",
            MAX_FILE >> 20
        );
        return Err(Diagnostics::unreadable(display, message));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Diagnostics::unreadable(
            display.clone(),
            format!("cannot read {display}: not UTF-8 text (byte {at})"),
        )
    })?;
    parse(path, text)
}

/// Validates `text` as the stack file at `path` (which names the format by its extension and
/// the folder relative paths are resolved against), reporting every problem at once.
pub fn parse(path: &Path, text: String) -> Result<StackFile, Diagnostics> {
    let display = path.display().to_string();
    let absolute = std::path::absolute(path)
        .map(|p| paths::clean(&p))
        .map_err(|e| {
            Diagnostics::unreadable(display.clone(), format!("cannot locate {display}: {e}"))
        })?;
    let dir = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
    let parsed = if is_yaml(path) {
        yaml::parse(&text)
    } else {
        toml::parse(&text)
    };
    let root = match parsed {
        Ok(root) => root,
        Err(problems) => {
            let source = Source {
                display,
                text,
                sites: Default::default(),
            };
            return Err(Diagnostics::new(Arc::new(source), problems));
        }
    };
    let mut checker = checker::Checker::default();
    let doc = document::read(&root, &mut checker);
    let source = Arc::new(Source {
        display,
        text,
        sites: doc.sites,
    });
    let mut diagnostics = Diagnostics::new(source.clone(), checker.problems);
    if let Err(err) = Graph::new(&doc.components) {
        for problem in &err.problems {
            diagnostics.push_problem(problem);
        }
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut components = doc.components;
    for spec in &mut components {
        paths::resolve_spec(spec, &dir);
    }
    let name = doc.name.unwrap_or_else(|| {
        dir.file_name()
            .map_or_else(|| "herald".into(), |n| n.to_string_lossy().into_owned())
    });
    let state_dir = paths::resolve(
        &dir,
        Path::new(doc.state_dir.as_deref().unwrap_or(".herald")),
    );
    Ok(StackFile {
        path: absolute,
        name,
        state_dir,
        components,
        source,
    })
}

/// Whether `path` names a YAML file (`.yaml` or `.yml`); anything else is read as TOML.
pub fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}
