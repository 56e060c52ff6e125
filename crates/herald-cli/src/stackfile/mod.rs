//! The stack file: `herald.toml`, or `herald.yaml`/`herald.yml` with the same schema.
//!
//! Loading goes: text → a spanned value tree (`tree`, from `toml` or `yaml`) → YAML merge
//! keys resolved and `x-` extension fields dropped (`compose`) → `[defaults]`
//! merged into each component on the tree (`defaults`) → each field typed on its own, every
//! problem collected with its place (`document`, `component`, `ready`): the readiness checks
//! and the stop signal become the library's typed values here, once, with the checks' paths
//! taken from the file's folder → the graph validated by [`herald::Graph`], each of its
//! problems placed at the field it names (`locate`) → the remaining relative paths resolved
//! (`paths`). Problems print like rustc's (`report`). A file that loads is a stack that can
//! run: nothing is checked again at `up`.

mod account;
mod checker;
pub mod cluster;
mod component;
mod compose;
mod defaults;
mod diagnostics;
mod document;
mod envfile;
mod live;
mod locate;
mod paths;
mod profiles;
mod ready;
mod report;
mod resolved;
mod retention;
mod suggest;
mod toml;
mod tree;
mod variables;
mod words;
mod yaml;

pub use diagnostics::{Diagnostic, Diagnostics, Position};
pub use tree::{Node as TreeNode, Span, Value as TreeValue};

/// The spanned tree of a YAML text, or its first syntax problem.
pub fn yaml_tree(text: &str) -> Result<TreeNode, String> {
    yaml::parse(text).map_err(|problems| {
        problems
            .into_iter()
            .next()
            .map_or_else(|| "invalid YAML".to_string(), |p| p.message)
    })
}

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
    /// Every component of the active profiles, in file order, relative paths resolved.
    pub components: Vec<ComponentSpec>,
    /// The active profiles.
    pub profiles: Vec<String>,
    /// `[stack].listen`: the HTTP interface's TCP address (`--listen` wins).
    pub listen: Option<std::net::SocketAddr>,
    /// `[stack].token_file`, absolute: the HTTP bearer token's file (`HERALD_TOKEN` and
    /// `HERALD_TOKEN_FILE` win).
    pub token_file: Option<PathBuf>,
    /// `[cluster]`: where to publish this stack's components and find those of other nodes.
    /// The stand-ins for remote components (`@node/component`) are in `components`, after
    /// the stack's own.
    pub cluster: Option<cluster::ClusterConfig>,
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

/// How a stack file is read, beyond its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The active profiles: components with `profiles` are in the stack only when one of
    /// theirs is here.
    pub profiles: Vec<String>,
}

impl LoadOptions {
    /// The profiles of `HERALD_PROFILES` (`a,b`), none if it is unset.
    pub fn from_env() -> Self {
        let profiles = std::env::var("HERALD_PROFILES").unwrap_or_default();
        Self {
            profiles: profiles
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// Reads and validates the stack file at `path`, reporting every problem at once, with the
/// profiles of `HERALD_PROFILES`. At most [`MAX_FILE`] bytes are read (`-f /dev/zero` is
/// refused, not read until memory runs out).
pub fn load(path: &Path) -> Result<StackFile, Diagnostics> {
    load_with(path, &LoadOptions::from_env())
}

/// Reads and validates the stack file at `path` as `options` say, reporting every problem at
/// once.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<StackFile, Diagnostics> {
    let display = path.display().to_string();
    let unreadable = |e: std::io::Error| {
        Diagnostics::unreadable(display.clone(), format!("cannot read {display}: {e}"))
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE + 1), &mut bytes)
        .map_err(unreadable)?;
    from_bytes_with(path, bytes, options)
}

/// Validates `bytes` as the stack file at `path`: what [`load`] does once the file is read
/// (the size limit, UTF-8, then [`parse`]), with the profiles of `HERALD_PROFILES`.
pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<StackFile, Diagnostics> {
    from_bytes_with(path, bytes, &LoadOptions::from_env())
}

/// [`from_bytes`] as `options` say.
pub fn from_bytes_with(
    path: &Path,
    bytes: Vec<u8>,
    options: &LoadOptions,
) -> Result<StackFile, Diagnostics> {
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
    parse_with(path, text, options)
}

/// Validates `text` as the stack file at `path` (which names the format by its extension and
/// the folder relative paths are resolved against), reporting every problem at once, with the
/// profiles of `HERALD_PROFILES`.
pub fn parse(path: &Path, text: String) -> Result<StackFile, Diagnostics> {
    parse_with(path, text, &LoadOptions::from_env())
}

/// As [`parse`], as `options` say.
pub fn parse_with(
    path: &Path,
    text: String,
    options: &LoadOptions,
) -> Result<StackFile, Diagnostics> {
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
    let mut root = match parsed {
        Ok(root) => root,
        Err(problems) => {
            let source = Source {
                display,
                text,
                ..Source::default()
            };
            return Err(Diagnostics::new(Arc::new(source), problems));
        }
    };
    let mut checker = checker::Checker {
        base_dir: dir.clone(),
        display_dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        environment: environment(),
        ..checker::Checker::default()
    };
    if is_yaml(path) {
        compose::merge_keys(&mut root, &mut checker.problems);
    }
    compose::drop_extensions(&mut root);
    let vars = variables_for(&dir, &mut checker);
    variables::substitute(&mut root, &vars, &text, &mut checker.problems);
    let mut doc = document::read(&root, &mut checker);
    profiles::select(
        &mut doc.components,
        &doc.sites,
        &options.profiles,
        &mut checker.problems,
    );
    cluster::add_remotes(
        &mut doc.components,
        &doc.sites,
        doc.cluster.as_ref(),
        &mut checker.problems,
    );
    let source = Arc::new(Source {
        display,
        text,
        sites: doc.sites,
        others: std::mem::take(&mut checker.files),
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
        profiles: options.profiles.clone(),
        listen: doc.listen,
        token_file: doc.token_file.map(|f| paths::resolve(&dir, Path::new(&f))),
        cluster: doc.cluster,
        source,
    })
}

/// The variables of `${VAR}`: herald's environment over the `.env` file beside the stack file
/// (if there is one; its problems are placed in it).
fn variables_for(dir: &Path, checker: &mut checker::Checker) -> variables::Variables {
    let mut vars = variables::Variables::new();
    if dir.join(".env").is_file() {
        match checker.read_file(Path::new(".env")) {
            Ok((file, text)) => {
                let (found, problems) = envfile::parse(text, file);
                checker.problems.extend(problems);
                for variable in found {
                    let value = variable
                        .value
                        .or_else(|| checker.environment.get(&variable.key).cloned());
                    if let Some(value) = value {
                        vars.insert(variable.key, value);
                    }
                }
            }
            Err(message) => checker.problems.push(Diagnostic {
                message,
                span: None,
            }),
        }
    }
    vars.extend(checker.environment.clone());
    vars
}

/// Herald's own environment, the variables that are valid UTF-8.
fn environment() -> std::collections::BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Whether `path` names a YAML file (`.yaml` or `.yml`); anything else is read as TOML.
pub fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}
