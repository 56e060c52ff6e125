//! `herald-bench`: the start-up benchmark.
//!
//! ```text
//! herald-bench suite [--quick] [--reps N] [--tools a,b] [--only scenario,...]
//!                    [--work DIR] [--json PATH] [--bin-dir DIR] [--fixture PATH] [--keep]
//! herald-bench stack FILE --events PATH      # run a stack file through the library
//! herald-bench spawn-floor [N [FIXTURE]]     # spawn to the fixture's main, nothing else
//! ```
//!
//! dinit is compared when `HERALD_BENCH_DINIT` names its binary or `dinit` is on `PATH`.

use herald_bench::peers::{Programs, Tool};
use herald_bench::{dinit, stackrun, suite};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: herald-bench suite [--quick] [--reps N] [--tools a,b] \
[--only scenario,...] [--work DIR] [--json PATH] [--bin-dir DIR] [--fixture PATH] [--keep]\n       \
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
        Some("spawn-floor") => spawn_floor(&args[1..]),
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
    let mut fixture = None;
    let mut keep = false;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => quick = true,
            "--keep" => keep = true,
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
            "--fixture" => fixture = Some(PathBuf::from(value()?)),
            _ => return Err(USAGE.into()),
        }
    }
    let bin_dir = std::path::absolute(&bin_dir)?;
    let programs = Programs {
        fixture: std::path::absolute(fixture.unwrap_or_else(|| bin_dir.join("herald-fixture")))?,
        bench: me.clone(),
        herald: bin_dir.join("herald"),
        dinit: dinit::find()?,
    };
    for program in [&programs.fixture, &programs.herald] {
        if !program.is_file() {
            return Err(format!("{} is not built", program.display()).into());
        }
    }
    std::fs::create_dir_all(&work)?;
    let work = std::path::absolute(&work)?;
    let tools = match tools {
        Some(tools) => {
            if tools.contains(&Tool::Dinit) && programs.dinit.is_none() {
                return Err(format!(
                    "no dinit to compare: name it in {} or put it on PATH",
                    dinit::ENV
                )
                .into());
            }
            tools
        }
        None => {
            let mut tools = Vec::new();
            let mut up_works = None;
            for tool in Tool::ALL {
                let program = match tool {
                    Tool::S6 => Some("s6-svscan"),
                    Tool::Runit => Some("runsvdir"),
                    Tool::Supervisord => Some("supervisord"),
                    _ => None,
                };
                if tool == Tool::Dinit && programs.dinit.is_none() {
                    eprintln!(
                        "note: dinit is not installed (set {} or put it on PATH); dinit is left out",
                        dinit::ENV
                    );
                    continue;
                }
                if let Some(program) = program
                    && !on_path(program)
                {
                    eprintln!(
                        "note: {program} is not installed; {} is left out",
                        tool.name()
                    );
                    continue;
                }
                if matches!(tool, Tool::HeraldUp | Tool::HeraldUpDetach)
                    && !*up_works.get_or_insert_with(|| suite::herald_up_works(&programs, &work))
                {
                    eprintln!(
                        "note: `herald up` cannot run a stack in this build; {} is left out",
                        tool.name()
                    );
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
        keep,
    };
    let table = suite::run(&opts);
    if !keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    println!("{}", table?);
    Ok(())
}

/// The floor of any hand-off: from just before a spawn to the fixture's `main`, when the
/// spawner does nothing else (posix_spawn, and fork+exec as with a `pre_exec` hook).
fn spawn_floor(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    use std::os::unix::process::CommandExt;
    let n: usize = args.first().map_or(Ok(50), |a| a.parse())?;
    let me = std::env::current_exe()?;
    let fixture = args
        .get(1)
        .map_or_else(|| me.with_file_name("herald-fixture"), PathBuf::from);
    let dir = std::env::temp_dir().join(format!("herald-spawn-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let record = dir.join("spawn");
    for fork in [false, true] {
        let mut samples = Vec::new();
        for _ in 0..n {
            let _ = std::fs::remove_file(&record);
            let mut cmd = std::process::Command::new(&fixture);
            cmd.args(["--via", "exit", "--record-spawn"]).arg(&record);
            if fork {
                // SAFETY: the hook does nothing.
                unsafe { cmd.pre_exec(|| Ok(())) };
            }
            let t0 = herald_bench::procfs::monotonic_ns();
            cmd.spawn()?.wait()?;
            let at: u64 = std::fs::read_to_string(&record)?.trim().parse()?;
            samples.push((at - t0) as f64 / 1e6);
        }
        let s = herald_bench::stats::Summary::of(&samples).ok_or("no samples")?;
        println!(
            "{}: spawn to main p50 {:.3} ms, min {:.3} ms, p99 {:.3} ms",
            if fork { "fork+exec" } else { "posix_spawn" },
            s.p50,
            s.min,
            s.p99
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
