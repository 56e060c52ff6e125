//! The command line, as the contract writes it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  herald check                      validate ./herald.toml
  herald up -d && herald wait kubelet --timeout 2m
  herald graph --format dot | dot -Tsvg > graph.svg
  herald -f examples/quickstart/herald.yaml status

Exit status: 0 success; 1 a component failed, or a wait failed or timed out;
2 the stack file or the command line is wrong.";

/// Start interdependent components as fast as their dependency graph allows.
#[derive(Debug, Parser)]
#[command(name = "herald", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// The stack file [default: ./herald.toml, else ./herald.yaml or ./herald.yml]
    #[arg(
        short = 'f',
        long = "file",
        value_name = "PATH",
        env = "HERALD_FILE",
        hide_env_values = true,
        global = true
    )]
    pub file: Option<PathBuf>,

    /// Print data as JSON
    #[arg(long, global = true)]
    pub json: bool,

    /// Also take the components of profile NAME (repeatable)
    #[arg(
        long = "profile",
        value_name = "NAME",
        env = "HERALD_PROFILES",
        hide_env_values = true,
        value_delimiter = ',',
        global = true
    )]
    pub profiles: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Commands that run or act on a running stack.
    #[command(flatten)]
    Stack(StackCommand),

    /// Validate the stack file and list every problem with its place
    #[command(after_help = "\
Reports, all at once and each with file:line:column: syntax errors, unknown fields,
wrong types, bad durations, unknown or self dependencies, duplicate components,
dependency cycles with their full path (a -> b -> c -> a), and missing commands.

Example:
  herald check -f examples/quickstart/herald.toml

Exit status: 0 the file is valid; 2 it is not.")]
    Check,

    /// Show the dependency graph, edge kinds distinguished
    #[command(after_help = "\
Edges point from a component to what it depends on (`a -> b`: a needs b).
text: one line per component, its dependencies grouped by kind.
dot, mermaid: requires solid, wants dashed, after dotted, binds_to bold; each labelled.
json: {\"components\": [...], \"edges\": [{\"from\", \"to\", \"kind\"}], \"layers\": [...]}.

Examples:
  herald graph
  herald graph --format dot | dot -Tsvg > graph.svg
  herald graph --format mermaid >> README.md")]
    Graph(GraphArgs),

    /// Print the stack as it is read: defaults merged, variables substituted, profiles applied
    #[command(after_help = "\
Prints a TOML stack file that `herald check` accepts unchanged (every `$` written `$$`,
relative paths made absolute), or with --json the same as data.

Examples:
  herald config
  herald config --profile debug > resolved.toml
  herald config --json | jq '.components.etcd.env'")]
    Config,

    /// Write a Procfile or a process-compose.yaml as a herald stack file
    #[command(after_help = "\
A FILE named *.yaml or *.yml is read as process-compose's, anything else as a Procfile.
The stack file goes to standard output; what cannot be expressed is listed on standard
error, each with its line.

Examples:
  herald import Procfile > herald.toml
  herald import process-compose.yaml --format yaml > herald.yaml")]
    Import(ImportArgs),

    /// Print a shell completion script
    #[command(after_help = "\
Examples:
  herald completions bash > ~/.local/share/bash-completion/completions/herald
  herald completions zsh > ~/.zfunc/_herald
  herald completions fish > ~/.config/fish/completions/herald.fish")]
    Completions(CompletionsArgs),
}

/// The commands that run a stack or act on a running one.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum StackCommand {
    /// Start the stack, or NAME and all it requires, and show live progress
    #[command(after_help = "\
Components start as soon as their dependencies allow. Ctrl-C or SIGTERM stops the
stack in reverse dependency order. A stack already running is reported (exit 1).

Examples:
  herald up
  herald up kubelet
  herald up --detach && herald status
  HERALD_TOKEN=... herald up -d --listen 127.0.0.1:7070

Exit status: 0 stopped cleanly, or (--detach) all started components are ready;
1 a component failed or was blocked.")]
    Up(UpArgs),

    /// Stop the running stack, dependents first
    #[command(after_help = "\
Returns once every component has stopped.

Example:
  herald down")]
    Down,

    /// One row per component: state, pid, uptime, time to ready, restarts, last error
    #[command(after_help = "\
RESTARTS counts the restarts the restart policy made after an exit or a failed
start; a `herald restart` is not counted (as docker's RestartCount and
systemd's NRestarts).

Examples:
  herald status
  herald status --json | jq '.[] | select(.state != \"ready\")'")]
    Status,

    /// Wait until every NAME is ready (or completed)
    #[command(after_help = "\
Examples:
  herald wait apiserver
  herald wait etcd apiserver --timeout 90s

Exit status: 0 all are ready or completed; 1 one failed, was blocked, or the
timeout passed (the error chain is printed on stderr).")]
    Wait(WaitArgs),

    /// Print captured output, each line prefixed with its component
    #[command(after_help = "\
Examples:
  herald logs
  herald logs etcd apiserver --follow")]
    Logs(LogsArgs),

    /// Start one component of the running stack
    #[command(after_help = "Example:\n  herald start kubelet")]
    Start(NameArg),

    /// Stop one component of the running stack
    #[command(after_help = "Example:\n  herald stop kubelet")]
    Stop(NameArg),

    /// Restart one component of the running stack
    #[command(after_help = "Example:\n  herald restart etcd")]
    Restart(NameArg),

    /// Where the start time went: time, blame, critical-chain, plot, trace
    #[command(after_help = "\
Reads <state_dir>/events.jsonl: the run going on, or the last one (--run N for an
earlier one). Every time is measured from the start of the run.

Examples:
  herald analyze time
  herald analyze blame --sort waiting
  herald analyze critical-chain kubelet
  herald analyze plot -o start.svg
  herald analyze trace -o start.json      # open in https://ui.perfetto.dev

Exit status: 0 done; 1 no run recorded; 2 an unknown component or run.")]
    Analyze(AnalyzeArgs),
}

impl StackCommand {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            StackCommand::Up(_) => "up",
            StackCommand::Down => "down",
            StackCommand::Status => "status",
            StackCommand::Wait(_) => "wait",
            StackCommand::Logs(_) => "logs",
            StackCommand::Start(_) => "start",
            StackCommand::Stop(_) => "stop",
            StackCommand::Restart(_) => "restart",
            StackCommand::Analyze(_) => "analyze",
        }
    }
}

/// `herald up`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UpArgs {
    /// Components to start, with all they require [default: all]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Return once every started component is ready or completed (exit 0), or one failed or
    /// was blocked (exit 1), leaving the stack running in the background
    #[arg(short = 'd', long)]
    pub detach: bool,

    /// Also serve the HTTP interface (health, metrics, API, dashboard) on this TCP address,
    /// such as 127.0.0.1:7070; it needs a bearer token in HERALD_TOKEN (or a file named by
    /// HERALD_TOKEN_FILE)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// Refuse every start, stop and restart over HTTP
    #[arg(long)]
    pub read_only: bool,

    /// Internal: run as the background supervisor of `up --detach`, writing one byte to this
    /// file descriptor once the control socket listens
    #[arg(long, value_name = "FD", hide = true, conflicts_with = "detach")]
    pub supervise_fd: Option<i32>,
}

/// `herald wait`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct WaitArgs {
    /// Components to wait for
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,

    /// Give up after this long, such as "30s" or "2m" [default: no limit]
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub timeout: Option<Duration>,
}

/// `herald logs`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct LogsArgs {
    /// Components whose output to print [default: all]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Keep printing new lines as they come
    #[arg(long)]
    pub follow: bool,
}

/// A single component name.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct NameArg {
    /// The component
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `herald import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The Procfile or process-compose.yaml to read
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The stack file's format
    #[arg(long, value_enum, default_value_t = ImportFormat::Toml)]
    pub format: ImportFormat,
}

/// What `herald import` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// herald.toml
    Toml,
    /// herald.yaml
    Yaml,
}

/// `herald analyze`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AnalyzeArgs {
    /// What to show.
    #[command(subcommand)]
    pub what: AnalyzeCommand,

    /// Analyse run N of the event log [default: the last]
    #[arg(long, value_name = "N", global = true)]
    pub run: Option<u64>,
}

/// The forms of `herald analyze`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AnalyzeCommand {
    /// `Startup finished in 4.812s (critical path 4.790s, 9 components, 1 restart)`
    Time,
    /// One row per component, slowest first: total, waiting, retrying, own start, retries
    Blame {
        /// Order by
        #[arg(long, value_enum, default_value_t = BlameSort::Total)]
        sort: BlameSort,
    },
    /// The chain that bounded the start of NAME (default: the last to be ready)
    CriticalChain {
        /// The component
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
    /// A timeline: one row per component, one bar per attempt (`--json`: its data)
    Plot {
        /// Output format
        #[arg(long, value_enum, default_value_t = PlotFormat::Svg)]
        format: PlotFormat,
        /// Write to FILE instead of standard output
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// A Chrome/Perfetto JSON trace: one track per component
    Trace {
        /// Write to FILE instead of standard output
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// How `herald analyze blame` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlameSort {
    /// Total time to ready
    Total,
    /// Time waiting for dependencies
    Waiting,
    /// Own start (spawn to ready)
    Start,
    /// Retries
    Retries,
    /// Name
    Name,
}

/// What `herald analyze plot` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlotFormat {
    /// A standalone SVG
    Svg,
    /// An HTML page with the SVG and hover details
    Html,
}

/// `herald graph`.
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// Output format (`--json` means `--format json`)
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// How `herald graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// One line per component
    Text,
    /// Graphviz
    Dot,
    /// Mermaid flowchart
    Mermaid,
    /// Components, edges and layers
    Json,
}

/// `herald completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Cli {
    /// The subcommand's name, as typed.
    pub fn command_name(&self) -> &'static str {
        match &self.command {
            Command::Stack(cmd) => cmd.name(),
            Command::Check => "check",
            Command::Graph(_) => "graph",
            Command::Config => "config",
            Command::Import(_) => "import",
            Command::Completions(_) => "completions",
        }
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    herald::parse_duration(text)
}

/// The stack file to read: `explicit` (from `--file` or `HERALD_FILE`), else `herald.toml`,
/// `herald.yaml` or `herald.yml` in `dir`, the first that exists.
pub fn stack_file_path(explicit: Option<PathBuf>, dir: &Path) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    ["herald.toml", "herald.yaml", "herald.yml"]
        .into_iter()
        .map(PathBuf::from)
        .find(|name| dir.join(name).exists())
        .ok_or_else(|| {
            "no herald.toml, herald.yaml or herald.yml in the current folder: \
             name the stack file with --file PATH or HERALD_FILE"
                .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_contract_commands() {
        let cli = Cli::try_parse_from([
            "herald",
            "-f",
            "x.yaml",
            "wait",
            "a",
            "b",
            "--timeout",
            "2m",
        ])
        .unwrap();
        assert_eq!(cli.file.as_deref(), Some(Path::new("x.yaml")));
        let Command::Stack(StackCommand::Wait(wait)) = cli.command else {
            panic!("not wait: {:?}", cli.command);
        };
        assert_eq!(wait.names, ["a", "b"]);
        assert_eq!(wait.timeout, Some(Duration::from_secs(120)));
        assert!(Cli::try_parse_from(["herald", "wait"]).is_err());
        assert!(Cli::try_parse_from(["herald", "wait", "a", "--timeout", "10"]).is_err());
        let cli = Cli::try_parse_from([
            "herald", "analyze", "blame", "--sort", "waiting", "--run", "2",
        ])
        .unwrap();
        let Command::Stack(StackCommand::Analyze(analyze)) = cli.command else {
            panic!("not analyze: {:?}", cli.command);
        };
        assert_eq!(analyze.run, Some(2));
        assert_eq!(
            analyze.what,
            AnalyzeCommand::Blame {
                sort: BlameSort::Waiting
            }
        );
        assert!(Cli::try_parse_from(["herald", "analyze", "plot", "--format", "png"]).is_err());
        let cli = Cli::try_parse_from(["herald", "up", "-d", "kubelet", "--json"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.command_name(), "up",);
    }
}
