//! A `Procfile` (foreman, honcho, Heroku): one `name: command` a line.
//!
//! Each line becomes a service running its command through `sh -c`, as foreman runs it, with
//! `PORT` set as foreman sets it: 5000 for the first process type, 5100 for the second, and so
//! on. Blank lines and `#` comments are skipped; any other line that is not `name: command`
//! is left out and noted.

use super::{Imported, component_name};
use toml::{Table, Value};

/// The base port and the step between process types, as foreman assigns them.
const BASE_PORT: i64 = 5000;
const PORT_STEP: i64 = 100;

/// The stack of the Procfile `text`, named `file` in notes.
pub fn import(text: &str, file: &str) -> Imported {
    let mut imported = Imported::default();
    let mut index = 0;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((name, command)) = trimmed.split_once(':') else {
            imported.note(file, line_no, "not `name: command`, left out");
            continue;
        };
        let (name, command) = (name.trim(), command.trim());
        if command.is_empty() {
            imported.note(file, line_no, &format!("`{name}` has no command, left out"));
            continue;
        }
        let Some(herald_name) = component_name(name) else {
            let why =
                format!("`{name}` is not a process name (letters, digits, `-`, `_`), left out");
            imported.note(file, line_no, &why);
            continue;
        };
        if imported.components.contains_key(&herald_name) {
            let why = format!("`{name}` is defined again, left out");
            imported.note(file, line_no, &why);
            continue;
        }
        let mut component = Table::new();
        let argv = ["sh", "-c", command].map(|w| Value::from(w.to_string()));
        component.insert("command".into(), Value::Array(argv.to_vec()));
        let mut env = Table::new();
        let port = BASE_PORT + PORT_STEP * index;
        env.insert("PORT".into(), Value::from(port.to_string()));
        component.insert("env".into(), Value::Table(env));
        imported
            .components
            .insert(herald_name, Value::Table(component));
        index += 1;
    }
    imported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_is_a_service_with_foremans_port() {
        let text = "\
# the app
web: bundle exec puma -p $PORT
worker:   bundle exec sidekiq -q default

release: ./migrate.sh
not a process line
web: again
";
        let imported = import(text, "Procfile");
        let names: Vec<&String> = imported.components.keys().collect();
        assert_eq!(names, ["web", "worker", "release"]);
        let web = imported.components["web"].as_table().unwrap();
        assert_eq!(
            web["command"].as_array().unwrap()[2].as_str(),
            Some("bundle exec puma -p $PORT")
        );
        let port = |name: &str| {
            imported.components[name]["env"]["PORT"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            (port("web"), port("worker"), port("release")),
            ("5000".into(), "5100".into(), "5200".into())
        );
        assert_eq!(
            imported.notes,
            [
                "Procfile:6: not `name: command`, left out",
                "Procfile:7: `web` is defined again, left out",
            ]
        );
    }
}
