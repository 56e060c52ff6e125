//! `herald-bench`: the start-up benchmark.
//!
//! ```text
//! herald-bench suite [--quick] [--reps N] [--tools a,b] [--only scenario,...]
//!                    [--work DIR] [--json PATH] [--bin-dir DIR]
//! herald-bench stack FILE --events PATH      # run a stack file through the library
//! ```

use herald_bench::peers::{Programs, Tool};
use herald_bench::{stackrun, suite};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: herald-bench suite [--quick] [--reps N] [--tools a,b] \
[--only scenario,...] [--work DIR] [--json PATH] [--bin-dir DIR]\n       \
herald-bench stack FILE --events PATH";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("stack") => match &args[1..] {
            [file, flag, events] if flag == "--events" => {
                stackrun::run(file.as_ref(), events.as_ref())
            }
            _ => Err(USAGE.into()),
        },
        Some("suite") => run_suite(&args[1..]),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_suite(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let me = std::env::current_exe()?;
    let mut bin_dir = me.parent().map(PathBuf::from).unwrap_or_default();
    let mut quick = false;
    let mut reps = None;
    let mut tools: Option<Vec<Tool>> = None;
    let mut only = Vec::new();
    let mut work = std::env::temp_dir().join(format!("herald-bench-{}", std::process::id()));
    let mut json = PathBuf::from("bench-results.json");
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => quick = true,
            "--reps" => reps = Some(value()?.parse()?),
            "--tools" => {
                let list = value()?;
                let parsed: Option<Vec<Tool>> = list.split(',').map(Tool::from_key).collect();
                tools = Some(parsed.ok_or(format!("unknown tool in {list:?}"))?);
            }
            "--only" => only = value()?.split(',').map(String::from).collect(),
            "--work" => work = value()?.into(),
            "--json" => json = value()?.into(),
            "--bin-dir" => bin_dir = value()?.into(),
            _ => return Err(USAGE.into()),
        }
    }
    let programs = Programs {
        fixture: bin_dir.join("herald-fixture"),
        bench: me.clone(),
        herald: bin_dir.join("herald"),
    };
    std::fs::create_dir_all(&work)?;
    let work = std::path::absolute(&work)?;
    let tools = match tools {
        Some(tools) => tools,
        None => {
            let mut tools = Vec::new();
            for tool in Tool::ALL {
                let program = match tool {
                    Tool::S6 => Some("s6-svscan"),
                    Tool::Runit => Some("runsvdir"),
                    Tool::Supervisord => Some("supervisord"),
                    _ => None,
                };
                if let Some(program) = program
                    && !on_path(program)
                {
                    eprintln!(
                        "note: {program} is not installed; {} is left out",
                        tool.name()
                    );
                    continue;
                }
                if tool == Tool::HeraldUp && !suite::herald_up_works(&programs, &work) {
                    eprintln!("note: `herald up` cannot run a stack in this build; left out");
                    continue;
                }
                tools.push(tool);
            }
            tools
        }
    };
    let opts = suite::Options {
        quick,
        reps,
        tools,
        only,
        work: work.clone(),
        json,
        programs,
    };
    let table = suite::run(&opts);
    let _ = std::fs::remove_dir_all(&work);
    println!("{}", table?);
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
