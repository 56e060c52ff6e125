//! `herald wait NAME... [--timeout DUR]`: exit 0 once all are ready or completed; exit 1 with
//! the error chain on stderr if one fails or is blocked, or once the timeout passes. A
//! component of another node (`@node/component`) that the running stack does not depend on is
//! waited for on etcd itself.

use super::super::protocol::{Reply, Request};
use super::{check_names, connect, fail, print_json, say_not_running};
use crate::cli::WaitArgs;
use crate::runtime::cluster::direct;
use crate::stackfile::StackFile;
use crate::stackfile::cluster::{ClusterConfig, is_remote, split_remote};
use herald::State;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `herald wait`.
pub fn run(stack: &StackFile, args: WaitArgs, json: bool) -> anyhow::Result<ExitCode> {
    if let Some(config) = &stack.cluster
        && args.names.iter().all(|n| is_remote(n))
        && (!args
            .names
            .iter()
            .all(|n| stack.components.iter().any(|s| &s.name == n))
            || connect(stack)?.is_none())
    {
        return on_etcd(config, &args, json);
    }
    if let Err(code) = check_names(stack, &args.names) {
        return Ok(code);
    }
    let Some(mut client) = connect(stack)? else {
        say_not_running(stack);
        return Ok(ExitCode::from(super::FAILURE));
    };
    let request = Request::Wait {
        names: args.names,
        timeout_ms: args
            .timeout
            .map(|t| t.as_millis().try_into().unwrap_or(u64::MAX)),
    };
    let reply = client.ask(&request)?;
    if json {
        print_json(&reply);
    }
    match reply {
        Reply::Done => Ok(ExitCode::SUCCESS),
        Reply::TimedOut { pending } => {
            eprintln!("{}", timed_out(args.timeout.unwrap_or_default(), &pending));
            Ok(ExitCode::from(super::FAILURE))
        }
        other => Ok(fail(other)),
    }
}

/// Remote components that the running stack does not know (or with no stack running):
/// waited for on etcd itself.
fn on_etcd(config: &ClusterConfig, args: &WaitArgs, json: bool) -> anyhow::Result<ExitCode> {
    if let Some(bad) = args.names.iter().find(|n| split_remote(n).is_none()) {
        eprintln!("error: `{bad}` must be `@NODE/COMPONENT`");
        return Ok(ExitCode::from(super::USAGE));
    }
    match direct::wait(config, &args.names, args.timeout)? {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(pending) => {
            let pending: Vec<(String, String)> = pending;
            if json {
                let list: Vec<_> = pending
                    .iter()
                    .map(|(name, state)| serde_json::json!({"name": name, "state": state}))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"timed_out": true, "pending": list})
                );
            }
            let shown: Vec<String> = pending.iter().map(|(n, s)| format!("{n} ({s})")).collect();
            let limit = herald::format_duration(args.timeout.unwrap_or_default());
            eprintln!("timed out after {limit} waiting for {}", shown.join(", "));
            Ok(ExitCode::from(super::FAILURE))
        }
    }
}

/// "timed out after LIMIT waiting for NAME (STATE), ...".
pub fn timed_out(limit: Duration, pending: &[(String, State)]) -> String {
    let pending: Vec<String> = pending
        .iter()
        .map(|(name, state)| format!("{name} ({state})"))
        .collect();
    format!(
        "timed out after {} waiting for {}",
        herald::format_duration(limit),
        pending.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_names_its_limit_and_what_was_pending() {
        let pending = [
            ("etcd".to_string(), State::Starting),
            ("api".to_string(), State::Waiting),
        ];
        assert_eq!(
            timed_out(Duration::from_millis(2500), &pending),
            "timed out after 2s 500ms waiting for etcd (starting), api (waiting)"
        );
    }
}
