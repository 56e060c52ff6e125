//! `herald`: start a stack of interdependent components as fast as their graph allows.

use clap::{CommandFactory, Parser};
use herald::Graph;
use herald_cli::cli::{Cli, Command, GraphFormat};
use herald_cli::stackfile::{self, StackFile};
use herald_cli::{graph_view, runtime};
use std::io::IsTerminal;
use std::process::ExitCode;

/// The stack file or the command line is wrong.
const USAGE: u8 = 2;
/// A runtime failure.
const FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { USAGE } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Completions(args) = &cli.command {
        let mut command = Cli::command();
        clap_complete::generate(args.shell, &mut command, "herald", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Import(args) = &cli.command {
        return Ok(import(args));
    }
    let stack = match load(&cli) {
        Ok(stack) => stack,
        Err(code) => return Ok(code),
    };
    match cli.command {
        Command::Stack(command) => {
            let request = runtime::StackRequest {
                command,
                json: cli.json,
            };
            runtime::run_stack_command(request, stack)
        }
        Command::Check => {
            check_ok(&stack, cli.json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph(args) => {
            let graph = Graph::new(&stack.components)?;
            let format = if cli.json {
                GraphFormat::Json
            } else {
                args.format
            };
            print!("{}", graph_view::render(&stack, &graph, format));
            Ok(ExitCode::SUCCESS)
        }
        Command::Config => {
            if cli.json {
                let json = stack.resolved_json();
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                print!("{}", stack.resolved_toml());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(_) | Command::Import(_) => Ok(ExitCode::SUCCESS),
    }
}

/// `herald import`: the stack file on stdout, what was left out on stderr.
fn import(args: &herald_cli::cli::ImportArgs) -> ExitCode {
    match herald_cli::import::import(&args.file) {
        Ok(imported) => {
            match args.format {
                herald_cli::cli::ImportFormat::Toml => print!("{}", imported.to_toml()),
                herald_cli::cli::ImportFormat::Yaml => print!("{}", imported.to_yaml()),
            }
            for note in &imported.notes {
                eprintln!("{note}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(USAGE)
        }
    }
}

/// Finds and loads the stack file; on any problem prints them all and gives exit code 2.
fn load(cli: &Cli) -> Result<StackFile, ExitCode> {
    let dir = std::env::current_dir().unwrap_or_default();
    let path = stackfile_path(cli, &dir)?;
    let options = stackfile::LoadOptions {
        profiles: cli.profiles.clone(),
    };
    stackfile::load_with(&path, &options).map_err(|problems| {
        if cli.json {
            println!("{}", problems.to_json());
        } else {
            eprintln!("{}", problems.render(color()));
        }
        ExitCode::from(USAGE)
    })
}

fn stackfile_path(cli: &Cli, dir: &std::path::Path) -> Result<std::path::PathBuf, ExitCode> {
    herald_cli::cli::stack_file_path(cli.file.clone(), dir).map_err(|message| {
        eprintln!("error: {message}");
        ExitCode::from(USAGE)
    })
}

/// Whether to color reports: standard error is a terminal and `NO_COLOR` is unset or empty.
fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// "a cycle goes through `uses`: a -> b -> a ...".
fn lazy_cycle_warning(cycle: &[String]) -> String {
    format!(
        "a cycle goes through `uses`: {} (it deadlocks only if a component waits for what it \
         uses before it is ready)",
        cycle.join(" -> ")
    )
}

fn check_ok(stack: &StackFile, json: bool) {
    let file = stack.diagnostics().file().to_string();
    // A cycle through `uses` deadlocks only if a component waits for what it uses before it
    // is ready: said, not refused.
    let lazy: Vec<Vec<String>> = Graph::new(&stack.components)
        .map(|g| g.lazy_cycles().to_vec())
        .unwrap_or_default();
    if json {
        let names: Vec<&str> = stack.components.iter().map(|s| s.name.as_str()).collect();
        let warnings: Vec<String> = lazy.iter().map(|c| lazy_cycle_warning(c)).collect();
        let out = serde_json::json!({"file": file, "problems": [], "warnings": warnings, "components": names});
        println!("{out}");
    } else {
        for cycle in &lazy {
            eprintln!("warning: {}", lazy_cycle_warning(cycle));
        }
        let count = stack.components.len();
        let plural = if count == 1 { "" } else { "s" };
        println!("ok: {file} defines {count} valid component{plural}");
    }
}
