//! Variables in string values, with docker compose's meaning: `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+other}`, `${VAR+other}`, and
//! `$$` for a literal `$`. A `$` followed by anything else is left as it is.
//!
//! `:-`, `:?` and `:+` treat an empty variable as unset; `-`, `?` and `+` only an unset one. A
//! default may itself hold variables (`${A:-${B}}`). Values come from herald's environment,
//! then the `.env` file beside the stack file (the environment wins).
//!
//! Every string value of the file is substituted, on the tree, before anything is typed; a
//! problem (a `${VAR:?message}` whose variable is unset, a `${` never closed, a bad name) is
//! placed at the expression inside its string.

use super::diagnostics::Diagnostic;
use super::tree::{Node, Span, Value};
use std::collections::BTreeMap;

/// Where variables come from.
pub type Variables = BTreeMap<String, String>;

/// Substitutes every string value of `node`, at any depth; `text` is the stack file's text,
/// used to place a problem at its expression.
pub fn substitute(node: &mut Node, vars: &Variables, text: &str, problems: &mut Vec<Diagnostic>) {
    match &mut node.value {
        Value::Str(s) if s.contains('$') => {
            let (done, errors) = expand_all(s, vars);
            if errors.is_empty() {
                *s = done;
            }
            for e in errors {
                let span = narrow(node.span, text, &e.expression);
                problems.push(Diagnostic::new(e.message, span));
            }
        }
        Value::Array(items) => {
            for item in items {
                substitute(item, vars, text, problems);
            }
        }
        Value::Map(entries) => {
            for entry in entries {
                substitute(&mut entry.value, vars, text, problems);
            }
        }
        _ => {}
    }
}

/// `span` narrowed to where `expression` is written in it, if it is written as is.
fn narrow(span: Span, text: &str, expression: &str) -> Span {
    let written = text.get(span.start..span.end).unwrap_or_default();
    match written.find(expression) {
        Some(at) if !expression.is_empty() && span.file == 0 => {
            let start = span.start + at;
            Span::new(start, start + expression.len())
        }
        _ => span,
    }
}

/// Why a string cannot be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What is wrong.
    pub message: String,
    /// The expression at fault, as written (`${DB:?set DB}`).
    pub expression: String,
}

/// `text` with its variables substituted, or the first problem.
pub fn expand(text: &str, vars: &Variables) -> Result<String, Error> {
    let (done, mut errors) = expand_all(text, vars);
    if errors.is_empty() {
        Ok(done)
    } else {
        Err(errors.swap_remove(0))
    }
}

/// `text` with its variables substituted, and every problem (an expression in error is left
/// out of the text).
fn expand_all(text: &str, vars: &Variables) -> (String, Vec<Error>) {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(len) = closing(inner) else {
                errors.push(Error {
                    message: "`${` is not closed by `}`".into(),
                    expression: rest[at..].to_string(),
                });
                return (out, errors);
            };
            let expression = &rest[at..at + 2 + len + 1];
            match evaluate(&inner[..len], expression, vars) {
                Ok(value) => out.push_str(&value),
                Err(e) => errors.push(e),
            }
            rest = &inner[len + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    (out, errors)
}

/// The length of the text before the `}` that closes a `${`, counting nested `${...}`.
fn closing(inner: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of one `${...}` (its inside is `body`).
fn evaluate(body: &str, expression: &str, vars: &Variables) -> Result<String, Error> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_len);
    let fail = |message: String| Error {
        message,
        expression: expression.to_string(),
    };
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(fail(format!(
            "`{expression}` does not name a variable (letters, digits and `_`)"
        )));
    }
    let value = vars.get(name).map(String::as_str);
    let (empty_is_unset, op) = match op.strip_prefix(':') {
        Some(op) => (true, op),
        None => (false, op),
    };
    let set = value.is_some_and(|v| !(empty_is_unset && v.is_empty()));
    let word = |w: &str| expand(w, vars).map_err(|e| fail(e.message));
    match op.chars().next() {
        None if !empty_is_unset => Ok(value.unwrap_or_default().to_string()),
        Some('-') if set => Ok(value.unwrap_or_default().to_string()),
        Some('-') => word(&op[1..]),
        Some('+') if set => word(&op[1..]),
        Some('+') => Ok(String::new()),
        Some('?') if set => Ok(value.unwrap_or_default().to_string()),
        Some('?') => {
            let message = word(&op[1..])?;
            let state = if value.is_some() { "empty" } else { "not set" };
            let why = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            Err(fail(format!("variable `{name}` is {state}{why}")))
        }
        _ => Err(fail(format!(
            "`{expression}`: after the name, write `}}`, `:-`, `-`, `:?`, `?`, `:+` or `+`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        [("HOST", "db"), ("EMPTY", ""), ("PORT", "5432")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ok(text: &str) -> String {
        expand(text, &vars()).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    #[test]
    fn every_form_means_what_compose_means() {
        assert_eq!(ok("postgres://${HOST}:${PORT}/x"), "postgres://db:5432/x");
        assert_eq!(ok("${MISSING}|${EMPTY}"), "|");
        assert_eq!(
            ok("${EMPTY:-d} ${EMPTY-d} ${MISSING-d} ${HOST:-d}"),
            "d  d db"
        );
        assert_eq!(
            ok("${HOST:+on} ${EMPTY:+on} ${EMPTY+on} ${MISSING+on}"),
            "on  on "
        );
        assert_eq!(ok("${HOST:?need it} ${EMPTY?fine}"), "db ");
        assert_eq!(ok("${MISSING:-${HOST:-x}}-${MISSING:-a}}"), "db-a}");
        assert_eq!(ok("$$HOME $$${HOST} $HOME $ x$"), "$HOME $db $HOME $ x$");
    }

    #[test]
    fn problems_name_the_variable_and_quote_the_expression() {
        let err = |text: &str| expand(text, &vars()).unwrap_err();
        assert_eq!(
            err("x ${DB:?set DB to the database URL} y"),
            Error {
                message: "variable `DB` is not set: set DB to the database URL".into(),
                expression: "${DB:?set DB to the database URL}".into(),
            }
        );
        assert_eq!(err("${EMPTY:?}").message, "variable `EMPTY` is empty");
        assert_eq!(err("a ${HOST").message, "`${` is not closed by `}`");
        assert!(err("${}").message.contains("does not name a variable"));
        assert!(err("${1X}").message.contains("does not name a variable"));
        assert!(err("${HOST:=x}").message.contains("after the name"));
    }

    #[test]
    fn a_problem_is_placed_at_its_expression() {
        let text = "[components.a]\ncommand = [\"run\", \"--db=${DB:?no}\"]\n";
        let mut root = crate::stackfile::toml::parse(text).unwrap();
        let mut problems = Vec::new();
        substitute(&mut root, &vars(), text, &mut problems);
        assert_eq!(problems.len(), 1);
        let span = problems[0].span.unwrap();
        assert_eq!(&text[span.start..span.end], "${DB:?no}");
        // Every problem of a string, each at its own expression.
        let text = "a = \"${A?one} ${B?two} ${C\"\n";
        let mut root = crate::stackfile::toml::parse(text).unwrap();
        let mut problems = Vec::new();
        substitute(&mut root, &vars(), text, &mut problems);
        let at: Vec<&str> = problems
            .iter()
            .map(|p| &text[p.span.unwrap().start..p.span.unwrap().end])
            .collect();
        assert_eq!(at, ["${A?one}", "${B?two}", "${C"]);
        assert_eq!(
            root.entry("a").unwrap().value.as_str(),
            Some("${A?one} ${B?two} ${C")
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_substitutes_or_quotes_its_expression(text in "[a-z${}:?+\\-$ ]{0,40}") {
            let vars: Variables = [("a".to_string(), "1".to_string())].into_iter().collect();
            let (_, errors) = expand_all(&text, &vars);
            for e in errors {
                prop_assert!(text.contains(&e.expression), "{:?} not in {:?}", e.expression, text);
            }
        }

        #[test]
        fn text_without_a_dollar_is_left_alone(text in "[^$]{0,40}") {
            prop_assert_eq!(expand(&text, &Variables::new()).unwrap(), text);
        }
    }
}
